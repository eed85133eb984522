package wasm

import (
	"context"

	"github.com/sluicemq/sluice/wasm/fuel"
)

// The deadline of a call is checked by the guest itself: the checks Load
// adds (package fuel) call sluice.yield, implemented by yieldHost, at
// least every fuel.Refill bytes of guest code. Returning to Go there is
// what lets a garbage collection stop the world while a plugin spins, and
// the check is a clock read and a comparison: no timer or goroutine per
// call, no lock.

// errCallTimeout and errCallCanceled are what yieldHost panics with to
// trap the guest; wazero returns them wrapped from the call.
var (
	errCallTimeout  = fuel.ErrTimeout
	errCallCanceled = fuel.ErrCanceled
)

// monoNanos is a monotonic clock reading in nanoseconds.
func monoNanos() int64 { return fuel.Now() }

// callContext is the context a hook call runs under: the caller's, plus
// the call's deadline as a monoNanos value and the caller's Done channel
// fetched once. Each instance reuses its own. (It is fuel.Call under the
// names the call path uses.)
type callContext struct {
	context.Context
	deadline int64
	done     <-chan struct{}
}

// yieldHost is sluice.yield: () -> i32. It traps the guest when its call's
// deadline has passed or the caller gave up, and otherwise returns the
// fuel to run on.
func yieldHost(ctx context.Context, stack []uint64) {
	var err error
	if c, ok := ctx.(*callContext); ok {
		err = fuel.Expired(c.Context, c.deadline, c.done)
	} else {
		// Outside a hook call (an instance's _initialize, under the start
		// timeout): the context's own deadline.
		err = fuel.ContextErr(ctx)
	}
	if err != nil {
		panic(err)
	}
	stack[0] = fuel.Refill
}
