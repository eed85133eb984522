package msgset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/klauspost/compress/s2"
)

// Kafka's Java clients compress snappy with xerial's SnappyOutputStream: a
// 16-byte header (magic, version 1, compatible version 1), then blocks of a
// big-endian int32 length and a raw snappy block. Other clients (sarama,
// franz-go for v2) send one raw snappy block. Readers accept both; we write
// the xerial framing because the 0.9/0.10 Java consumer expects it.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderLen = 16
	// xerialBlockSize is the uncompressed block size SnappyOutputStream uses.
	xerialBlockSize = 32 << 10
)

var errXerialFraming = errors.New("malformed xerial snappy framing")

func xerialEncode(data []byte) []byte {
	if len(data) == 0 {
		// A header alone is ambiguous to readers that tell the framings
		// apart by length (franz-go wants more than 16 bytes).
		return s2.EncodeSnappy(nil, nil)
	}
	out := make([]byte, 0, xerialHeaderLen+s2.MaxEncodedLen(len(data))+4*(len(data)/xerialBlockSize+1))
	out = append(out, xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // minimum compatible version
	for len(data) > 0 {
		n := min(len(data), xerialBlockSize)
		block := s2.EncodeSnappy(nil, data[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		data = data[n:]
	}
	return out
}

// unsnappy decodes xerial-framed or raw snappy.
func unsnappy(data []byte) ([]byte, error) {
	return unsnappyWithin(data, NewBudget(maxDecompressedBytes))
}

// unsnappyWithin is unsnappy charging the output to b.
func unsnappyWithin(data []byte, b *Budget) ([]byte, error) {
	var out []byte
	var err error
	if len(data) >= xerialHeaderLen && bytes.HasPrefix(data, xerialMagic) {
		out, err = xerialDecode(data[xerialHeaderLen:], b.left)
	} else {
		out, err = snappyBlock(nil, data, b.left)
	}
	if err != nil {
		return nil, err
	}
	b.left -= len(out)
	return out, nil
}

func xerialDecode(blocks []byte, limit int) ([]byte, error) {
	var out []byte
	for len(blocks) > 0 {
		if len(blocks) < 4 {
			return nil, errXerialFraming
		}
		n := binary.BigEndian.Uint32(blocks)
		blocks = blocks[4:]
		if uint64(n) > uint64(len(blocks)) {
			return nil, errXerialFraming
		}
		var err error
		if out, err = snappyBlock(out, blocks[:n], limit); err != nil {
			return nil, err
		}
		blocks = blocks[n:]
	}
	return out, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst, checking
// the claimed length against limit (for all of dst) before allocating
// for it.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit-len(dst) {
		return nil, errTooLarge
	}
	at := len(dst)
	dst = slices.Grow(dst, n)
	// Decode writes in place when handed a slice of exactly n bytes.
	if _, err := s2.Decode(dst[at:at+n], block); err != nil {
		return nil, err
	}
	return dst[:at+n], nil
}
