package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/testkit"
)

// sluiceBinary is the broker the test soaks, built once by TestMain.
var sluiceBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // TestSoakShort skips: no broker to build
	}
	if bin := os.Getenv("SLUICE_SOAK_BINARY"); bin != "" {
		sluiceBinary = bin
		return m.Run()
	}
	// The kit's binary: $SLUICE_BINARY, or cmd/sluice built once.
	bin, err := testkit.SluiceBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	sluiceBinary = bin
	return testkit.Main(m)
}

// TestSoakShort is `make soak` in 20 seconds: the real broker under every
// client kind, every hostile request and at least one SIGTERM and one
// SIGKILL restart, then the full loss/dup check.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real broker for 20 s")
	}
	cfg := defaultConfig()
	cfg.Bin = sluiceBinary
	cfg.Duration = 20 * time.Second
	cfg.Seed = 11
	cfg.RestartMin, cfg.RestartMax = 3*time.Second, 5*time.Second
	cfg.HostileEvery = 150 * time.Millisecond
	cfg.KgoRate, cfg.SaramaRate, cfg.HTTPRate = 150, 60, 20
	cfg.FlushFor = 30 * time.Second
	cfg.Dir = t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	start := time.Now()
	sum, err := run(context.Background(), cfg, log)
	if sum != nil {
		var b strings.Builder
		sum.print(&b)
		t.Log("\n" + b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("soak took %v", time.Since(start).Round(time.Millisecond))
	for _, p := range sum.problems() {
		t.Error(p)
	}
	if sum.SIGTERMs < 1 || sum.SIGKILLs < 1 {
		t.Errorf("restarts: %d SIGTERM, %d SIGKILL; want at least one of each", sum.SIGTERMs, sum.SIGKILLs)
	}
	sent := 0
	for _, a := range sum.Attacks {
		sent += a.sent
	}
	if sent < 20 {
		t.Errorf("%d hostile requests sent, want at least 20", sent)
	}
	if len(sum.Producers) != 5 {
		t.Fatalf("%d producers checked, want 5", len(sum.Producers))
	}
	if t.Failed() {
		if tail, err := os.ReadFile(filepath.Join(cfg.Dir, "broker.log")); err == nil {
			t.Logf("broker log tail:\n%s", tail[max(0, len(tail)-8000):])
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
