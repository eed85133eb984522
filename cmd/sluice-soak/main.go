// Command sluice-soak runs the real `sluice serve` binary for a long time
// under mixed clients (kgo, sarama, the HTTP bridge), hostile requests and
// SIGTERM/SIGKILL restarts, then reads every topic back and checks that
// each acknowledged record is there exactly once, in order. `make soak`
// runs it; docs/benchmarks.md has its figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("sluice-soak", flag.ExitOnError)
	fs.StringVar(&cfg.Bin, "sluice", cfg.Bin, "the sluice binary to run")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long clients, hostile requests and restarts run")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed for restart intervals and attack choice (0: from the clock)")
	fs.DurationVar(&cfg.RestartMin, "restart-min", cfg.RestartMin, "shortest time between broker restarts")
	fs.DurationVar(&cfg.RestartMax, "restart-max", cfg.RestartMax, "longest time between broker restarts")
	fs.DurationVar(&cfg.HostileEvery, "hostile-every", cfg.HostileEvery, "pause between hostile requests")
	fs.IntVar(&cfg.KgoRate, "kgo-rate", cfg.KgoRate, "records/s of each of the 3 kgo producers")
	fs.IntVar(&cfg.SaramaRate, "sarama-rate", cfg.SaramaRate, "records/s of the sarama producer")
	fs.IntVar(&cfg.HTTPRate, "http-rate", cfg.HTTPRate, "requests/s of the HTTP bridge producer")
	fs.Int64Var(&cfg.SegmentBytes, "segment-bytes", cfg.SegmentBytes, "the broker's --log-segment-bytes: small segments make restarts recover across many files")
	fs.StringVar(&cfg.Dir, "dir", "", "work dir for data and the broker log (default: a new temp dir, removed on success)")
	fs.BoolVar(&cfg.Verbose, "v", false, "debug logs")
	fs.Parse(os.Args[1:])
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	level := slog.LevelInfo
	if cfg.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, cfg, log)
	if sum != nil {
		sum.print(os.Stdout)
	}
	if err != nil {
		log.Error("soak failed", "err", err)
		os.Exit(2)
	}
	if problems := sum.problems(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stdout, "FAIL:", p)
		}
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout, "PASS")
}

// config is one soak run.
type config struct {
	Bin                    string
	Duration               time.Duration
	Seed                   int64
	RestartMin, RestartMax time.Duration
	HostileEvery           time.Duration
	KgoRate, SaramaRate    int
	HTTPRate               int
	SegmentBytes           int64
	Dir                    string
	Verbose                bool
	// FlushFor bounds the producers' final flush.
	FlushFor time.Duration
}

func defaultConfig() config {
	return config{
		Bin:          "bin/sluice",
		Duration:     30 * time.Minute,
		RestartMin:   time.Minute,
		RestartMax:   3 * time.Minute,
		HostileEvery: 2 * time.Second,
		KgoRate:      300,
		SaramaRate:   100,
		HTTPRate:     30,
		SegmentBytes: 4 << 20,
		FlushFor:     2 * time.Minute,
	}
}
