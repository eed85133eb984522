package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawBatch builds a v2 batch around raw record bytes with the given
// header fields (Validate does not check the CRC; finish sets one anyway).
func rawBatch(codec Codec, attrs int16, count, lastDelta int32, first, maxTS int64, raw []byte) []byte {
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs | int16(codec),
		LastOffsetDelta: lastDelta, FirstTimestamp: first, MaxTimestamp: maxTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count, Records: raw,
	}
	return finish(rb.AppendTo(nil))
}

// rawRecords encodes records with the given offset deltas and timestamp
// deltas (keys "k<i>", one header each).
func rawRecords(deltas []int32, tsDeltas []int64, nilKey bool) []byte {
	var raw []byte
	for i, d := range deltas {
		r := kmsg.Record{OffsetDelta: d, TimestampDelta64: tsDeltas[i], Value: []byte("value"),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		if !nilKey {
			r.Key = []byte{'k', byte('0' + i)}
		}
		body := r.AppendTo(nil)[1:] // drop the zero length byte
		raw = kbin.AppendVarint(raw, int32(len(body)))
		raw = append(raw, body...)
	}
	return raw
}

func sample(t testing.TB, c Codec, n int) []byte {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Timestamp: 1000 + int64(i), Key: []byte("key"), Value: bytes.Repeat([]byte("x"), 100),
			Headers: []Header{{Key: "a", Value: []byte("b")}}}
	}
	o := Plain
	o.Codec = c
	b, err := Encode(recs, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func zstdBomb(t testing.TB, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	// One record claiming the whole size as its value, then zeros: the
	// decoder must stop at the budget, not inflate it all.
	zero := make([]byte, 1<<20)
	for written := 0; written < size; written += len(zero) {
		w.Write(zero)
	}
	w.Close()
	return rawBatch(Zstd, 0, 1, 0, 0, 0, buf.Bytes())
}

func TestValidate(t *testing.T) {
	for _, c := range []Codec{None, Gzip, Snappy, LZ4, Zstd} {
		if err := Validate(sample(t, c, 50), ValidateOptions{RequireKeys: true}); err != nil {
			t.Errorf("valid %s batch refused: %v", codecName(c), err)
		}
	}
	set := func(b []byte, pos int, v uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[pos:], v)
		return b
	}
	good := rawRecords([]int32{0, 1, 2}, []int64{0, 5, 2}, false)
	trailing := append(bytes.Clone(good), 0)
	longVarint := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}
	for _, tc := range []struct {
		name  string
		batch []byte
		opts  ValidateOptions
		kind  error
		why   string
	}{
		{"count 0x7fffffff", set(sample(t, None, 3), posNumRecords, 0x7fffffff), ValidateOptions{}, ErrInvalidRecord, "last offset delta"},
		{"count and delta 0x7fffffff", set(set(sample(t, None, 3), posNumRecords, 0x7fffffff), posLastOffsetDel, 0x7ffffffe), ValidateOptions{}, ErrCorrupt, "cannot fit"},
		{"compressed count 0x7fffffff", set(set(sample(t, Snappy, 3), posNumRecords, 0x7fffffff), posLastOffsetDel, 0x7ffffffe), ValidateOptions{}, ErrCorrupt, "record 3 of"},
		{"count below records", set(set(sample(t, None, 3), posNumRecords, 2), posLastOffsetDel, 1), ValidateOptions{}, ErrCorrupt, "bytes after"},
		{"zero records", rawBatch(None, 0, 0, -1, 0, 0, nil), ValidateOptions{}, ErrInvalidRecord, "declares 0"},
		{"offset deltas out of order", rawBatch(None, 0, 3, 2, 0, 5, rawRecords([]int32{0, 2, 1}, []int64{0, 5, 2}, false)), ValidateOptions{}, ErrInvalidRecord, "offset delta"},
		{"log append time ignores timestamps", rawBatch(None, attrLogAppendTime, 3, 2, 0, 9, good), ValidateOptions{}, nil, ""},
		{"trailing bytes", rawBatch(None, 0, 3, 2, 0, 5, trailing), ValidateOptions{}, ErrCorrupt, "bytes after"},
		{"control batch", rawBatch(None, attrControl, 3, 2, 0, 5, good), ValidateOptions{}, ErrInvalidRecord, "control"},
		{"unknown attribute", rawBatch(None, 0x100, 3, 2, 0, 5, good), ValidateOptions{}, ErrInvalidRecord, "attribute"},
		{"unknown codec", rawBatch(5, 0, 3, 2, 0, 5, good), ValidateOptions{}, ErrCorrupt, "codec"},
		{"key missing on compacted topic", rawBatch(None, 0, 3, 2, 0, 5, rawRecords([]int32{0, 1, 2}, []int64{0, 5, 2}, true)), ValidateOptions{RequireKeys: true}, ErrInvalidRecord, "no key"},
		{"key missing elsewhere is fine", rawBatch(None, 0, 3, 2, 0, 5, rawRecords([]int32{0, 1, 2}, []int64{0, 5, 2}, true)), ValidateOptions{}, nil, ""},
		{"non-canonical long varint", rawBatch(None, 0, 1, 0, 0, 0, append(append([]byte{}, longVarint...), make([]byte, 8)...)), ValidateOptions{}, ErrCorrupt, "length"},
		{"huge header count", rawBatch(None, 0, 1, 0, 0, 0, []byte{14, 0, 0, 0, 2, 'k', 2, 'v', 0xfe, 0xff, 0xff, 0xff, 0x07, 0}), ValidateOptions{}, ErrCorrupt, "header count"},
		{"bad gzip", rawBatch(Gzip, 0, 3, 2, 0, 5, good), ValidateOptions{}, ErrCorrupt, "gzip"},
		{"zstd bomb", zstdBomb(t, 64<<20), ValidateOptions{DecompressBudget: 2 << 20}, ErrInvalidRecord, "more than 2097152"},
		{"idempotent without sequence", func() []byte {
			b := rawBatch(None, 0, 3, 2, 0, 5, good)
			binary.BigEndian.PutUint64(b[posProducerID:], 7)
			return b
		}(), ValidateOptions{}, ErrInvalidRecord, "sequence"},
	} {
		err := Validate(tc.batch, tc.opts)
		if tc.kind == nil {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.kind, tc.why)
		}
	}
}

// TestValidateFixesMaxTimestamp: as Kafka, a header max timestamp that
// is not the records' largest is rewritten (CRC too), not refused.
func TestValidateFixesMaxTimestamp(t *testing.T) {
	b := rawBatch(None, 0, 3, 2, 100, 999, rawRecords([]int32{0, 1, 2}, []int64{0, 5, 2}, false))
	if err := Validate(b, ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := int64(binary.BigEndian.Uint64(b[posMaxTimestamp:])); got != 105 {
		t.Fatalf("max timestamp %d, want 105", got)
	}
	if crc32.Checksum(b[posAttributes:], castagnoli) != binary.BigEndian.Uint32(b[posCRC:]) {
		t.Fatal("CRC not recomputed")
	}
}

// TestDecodeBoundsAllocation: a batch claiming 0x7fffffff records decodes
// to an error without reserving memory for them.
func TestDecodeBoundsAllocation(t *testing.T) {
	b := sample(t, None, 3)
	binary.BigEndian.PutUint32(b[posNumRecords:], 0x7fffffff)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode: %v", err)
		}
	})
	before := totalAlloc()
	Decode(b)
	if got := totalAlloc() - before; got > 1<<20 || allocs > 20 {
		t.Fatalf("Decode of a lying batch allocated %d bytes in %v allocations", got, allocs)
	}
	if _, err := DecodeWithin(zstdBomb(t, 64<<20), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("zstd bomb: %v", err)
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}
