package kafka

import (
	"context"
	"net"
	"sync"
)

// Defaults of the listener's limits (Config fields of the same names).
const (
	DefaultMaxConnections        = 10000
	DefaultMaxConnectionsPerIP   = 1000
	DefaultQueuedMaxRequestBytes = 512 << 20
)

// memBudget is queued.max.request.bytes: the bytes of requests being read
// and handled across all connections. A reader that would pass it waits
// (no more reading from its socket) until others finish, so many large
// requests at once cannot exhaust memory.
type memBudget struct {
	mu      sync.Mutex
	used    int64
	max     int64
	changed chan struct{} // closed and replaced on every release
}

func newMemBudget(max int64) *memBudget {
	return &memBudget{max: max, changed: make(chan struct{})}
}

// acquire waits until n bytes fit (a request larger than the whole budget
// waits until it is alone) or ctx ends (false).
func (m *memBudget) acquire(ctx context.Context, n int64) bool {
	for {
		m.mu.Lock()
		if m.used == 0 || m.used+n <= m.max {
			m.used += n
			m.mu.Unlock()
			return true
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (m *memBudget) release(n int64) {
	if n == 0 {
		return
	}
	m.mu.Lock()
	m.used -= n
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// inUse is what the budget has handed out (for tests).
func (m *memBudget) inUse() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// remoteIP is the connection's peer address without its port.
func remoteIP(nc net.Conn) string {
	host := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// admit counts a new connection against max.connections and
// max.connections.per.ip; false means it must be closed. Callers hold
// s.mu.
func (s *Server) admitLocked(ip string) (bool, string) {
	switch {
	case len(s.conns) >= s.cfg.MaxConnections:
		return false, "max.connections"
	case s.perIP[ip] >= s.cfg.MaxConnectionsPerIP:
		return false, "max.connections.per.ip"
	}
	s.perIP[ip]++
	return true, ""
}

// forgetLocked undoes admitLocked when a connection ends.
func (s *Server) forgetLocked(ip string) {
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// logRefusal logs refused connections at most once a second, so that a
// flood does not flood the log.
func (s *Server) logRefusal(ip, limit string) {
	if n, due := s.refusedLog.note(); due {
		s.logger.Warn("refusing connections over a limit", "remote_ip", ip, "limit", limit, "refused", n)
	}
}
