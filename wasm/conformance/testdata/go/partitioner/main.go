// Command partitioner is the Go SDK's conformance partitioner
// (wasm/conformance/README.md): keyed records go where Kafka's default
// partitioner puts them, unkeyed ones to len(value) mod partitions.
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		if r.Key == nil {
			return len(r.Value) % partitions
		}
		return int(murmur2(r.Key)&0x7fffffff) % partitions
	})
}

// murmur2 is Kafka's Utils.murmur2 (seed 0x9747b28c).
func murmur2(b []byte) uint32 {
	const m, r = 0x5bd1e995, 24
	h := uint32(0x9747b28c) ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

func main() {}
