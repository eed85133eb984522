package wasm

import (
	"bytes"
	"context"
	"log/slog"
	"time"
)

// maxLogLine bounds a buffered partial line; longer output is logged in
// pieces so a plugin cannot grow the host's memory by never printing a
// newline.
const maxLogLine = 16 << 10

// lineLogger turns a plugin's stdout or stderr into one slog record per
// line, tagged with the plugin's name. Each instance has its own, and an
// instance runs on one goroutine at a time, so it needs no lock.
type lineLogger struct {
	logger *slog.Logger
	plugin string
	stream string
	level  slog.Level
	limit  *logLimiter // shared by the plugin's instances; nil: unlimited
	buf    []byte
	// panicLine is the first "panic: " line written since the call began
	// (run resets it), so a failed call's error can carry the plugin's own
	// reason; the stack trace after it stays in the log only.
	panicLine string
}

// maxPanicLine bounds the panic text carried into an error.
const maxPanicLine = 512

func (w *lineLogger) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLogLine {
				w.flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

// flush logs the buffered line, if any.
func (w *lineLogger) flush() {
	if len(w.buf) == 0 {
		return
	}
	defer func() { w.buf = w.buf[:0] }()
	if w.panicLine == "" && (bytes.HasPrefix(w.buf, []byte("panic: ")) || bytes.HasPrefix(w.buf, []byte("fatal error: "))) {
		w.panicLine = string(w.buf[:min(len(w.buf), maxPanicLine)])
	}
	if w.limit == nil {
		w.logger.Log(context.Background(), w.level, "plugin output", "plugin", w.plugin, "stream", w.stream, "line", string(w.buf))
		return
	}
	ok, dropped := w.limit.allow(time.Now())
	if !ok {
		return
	}
	if dropped > 0 {
		// Say what the rate limit hid, once output is let through again.
		w.logger.Log(context.Background(), w.level, "plugin output", "plugin", w.plugin, "stream", w.stream, "line", string(w.buf), "dropped_lines_before", dropped)
		return
	}
	w.logger.Log(context.Background(), w.level, "plugin output", "plugin", w.plugin, "stream", w.stream, "line", string(w.buf))
}
