// Command keyhash-partitioner places each record where Kafka's default
// partitioner (the Java client's, franz-go's, librdkafka's murmur2_random)
// puts a keyed record: (murmur2(key) & 0x7fffffff) % partitions. An
// unkeyed record is hashed as the empty key, so it always lands on one
// partition; the broker calls a partitioner only for records that arrive
// without a partition (HTTP bridge records), and a client-side copy of
// this module (plugins/kgowasm, clients/js) then agrees with the broker.
// The Rust and AssemblyScript examples of the same name do exactly this.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o keyhash-partitioner.wasm .
//	sluice plugin deploy --name keyhash --hook partitioner --topic T keyhash-partitioner.wasm
package main

import "github.com/sluicemq/sluice/sdk"

func init() {
	sdk.Partitioner(func(r sdk.Record, partitions int) int {
		return int(int32(murmur2(r.Key)&0x7fffffff) % int32(partitions))
	})
}

// murmur2 is Kafka's variant of MurmurHash2 (seed 0x9747b28c), inline so
// no hasher is allocated per record.
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
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
