package msgset

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testMessage is one key/value/timestamp a test sends through a conversion.
type testMessage struct {
	key, value []byte
	ts         int64
}

// sampleMessages covers null and empty keys and values, and unordered
// timestamps (the max is not the last).
func sampleMessages() []testMessage {
	return []testMessage{
		{key: []byte("k0"), value: []byte("value-0"), ts: 1_700_000_000_000},
		{key: nil, value: []byte("value-1, no key"), ts: 1_700_000_000_500},
		{key: []byte{}, value: []byte{}, ts: 1_700_000_000_100},
		{key: []byte("k3"), value: nil, ts: 1_700_000_000_200},
		{key: []byte("k4"), value: bytes.Repeat([]byte("compressible "), 50), ts: 1_700_000_000_300},
	}
}

var allCodecs = []codec{codecNone, codecGzip, codecSnappy, codecLZ4}

// legacyEntry encodes one MessageSet entry with kmsg, computing the size
// and the CRC-32 here rather than with the code under test.
func legacyEntry(magic int8, offset int64, attrs int8, ts int64, key, value []byte) []byte {
	var out []byte
	if magic == 0 {
		m := kmsg.MessageV0{Offset: offset, Magic: 0, Attributes: attrs, Key: key, Value: value}
		out = m.AppendTo(nil)
	} else {
		m := kmsg.MessageV1{Offset: offset, Magic: magic, Attributes: attrs, Timestamp: ts, Key: key, Value: value}
		out = m.AppendTo(nil)
	}
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[12:], crc32.ChecksumIEEE(out[16:]))
	return out
}

// legacySet encodes msgs as a MessageSet, inside one compressed wrapper
// unless c is codecNone. Inner offsets follow each magic's rule.
func legacySet(t testing.TB, magic int8, c codec, msgs []testMessage) []byte {
	t.Helper()
	var set []byte
	for i, m := range msgs {
		set = append(set, legacyEntry(magic, int64(i), 0, m.ts, m.key, m.value)...)
	}
	if c == codecNone {
		return set
	}
	return legacyEntry(magic, int64(len(msgs)-1), int8(c), maxTS(msgs), nil, kgoCompress(t, c, set))
}

func maxTS(msgs []testMessage) int64 {
	m := int64(math.MinInt64)
	for _, msg := range msgs {
		m = max(m, msg.ts)
	}
	return m
}

// kgoCompress compresses with franz-go's codecs, an implementation
// independent of this package's (raw snappy, correct lz4 checksum).
func kgoCompress(t testing.TB, c codec, data []byte) []byte {
	t.Helper()
	codecs := map[codec]kgo.CompressionCodec{
		codecGzip:   kgo.GzipCompression(),
		codecSnappy: kgo.SnappyCompression(),
		codecLZ4:    kgo.Lz4Compression(),
		codecZstd:   kgo.ZstdCompression(),
	}
	comp, err := kgo.DefaultCompressor(codecs[c])
	if err != nil {
		t.Fatalf("DefaultCompressor(%v): %v", c, err)
	}
	out, used := comp.Compress(new(bytes.Buffer), data)
	if int8(used) != int8(c) {
		t.Fatalf("kgo compressed with %d, want %v", used, c)
	}
	return slices.Clone(out)
}

// fetchRecords decodes data (a MessageSet of any magic, or v2 batches) the
// way a franz-go consumer decodes a fetch response, CRCs checked.
func fetchRecords(t testing.TB, data []byte) []*kgo.Record {
	t.Helper()
	partition := &kmsg.FetchResponseTopicPartition{RecordBatches: data, HighWatermark: math.MaxInt64}
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t"}, partition, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatalf("franz-go cannot decode the data: %v", fp.Err)
	}
	return fp.Records
}

// checkRecords compares decoded records with the messages that went in.
func checkRecords(t testing.TB, got []*kgo.Record, want []testMessage, firstOffset int64, checkTS bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Offset != firstOffset+int64(i) {
			t.Errorf("record %d: offset %d, want %d", i, r.Offset, firstOffset+int64(i))
		}
		if !sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) {
			t.Errorf("record %d: key %q value %q, want key %q value %q", i, r.Key, r.Value, w.key, w.value)
		}
		if checkTS && r.Timestamp.UnixMilli() != w.ts {
			t.Errorf("record %d: timestamp %d, want %d", i, r.Timestamp.UnixMilli(), w.ts)
		}
	}
}

// sameBytes is bytes.Equal that also tells null from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// v2Batch encodes records as a v2 batch with kmsg, computing lengths and the
// CRC-32C here. Offset and timestamp deltas are taken from the records.
func v2Batch(t testing.TB, base int64, c codec, attrs int16, firstTS int64, records []kmsg.Record) []byte {
	t.Helper()
	var raw []byte
	maxTimestamp, lastDelta := firstTS, int32(0)
	for i := range records {
		r := records[i]
		r.Length = 0
		body := r.AppendTo(nil)[1:] // drop the one-byte varint of Length 0
		raw = binary.AppendVarint(raw, int64(len(body)))
		raw = append(raw, body...)
		maxTimestamp = max(maxTimestamp, firstTS+r.TimestampDelta64)
		lastDelta = r.OffsetDelta
	}
	if c != codecNone {
		raw = kgoCompress(t, c, raw)
	}
	b := kmsg.RecordBatch{
		FirstOffset:          base,
		Length:               int32(49 + len(raw)),
		PartitionLeaderEpoch: 7,
		Magic:                2,
		Attributes:           attrs | int16(c),
		LastOffsetDelta:      lastDelta,
		FirstTimestamp:       firstTS,
		MaxTimestamp:         maxTimestamp,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(records)),
		Records:              raw,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// recordsOf turns messages into v2 records with offset deltas 0..n-1 and
// timestamp deltas from firstTS.
func recordsOf(msgs []testMessage, firstTS int64) []kmsg.Record {
	out := make([]kmsg.Record, len(msgs))
	for i, m := range msgs {
		out[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: m.ts - firstTS, Key: m.key, Value: m.value}
	}
	return out
}

// legacyEntries splits a MessageSet into its top-level messages.
func legacyEntries(t testing.TB, set []byte) []legacyEntryView {
	t.Helper()
	var out []legacyEntryView
	for len(set) > 0 {
		if len(set) < 12 {
			t.Fatalf("trailing %d bytes", len(set))
		}
		size := int(binary.BigEndian.Uint32(set[8:]))
		raw := set[:12+size]
		set = set[12+size:]
		v := legacyEntryView{raw: raw, offset: int64(binary.BigEndian.Uint64(raw)), magic: int8(raw[16]), attrs: int8(raw[17])}
		if v.magic == 1 {
			var m kmsg.MessageV1
			if err := m.ReadFrom(raw); err != nil {
				t.Fatalf("MessageV1: %v", err)
			}
			v.ts, v.key, v.value = m.Timestamp, m.Key, m.Value
		} else {
			var m kmsg.MessageV0
			if err := m.ReadFrom(raw); err != nil {
				t.Fatalf("MessageV0: %v", err)
			}
			v.key, v.value = m.Key, m.Value
		}
		out = append(out, v)
	}
	return out
}

type legacyEntryView struct {
	raw        []byte
	offset     int64
	magic      int8
	attrs      int8
	ts         int64
	key, value []byte
}
