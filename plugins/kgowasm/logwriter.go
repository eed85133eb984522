package kgowasm

import (
	"bytes"
	"context"
	"log/slog"
)

// maxLogLine bounds a buffered partial line, so a plugin that never
// prints a newline cannot grow the client's memory.
const maxLogLine = 16 << 10

// maxPanicLine bounds the panic text carried into an error.
const maxPanicLine = 512

// lineLogger turns a plugin instance's stdout or stderr into one slog
// record per line. An instance runs on one goroutine at a time, so it
// needs no lock.
type lineLogger struct {
	logger *slog.Logger
	stream string
	level  slog.Level
	buf    []byte
	// panicLine is the first "panic: " (or "fatal error: ") line since the
	// call began, so a failed call's error carries the plugin's own reason
	// (Go prints it before the stack trace, which stays in the log).
	panicLine string
}

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
	if w.panicLine == "" && (bytes.HasPrefix(w.buf, []byte("panic: ")) || bytes.HasPrefix(w.buf, []byte("fatal error: "))) {
		w.panicLine = string(w.buf[:min(len(w.buf), maxPanicLine)])
	}
	w.logger.Log(context.Background(), w.level, "plugin output", "stream", w.stream, "line", string(w.buf))
	w.buf = w.buf[:0]
}
