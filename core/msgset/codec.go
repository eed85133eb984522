package msgset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/pierrec/lz4/v4"
)

// codec is the compression codec in the low three attribute bits, the same
// numbering in all three formats.
type codec int8

const (
	codecNone   codec = 0
	codecGzip   codec = 1
	codecSnappy codec = 2
	codecLZ4    codec = 3
	codecZstd   codec = 4

	codecMask = 0x07
)

func (c codec) String() string {
	switch c {
	case codecNone:
		return "none"
	case codecGzip:
		return "gzip"
	case codecSnappy:
		return "snappy"
	case codecLZ4:
		return "lz4"
	case codecZstd:
		return "zstd"
	default:
		return fmt.Sprintf("codec %d", int8(c))
	}
}

// maxDecompressedBytes is the default Budget of one ToBatch or
// FromBatches call: what all its compressed wrappers or batches together
// may inflate to, so a small produce request cannot make the broker
// allocate gigabytes (a compression bomb, or many of them in one set).
// Old clients batch at most a few MiB.
const maxDecompressedBytes = 64 << 20

var errTooLarge = errors.New("decompresses past the budget")

// Budget is what decompression may still produce for one request. Share
// one Budget between the calls for one request (all its partitions), so
// that the bound is per request, not per wrapper. Not safe for concurrent
// use.
type Budget struct{ left int }

// NewBudget allows n decompressed bytes.
func NewBudget(n int) *Budget { return &Budget{left: max(n, 0)} }

// Add allows n more bytes (a request's budget grows with each partition
// it carries).
func (b *Budget) Add(n int) { b.left += max(n, 0) }

// Left is what the budget still allows.
func (b *Budget) Left() int { return b.left }

// legacyCodecOK reports whether magic 0/1 can carry c: zstd came with v2.
func legacyCodecOK(c codec) bool {
	return c >= codecNone && c <= codecLZ4
}

// decompress inflates data compressed with c. magic selects the lz4 header
// checksum rule (see lz4frame.go).
func decompress(c codec, data []byte, magic int8) ([]byte, error) {
	return decompressWithin(c, data, magic, NewBudget(maxDecompressedBytes))
}

// decompressWithin is decompress charging the output to b.
func decompressWithin(c codec, data []byte, magic int8, b *Budget) ([]byte, error) {
	switch c {
	case codecGzip:
		return gunzip(data, b)
	case codecSnappy:
		return unsnappyWithin(data, b)
	case codecLZ4:
		return unlz4Within(data, magic, b)
	default:
		return nil, fmt.Errorf("cannot decompress codec %d", c)
	}
}

// compress deflates data with c, in the framing old and new clients expect
// for the given magic.
func compress(c codec, data []byte, magic int8) ([]byte, error) {
	switch c {
	case codecGzip:
		return gzipBytes(data)
	case codecSnappy:
		return xerialEncode(data), nil
	case codecLZ4:
		return lz4Bytes(data, magic)
	default:
		return nil, fmt.Errorf("cannot compress with codec %d", c)
	}
}

// Writers allocate large internal state; pooling them keeps a busy fetch
// path from churning the heap.
var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// 64 KiB blocks are what Kafka's Java client writes, and the
		// smallest buffers a reader must allocate.
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			panic("msgset: lz4 block size option: " + err.Error())
		}
		return w
	}}
)

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gunzip(data []byte, b *Budget) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readBounded(r, b)
}

func lz4Bytes(data []byte, magic int8) ([]byte, error) {
	var buf bytes.Buffer
	w := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if magic == 0 {
		breakLZ4HeaderChecksum(out)
	}
	return out, nil
}

func unlz4(data []byte, magic int8) ([]byte, error) {
	return unlz4Within(data, magic, NewBudget(maxDecompressedBytes))
}

func unlz4Within(data []byte, magic int8, b *Budget) ([]byte, error) {
	var src io.Reader = bytes.NewReader(data)
	if magic == 0 {
		src = fixLZ4HeaderChecksum(data)
	}
	return readBounded(lz4.NewReader(src), b)
}

// readBounded reads r to the end, failing past what b allows, and charges
// what it read to b.
func readBounded(r io.Reader, b *Budget) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(b.left)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(b.left) {
		return nil, errTooLarge
	}
	b.left -= int(n)
	return buf.Bytes(), nil
}
