package hostabi

import (
	"bytes"
	"context"
	"log/slog"
	"time"
)

// MaxLogLine bounds a buffered partial line; longer output is logged in
// pieces so a plugin cannot grow the host's memory by never printing a
// newline.
const MaxLogLine = 16 << 10

// MaxPanicLine bounds the panic text carried into an error.
const MaxPanicLine = 512

// LineLogger turns a plugin instance's stdout or stderr into one slog
// record per line ("plugin output", with the plugin's name when Plugin is
// set, the stream and the line). Each instance has its own, and an
// instance runs on one goroutine at a time, so it needs no lock.
type LineLogger struct {
	Logger *slog.Logger
	Plugin string // "": no plugin attribute
	Stream string // "stdout" or "stderr"
	Level  slog.Level
	// Allow, when set, rate-limits the lines: a line it refuses is
	// dropped; dropped is how many were dropped before this one, said
	// once output is let through again.
	Allow func(now time.Time) (ok bool, dropped int64)

	buf []byte
	// panicLine is the first "panic: " (or "fatal error: ") line since
	// ResetPanicLine, so a failed call's error can carry the plugin's own
	// reason (Go prints it before the stack trace, which stays in the log).
	panicLine string
}

func (w *LineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= MaxLogLine {
				w.Flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.Flush()
		p = p[i+1:]
	}
	return n, nil
}

// PanicLine is the first panic line written since ResetPanicLine ("" if
// none); call Flush first to count a line still without its newline.
func (w *LineLogger) PanicLine() string { return w.panicLine }

// ResetPanicLine forgets the panic line; call it as a call begins.
func (w *LineLogger) ResetPanicLine() { w.panicLine = "" }

// Flush logs the buffered line, if any.
func (w *LineLogger) Flush() {
	if len(w.buf) == 0 {
		return
	}
	defer func() { w.buf = w.buf[:0] }()
	if w.panicLine == "" && (bytes.HasPrefix(w.buf, []byte("panic: ")) || bytes.HasPrefix(w.buf, []byte("fatal error: "))) {
		w.panicLine = string(w.buf[:min(len(w.buf), MaxPanicLine)])
	}
	var dropped int64
	if w.Allow != nil {
		var ok bool
		if ok, dropped = w.Allow(time.Now()); !ok {
			return
		}
	}
	ctx, line := context.Background(), string(w.buf)
	switch {
	case w.Plugin != "" && dropped > 0:
		w.Logger.Log(ctx, w.Level, "plugin output", "plugin", w.Plugin, "stream", w.Stream, "line", line, "dropped_lines_before", dropped)
	case w.Plugin != "":
		w.Logger.Log(ctx, w.Level, "plugin output", "plugin", w.Plugin, "stream", w.Stream, "line", line)
	case dropped > 0:
		w.Logger.Log(ctx, w.Level, "plugin output", "stream", w.Stream, "line", line, "dropped_lines_before", dropped)
	default:
		w.Logger.Log(ctx, w.Level, "plugin output", "stream", w.Stream, "line", line)
	}
}
