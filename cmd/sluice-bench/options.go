package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// errUsage marks a command-line mistake (exit status 2, like flag's own).
var errUsage = errors.New("usage")

// options are the parsed command-line settings.
type options struct {
	quick      bool
	repeat     int
	only       string   // "" for every broker, else one broker name
	workloads  []string // scenario names to run, in registry order
	sluicePath string
	serveKfake string // hidden: run as the kfake child on this address
	// compression is the producer's batch codec: none (the default) or
	// snappy (what the append validator costs most on).
	compression string
}

// brokerNames are the values -only accepts, in run order: the baseline
// runs first so its numbers are on screen while Sluice runs.
var brokerNames = []string{"kfake", "sluice"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var opts options
	var workload string
	fs := flag.NewFlagSet("sluice-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&opts.quick, "quick", false, "scale every workload down ~10x for a smoke run")
	fs.IntVar(&opts.repeat, "repeat", 5, "repetitions per broker and workload, alternating brokers; the median is reported")
	fs.StringVar(&opts.only, "only", "", "run against one broker only: "+strings.Join(brokerNames, "|"))
	fs.StringVar(&workload, "workload", "all", "scenarios to run: all, or a comma-separated list of "+strings.Join(scenarioNames(), ", "))
	fs.StringVar(&opts.sluicePath, "sluice", "bin/sluice", "path of the sluice binary to benchmark")
	fs.StringVar(&opts.compression, "compression", "none", "producer batch compression: none or snappy")
	fs.StringVar(&opts.serveKfake, serveKfakeFlag, "", "internal: serve the kfake baseline on this 127.0.0.1 address")
	fs.Usage = func() { printUsage(fs) }

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{}, err
		}
		return options{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if opts.serveKfake != "" {
		return opts, nil
	}
	if opts.repeat < 1 {
		return options{}, fmt.Errorf("%w: -repeat %d: want at least 1", errUsage, opts.repeat)
	}
	if opts.only != "" && !slices.Contains(brokerNames, opts.only) {
		return options{}, fmt.Errorf("%w: -only %q: want one of %s", errUsage, opts.only, strings.Join(brokerNames, ", "))
	}
	if opts.compression != "none" && opts.compression != "snappy" {
		return options{}, fmt.Errorf("%w: -compression %q: want none or snappy", errUsage, opts.compression)
	}
	names, err := selectScenarios(workload)
	if err != nil {
		return options{}, fmt.Errorf("%w: -workload: %w", errUsage, err)
	}
	opts.workloads = names
	return opts, nil
}

// selectScenarios resolves a -workload value to scenario names.
func selectScenarios(value string) ([]string, error) {
	known := scenarioNames()
	if value == "all" {
		return known, nil
	}
	var names []string
	for name := range strings.SplitSeq(value, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown scenario %q (known: all, %s)", name, strings.Join(known, ", "))
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// brokers returns the broker names selected by -only, in run order.
func (o options) brokers() []string {
	if o.only != "" {
		return []string{o.only}
	}
	return brokerNames
}

// printUsage is flag's default listing minus the hidden child flag.
func printUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage: sluice-bench [flags]\n\nCompares Sluice with franz-go's kfake on identical produce/consume workloads.\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == serveKfakeFlag {
			return
		}
		fmt.Fprintf(out, "  -%s\n    \t%s", f.Name, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(out, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
	fmt.Fprintf(out, "\nScenarios:\n")
	for _, s := range scenarios() {
		fmt.Fprintf(out, "  %-6s %s\n", s.name, s.description)
	}
}

// checkSluiceBinary fails early, with the fix, when the binary is missing.
func checkSluiceBinary(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("sluice binary: %w (build it with `make build` or pass -sluice PATH)", err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("sluice binary %s is not an executable file", path)
	}
	return nil
}
