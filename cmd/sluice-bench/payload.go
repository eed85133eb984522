package main

import (
	"hash/crc32"
	"math/rand/v2"
)

const (
	// payloadPoolBytes is the random pool record values are sliced from:
	// larger than any batch, so values never repeat within a batch, yet
	// cheap to fill once at start-up.
	payloadPoolBytes = 8 << 20
	// payloadStride is prime so successive values start at unrelated offsets.
	payloadStride = 4099
	// distinctPayloads is how many different values exist; record seq uses
	// value seq % distinctPayloads. Bounding it lets the checksums be computed
	// once up front instead of on the produce path, where the client's CPU
	// would be taken from the broker on a small machine.
	distinctPayloads = 1 << 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// payloadSource hands out incompressible record values without allocating:
// each value aliases a window of one pre-generated random pool. Values are
// read-only to everyone (kgo only reads them when encoding).
type payloadSource struct {
	pool       []byte
	recordSize int
	checksums  []uint64 // valueChecksum of each distinct value
}

// newPayloadSource fills the pool from a fixed seed so every run and broker
// sees identical bytes.
func newPayloadSource(recordSize int) *payloadSource {
	p := &payloadSource{
		pool:       make([]byte, payloadPoolBytes+recordSize),
		recordSize: recordSize,
		checksums:  make([]uint64, distinctPayloads),
	}
	rng := rand.NewChaCha8([32]byte{'s', 'l', 'u', 'i', 'c', 'e'})
	_, _ = rng.Read(p.pool) // ChaCha8.Read never fails
	for k := range p.checksums {
		p.checksums[k] = valueChecksum(p.value(int64(k)))
	}
	return p
}

// value returns the bytes of record seq.
func (p *payloadSource) value(seq int64) []byte {
	start := (seq % distinctPayloads * payloadStride) % payloadPoolBytes
	end := start + int64(p.recordSize)
	return p.pool[start:end:end]
}

// checksum is valueChecksum(p.value(seq)), precomputed.
func (p *payloadSource) checksum(seq int64) uint64 { return p.checksums[seq%distinctPayloads] }

// valueChecksum is the per-record checksum summed (order-independently) on
// both sides to prove the consumer read back exactly what was produced.
func valueChecksum(v []byte) uint64 { return uint64(crc32.Checksum(v, castagnoli)) }
