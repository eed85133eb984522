//go:build !wasm

package sdk

import "encoding/binary"

// Native builds (the SDK's own tests, sdktest): the compiler merges these
// byte accesses itself.

func load32(b []byte, i int) uint32     { return binary.LittleEndian.Uint32(b[i:]) }
func load64(b []byte, i int) uint64     { return binary.LittleEndian.Uint64(b[i:]) }
func store32(b []byte, i int, v uint32) { binary.LittleEndian.PutUint32(b[i:], v) }
func store64(b []byte, i int, v uint64) { binary.LittleEndian.PutUint64(b[i:], v) }
