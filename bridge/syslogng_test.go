package bridge_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/internal/needs"
)

// syslogNGRoot is where scripts/install-syslog-ng-private.sh unpacks
// syslog-ng (it conflicts with rsyslog as a Debian package).
func syslogNGRoot() string {
	if r := os.Getenv("SLUICE_SYSLOG_NG_ROOT"); r != "" {
		return r
	}
	return "/opt/sluice-test/syslog-ng"
}

// startSyslogNG runs syslog-ng in the foreground with one file source and
// the given http() destination options, its internal log on stderr.
func startSyslogNG(t *testing.T, lines []string, dest string) *lockedBuffer {
	t.Helper()
	needs.SyslogNG(t)
	root := syslogNGRoot()
	mods, _ := filepath.Glob(filepath.Join(root, "usr/lib/syslog-ng/*/libhttp.so"))
	if len(mods) == 0 {
		t.Fatalf("syslog-ng with its http module not found under %s (run scripts/install-syslog-ng-private.sh)", root)
	}
	dir := t.TempDir()
	input := filepath.Join(dir, "app.log")
	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`@version: 3.38
options { stats-freq(0); time-reopen(1); };
source s_in { file("%s" follow-freq(0.1) flags(no-parse)); };
destination d_bridge { http(%s); };
log { source(s_in); destination(d_bridge); };
`, input, dest)
	confPath := filepath.Join(dir, "syslog-ng.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "usr/sbin/syslog-ng"), "-F", "-e", "--no-caps",
		"-f", confPath, "--module-path", filepath.Dir(mods[0]),
		"-R", filepath.Join(dir, "persist"), "-p", filepath.Join(dir, "pid"), "-c", filepath.Join(dir, "ctl"))
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(root, "usr/lib/syslog-ng"))
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("syslog-ng output:\n%s", out.String())
		}
	})
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSyslogNGAgainstRefusals runs a real syslog-ng http() destination (the
// transport under its elasticsearch-http()) against /_bulk and /lines:
// a missing topic and a wrong password are request-level errors that
// syslog-ng logs, and with response-action(… => retry) it keeps the lines
// until the problem is fixed, then delivers each exactly once.
func TestSyslogNGAgainstRefusals(t *testing.T) {
	needs.SyslogNG(t) // skips under -short before a node is started for nothing
	n := startNode(t, bridge.Config{Tokens: []bridge.Token{
		{Name: "shipper", Secret: "s3cret", Topics: []string{"*"}, Operations: []string{"produce"}},
	}})
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(n.base, "http://"))
	bridgeURL := "http://" + net.JoinHostPort(host, port)
	var lines []string
	for i := 0; i < 30; i++ {
		lines = append(lines, fmt.Sprintf("line %02d from syslog-ng", i))
	}
	bulk := func(topic, password, extra string) string {
		return fmt.Sprintf(`url("%s/_bulk") method("POST") user("shipper") password("%s")
  headers("Content-Type: application/x-ndjson")
  body("{\"index\":{\"_index\":\"%s\"}}\n$(format-json message=$MSG)") delimiter("\n") body-suffix("\n")
  batch-lines(10) batch-timeout(200) retries(1000) %s`, bridgeURL, password, topic, extra)
	}
	const dropNotice = "Server returned with a 4XX (client errors) status code"

	t.Run("missing topic is logged", func(t *testing.T) {
		out := startSyslogNG(t, lines, bulk("absent", "s3cret", ""))
		waitFor(t, "syslog-ng to report the 404", func() bool {
			return strings.Contains(out.String(), dropNotice) && strings.Contains(out.String(), "status_code='404'")
		})
	})
	t.Run("wrong password is logged", func(t *testing.T) {
		out := startSyslogNG(t, lines, bulk("absent", "wrong", ""))
		waitFor(t, "syslog-ng to report the 401", func() bool {
			return strings.Contains(out.String(), dropNotice) && strings.Contains(out.String(), "status_code='401'")
		})
	})
	t.Run("missing topic retried until created", func(t *testing.T) {
		out := startSyslogNG(t, lines, bulk("late", "s3cret", `response-action(404 => retry)`))
		waitFor(t, "two refused attempts", func() bool { return strings.Count(out.String(), "status_code='404'") >= 2 })
		n.createTopic(t, "late", 1)
		recs := n.readAll(t, "late", len(lines))
		for i, r := range recs {
			if want := fmt.Sprintf(`{"message":%q}`, lines[i]); string(r.Value) != want {
				t.Fatalf("record %d: %s, want %s", i, r.Value, want)
			}
		}
		time.Sleep(500 * time.Millisecond) // nothing more arrives
		if got := n.totalRecords(t, "late"); got != int64(len(lines)) {
			t.Fatalf("late holds %d records, want %d", got, len(lines))
		}
	})
	t.Run("raw lines", func(t *testing.T) {
		n.createTopic(t, "raw-syslog", 1)
		startSyslogNG(t, lines, fmt.Sprintf(`url("%s/topics/raw-syslog/lines") method("POST") user("shipper") password("s3cret")
  headers("Content-Type: text/plain") delimiter("\n") body-suffix("\n") batch-lines(10) batch-timeout(200)`, bridgeURL))
		recs := n.readAll(t, "raw-syslog", len(lines))
		for i, r := range recs {
			if string(r.Value) != lines[i] {
				t.Fatalf("record %d: %q, want %q", i, r.Value, lines[i])
			}
		}
	})
}
