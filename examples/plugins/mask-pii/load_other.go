//go:build !wasm

package main

import "encoding/binary"

// load64 reads value[i:i+8] little-endian (native builds: the tests).
func load64(value []byte, i int) uint64 { return binary.LittleEndian.Uint64(value[i:]) }
