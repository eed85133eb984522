package itest

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRecord is one record of a hand-built batch.
type rawRecord struct {
	Key, Value []byte
	Timestamp  int64 // milliseconds
}

// Offsets of v2 record batch header fields that tests patch in place.
const (
	batchLengthPos = 8  // int32 Length, after the 8-byte base offset
	batchCRCPos    = 17 // uint32 CRC-32C over everything after it
	batchCRCFrom   = 21 // first byte the CRC covers (Attributes)
)

// encodeBatch builds an uncompressed, non-idempotent v2 record batch with a
// correct Length and CRC, the way a producer would send it (base offset 0).
func encodeBatch(records []rawRecord) []byte {
	first, maxTs := records[0].Timestamp, records[0].Timestamp
	var body []byte
	for i, r := range records {
		maxTs = max(maxTs, r.Timestamp)
		rec := kmsg.Record{
			TimestampDelta64: r.Timestamp - first,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		// Length is a varint prefix of the rest, so encode once with
		// Length 0 (a 1-byte varint) to measure the rest.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		body = rec.AppendTo(body)
	}
	batch := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: int32(len(records) - 1),
		FirstTimestamp:  first,
		MaxTimestamp:    maxTs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(records)),
		Records:         body,
	}
	b := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(b[batchLengthPos:], uint32(len(b)-12))
	crc := crc32.Checksum(b[batchCRCFrom:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(b[batchCRCPos:], crc)
	return b
}
