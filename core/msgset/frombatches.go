package msgset

import (
	"encoding/binary"
	"fmt"
)

// FromBatches down-converts stored v2 record batches (concatenated, with
// absolute base offsets, as read from a log segment) into a MessageSet of
// the given magic: 0 for Fetch v0/v1, 1 for Fetch v2/v3.
//
// Each uncompressed batch becomes one message per record. Each compressed
// batch becomes one wrapper message with the same codec, whose offset is
// that of its last record and whose inner offsets are absolute (magic 0) or
// relative to the batch's base offset (magic 1); a magic 1 wrapper carries
// the batch's max timestamp. Magic 1 messages keep the record timestamps and
// the timestamp type. Record headers, which the old formats cannot carry,
// are dropped; control batches (transaction markers) are skipped, and so is
// a truncated trailing batch (a fetch cut at its byte limit).
//
// Errors: *CorruptError (matching ErrCorrupt) for a malformed batch,
// *CodecError (matching ErrUnsupportedCodec) for a zstd batch, which old
// clients cannot decompress, and ErrUnsupportedMagic for a bad magic.
func FromBatches(batches []byte, magic int8) ([]byte, error) {
	return FromBatchesWithin(batches, magic, NewBudget(maxDecompressedBytes))
}

// FromBatchesWithin is FromBatches with the decompression of all the
// batches charged to b: past it, the data is refused (ErrCorrupt).
func FromBatchesWithin(batches []byte, magic int8, b *Budget) ([]byte, error) {
	if magic != 0 && magic != 1 {
		return nil, fmt.Errorf("%w: asked for %d", ErrUnsupportedMagic, magic)
	}
	// Uncompressed, the old formats are about as large as the batches.
	out := make([]byte, 0, len(batches))
	for pos := 0; pos < len(batches); {
		rest := batches[pos:]
		if len(rest) < batchLengthEnd {
			break // truncated trailing batch
		}
		length := int32(binary.BigEndian.Uint32(rest[8:]))
		if length < batchHeaderAfterLength {
			return nil, corruptf(pos, "batch length %d below the header size", length)
		}
		size := batchLengthEnd + int(length)
		if size > len(rest) {
			break // truncated trailing batch
		}
		var err error
		if out, err = appendDownConverted(out, pos, rest[:size], magic, b); err != nil {
			return nil, err
		}
		pos += size
	}
	return out, nil
}
