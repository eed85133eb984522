package bridge_test

import (
	"encoding/json"
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
)

// TestRsyslogShipsToBulk runs a real rsyslogd (omelasticsearch) with the
// example config from examples/shippers against the bridge's /_bulk, and
// checks that every line of the shipped file arrives as a record, in order.
func TestRsyslogShipsToBulk(t *testing.T) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		rsyslogd = "/usr/sbin/rsyslogd" // sbin is often not on a test's PATH
	}
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "syslog", 1)

	dir := t.TempDir()
	input := filepath.Join(dir, "app.log")
	const lines = 200
	var sb strings.Builder
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&sb, "line %03d: user=u%d action=\"checkout\"\n", i, i%7)
	}
	if err := os.WriteFile(input, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(n.base, "http://"))
	tmpl, err := os.ReadFile("../examples/shippers/rsyslog-sluice.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("@WORKDIR@", dir, "@INPUT@", input, "@HOST@", host, "@PORT@", port, "@TOPIC@", "syslog").Replace(string(tmpl))
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslog.pid"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
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
			errs, _ := os.ReadFile(filepath.Join(dir, "sluice-errors.json"))
			t.Logf("rsyslogd output:\n%s\nerror file:\n%s", out.String(), errs)
		}
	}()

	recs := n.readAll(t, "syslog", lines)
	for i, r := range recs {
		var doc struct {
			Message string `json:"message"`
			Tag     string `json:"tag"`
		}
		if err := json.Unmarshal(r.Value, &doc); err != nil {
			t.Fatalf("record %d: %s: %v", i, r.Value, err)
		}
		want := fmt.Sprintf("line %03d: user=u%d action=\"checkout\"", i, i%7)
		if doc.Message != want || doc.Tag != "app:" {
			t.Fatalf("record %d: %+v, want message %q", i, doc, want)
		}
	}
}
