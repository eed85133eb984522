package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sluicemq/sluice/node"
)

func (c *cli) serveCommand() *ffcli.Command {
	sf := newServeFlags(c.newFlagSet("serve"))
	cmd := &ffcli.Command{
		Name:       "serve",
		ShortUsage: "sluice serve [flags]",
		ShortHelp:  "Run the broker until SIGINT or SIGTERM.",
		LongHelp: "Every flag can also be set with the environment variable SLUICE_<FLAG>\n" +
			"(upper case, dashes as underscores, e.g. SLUICE_DATA_DIR) or in the file\n" +
			"named by --config (one `flag value` per line). Precedence: flag, then\n" +
			"environment, then config file, then default.",
		FlagSet: sf.fs,
		Options: serveParseOptions(),
	}
	cmd.Exec = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return newUsageError(cmd, "serve: unexpected argument %q", args[0])
		}
		settings, err := sf.settings()
		if err != nil {
			return err
		}
		return c.serve(ctx, settings)
	}
	return cmd
}

// serve runs the broker until ctx is cancelled. A cancelled context is the
// normal way to stop, so the cancellation itself is not an error.
func (c *cli) serve(ctx context.Context, s serveSettings) error {
	logger := newLogger(c.stderr, s.logLevel, s.logFormat)
	cfg := s.broker
	cfg.Logger = logger

	ready := func(a node.Addrs) {
		logger.Info("sluice is serving the Kafka protocol",
			"addr", a.Kafka, "http_addr", a.HTTP, "admin_addr", a.Admin, "data_dir", cfg.DataDir, "broker_id", cfg.BrokerID)
	}
	opts := s.node
	opts.Bridge, opts.Plugins = s.bridge, s.plugins
	err := node.RunWith(ctx, cfg, opts, ready)
	if err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("sluice stopped cleanly")
	return nil
}

// newLogger builds the broker's logger writing to w (stderr in production).
func newLogger(w io.Writer, level slog.Level, format logFormat) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == logFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
