package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultDecompressBudget bounds what one batch may inflate to when the
// caller has no topic setting to go by: twice Kafka's default
// max.message.bytes, rounded up. Topics get 2 × their max.message.bytes
// (see BudgetFor).
const DefaultDecompressBudget = 2 << 20

// minDecompressBudget keeps the default max.message.bytes (1 MiB) from
// rejecting batches that merely compress well: Kafka limits the compressed
// size only, and log lines or zeros compress 10:1 and better (franz-go's
// own suite produces three 1 MiB records gzipped into one small batch).
const minDecompressBudget = 16 << 20

// BudgetFor is the decompression budget of a topic with the given
// max.message.bytes: 2× it, at least 16 MiB. A batch of repetitive
// records may compress far better than 2:1, so the floor keeps small
// topics usable; the budget only has to keep one request's inflation in
// proportion to what a topic accepts.
func BudgetFor(maxMessageBytes int32) int {
	return max(2*int(maxMessageBytes), minDecompressBudget)
}

// ErrTooLarge: a compressed batch inflates past its decompression budget
// (a compression bomb, or a topic whose budget is too small).
var ErrTooLarge = errors.New("records: batch decompresses past its budget")

// xerialMagic opens snappy data framed by Java's SnappyOutputStream.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// Readers hold large internal state; pooling them keeps validation of
// every produced batch from churning the heap.
var (
	gzipReaders sync.Pool // *gzip.Reader
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdReaders = sync.Pool{New: func() any {
		// Concurrency 1 decodes synchronously in the caller's
		// goroutine; the window limit keeps a frame header from
		// making the decoder allocate a huge history buffer.
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(32<<20))
		if err != nil {
			panic("records: zstd reader: " + err.Error())
		}
		return d
	}}
)

// Decompress appends the decompression of data (compressed with c, in
// any framing Kafka clients use) to dst. It fails with ErrTooLarge as soon
// as more than limit bytes would be appended, before allocating them.
func Decompress(dst []byte, c Codec, data []byte, limit int) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	switch c {
	case None:
		if len(data) > limit {
			return nil, ErrTooLarge
		}
		return append(dst, data...), nil
	case Gzip:
		var zr *gzip.Reader
		if v := gzipReaders.Get(); v != nil {
			zr = v.(*gzip.Reader)
			if err := zr.Reset(bytes.NewReader(data)); err != nil {
				gzipReaders.Put(zr)
				return nil, err
			}
		} else {
			var err error
			if zr, err = gzip.NewReader(bytes.NewReader(data)); err != nil {
				return nil, err
			}
		}
		defer gzipReaders.Put(zr)
		// Kafka gzips one member; concatenated members are legal gzip.
		zr.Multistream(true)
		return readLimited(dst, zr, limit)
	case Snappy:
		return unsnappy(dst, data, limit)
	case LZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(zr)
		zr.Reset(bytes.NewReader(data))
		return readLimited(dst, zr, limit)
	case Zstd:
		zr := zstdReaders.Get().(*zstd.Decoder)
		defer func() {
			zr.Reset(nil) //nolint:errcheck // releases the input
			zstdReaders.Put(zr)
		}()
		if err := zr.Reset(bytes.NewReader(data)); err != nil {
			return nil, err
		}
		return readLimited(dst, zr, limit)
	}
	return nil, fmt.Errorf("records: unknown compression codec %d", c)
}

// readLimited appends r's output to dst, failing once it passes limit.
// It grows dst as bytes arrive, never by a size the input claims.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			// Grow by doubling, but never past what the limit
			// allows plus one byte (to notice the overrun).
			grow := min(max(cap(dst)-start, 4<<10), limit+1-(len(dst)-start))
			if grow <= 0 {
				return nil, ErrTooLarge
			}
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// unsnappy decodes xerial-framed (Java clients) or raw (everyone else)
// snappy, checking each block's declared length against the limit before
// allocating for it.
func unsnappy(dst, data []byte, limit int) ([]byte, error) {
	if len(data) < xerialHeaderLen || !bytes.HasPrefix(data, xerialMagic) {
		return snappyBlock(dst, data, len(dst)+limit)
	}
	end := len(dst) + limit
	blocks := data[xerialHeaderLen:]
	for len(blocks) > 0 {
		if len(blocks) < 4 {
			return nil, errors.New("records: truncated xerial snappy block length")
		}
		n := binary.BigEndian.Uint32(blocks)
		blocks = blocks[4:]
		if uint64(n) > uint64(len(blocks)) {
			return nil, errors.New("records: xerial snappy block overruns its data")
		}
		var err error
		if dst, err = snappyBlock(dst, blocks[:n], end); err != nil {
			return nil, err
		}
		blocks = blocks[n:]
	}
	return dst, nil
}

func snappyBlock(dst, block []byte, end int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > end-len(dst) {
		return nil, ErrTooLarge
	}
	at := len(dst)
	dst = slices.Grow(dst, n)
	// Decode writes in place when handed exactly n bytes.
	if _, err := s2.Decode(dst[at:at+n], block); err != nil {
		return nil, err
	}
	return dst[:at+n], nil
}
