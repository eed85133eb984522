package msgset

import (
	"bytes"
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

// maxDecompressedBytes bounds what one compressed message or batch may
// inflate to, so a small produce request cannot make the broker allocate
// gigabytes (a compression bomb). Old clients batch at most a few MiB.
const maxDecompressedBytes = 64 << 20

var errTooLarge = fmt.Errorf("decompresses to more than %d bytes", maxDecompressedBytes)

// legacyCodecOK reports whether magic 0/1 can carry c: zstd came with v2.
func legacyCodecOK(c codec) bool {
	return c >= codecNone && c <= codecLZ4
}

// decompress inflates data compressed with c. magic selects the lz4 header
// checksum rule (see lz4frame.go).
func decompress(c codec, data []byte, magic int8) ([]byte, error) {
	switch c {
	case codecGzip:
		return gunzip(data)
	case codecSnappy:
		return unsnappy(data)
	case codecLZ4:
		return unlz4(data, magic)
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

func gunzip(data []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readBounded(r)
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
	var src io.Reader = bytes.NewReader(data)
	if magic == 0 {
		src = fixLZ4HeaderChecksum(data)
	}
	return readBounded(lz4.NewReader(src))
}

// readBounded reads r to the end, failing past maxDecompressedBytes.
func readBounded(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, maxDecompressedBytes+1))
	if err != nil {
		return nil, err
	}
	if n > maxDecompressedBytes {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}
