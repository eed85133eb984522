// Command sluice-bench compares Sluice with franz-go's in-memory kfake
// broker on identical produce and consume workloads, each broker running as
// a child process on a free 127.0.0.1 port. See docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// clientGCPercent is the benchmark client's GOGC.
const clientGCPercent = 400

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, returning the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 2
	}
	if opts.serveKfake != "" {
		if err := serveKfake(opts.serveKfake); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}

	// The client shares the machine's cores with the broker under test; a
	// lazier garbage collector (the live heap is only the produce buffer and
	// payload pool) leaves more CPU to the broker. The kfake child returned
	// above, so the baseline keeps Go's default GC like Sluice does.
	debug.SetGCPercent(clientGCPercent)

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	env, err := newBenchEnv(opts, log)
	if err != nil {
		log.Error("cannot start benchmark", "err", err)
		return 1
	}

	// On SIGINT/SIGTERM the context is cancelled: the running phase fails
	// with the signal as its cause, its deferred stop() takes the broker
	// down, and the partial report and summary are still printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := runScenarios(ctx, env, opts, stdout); err != nil {
		log.Error("benchmark failed; details are in the report above", "failures", len(unjoin(err)))
		return 1
	}
	return 0
}

// newBenchEnv resolves the selected brokers into launch specs.
func newBenchEnv(opts options, log *slog.Logger) (*benchEnv, error) {
	if opts.compression == "snappy" {
		useSnappy()
	}
	env := &benchEnv{quick: opts.quick, repeat: opts.repeat, log: log}
	for _, name := range opts.brokers() {
		switch name {
		case "kfake":
			self, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("locate own binary to re-exec as kfake: %w", err)
			}
			env.brokers = append(env.brokers, kfakeSpec(self))
		case "sluice":
			if err := checkSluiceBinary(opts.sluicePath); err != nil {
				return nil, err
			}
			env.brokers = append(env.brokers, sluiceSpec(opts.sluicePath))
		}
	}
	return env, nil
}

// runScenarios runs the selected scenarios in order, printing each report
// as it completes and a paste-ready summary at the end.
func runScenarios(ctx context.Context, env *benchEnv, opts options, out io.Writer) error {
	var sections []section
	var errs []error
	for i, name := range opts.workloads {
		if ctx.Err() != nil {
			skipped := opts.workloads[i:]
			fmt.Fprintf(out, "\nINTERRUPTED (%v): skipped %v\n", context.Cause(ctx), skipped)
			errs = append(errs, fmt.Errorf("interrupted before %v", skipped))
			break
		}
		sc, err := scenarioByName(name)
		if err != nil {
			return err
		}
		sec := sc.run(ctx, env)
		sec.render(out)
		sections = append(sections, sec)
		errs = append(errs, sec.err())
	}
	renderSummary(out, env, sections)
	return errors.Join(errs...)
}

// renderSummary prints the compact block meant for pasting into a note.
func renderSummary(out io.Writer, env *benchEnv, sections []section) {
	mode := "full scale"
	if env.quick {
		mode = fmt.Sprintf("quick (1/%d scale)", quickScale)
	}
	mode += fmt.Sprintf(", median of %d", env.repeat)
	fmt.Fprintf(out, "\n--- sluice-bench summary: %s, %s, %s/%s, %d CPUs, %s ---\n",
		time.Now().UTC().Format("2006-01-02 15:04Z"), mode, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	for _, sec := range sections {
		for _, line := range sec.summary() {
			fmt.Fprintln(out, line)
		}
		for _, err := range unjoin(sec.err()) {
			fmt.Fprintf(out, "FAILED: %v\n", err)
		}
	}
	fmt.Fprintln(out, "---")
}

// unjoin lists the errors inside an errors.Join result (or err alone).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var all []error
		for _, e := range joined.Unwrap() {
			all = append(all, unjoin(e)...)
		}
		return all
	}
	return []error{err}
}
