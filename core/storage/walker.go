package storage

import (
	"fmt"
	"io"
	"sync"
)

// walkBlockSize is how much of a segment one header read pulls in, so that
// walking many small batches costs one pread per block, not one per batch.
const walkBlockSize = 16 << 10

var walkBlocks = sync.Pool{New: func() any { return new([walkBlockSize]byte) }}

// batchWalker reads batch headers of one segment file with pread, caching
// one block. It only looks at bytes below limit (the committed size the
// caller snapshotted), so a concurrent append is never seen half-written.
type batchWalker struct {
	f      io.ReaderAt
	limit  int64
	block  *[walkBlockSize]byte
	blkPos int64 // file position of block[0]
	blkLen int
}

func newBatchWalker(f io.ReaderAt, limit int64) batchWalker {
	return batchWalker{f: f, limit: limit}
}

// release returns the block to the pool; the walker may be reused after.
func (w *batchWalker) release() {
	if w.block != nil {
		walkBlocks.Put(w.block)
		w.block = nil
		w.blkLen = 0
	}
}

// header returns the header of the batch starting at pos and checks that
// the whole batch lies below the limit.
func (w *batchWalker) header(pos int64) (BatchHeader, error) {
	if pos+BatchHeaderLen > w.limit {
		return BatchHeader{}, &CorruptError{Reason: fmt.Sprintf("batch header at position %d crosses the end of the segment (%d)", pos, w.limit)}
	}
	if pos < w.blkPos || pos+BatchHeaderLen > w.blkPos+int64(w.blkLen) {
		if err := w.fill(pos); err != nil {
			return BatchHeader{}, err
		}
	}
	off := pos - w.blkPos
	h := parseHeader(w.block[off : off+BatchHeaderLen])
	if h.Length < minBatchLength {
		return h, &CorruptError{Reason: fmt.Sprintf("batch at position %d has length field %d", pos, h.Length)}
	}
	if pos+int64(h.Size()) > w.limit {
		return h, &CorruptError{Reason: fmt.Sprintf("batch at position %d (%d bytes) crosses the end of the segment (%d)", pos, h.Size(), w.limit)}
	}
	return h, nil
}

func (w *batchWalker) fill(pos int64) error {
	if w.block == nil {
		w.block = walkBlocks.Get().(*[walkBlockSize]byte)
	}
	n := int64(walkBlockSize)
	if rest := w.limit - pos; rest < n {
		n = rest
	}
	got, err := w.f.ReadAt(w.block[:n], pos)
	if err != nil && !(err == io.EOF && int64(got) == n) {
		w.blkLen = 0
		if err == io.EOF {
			return &CorruptError{Reason: fmt.Sprintf("segment file ends before position %d", pos+n)}
		}
		return fmt.Errorf("storage: read segment: %w", err)
	}
	w.blkPos, w.blkLen = pos, got
	return nil
}
