package msgset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// twoBatches is the segment data most FromBatches tests read: batch A at
// base offset 100 with three records, batch B at 103 with two.
func twoBatches(t *testing.T, c codec) ([]byte, []testMessage) {
	t.Helper()
	msgs := sampleMessages()
	a := v2Batch(t, 100, c, 0, msgs[0].ts, recordsOf(msgs[:3], msgs[0].ts))
	b := v2Batch(t, 103, c, 0, msgs[3].ts, recordsOf(msgs[3:], msgs[3].ts))
	return append(a, b...), msgs
}

func TestFromBatchesEveryCodecAndMagic(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, c := range allCodecs {
			t.Run(fmt.Sprintf("magic%d/%v", magic, c), func(t *testing.T) {
				data, msgs := twoBatches(t, c)
				set, err := FromBatches(data, magic)
				if err != nil {
					t.Fatalf("FromBatches: %v", err)
				}
				checkLegacyLayout(t, set, magic, c, msgs)
				if magic == 0 && c == codecLZ4 {
					// franz-go, like sarama, insists on the correct lz4
					// header checksum, which magic 0 deliberately breaks;
					// TestFromBatchesLZ4Magic0 covers this case.
					return
				}
				checkRecords(t, fetchRecords(t, set), msgs, 100, magic == 1)
			})
		}
	}
}

// checkLegacyLayout checks the top-level structure of the down-converted
// twoBatches: one message per record, or one wrapper per batch with the
// offset of its last record, inner offsets by the magic's rule.
func checkLegacyLayout(t *testing.T, set []byte, magic int8, c codec, msgs []testMessage) {
	t.Helper()
	entries := legacyEntries(t, set)
	for _, e := range entries {
		if e.magic != magic {
			t.Fatalf("message at offset %d has magic %d, want %d", e.offset, e.magic, magic)
		}
	}
	if c == codecNone {
		if len(entries) != len(msgs) {
			t.Fatalf("%d messages, want %d", len(entries), len(msgs))
		}
		for i, e := range entries {
			if e.offset != int64(100+i) || e.attrs != 0 || !sameBytes(e.key, msgs[i].key) || !sameBytes(e.value, msgs[i].value) {
				t.Errorf("message %d: offset %d attrs %d key %q value %q", i, e.offset, e.attrs, e.key, e.value)
			}
			if magic == 1 && e.ts != msgs[i].ts {
				t.Errorf("message %d: timestamp %d, want %d", i, e.ts, msgs[i].ts)
			}
		}
		return
	}
	if len(entries) != 2 {
		t.Fatalf("%d wrappers, want one per batch (2)", len(entries))
	}
	for i, w := range []struct {
		lastOffset int64
		msgs       []testMessage
		base       int64
	}{{102, msgs[:3], 100}, {104, msgs[3:], 103}} {
		e := entries[i]
		if e.offset != w.lastOffset || codec(e.attrs) != c || e.key != nil {
			t.Errorf("wrapper %d: offset %d attrs %#x key %q; want offset %d, codec %v, null key", i, e.offset, e.attrs, e.key, w.lastOffset, c)
		}
		if magic == 1 && e.ts != maxTS(w.msgs) {
			t.Errorf("wrapper %d: timestamp %d, want the batch max %d", i, e.ts, maxTS(w.msgs))
		}
		inner, err := decompress(c, e.value, magic)
		if err != nil {
			t.Fatalf("wrapper %d: %v", i, err)
		}
		innerEntries := legacyEntries(t, inner)
		if len(innerEntries) != len(w.msgs) {
			t.Fatalf("wrapper %d holds %d messages, want %d", i, len(innerEntries), len(w.msgs))
		}
		for j, ie := range innerEntries {
			wantOffset := w.base + int64(j) // magic 0: absolute
			if magic == 1 {
				wantOffset = int64(j) // magic 1: relative to the batch's base
			}
			if ie.offset != wantOffset || ie.magic != magic || ie.attrs != 0 || !sameBytes(ie.value, w.msgs[j].value) {
				t.Errorf("wrapper %d message %d: offset %d magic %d attrs %d value %q; want offset %d", i, j, ie.offset, ie.magic, ie.attrs, ie.value, wantOffset)
			}
		}
	}
}

// TestFromBatchesLZ4Magic0: magic 0 lz4 wrappers carry the header checksum
// 0.8/0.9 clients compute (KAFKA-3160), and read back with ToBatch.
func TestFromBatchesLZ4Magic0(t *testing.T) {
	data, msgs := twoBatches(t, codecLZ4)
	set, err := FromBatches(data, 0)
	if err != nil {
		t.Fatalf("FromBatches: %v", err)
	}
	for i, e := range legacyEntries(t, set) {
		frame := e.value
		n, ok := lz4DescriptorLen(frame)
		if !ok {
			t.Fatalf("wrapper %d: not an lz4 frame", i)
		}
		if got, broken := frame[4+n], lz4HeaderChecksum(frame[:4+n]); got != broken {
			t.Errorf("wrapper %d: header checksum %#x, want Kafka's magic 0 checksum %#x", i, got, broken)
		}
	}
	batch, err := ToBatch(set, testNow)
	if err != nil {
		t.Fatalf("ToBatch of the down-converted set: %v", err)
	}
	for i := range msgs {
		msgs[i].ts = noTimestamp
	}
	checkRecords(t, fetchRecords(t, batch), msgs, 0, true)
}

func TestFromBatchesLogAppendTime(t *testing.T) {
	msgs := sampleMessages()
	const appendTime = 1_900_000_000_000
	for _, c := range []codec{codecNone, codecSnappy} {
		t.Run(c.String(), func(t *testing.T) {
			data := v2Batch(t, 0, c, batchAttrLogAppendTime, msgs[0].ts, recordsOf(msgs, msgs[0].ts))
			// The log stamps LogAppendTime batches with First = Max = append time.
			var b kmsg.RecordBatch
			if err := b.ReadFrom(data); err != nil {
				t.Fatal(err)
			}
			b.FirstTimestamp, b.MaxTimestamp = appendTime, appendTime
			data = appendBatch(nil, &b)

			set, err := FromBatches(data, 1)
			if err != nil {
				t.Fatalf("FromBatches: %v", err)
			}
			for i, e := range legacyEntries(t, set) {
				if e.attrs&legacyAttrLogAppendTime == 0 || e.ts != appendTime {
					t.Errorf("message %d: attrs %#x ts %d, want LogAppendTime at %d", i, e.attrs, e.ts, appendTime)
				}
			}
			for i := range msgs {
				msgs[i].ts = appendTime
			}
			checkRecords(t, fetchRecords(t, set), msgs, 0, true)
		})
	}
}

func TestFromBatchesDropsHeaders(t *testing.T) {
	msgs := sampleMessages()[:2]
	records := recordsOf(msgs, msgs[0].ts)
	records[0].Headers = []kmsg.Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty"}}
	set, err := FromBatches(v2Batch(t, 5, codecNone, 0, msgs[0].ts, records), 1)
	if err != nil {
		t.Fatalf("FromBatches: %v", err)
	}
	got := fetchRecords(t, set)
	checkRecords(t, got, msgs, 5, true)
	if len(got[0].Headers) != 0 {
		t.Fatalf("headers survived down-conversion: %v", got[0].Headers)
	}
}

// TestFromBatchesSkipsEmptyAndControl: transaction markers and batches
// emptied by compaction yield nothing; the data around them does.
func TestFromBatchesSkipsEmptyAndControl(t *testing.T) {
	msgs := sampleMessages()
	marker := v2Batch(t, 1, codecNone, batchAttrControl|0x10, 0, []kmsg.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	empty := v2Batch(t, 2, codecNone, 0, 0, nil)
	var data []byte
	data = append(data, v2Batch(t, 0, codecNone, 0, msgs[0].ts, recordsOf(msgs[:1], msgs[0].ts))...)
	data = append(data, marker...)
	data = append(data, empty...)
	data = append(data, v2Batch(t, 3, codecNone, 0, msgs[1].ts, recordsOf(msgs[1:2], msgs[1].ts))...)
	set, err := FromBatches(data, 1)
	if err != nil {
		t.Fatalf("FromBatches: %v", err)
	}
	entries := legacyEntries(t, set)
	if len(entries) != 2 || entries[0].offset != 0 || entries[1].offset != 3 ||
		string(entries[0].value) != string(msgs[0].value) || string(entries[1].value) != string(msgs[1].value) {
		t.Fatalf("got %d messages %+v, want offsets 0 and 3", len(entries), entries)
	}
}

// TestFromBatchesTruncatedTail: a fetch cut at its byte limit ends in part
// of a batch; every cut point yields exactly the whole batches before it.
func TestFromBatchesTruncatedTail(t *testing.T) {
	data, msgs := twoBatches(t, codecGzip)
	firstLen := batchLengthEnd + int(binary.BigEndian.Uint32(data[8:]))
	for cut := firstLen; cut < len(data); cut++ {
		set, err := FromBatches(data[:cut], 1)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		checkRecords(t, fetchRecords(t, set), msgs[:3], 100, true)
	}
	for cut := range firstLen {
		set, err := FromBatches(data[:cut], 1)
		if err != nil || len(set) != 0 {
			t.Fatalf("cut at %d inside the first batch: %d bytes, err %v; want nothing", cut, len(set), err)
		}
	}
}

func TestFromBatchesRejects(t *testing.T) {
	good := v2Batch(t, 0, codecNone, 0, 1, recordsOf(sampleMessages(), 1))
	mutate := func(f func(b []byte) []byte) []byte { return f(clone(good)) }
	tests := []struct {
		name  string
		data  []byte
		magic int8
		want  error
	}{
		{"magic 2 requested", good, 2, ErrUnsupportedMagic},
		{"zstd batch", v2Batch(t, 0, codecZstd, 0, 1, recordsOf(sampleMessages(), 1)), 1, ErrUnsupportedCodec},
		{"stored magic 1", mutate(func(b []byte) []byte { b[16] = 1; return b }), 0, ErrCorrupt},
		{"length below header", mutate(func(b []byte) []byte { b[8], b[9], b[10], b[11] = 0, 0, 0, 10; return b }), 0, ErrCorrupt},
		{"negative record count", mutate(func(b []byte) []byte { b[57], b[58], b[59], b[60] = 0xff, 0xff, 0xff, 0xff; return b }), 0, ErrCorrupt},
		{"more records claimed than present", mutate(func(b []byte) []byte { b[60]++; return b }), 0, ErrCorrupt},
		{"fewer records claimed than present", mutate(func(b []byte) []byte { b[60]--; return b }), 0, ErrCorrupt},
		{"undecodable gzip records", mutate(func(b []byte) []byte { b[22] |= byte(codecGzip); return b }), 1, ErrCorrupt},
		{"unknown codec", mutate(func(b []byte) []byte { b[22] |= 6; return b }), 1, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := FromBatches(tt.data, tt.magic)
			if !errors.Is(err, tt.want) || set != nil {
				t.Fatalf("FromBatches: %d bytes, err %v; want %v", len(set), err, tt.want)
			}
		})
	}
}
