package storage

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
)

// castagnoli is the CRC-32C table the v2 batch format checksums with.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Byte offsets of the v2 batch header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// lengthFieldEnd: Length counts the bytes after itself.
	lengthFieldEnd = offLength + 4
	// minBatchLength is the smallest legal Length field (a header with no
	// records).
	minBatchLength = BatchHeaderLen - lengthFieldEnd

	batchMagic        = 2
	attrLogAppendTime = 0x08
)

// ParseHeader reads a v2 batch header from b (no CRC check).
func ParseHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderLen {
		return BatchHeader{}, &CorruptError{Reason: "batch shorter than its " + strconv.Itoa(BatchHeaderLen) + "-byte header"}
	}
	return parseHeader(b), nil
}

// parseHeader decodes the fixed fields; the caller guarantees
// len(b) >= BatchHeaderLen.
func parseHeader(b []byte) BatchHeader {
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
}

// ValidateBatch checks that b is exactly one whole v2 batch: length field
// matches len(b), magic is 2, CRC-32C (Castagnoli) over b[21:] matches,
// NumRecords >= 0 and LastOffsetDelta >= 0. Returns *CorruptError on failure.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return BatchHeader{}, err
	}
	if err := checkHeader(h); err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, &CorruptError{Reason: "length field says " + strconv.Itoa(h.Size()) + " bytes, batch has " + strconv.Itoa(len(b))}
	}
	if crc32.Checksum(b[offAttributes:], castagnoli) != h.CRC {
		return h, &CorruptError{Reason: "CRC-32C mismatch"}
	}
	return h, nil
}

// checkHeader validates the header fields that do not need the batch body.
func checkHeader(h BatchHeader) error {
	switch {
	case h.Length < minBatchLength:
		return &CorruptError{Reason: "length field " + strconv.Itoa(int(h.Length)) + " below the header size"}
	case h.Magic != batchMagic:
		return &CorruptError{Reason: "magic " + strconv.Itoa(int(h.Magic)) + ", want 2"}
	case h.NumRecords < 0:
		return &CorruptError{Reason: "negative record count"}
	case h.LastOffsetDelta < 0:
		return &CorruptError{Reason: "negative last offset delta"}
	}
	return nil
}

// SplitBatches splits a records blob (one or more concatenated v2 batches, as
// in a produce request) into batches without validating CRCs. A trailing
// partial batch is an error (*CorruptError).
func SplitBatches(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		rest := len(b) - off
		if rest < lengthFieldEnd {
			return nil, &CorruptError{Reason: "trailing partial batch header"}
		}
		length := int32(binary.BigEndian.Uint32(b[off+offLength:]))
		if length < minBatchLength {
			return nil, &CorruptError{Reason: "length field " + strconv.Itoa(int(length)) + " below the header size"}
		}
		size := lengthFieldEnd + int(length)
		if size > rest {
			return nil, &CorruptError{Reason: "trailing partial batch"}
		}
		// The capacity limit keeps an append to one batch from
		// overwriting the next.
		out = append(out, b[off:off+size:off+size])
		off += size
	}
	return out, nil
}

// SetLogAppendTime sets the timestamp-type attribute bit and MaxTimestamp
// (and FirstTimestamp) to ts, then recomputes the CRC. b must hold a whole
// batch; shorter input is left untouched.
func SetLogAppendTime(b []byte, ts int64) {
	if len(b) < BatchHeaderLen {
		return
	}
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | attrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offFirstTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// stampBatch writes the fields the log assigns; both lie before the CRC'd
// range, so the CRC stays valid.
func stampBatch(b []byte, baseOffset int64, leaderEpoch int32) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(baseOffset))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(leaderEpoch))
}
