//go:build !wasip1

package sdk

import "github.com/sluicemq/sluice/wasm/abi"

// findRuns runs the host's scan in-process in native builds (tests).
func findRuns(buf []byte, set *ByteSet, minLen int, out []uint32) int {
	return abi.FindRuns(buf, set, minLen, out)
}
