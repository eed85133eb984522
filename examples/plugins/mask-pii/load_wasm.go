//go:build wasm

package main

import "unsafe"

// load64 reads value[i:i+8] little-endian with one i64.load: Go's wasm
// backend compiles binary.LittleEndian.Uint64 to eight byte loads, and the
// scan does one of these per eight bytes of every record.
func load64(value []byte, i int) uint64 {
	_ = value[i+7]
	return *(*uint64)(unsafe.Pointer(&value[i]))
}
