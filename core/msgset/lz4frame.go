package msgset

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/bits"
)

// KAFKA-3160: Kafka before 0.10 computed the lz4 frame header checksum (HC)
// over the frame magic plus the descriptor instead of the descriptor alone.
// Kafka 0.10 kept the broken checksum for magic 0 so that 0.8/0.9 consumers,
// which verify it, can still read: it ignores HC on magic 0 input and writes
// the broken one on magic 0 output. We do the same. pierrec/lz4 verifies the
// correct checksum, so magic 0 input gets its HC rewritten before decoding.

// lz4FrameMagic is the little-endian magic that opens a (non-legacy) frame.
const lz4FrameMagic = 0x184D2204

// Bits of the FLG descriptor byte that add optional descriptor fields.
const (
	lz4FlagContentSize = 1 << 3 // 8-byte content size follows BD
	lz4FlagDictID      = 1 << 0 // 4-byte dictionary id follows
)

// lz4DescriptorLen returns the length of the frame descriptor (FLG, BD and
// optional fields, without HC), or false if frame is not a full lz4 frame
// header.
func lz4DescriptorLen(frame []byte) (int, bool) {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != lz4FrameMagic {
		return 0, false
	}
	n := 2
	flg := frame[4]
	if flg&lz4FlagContentSize != 0 {
		n += 8
	}
	if flg&lz4FlagDictID != 0 {
		n += 4
	}
	if len(frame) < 4+n+1 {
		return 0, false
	}
	return n, true
}

// fixLZ4HeaderChecksum returns a reader over frame whose HC is the correct
// one, whatever the frame carried; frame itself is not modified.
func fixLZ4HeaderChecksum(frame []byte) io.Reader {
	n, ok := lz4DescriptorLen(frame)
	if !ok {
		return bytes.NewReader(frame) // let the decoder report the problem
	}
	header := make([]byte, 4+n+1)
	copy(header, frame)
	header[4+n] = lz4HeaderChecksum(frame[4 : 4+n])
	return io.MultiReader(bytes.NewReader(header), bytes.NewReader(frame[len(header):]))
}

// breakLZ4HeaderChecksum rewrites frame's HC in place to the one 0.8/0.9
// clients expect.
func breakLZ4HeaderChecksum(frame []byte) {
	if n, ok := lz4DescriptorLen(frame); ok {
		frame[4+n] = lz4HeaderChecksum(frame[:4+n])
	}
}

// lz4HeaderChecksum is the second byte of the xxHash32 (seed 0) of b.
func lz4HeaderChecksum(b []byte) byte {
	return byte(xxh32(b) >> 8)
}

// xxHash32 primes, from the xxHash specification.
const (
	xxPrime1 uint32 = 2654435761
	xxPrime2 uint32 = 2246822519
	xxPrime3 uint32 = 3266489917
	xxPrime4 uint32 = 668265263
	xxPrime5 uint32 = 374761393
)

// xxh32 is xxHash32 with seed 0. pierrec/lz4 has one, but internal; frame
// headers are at most 15 bytes, so speed does not matter here.
func xxh32(b []byte) uint32 {
	n := len(b)
	var h uint32
	if n >= 16 {
		var seed uint32 // a variable: the seeded lane starts wrap around
		v1, v2, v3, v4 := seed+xxPrime1+xxPrime2, seed+xxPrime2, seed, seed-xxPrime1
		for ; len(b) >= 16; b = b[16:] {
			v1 = xxRound(v1, binary.LittleEndian.Uint32(b[0:]))
			v2 = xxRound(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = xxRound(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = xxRound(v4, binary.LittleEndian.Uint32(b[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = xxPrime5
	}
	h += uint32(n)
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * xxPrime3
		h = bits.RotateLeft32(h, 17) * xxPrime4
	}
	for _, c := range b {
		h += uint32(c) * xxPrime5
		h = bits.RotateLeft32(h, 11) * xxPrime1
	}
	h ^= h >> 15
	h *= xxPrime2
	h ^= h >> 13
	h *= xxPrime3
	h ^= h >> 16
	return h
}

func xxRound(acc, lane uint32) uint32 {
	return bits.RotateLeft32(acc+lane*xxPrime2, 13) * xxPrime1
}
