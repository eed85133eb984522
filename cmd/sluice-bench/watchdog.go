package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// stallTimeout is how long a phase may go without a single record of
// progress before it is failed; a healthy broker moves thousands per second.
const stallTimeout = 30 * time.Second

// errStalled is the cancellation cause when a phase makes no progress.
var errStalled = errors.New("no progress")

// watchProgress cancels the returned context with errStalled if progress
// stays unchanged for timeout. Call the returned stop function when the phase ends.
func watchProgress(ctx context.Context, progress *atomic.Int64, timeout time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(min(time.Second, timeout))
		defer tick.Stop()
		last, lastChange := progress.Load(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if cur := progress.Load(); cur != last {
					last, lastChange = cur, now
				} else if now.Sub(lastChange) >= timeout {
					cancel(fmt.Errorf("%w for %s (stuck at %d records)", errStalled, timeout, cur))
					return
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel(context.Canceled)
	}
}
