package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestValidateBatch(t *testing.T) {
	b := makeBatch(t, batchSpec{records: 3, firstTs: 1000, valueLen: 10})
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatalf("valid batch: %v", err)
	}
	want := BatchHeader{Length: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2, CRC: h.CRC,
		LastOffsetDelta: 2, FirstTimestamp: 1000, MaxTimestamp: 1002, ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1, NumRecords: 3}
	if h != want {
		t.Fatalf("header = %+v, want %+v", h, want)
	}
	if h.Size() != len(b) || h.LastOffset() != 2 || h.Codec() != 0 || h.LogAppendTime() || h.IsControl() || h.IsTransactional() {
		t.Fatalf("derived fields wrong: %+v", h)
	}

	cases := []struct {
		name   string
		mutate func([]byte) []byte
		reason string
	}{
		{"flipped record byte", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }, "CRC-32C mismatch"},
		{"flipped attributes", func(b []byte) []byte { b[22] ^= 0x01; return b }, "CRC-32C mismatch"},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return b }, "magic 1, want 2"},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }, "length field says"},
		{"short header", func(b []byte) []byte { return b[:60] }, "batch shorter than its 61-byte header"},
		{"tiny length", func(b []byte) []byte { putUint32(b, 8, 10); return b }, "length field 10 below the header size"},
		{"negative count", func(b []byte) []byte { putUint32(b, 57, 0xffffffff); return b }, "negative record count"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := c.mutate(bytes.Clone(b))
			_, err := ValidateBatch(bad)
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("err = %v, want *CorruptError", err)
			}
			if !bytes.HasPrefix([]byte(ce.Reason), []byte(c.reason)) {
				t.Fatalf("reason = %q, want prefix %q", ce.Reason, c.reason)
			}
		})
	}

	// The offset and epoch Append stamps lie outside the CRC.
	stamped := bytes.Clone(b)
	stampBatch(stamped, 1<<40, 7)
	h, err = ValidateBatch(stamped)
	if err != nil || h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 7 {
		t.Fatalf("stamped: %+v, %v", h, err)
	}
}

func TestSplitBatches(t *testing.T) {
	a := makeBatch(t, batchSpec{records: 1, firstTs: 1, valueLen: 5})
	b := makeBatch(t, batchSpec{records: 4, firstTs: 2, valueLen: 50})
	c := makeBatch(t, batchSpec{records: 2, firstTs: 3, valueLen: 0})
	blob := append(append(bytes.Clone(a), b...), c...)

	got, err := SplitBatches(blob)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || !bytes.Equal(got[2], c) {
		t.Fatalf("split into %d batches with wrong contents", len(got))
	}
	if cap(got[0]) != len(a) {
		t.Fatalf("cap %d lets appends overwrite the next batch", cap(got[0]))
	}
	if got, err := SplitBatches(nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
	for _, cut := range []int{1, 11, 12, 70, len(c) - 1} {
		if _, err := SplitBatches(blob[:len(a)+len(b)+cut]); !errors.Is(err, ErrCorruptBatch) {
			t.Fatalf("cut %d: err = %v, want ErrCorruptBatch", cut, err)
		}
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := makeBatch(t, batchSpec{records: 3, firstTs: 1000, valueLen: 10})
	SetLogAppendTime(b, 99_000)
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatalf("CRC not recomputed: %v", err)
	}
	if !h.LogAppendTime() || h.FirstTimestamp != 99_000 || h.MaxTimestamp != 99_000 || h.Attributes != 0x08 {
		t.Fatalf("header = %+v", h)
	}
	// kmsg agrees with the header parse.
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if rb.MaxTimestamp != 99_000 || rb.Attributes != 0x08 || uint32(rb.CRC) != h.CRC || rb.NumRecords != 3 {
		t.Fatalf("kmsg sees %+v", rb)
	}
}
