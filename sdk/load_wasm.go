//go:build wasm

package sdk

import "unsafe"

// Little-endian loads and stores as one i32/i64 memory instruction each:
// Go's wasm backend compiles encoding/binary's byte by byte, and these run
// for every record. WebAssembly is little-endian and allows unaligned
// access; the index checks keep the bounds check Go would do.

func load32(b []byte, i int) uint32 {
	_ = b[i+3]
	return *(*uint32)(unsafe.Pointer(&b[i]))
}

func load64(b []byte, i int) uint64 {
	_ = b[i+7]
	return *(*uint64)(unsafe.Pointer(&b[i]))
}

func store32(b []byte, i int, v uint32) {
	_ = b[i+3]
	*(*uint32)(unsafe.Pointer(&b[i])) = v
}

func store64(b []byte, i int, v uint64) {
	_ = b[i+7]
	*(*uint64)(unsafe.Pointer(&b[i])) = v
}
