package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoBrokers: --brokers (or SLUICE_BROKERS) named no address.
var ErrNoBrokers = errors.New("no broker addresses given")

const (
	defaultBrokers      = "127.0.0.1:9092"
	defaultAdminTimeout = 10 * time.Second
)

// adminFlags are the connection flags every admin subcommand shares.
type adminFlags struct {
	brokers string
	timeout time.Duration
	auth    clientAuth // client_auth.go
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.brokers, "brokers", defaultBrokers, "comma-separated bootstrap `host:port` list (env SLUICE_BROKERS)")
	fs.DurationVar(&a.timeout, "timeout", defaultAdminTimeout, "give up after this long (env SLUICE_TIMEOUT)")
	a.auth.register(fs)
}

// parse finishes parsing an admin subcommand: flags may follow positional
// arguments, then SLUICE_BROKERS / SLUICE_TIMEOUT fill unset flags. It
// returns the positional arguments.
func (a *adminFlags) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if err := fillFromEnv(fs, append([]string{"brokers", "timeout"}, clientAuthFlagNames...)...); err != nil {
		return nil, err
	}
	return positional, nil
}

func (a *adminFlags) seeds() ([]string, error) {
	var seeds []string
	for _, s := range strings.Split(a.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, ErrNoBrokers
	}
	return seeds, nil
}

// withAdmin connects to the brokers and runs fn under the --timeout
// deadline. A timeout is reported with the brokers it tried, since "context
// deadline exceeded" alone does not say that nothing answered.
func (a *adminFlags) withAdmin(ctx context.Context, fn func(context.Context, *kadm.Client) error) error {
	return a.withClients(ctx, func(ctx context.Context, _ *kgo.Client, adm *kadm.Client) error { return fn(ctx, adm) })
}

// withClients is withAdmin also giving the kgo client under the admin one,
// for requests kadm does not wrap with every field.
func (a *adminFlags) withClients(ctx context.Context, fn func(context.Context, *kgo.Client, *kadm.Client) error) error {
	seeds, err := a.seeds()
	if err != nil {
		return err
	}
	if a.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", a.timeout)
	}
	authOpts, err := a.auth.kgoOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, authOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Server-side timeout for CreateTopics/DeleteTopics matches ours.
	adm.SetTimeoutMillis(int32(min(a.timeout.Milliseconds(), math.MaxInt32)))

	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	err = fn(ctx, cl, adm)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (no answer within %s from %s)", err, a.timeout, strings.Join(seeds, ","))
	}
	return err
}

// kafkaErr adds the broker's optional error message to a Kafka error code
// (kerr errors print as "NAME: description"). A message that repeats the
// error name as its prefix is trimmed so the name is printed once.
func kafkaErr(err error, message string) error {
	if err == nil || message == "" {
		return err
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		message = strings.TrimPrefix(message, ke.Message+": ")
	}
	return fmt.Errorf("%w (%s)", err, message)
}

// adminSpec describes one admin subcommand.
type adminSpec struct {
	path  string                 // "topic create": the last word is the command name
	usage string                 // ShortUsage
	help  string                 // ShortHelp
	args  []string               // names of the required positional arguments
	flags func(fs *flag.FlagSet) // defines the subcommand's own flags
	run   func(ctx context.Context, adm *kadm.Client, args []string) error
	// runRaw replaces run when set: it also gets the kgo client.
	runRaw func(ctx context.Context, cl *kgo.Client, adm *kadm.Client, args []string) error
}

// adminCommand builds an admin subcommand: the shared connection flags plus
// spec.flags, exact positional argument checking, then spec.run against a
// connected kadm client.
func (c *cli) adminCommand(spec adminSpec) *ffcli.Command {
	words := strings.Fields(spec.path)
	name := words[len(words)-1]
	fs := c.newFlagSet(name)
	var af adminFlags
	af.register(fs)
	if spec.flags != nil {
		spec.flags(fs)
	}
	cmd := &ffcli.Command{
		Name:       name,
		ShortUsage: spec.usage,
		ShortHelp:  spec.help,
		FlagSet:    fs,
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		positional, err := af.parse(fs, args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			// Not flag.ErrHelp itself: ffcli would print usage a second time.
			return errHelpPrinted
		case err != nil:
			// The flag package already printed the error and usage.
			return &usageError{msg: err.Error()}
		case len(positional) != len(spec.args):
			return newUsageError(cmd, "%s: want %d argument(s) (%s), got %d",
				spec.path, len(spec.args), strings.Join(spec.args, " "), len(positional))
		}
		if spec.runRaw != nil {
			return af.withClients(ctx, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				return spec.runRaw(ctx, cl, adm, positional)
			})
		}
		return af.withAdmin(ctx, func(ctx context.Context, adm *kadm.Client) error {
			return spec.run(ctx, adm, positional)
		})
	}
	return cmd
}
