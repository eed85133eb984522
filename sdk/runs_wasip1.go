//go:build wasip1

package sdk

import "unsafe"

// hostFindRuns is sluice.find_runs (docs/plugin-abi.md). Only plugins
// that use Runs import it: the linker drops unused imports.
//
//go:wasmimport sluice find_runs
func hostFindRuns(bufPtr, bufLen, setPtr uint32, minLen int32, outPtr, outCap uint32) int32

// findRuns is abi.FindRuns, run natively by the host.
func findRuns(buf []byte, set *ByteSet, minLen int, out []uint32) int {
	if len(buf) == 0 || len(out) < 2 {
		return 0
	}
	n := hostFindRuns(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))), uint32(len(buf)),
		uint32(uintptr(unsafe.Pointer(set))), int32(minLen),
		uint32(uintptr(unsafe.Pointer(unsafe.SliceData(out)))), uint32(len(out)/2))
	if n < 0 {
		panic("sdk: sluice.find_runs refused the SDK's own buffers")
	}
	return int(n)
}
