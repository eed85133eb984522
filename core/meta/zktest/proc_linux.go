package zktest

import "syscall"

// childAttrs makes the kernel kill the server if the test binary dies
// without stopping it (a panic, a timeout, SIGKILL), so no JVM outlives the
// test run.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
