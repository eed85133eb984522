package wasm

import (
	"log/slog"

	"github.com/sluicemq/sluice/wasm/hostabi"
)

// newLineLogger is the logger of one instance's stdout or stderr: one slog
// record per line, tagged with the plugin's name and rate-limited by limit
// (shared by the plugin's instances; nil: unlimited).
func newLineLogger(logger *slog.Logger, plugin, stream string, level slog.Level, limit *logLimiter) *hostabi.LineLogger {
	w := &hostabi.LineLogger{Logger: logger, Plugin: plugin, Stream: stream, Level: level}
	if limit != nil {
		w.Allow = limit.allow
	}
	return w
}
