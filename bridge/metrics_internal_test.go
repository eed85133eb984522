package bridge

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRejectLogRateLimited: a flood of refused requests logs one line per
// interval, and the next line counts the ones not logged.
func TestRejectLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := &rejectLogger{interval: time.Hour}
	r := httptest.NewRequest("POST", "/beacon/web", nil)
	for i := 0; i < 5; i++ {
		l.log(log, r, "192.0.2.1", "/beacon/{topic}", 403, reasonOrigin)
	}
	if got := strings.Count(buf.String(), "bridge request refused"); got != 1 {
		t.Fatalf("%d lines for 5 refusals within the interval:\n%s", got, buf.String())
	}
	l.mu.Lock()
	l.last = l.last.Add(-2 * time.Hour)
	l.mu.Unlock()
	l.log(log, r, "192.0.2.1", "/beacon/{topic}", 403, reasonOrigin)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "suppressed_since_last=4") || !strings.Contains(lines[1], "reason=origin") ||
		!strings.Contains(lines[1], "client_ip=192.0.2.1") || !strings.Contains(lines[1], "status=403") {
		t.Fatalf("log:\n%s", buf.String())
	}
}
