//go:build !wasm

package abi

import "encoding/binary"

// On the host the compiler combines binary.LittleEndian's byte loads into
// one load itself (see load_wasm.go for the guest).

func u32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func u64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
