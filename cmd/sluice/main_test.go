package main

import (
	"context"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := []struct {
		args       []string
		wantStderr string // first line
	}{
		{nil, "sluice: sluice: missing subcommand"},
		{[]string{"frobnicate"}, `sluice: sluice: unknown subcommand "frobnicate"`},
		{[]string{"topic"}, "sluice: topic: missing subcommand"},
		{[]string{"topic", "rename"}, `sluice: topic: unknown subcommand "rename"`},
		{[]string{"topic", "create"}, "sluice: topic create: want 1 argument(s) (NAME), got 0"},
		{[]string{"topic", "describe", "a", "b"}, "sluice: topic describe: want 1 argument(s) (NAME), got 2"},
		{[]string{"topic", "list", "extra"}, "sluice: topic list: want 0 argument(s) (), got 1"},
		{[]string{"topic", "create", "t", "--config", "novalue"}, `invalid value "novalue" for flag -config: want KEY=VALUE, got "novalue"`},
		{[]string{"topic", "create", "t", "--config", "a=1", "--config", "a=2"}, `invalid value "a=2" for flag -config: config key "a" given twice`},
		{[]string{"version", "extra"}, `sluice: version: unexpected argument "extra"`},
		{[]string{"serve", "extra"}, `sluice: serve: unexpected argument "extra"`},
		{[]string{"serve", "--bogus"}, "flag provided but not defined: -bogus"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("SLUICE_BROKERS", "")
			r := runSluice(tc.args...)
			firstLine, _, _ := strings.Cut(r.stderr, "\n")
			if r.code != exitUsage || r.stdout != "" || firstLine != tc.wantStderr {
				t.Errorf("exit %d stdout %q first stderr line %q, want exit 2 and %q", r.code, r.stdout, firstLine, tc.wantStderr)
			}
			if !strings.Contains(r.stderr, "USAGE\n") {
				t.Errorf("no usage printed:\n%s", r.stderr)
			}
		})
	}
}

func TestTopicCreateRejectsBadCounts(t *testing.T) {
	// Checked before anything is sent, so no broker is needed.
	for _, tc := range []struct{ flag, value, want string }{
		{"--partitions", "0", "sluice: --partitions must be positive or -1, got 0\n"},
		{"--replicas", "-2", "sluice: --replicas must be positive or -1, got -2\n"},
		{"--replicas", "40000", "sluice: --replicas must be positive or -1, got 40000\n"},
	} {
		r := runSluice("topic", "create", "t", tc.flag, tc.value, "--brokers", "127.0.0.1:1")
		if r.code != exitError || r.stderr != tc.want {
			t.Errorf("%s %s: exit %d stderr %q, want exit 1 and %q", tc.flag, tc.value, r.code, r.stderr, tc.want)
		}
	}
}

func TestTopicAlterNeedsAChange(t *testing.T) {
	r := runSluice("topic", "alter", "t", "--brokers", "127.0.0.1:1")
	want := "sluice: alter topic \"t\": nothing to do: give --config KEY=VALUE or --delete-config KEY\n"
	if r.code != exitError || r.stderr != want {
		t.Errorf("exit %d stderr %q, want exit 1 and %q", r.code, r.stderr, want)
	}
}

func TestAdminRejectsEmptyBrokerList(t *testing.T) {
	r := runSluice("topic", "list", "--brokers", " , ")
	if want := "sluice: " + ErrNoBrokers.Error() + "\n"; r.code != exitError || r.stderr != want {
		t.Errorf("exit %d stderr %q, want exit 1 and %q", r.code, r.stderr, want)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"serve", "-h"}, {"topic", "create", "-h"}, {"topic", "create", "t", "-h"}} {
		r := runSluice(args...)
		if r.code != exitOK || r.stdout != "" || strings.Count(r.stderr, "USAGE\n") != 1 {
			t.Errorf("%v: exit %d stdout %q stderr %q, want exit 0 and usage once on stderr", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	r := runSluice("version")
	want := regexp.MustCompile(`^sluice \S+( \(commit [0-9a-f]+(, modified)?\))? ` +
		regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	if r.code != exitOK || r.stderr != "" || !want.MatchString(r.stdout) {
		t.Errorf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestServeCommandRunsUntilCancelled(t *testing.T) {
	clearServeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				stderr.Write([]byte("panic: " + toString(r)))
				code <- -1
			}
		}()
		code <- run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"},
			&syncBuffer{}, stderr)
	}()

	// The ready log line carries the bound address.
	readyLine := regexp.MustCompile(`"msg":"sluice is serving the Kafka protocol","addr":"127\.0\.0\.1:\d+"`)
	deadline := time.Now().Add(30 * time.Second)
	for !readyLine.MatchString(stderr.String()) {
		select {
		case c := <-code:
			t.Fatalf("serve exited %d before serving:\n%s", c, stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 30s:\n%s", stderr)
		}
	}

	cancel() // what SIGINT/SIGTERM do in main
	select {
	case c := <-code:
		if c != exitOK || !strings.Contains(stderr.String(), `"msg":"sluice stopped cleanly"`) {
			t.Errorf("serve exit %d, want 0 and a clean-stop log:\n%s", c, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of cancellation:\n%s", stderr)
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return "non-string panic"
}
