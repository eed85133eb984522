package testkit

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group, so a terminal's
// Ctrl-C reaches only the parent (which then stops the broker in order),
// and has the kernel SIGKILL it if the parent dies first (a test binary
// killed by its -timeout must not leave brokers behind).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
