//go:build wasm

package abi

import "unsafe"

// Little-endian loads as single i32.load/i64.load instructions. Go's wasm
// backend compiles binary.LittleEndian.Uint32/Uint64 byte by byte (four
// or eight loads, shifts and ors), and the SDK decodes every record of a
// batch with these. WebAssembly is little-endian and allows unaligned
// loads; the explicit index checks keep the bounds check Go would do.

func u32(b []byte) uint32 {
	_ = b[3]
	return *(*uint32)(unsafe.Pointer(unsafe.SliceData(b)))
}

func u64(b []byte) uint64 {
	_ = b[7]
	return *(*uint64)(unsafe.Pointer(unsafe.SliceData(b)))
}
