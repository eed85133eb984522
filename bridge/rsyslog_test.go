package bridge_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/internal/needs"
)

// TestRsyslogShipsToBulk runs a real rsyslogd (omelasticsearch) with the
// example config from examples/shippers against the bridge's /_bulk, and
// checks that every line of the shipped file arrives as a record, in order.
func TestRsyslogShipsToBulk(t *testing.T) {
	needs.Rsyslogd(t) // skips under -short before a node is started for nothing
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "syslog", 1)
	const lines = 200
	startRsyslog(t, n, "syslog", "", lines)
	recs := n.readAll(t, "syslog", lines)
	for i, r := range recs {
		var doc struct {
			Message string `json:"message"`
			Tag     string `json:"tag"`
		}
		if err := json.Unmarshal(r.Value, &doc); err != nil {
			t.Fatalf("record %d: %s: %v", i, r.Value, err)
		}
		if want := rsyslogLine(i); doc.Message != want || doc.Tag != "app:" {
			t.Fatalf("record %d: %+v, want message %q", i, doc, want)
		}
	}

}

func rsyslogLine(i int) string { return fmt.Sprintf("line %03d: user=u%d action=\"checkout\"", i, i%7) }

// rsyslogRun is a running rsyslogd shipping a file to the bridge.
type rsyslogRun struct {
	dir string
	out *lockedBuffer
}

// errorFile is omelasticsearch's errorfile: every failed request with the
// bridge's answer.
func (r *rsyslogRun) errorFile() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "sluice-errors.json"))
	return string(b)
}

// startRsyslog runs a real rsyslogd (omelasticsearch) with the example
// config from examples/shippers, extra added to its action (credentials),
// shipping lines lines of a file to topic; it is stopped at cleanup.
func startRsyslog(t *testing.T, n *testNode, topic, extra string, lines int) *rsyslogRun {
	t.Helper()
	rsyslogd := needs.Rsyslogd(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "app.log")
	var sb strings.Builder
	for i := 0; i < lines; i++ {
		sb.WriteString(rsyslogLine(i) + "\n")
	}
	if err := os.WriteFile(input, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(n.base, "http://"))
	tmpl, err := os.ReadFile("../examples/shippers/rsyslog-sluice.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("@WORKDIR@", dir, "@INPUT@", input, "@HOST@", host, "@PORT@", port, "@TOPIC@", topic).Replace(string(tmpl))
	if extra != "" {
		conf = strings.Replace(conf, `usehttps="off"`, `usehttps="off" `+extra, 1)
	}
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslog.pid"))
	rs := &rsyslogRun{dir: dir, out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = rs.out, rs.out
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
			t.Logf("rsyslogd output:\n%s\nerror file:\n%s", rs.out.String(), rs.errorFile())
		}
	})
	return rs
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRsyslogReportsRefusedBulk: rsyslog shipping to a topic that does
// not exist, or with a wrong password, gets a request-level error: it
// reports every line in its errorfile and log, and nothing reaches a topic.
func TestRsyslogReportsRefusedBulk(t *testing.T) {
	needs.Rsyslogd(t) // skips under -short before a node is started for nothing
	n := startNode(t, bridge.Config{Tokens: []bridge.Token{
		{Name: "shipper", Secret: "s3cret", Topics: []string{"syslog", "nosuch"}, Operations: []string{"produce"}},
	}})
	n.createTopic(t, "syslog", 1)
	const lines = 20
	cases := []struct{ name, topic, extra, want string }{
		{"missing topic", "nosuch", `uid="shipper" pwd="s3cret"`, "index_not_found_exception"},
		{"wrong password", "syslog", `uid="shipper" pwd="wrong"`, "security_exception"},
		{"no credentials", "syslog", "", "security_exception"},
	}
	for _, c := range cases {
		rs := startRsyslog(t, n, c.topic, c.extra, lines)
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := reportedLines(t, rs.errorFile(), c.want)
			if len(got) == lines {
				for i := 0; i < lines; i++ {
					if got[rsyslogLine(i)] != 1 {
						t.Fatalf("%s: line %d reported %d times", c.name, i, got[rsyslogLine(i)])
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: rsyslog reported %d of %d lines", c.name, len(got), lines)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// rsyslog's own log names the failure and the bridge's answer.
		if out := rs.out.String(); !strings.Contains(out, "omelasticsearch: error in elasticsearch reply") || !strings.Contains(out, c.want) {
			t.Fatalf("%s: rsyslog log does not report the failure:\n%s", c.name, out)
		}
	}
	if got := n.totalRecords(t, "syslog"); got != 0 {
		t.Fatalf("syslog holds %d records", got)
	}
}

// reportedLines parses omelasticsearch's errorfile (one JSON object per
// failed request: the request's bulk body and the reply) and counts the
// log lines of requests whose reply carries errType.
func reportedLines(t *testing.T, errorFile, errType string) map[string]int {
	got := map[string]int{}
	dec := json.NewDecoder(strings.NewReader(errorFile))
	for {
		var e struct {
			Request struct {
				PostData string `json:"postdata"`
			} `json:"request"`
			Reply struct {
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
				Status int `json:"status"`
			} `json:"reply"`
		}
		if err := dec.Decode(&e); err != nil {
			return got // EOF, or a request being written right now
		}
		if e.Reply.Error.Type != errType || (e.Reply.Status != 401 && e.Reply.Status != 404) {
			t.Fatalf("errorfile reply %+v, want %s", e.Reply, errType)
		}
		for _, l := range strings.Split(e.Request.PostData, "\n") {
			var doc struct {
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(l), &doc) == nil && doc.Message != "" {
				got[doc.Message]++
			}
		}
	}
}
