package threadcpu

import (
	"runtime"
	"testing"
	"time"
)

// The clock advances with work done on the thread and is never 0 on a
// thread that has run.
func TestNowAdvances(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := Now()
	if start <= 0 {
		t.Fatalf("Now() = %v", start)
	}
	x := 0
	for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	if d := Now() - start; d <= 0 || d > 10*time.Second {
		t.Fatalf("20 ms of work took %v of thread CPU (%d iterations)", d, x)
	}
}
