// Package records encodes and decodes Kafka v2 record batches for the
// broker's own writers and readers (the group coordinator's internal
// topic, plugin hooks): kmsg structures, kgo codecs, CRC-32C. The produce
// and fetch fast paths never use it: they move batches as bytes.
package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt: a batch or its records could not be decoded.
var ErrCorrupt = errors.New("records: corrupt batch")

// Codec is a batch compression codec (the low 3 attribute bits).
type Codec int8

const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one decoded record with absolute offset and timestamp. It is
// also the record plugins see (package hooks names it): Offset is -1 on
// records being produced, which Encode ignores unless KeepOffsets.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil: no key
	Value     []byte // nil: tombstone
	Headers   []Header
}

// Batch is a decoded batch: its header fields and records.
type Batch struct {
	BaseOffset    int64
	Codec         Codec
	LogAppendTime bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	MaxTimestamp  int64
	Records       []Record
}

// DefaultReadBudget bounds what Decode inflates one stored batch to.
// Batches stored by this broker were validated against their topic's
// budget (see BudgetFor); the larger default leaves room for topics whose
// max.message.bytes was lowered since, while keeping a batch that lies
// (stored by an old version) from exhausting memory.
const DefaultReadBudget = 64 << 20

// Decode decodes one v2 batch within DefaultReadBudget (CRC is not
// re-checked: stored batches were validated on the way in).
func Decode(batch []byte) (Batch, error) { return DecodeWithin(batch, DefaultReadBudget) }

// DecodeWithin decodes one v2 batch, inflating it to at most budget
// bytes. Nothing is sized from a count in the batch: records and headers
// are allocated as their bytes are read, so a batch claiming more records
// than it holds fails with ErrCorrupt after reading what is there.
func DecodeWithin(batch []byte, budget int) (Batch, error) {
	if len(batch) < batchHeaderLen || batch[posMagic] != 2 {
		return Batch{}, ErrCorrupt
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return Batch{}, ErrCorrupt
	}
	b := Batch{
		BaseOffset:    rb.FirstOffset,
		Codec:         Codec(rb.Attributes & 0x07),
		LogAppendTime: rb.Attributes&0x08 != 0,
		ProducerID:    rb.ProducerID,
		ProducerEpoch: rb.ProducerEpoch,
		BaseSequence:  rb.FirstSequence,
		MaxTimestamp:  rb.MaxTimestamp,
	}
	if rb.NumRecords < 0 {
		return Batch{}, ErrCorrupt
	}
	data := rb.Records
	if b.Codec != None {
		var err error
		if data, err = Decompress(nil, b.Codec, data, budget); err != nil {
			return Batch{}, fmt.Errorf("%w: decompress: %w", ErrCorrupt, err)
		}
	}
	// Each record takes at least 7 bytes: never reserve more than the
	// bytes can hold.
	b.Records = make([]Record, 0, min(int(rb.NumRecords), len(data)/(1+minRecordBody)))
	for i := int32(0); i < rb.NumRecords; i++ {
		length, n := Varint32(data)
		if n <= 0 || length < minRecordBody || length > int64(len(data)-n) {
			return Batch{}, ErrCorrupt
		}
		rec, ok := decodeRecord(data[n : n+int(length)])
		if !ok {
			return Batch{}, ErrCorrupt
		}
		data = data[n+int(length):]
		rec.Offset += rb.FirstOffset
		rec.Timestamp += rb.FirstTimestamp
		if b.LogAppendTime {
			rec.Timestamp = rb.MaxTimestamp
		}
		b.Records = append(b.Records, rec)
	}
	return b, nil
}

// decodeRecord decodes one record body (after its length); Offset and
// Timestamp are the deltas. Key, Value and header values alias b.
func decodeRecord(b []byte) (Record, bool) {
	var r Record
	b = b[1:] // attributes: unused in v2
	ts, n := binary.Varint(b)
	if n <= 0 {
		return r, false
	}
	b = b[n:]
	off, n := Varint32(b)
	if n <= 0 {
		return r, false
	}
	b = b[n:]
	r.Offset, r.Timestamp = off, ts
	var ok bool
	if r.Key, b, ok = nullableBytes(b); !ok {
		return r, false
	}
	if r.Value, b, ok = nullableBytes(b); !ok {
		return r, false
	}
	headers, n := Varint32(b)
	if n <= 0 || headers < 0 || headers > int64(len(b)-n)/minHeader {
		return r, false
	}
	b = b[n:]
	for h := int64(0); h < headers; h++ {
		var k, v []byte
		if k, b, ok = nullableBytes(b); !ok || k == nil {
			return r, false
		}
		if v, b, ok = nullableBytes(b); !ok {
			return r, false
		}
		r.Headers = append(r.Headers, Header{Key: string(k), Value: v})
	}
	return r, len(b) == 0
}

// nullableBytes reads a varint length (-1: nil) and that many bytes.
func nullableBytes(b []byte) ([]byte, []byte, bool) {
	l, n := Varint32(b)
	if n <= 0 || l < -1 || l > int64(len(b)-n) {
		return nil, nil, false
	}
	if l < 0 {
		return nil, b[n:], true
	}
	return b[n : n+int(l) : n+int(l)], b[n+int(l):], true
}

// EncodeOptions shape a new batch.
type EncodeOptions struct {
	Codec         Codec
	ProducerID    int64 // -1 for none
	ProducerEpoch int16
	BaseSequence  int32
	// BaseOffset is written into the batch (the log re-stamps it on append).
	BaseOffset int64
	// KeepOffsets makes each record's offset delta Offset - BaseOffset
	// instead of its position, for rewriting a stored batch (log
	// compaction) without changing its records' offsets. The offsets must
	// strictly increase, starting at or above BaseOffset.
	KeepOffsets bool
	// LastOffsetDelta, when above the last record's offset delta, is
	// written as the batch's last offset delta: a compacted batch keeps its
	// original last offset, so the producer sequence range it covers (base
	// sequence + last offset delta) is unchanged.
	LastOffsetDelta int32
	// LogAppendTime sets the timestamp-type attribute; the records'
	// Timestamp should then all be the append time (as Decode returns them).
	LogAppendTime bool
}

// ErrBadOffsets: KeepOffsets was set but the records' offsets do not
// strictly increase from BaseOffset within the int32 delta range.
var ErrBadOffsets = errors.New("records: offsets do not fit the batch")

// offsetDeltas returns each record's offset delta under o.
func offsetDeltas(recs []Record, o EncodeOptions) ([]int32, error) {
	deltas := make([]int32, len(recs))
	for i, r := range recs {
		if !o.KeepOffsets {
			deltas[i] = int32(i)
			continue
		}
		d := r.Offset - o.BaseOffset
		if d < 0 || d > math.MaxInt32 || (i > 0 && d <= int64(deltas[i-1])) {
			return nil, fmt.Errorf("%w: offset %d after base %d", ErrBadOffsets, r.Offset, o.BaseOffset)
		}
		deltas[i] = int32(d)
	}
	return deltas, nil
}

// Plain is the options for a non-idempotent, uncompressed batch.
var Plain = EncodeOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}

// Encode builds a v2 batch from records. Offset deltas are the records'
// positions unless o.KeepOffsets; timestamps are kept (a zero Timestamp
// stays zero). Only a KeepOffsets batch may be empty (see EncodeSpan).
func Encode(recs []Record, o EncodeOptions) ([]byte, error) {
	if len(recs) == 0 && !o.KeepOffsets {
		return nil, errors.New("records: empty batch")
	}
	deltas, err := offsetDeltas(recs, o)
	if err != nil {
		return nil, err
	}
	first, maxTS := int64(-1), int64(-1)
	for i, r := range recs {
		if i == 0 {
			first, maxTS = r.Timestamp, r.Timestamp
		}
		first = min(first, r.Timestamp)
		maxTS = max(maxTS, r.Timestamp)
	}
	// Sized up front (the records' bytes plus varint slack), so small
	// batches — one bridge beacon — encode with few allocations.
	est, maxHeaders := 0, 0
	for _, r := range recs {
		est += len(r.Key) + len(r.Value) + 24
		for _, h := range r.Headers {
			est += len(h.Key) + len(h.Value) + 10
		}
		maxHeaders = max(maxHeaders, len(r.Headers))
	}
	raw, scratch := make([]byte, 0, est), make([]byte, 0, 256)
	hdrs := make([]kmsg.Header, 0, maxHeaders)
	for i, r := range recs {
		hdrs = hdrs[:0]
		for _, h := range r.Headers {
			hdrs = append(hdrs, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr := kmsg.Record{
			TimestampDelta64: r.Timestamp - first,
			OffsetDelta:      deltas[i],
			Key:              r.Key,
			Value:            r.Value,
			Headers:          hdrs,
		}
		// Encode once with a zero length (a one-byte varint), then
		// write the real length in front of the rest.
		scratch = kr.AppendTo(scratch[:0])
		raw = kbin.AppendVarint(raw, int32(len(scratch)-1))
		raw = append(raw, scratch[1:]...)
	}
	codec := o.Codec
	if len(recs) == 0 {
		codec = None
	}
	if codec != None {
		c, err := compressor(codec)
		if err != nil {
			return nil, err
		}
		compressed, _ := c.Compress(new(bytes.Buffer), raw)
		raw = append([]byte(nil), compressed...)
	}
	attrs := int16(codec)
	if o.LogAppendTime {
		attrs |= 0x08
	}
	lastDelta := o.LastOffsetDelta
	if len(deltas) > 0 {
		lastDelta = max(deltas[len(deltas)-1], lastDelta)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          o.BaseOffset,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      lastDelta,
		FirstTimestamp:       first,
		MaxTimestamp:         maxTS,
		ProducerID:           o.ProducerID,
		ProducerEpoch:        o.ProducerEpoch,
		FirstSequence:        o.BaseSequence,
		NumRecords:           int32(len(recs)),
		Records:              raw,
	}
	// Length covers everything after the length field; CRC covers
	// everything after the CRC field.
	return finish(rb.AppendTo(make([]byte, 0, 61+len(raw)))), nil
}

func compressor(c Codec) (kgo.Compressor, error) {
	var codec kgo.CompressionCodec
	switch c {
	case Gzip:
		codec = kgo.GzipCompression()
	case Snappy:
		codec = kgo.SnappyCompression()
	case LZ4:
		codec = kgo.Lz4Compression()
	case Zstd:
		codec = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("records: unknown codec %d", c)
	}
	return kgo.DefaultCompressor(codec)
}

// EncodeSpan builds a batch that keeps the records' absolute offsets and
// spans [base, base+lastOffsetDelta] even when records were removed from
// it (consume filters, compaction): consumers advance past the whole span.
// recs may be empty: an empty batch still moves consumers forward.
func EncodeSpan(base int64, lastOffsetDelta int32, recs []Record, o EncodeOptions) ([]byte, error) {
	o.BaseOffset, o.KeepOffsets, o.LastOffsetDelta = base, true, lastOffsetDelta
	return Encode(recs, o)
}

// finish fills in a batch's length and CRC-32C.
func finish(out []byte) []byte {
	length := uint32(len(out) - 12)
	out[8], out[9], out[10], out[11] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
	crc := crc32.Checksum(out[21:], castagnoli)
	out[17], out[18], out[19], out[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return out
}

// Murmur2 is the Java client's key hash (Utils.murmur2); partition =
// (Murmur2(key) & 0x7fffffff) % partitions, as DefaultPartitioner does.
func Murmur2(b []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// KeyPartition maps a key to a partition like the Java client.
func KeyPartition(key []byte, partitions int32) int32 {
	return int32((Murmur2(key) & 0x7fffffff) % uint32(partitions))
}
