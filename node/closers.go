package node

import (
	"errors"
	"net"
)

// closerStack is a node's lifecycle in one place: each part is pushed as
// soon as it has started, and close stops them all in reverse order
// (last started, first stopped), whether start failed part way or the
// node is shutting down. RunWith defers one close, so no start step needs
// cleanup of its own. It is a plain slice so that wiring a new part is
// one line: closers = append(closers, part.Close).
type closerStack []func() error

// push records a started part; close stops it.
func (s *closerStack) push(close func() error) { *s = append(*s, close) }

// pushFunc is push for a stop function that cannot fail.
func (s *closerStack) pushFunc(stop func()) {
	s.push(func() error { stop(); return nil })
}

// pushListener pushes a listener. The server that serves it usually
// closes it first; that second close's net.ErrClosed is no error.
func (s *closerStack) pushListener(ln net.Listener) {
	s.push(func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
}

// close stops every pushed part in reverse order, each once (a second
// close does nothing), and joins their errors.
func (s *closerStack) close() error {
	var errs []error
	for i := len(*s) - 1; i >= 0; i-- {
		if err := (*s)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*s = nil
	return errors.Join(errs...)
}
