//go:build !linux

package testkit

import "os/exec"

// setProcAttr: only Linux has a parent-death signal; elsewhere a killed
// parent may leave its broker running.
func setProcAttr(*exec.Cmd) {}
