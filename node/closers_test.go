package node

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
)

// startSteps runs n start steps the way RunWith does: each started step
// is pushed on the stack; step failAt (1-based; 0: none) fails to start
// and the deferred close stops what had started. It returns the start
// error joined with the close errors.
func startSteps(n, failAt int, closed *[]int, closeErr map[int]error) (err error) {
	var closers closerStack
	defer func() { err = errors.Join(err, closers.close()) }()
	for i := 1; i <= n; i++ {
		if i == failAt {
			return fmt.Errorf("step %d failed", i)
		}
		closers.push(func() error {
			*closed = append(*closed, i)
			return closeErr[i]
		})
	}
	return nil
}

func TestCloserStackFailedStartClosesStartedStepsInReverse(t *testing.T) {
	const n = 6
	for k := 1; k <= n; k++ {
		var closed []int
		err := startSteps(n, k, &closed, nil)
		if err == nil || err.Error() != fmt.Sprintf("step %d failed", k) {
			t.Errorf("fail at %d: err = %v", k, err)
		}
		var want []int
		for i := k - 1; i >= 1; i-- {
			want = append(want, i)
		}
		if !slices.Equal(closed, want) {
			t.Errorf("fail at step %d: closed %v, want %v", k, closed, want)
		}
	}
}

func TestCloserStackShutdownClosesAllInReverseOnce(t *testing.T) {
	var closed []int
	if err := startSteps(4, 0, &closed, nil); err != nil {
		t.Fatal(err)
	}
	if want := []int{4, 3, 2, 1}; !slices.Equal(closed, want) {
		t.Fatalf("closed %v, want %v", closed, want)
	}

	var s closerStack
	calls := 0
	s.pushFunc(func() { calls++ })
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil || calls != 1 {
		t.Fatalf("second close: err %v, stop ran %d times, want 1", err, calls)
	}
}

func TestCloserStackJoinsErrorsAndKeepsClosing(t *testing.T) {
	var closed []int
	e2, e4 := errors.New("close 2"), errors.New("close 4")
	err := startSteps(5, 0, &closed, map[int]error{2: e2, 4: e4})
	if !errors.Is(err, e2) || !errors.Is(err, e4) {
		t.Fatalf("err = %v, want both close errors", err)
	}
	if want := []int{5, 4, 3, 2, 1}; !slices.Equal(closed, want) {
		t.Fatalf("closed %v, want %v: a failing close must not stop the rest", closed, want)
	}
}

// A listener pushed on the stack and then closed by its server (as
// kafka.Server.Close and http.Server.Shutdown do) closes without error.
func TestCloserStackListenerClosedTwice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var s closerStack
	s.pushListener(ln)
	s.push(ln.Close) // the server, started later, closes it first
	if err := s.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}
