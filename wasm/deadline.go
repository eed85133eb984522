package wasm

import (
	"context"
	"errors"
	"time"
)

// The deadline of a call is checked by the guest itself: the checks Load
// adds (instrument.go) call sluice.yield, implemented by yieldHost, at
// least every fuelRefill bytes of guest code. Returning to Go there is
// what lets a garbage collection stop the world while a plugin spins, and
// the check is a clock read and a comparison: no timer or goroutine per
// call, no lock.

// errCallTimeout and errCallCanceled are what yieldHost panics with to
// trap the guest; wazero returns them wrapped from the call.
var (
	errCallTimeout  = errors.New("plugin call deadline exceeded")
	errCallCanceled = errors.New("plugin call canceled")
)

// clockBase anchors monoNanos on the monotonic clock.
var clockBase = time.Now()

// monoNanos is a monotonic clock reading in nanoseconds.
func monoNanos() int64 { return int64(time.Since(clockBase)) }

// callContext is the context a hook call runs under: the caller's, plus
// the call's deadline as a monoNanos value and the caller's Done channel
// fetched once. Each instance reuses its own.
type callContext struct {
	context.Context
	deadline int64
	done     <-chan struct{}
}

// yieldHost is sluice.yield: () -> i32. It traps the guest when its call's
// deadline has passed or the caller gave up, and otherwise returns the
// fuel to run on.
func yieldHost(ctx context.Context, stack []uint64) {
	if c, ok := ctx.(*callContext); ok {
		if monoNanos() >= c.deadline {
			panic(errCallTimeout)
		}
		if c.done != nil {
			select {
			case <-c.done:
				panic(ctxFailure(c.Context))
			default:
			}
		}
	} else if err := ctxFailure(ctx); err != nil {
		// Outside a hook call (an instance's _initialize, under the start
		// timeout): the context's own deadline.
		panic(err)
	}
	stack[0] = fuelRefill
}

// ctxFailure maps a finished context to the error that traps the guest.
func ctxFailure(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return errCallTimeout
	}
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return errCallTimeout
	case err != nil:
		return errCallCanceled
	}
	return nil
}
