package msgset

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// v2 record batch constants.
const (
	batchMagic = 2

	// batchLengthEnd: the Length field (bytes 8-11) counts what follows it.
	batchLengthEnd = 12
	// batchHeaderAfterLength is the header size the Length field counts
	// before the records: leader epoch through record count.
	batchHeaderAfterLength = 49
	// CRC-32C at bytes 17-20 covers from the attributes (byte 21) on.
	batchPosCRC   = 17
	batchPosAttrs = 21

	batchAttrLogAppendTime = 0x08
	batchAttrControl       = 0x20

	// noProducer fills the producer id, epoch and base sequence of a batch
	// from a client without idempotence (every old client).
	noProducer = -1
	// noLeaderEpoch is what producers send; the log stamps the real one.
	noLeaderEpoch = -1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendBatch appends b to dst, filling in Magic, Length and the CRC-32C.
func appendBatch(dst []byte, b *kmsg.RecordBatch) []byte {
	b.Magic = batchMagic
	b.Length = int32(batchHeaderAfterLength + len(b.Records))
	b.CRC = 0
	start := len(dst)
	dst = b.AppendTo(dst)
	crc := crc32.Checksum(dst[start+batchPosAttrs:], castagnoli)
	binary.BigEndian.PutUint32(dst[start+batchPosCRC:], crc)
	return dst
}

// appendRecord appends r with its Length filled in.
func appendRecord(dst []byte, r *kmsg.Record) []byte {
	// The length prefix is a varint of the body size, which is only known
	// once encoded: encode with Length 0 (one varint byte), measure, redo.
	start := len(dst)
	r.Length = 0
	dst = r.AppendTo(dst)
	r.Length = int32(len(dst) - start - 1)
	return r.AppendTo(dst[:start])
}

// readRecord decodes the record at the start of data and returns the rest.
func readRecord(data []byte) (kmsg.Record, []byte, bool) {
	var r kmsg.Record
	length, n := binary.Varint(data)
	if n <= 0 || length < 0 || length > int64(len(data)-n) {
		return r, nil, false
	}
	end := n + int(length)
	if err := r.ReadFrom(data[:end]); err != nil {
		return r, nil, false
	}
	return r, data[end:], true
}
