package kafka

import (
	"sync"
	"time"
)

// logThrottle lets a repeated log line through at most once a second and
// counts the occurrences in between, so that a burst (a connection flood,
// a leader change failing every waiting produce) costs a line a second.
type logThrottle struct {
	mu     sync.Mutex
	count  int
	logged time.Time
}

// note records one occurrence; when a line is due it returns true and how
// many occurrences it stands for (this one included).
func (t *logThrottle) note() (n int, due bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.count++
	if time.Since(t.logged) < time.Second {
		return 0, false
	}
	n, t.count, t.logged = t.count, 0, time.Now()
	return n, true
}
