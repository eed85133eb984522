//go:build wasip1

package sdk

import "unsafe"

// The module's ABI exports. The host calls sluice_alloc for space to
// write a batch, then one hook with that batch; each hook returns the
// answer's address and length packed as ptr<<32 | len.

//go:wasmexport sluice_alloc
func sluiceAlloc(size uint32) uint32 {
	buf := allocInput(int(size))
	if cap(buf) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf[:cap(buf)]))))
}

//go:wasmexport sluice_partition
func sluicePartition(ptr, size uint32) uint64 { return answer(handlePartition(input(ptr, size))) }

//go:wasmexport sluice_transform
func sluiceTransform(ptr, size uint32) uint64 { return answer(handleTransform(input(ptr, size))) }

//go:wasmexport sluice_filter
func sluiceFilter(ptr, size uint32) uint64 { return answer(handleFilter(input(ptr, size))) }

// input is the batch the host wrote at the start of inBuf (the address
// sluice_alloc returned). Anything else is refused as malformed by
// returning no input.
func input(ptr, size uint32) []byte {
	if cap(inBuf) == 0 || int(size) > cap(inBuf) ||
		ptr != uint32(uintptr(unsafe.Pointer(unsafe.SliceData(inBuf[:cap(inBuf)])))) {
		return nil
	}
	return inBuf[:size]
}

func answer(out []byte) uint64 {
	outBuf = out // keep it reachable until the host has read it
	collectIfGrown()
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}
