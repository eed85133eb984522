//go:build !linux

package wasm

// reserveRegion: outside Linux linear memory lives on the Go heap.
func reserveRegion(uint64) []byte { return nil }

func releaseRegion([]byte) {}
