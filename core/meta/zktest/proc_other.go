//go:build !linux

package zktest

import "syscall"

// childAttrs: only Linux can tie the child's life to ours.
func childAttrs() *syscall.SysProcAttr { return nil }
