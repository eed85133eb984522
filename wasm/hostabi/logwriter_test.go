package hostabi

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// One record per line, a partial line held until its newline (or Flush),
// the first panic line kept, and the rate limit's dropped count said once.
func TestLineLogger(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	allowed := []bool{true, false, false, true}
	w := &LineLogger{Logger: logger, Plugin: "p", Stream: "stderr", Level: slog.LevelWarn,
		Allow: func(time.Time) (bool, int64) {
			ok := allowed[0]
			allowed = allowed[1:]
			if ok && len(allowed) == 0 {
				return true, 2
			}
			return ok, 0
		}}
	if n, err := w.Write([]byte("hello\npanic: boom\npanic: again\nlast")); n != 35 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	w.Flush()
	want := `level=WARN msg="plugin output" plugin=p stream=stderr line=hello
level=WARN msg="plugin output" plugin=p stream=stderr line=last dropped_lines_before=2
`
	if out.String() != want {
		t.Fatalf("log:\n%s\nwant:\n%s", out.String(), want)
	}
	if w.PanicLine() != "panic: boom" {
		t.Fatalf("panic line %q", w.PanicLine())
	}
	w.ResetPanicLine()
	out.Reset()

	// Without a plugin name or a limit; a partial line reaching MaxLogLine
	// is logged without waiting for its newline.
	w = &LineLogger{Logger: logger, Stream: "stdout", Level: slog.LevelInfo}
	w.Write([]byte(strings.Repeat("x", MaxLogLine+1)))
	w.Write([]byte("y\n"))
	if got := strings.Count(out.String(), `msg="plugin output" stream=stdout line=`); got != 2 {
		t.Fatalf("%d records for an over-long line, want 2:\n%.200s", got, out.String())
	}
}
