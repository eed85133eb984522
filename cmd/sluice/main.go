// Command sluice is the Sluice broker and its admin tool: `sluice serve`
// runs a Kafka-compatible broker, the other subcommands administer one over
// the Kafka protocol.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad flags or arguments, like the flag package's convention
)

func main() {
	maybeCompileChild(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts a clean shutdown, restore the default
		// handlers so a second Ctrl-C kills a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one sluice command line (without the program name) and returns
// the process exit code. Output goes to stdout, diagnostics to stderr; tests
// call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	root := c.rootCommand()

	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK // the flag package already printed usage
		}
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return exitUsage
	}
	if err := root.Run(ctx); err != nil {
		var usage *usageError
		switch {
		case errors.Is(err, flag.ErrHelp), errors.Is(err, errHelpPrinted):
			return exitOK
		case errors.As(err, &usage):
			fmt.Fprintf(stderr, "sluice: %v\n", err)
			if usage.cmd != nil {
				fmt.Fprintf(stderr, "\n%s", usage.cmd.UsageFunc(usage.cmd))
			}
			return exitUsage
		default:
			fmt.Fprintf(stderr, "sluice: %v\n", err)
			return exitError
		}
	}
	return exitOK
}

// cli holds what every command writes to. Commands are built fresh for each
// run so no state leaks between invocations (tests run many in one process).
type cli struct {
	stdout io.Writer
	stderr io.Writer
}

// rootCommand assembles the command tree. Each command group lives in its
// own file and contributes one subcommand here.
func (c *cli) rootCommand() *ffcli.Command {
	root := &ffcli.Command{
		Name:       "sluice",
		ShortUsage: "sluice <subcommand> [flags] [args...]",
		ShortHelp:  "Sluice: a Kafka-compatible message broker.",
		FlagSet:    c.newFlagSet("sluice"),
		Subcommands: []*ffcli.Command{
			c.serveCommand(),
			c.topicCommand(),
			c.groupCommand(),
			c.txnCommand(),
			c.clusterCommand(),
			c.userCommand(),
			c.pluginCommand(),
			c.aclCommand(),
			c.versionCommand(),
		},
	}
	root.Exec = c.groupExec(root)
	return root
}
