package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// envPrefix prefixes every environment variable sluice reads:
// --data-dir is SLUICE_DATA_DIR.
const envPrefix = "SLUICE"

// errHelpPrinted: -h was given and usage is already on stderr; exit 0.
var errHelpPrinted = errors.New("help printed")

// usageError is a mistake in how a command was invoked (missing or extra
// arguments, unknown subcommand). It exits with exitUsage and prints the
// command's usage.
type usageError struct {
	cmd *ffcli.Command
	msg string
}

func (e *usageError) Error() string { return e.msg }

func newUsageError(cmd *ffcli.Command, format string, args ...any) *usageError {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints usage to the cli's stderr.
func (c *cli) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// groupExec is the Exec of a command that only groups subcommands (`sluice
// topic`): reaching it means no known subcommand was named.
func (c *cli) groupExec(cmd *ffcli.Command) func(context.Context, []string) error {
	return func(context.Context, []string) error {
		if len(cmd.FlagSet.Args()) == 0 {
			return newUsageError(cmd, "%s: missing subcommand", cmd.Name)
		}
		return newUsageError(cmd, "%s: unknown subcommand %q", cmd.Name, cmd.FlagSet.Arg(0))
	}
}

// parseInterspersed parses args allowing flags after positional arguments,
// so `sluice topic create orders --partitions 3` works; the flag package
// alone stops at the first non-flag. It returns the positional arguments.
// Arguments after a "--" terminator are positional even if they look like
// flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			// The flag package stopped at a terminator: the rest is verbatim.
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// fillFromEnv sets each named flag that was not given on the command line
// from its SLUICE_<NAME> environment variable, giving flag > env > default.
// Admin commands use this for their connection flags only, so variables meant
// for `sluice serve` (such as SLUICE_CONFIG) never leak into them.
func fillFromEnv(fs *flag.FlagSet, names ...string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range names {
		if given[name] {
			continue
		}
		key := envVarName(name)
		value, ok := os.LookupEnv(key)
		if !ok || value == "" {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("environment variable %s: %w", key, err)
		}
	}
	return nil
}

// envVarName maps a flag name to its environment variable: data-dir ->
// SLUICE_DATA_DIR.
func envVarName(flagName string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
