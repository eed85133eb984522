package kafka

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/sluicemq/sluice/core/auth"
)

// InProcessPrincipal is the principal of in-process connections: the HTTP
// bridge and the plugin registry talking to their own broker. No client
// can authenticate as it; only InProcessDialer hands such connections out.
const InProcessPrincipal auth.Principal = "User:sluice-in-process"

// InProcessDialer returns a dial function (kgo.Dialer) for components of
// this process. Dialing one of self (the node's own listener and
// advertised addresses) opens a socket pair served by s as a trusted
// connection: it is authorized for everything and fetches skip filter
// plugins, because the caller (the bridge) authenticates and authorizes
// its own HTTP clients and applies filters per HTTP principal. Any other
// address (another broker of a cluster) is dialed over TCP as usual.
//
// remote, when non-nil, dials the other addresses (TLS to other brokers);
// nil dials plain TCP.
func (s *Server) InProcessDialer(remote func(ctx context.Context, network, host string) (net.Conn, error), self ...string) func(ctx context.Context, network, host string) (net.Conn, error) {
	if remote == nil {
		remote = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		if slices.Contains(self, host) {
			return s.connectInProcess()
		}
		return remote(ctx, network, host)
	}
}

// connectInProcess serves one end of a Unix socket pair and returns the
// other. A socket pair (not net.Pipe) keeps kernel buffering, so the
// request and response goroutines on both sides never lock-step.
func (s *Server) connectInProcess() (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("kafka: in-process socket pair: %w", err)
	}
	ours, err := fdConn(fds[0], "sluice-in-process-server")
	if err != nil {
		syscall.Close(fds[1])
		return nil, err
	}
	theirs, err := fdConn(fds[1], "sluice-in-process-client")
	if err != nil {
		ours.Close()
		return nil, err
	}
	c := newConn(s, ours)
	c.principal, c.trusted = InProcessPrincipal, true
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ours.Close()
		theirs.Close()
		return nil, net.ErrClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	return theirs, nil
}

// fdConn wraps a socket fd as a net.Conn (FileConn dups it, so the
// original is closed here).
func fdConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return net.FileConn(f)
}
