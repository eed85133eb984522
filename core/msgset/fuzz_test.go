package msgset

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzToBatch: no input makes ToBatch panic; every error is one of the
// documented kinds; every success is a valid batch franz-go reads back with
// as many records as it declares, and that down-converts again.
//
// The seeds run with every `go test`; explore with
// go test -run '^$' -fuzz FuzzToBatch ./core/msgset/
func FuzzToBatch(f *testing.F) {
	msgs := sampleMessages()
	for _, magic := range []int8{0, 1} {
		for _, c := range allCodecs {
			f.Add(legacySet(f, magic, c, msgs))
		}
		frame := kgoCompress(f, codecLZ4, legacySet(f, magic, codecNone, msgs))
		breakLZ4HeaderChecksum(frame) // KAFKA-3160: fine for magic 0 only
		f.Add(legacyEntry(magic, 4, int8(codecLZ4), 0, nil, frame))
	}
	f.Add(legacyEntry(1, 0, int8(codecSnappy), 0, nil, xerialEncode(legacySet(f, 1, codecNone, msgs))))
	f.Add(legacyEntry(1, 0, int8(codecGzip), 0, nil, kgoCompress(f, codecGzip, legacySet(f, 1, codecGzip, msgs))))
	f.Add([]byte{})
	// Nested gzip wrappers sharing one budget.
	wrapper := legacyEntry(1, 0, int8(codecGzip), 0, nil, kgoCompress(f, codecGzip, legacySet(f, 1, codecNone, msgs)))
	f.Add(append(append(append(clone(wrapper), wrapper...), wrapper...), wrapper...))
	f.Add(make([]byte, 12))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, set []byte) {
		budget := NewBudget(1 << 20)
		batch, err := ToBatchWithin(set, testNow, budget)
		if budget.Left() < 0 {
			t.Fatalf("budget overdrawn: %d", budget.Left())
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedCodec) && !errors.Is(err, ErrEmpty) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		var h kmsg.RecordBatch
		if err := h.ReadFrom(batch); err != nil {
			t.Fatalf("output is no batch: %v", err)
		}
		if got := fetchRecords(t, batch); h.NumRecords < 1 || len(got) != int(h.NumRecords) {
			t.Fatalf("batch declares %d records, franz-go reads %d", h.NumRecords, len(got))
		}
		if _, err := FromBatches(batch, 1); err != nil {
			t.Fatalf("FromBatches of ToBatch output: %v", err)
		}
	})
}

// FuzzFromBatches: no stored data makes FromBatches panic, and every error
// is one of the documented kinds.
func FuzzFromBatches(f *testing.F) {
	msgs := sampleMessages()
	for _, c := range allCodecs {
		f.Add(v2Batch(f, 10, c, 0, msgs[0].ts, recordsOf(msgs, msgs[0].ts)), int8(0))
		f.Add(v2Batch(f, 10, c, batchAttrLogAppendTime, msgs[0].ts, recordsOf(msgs, msgs[0].ts)), int8(1))
	}
	f.Add([]byte{}, int8(1))
	f.Fuzz(func(t *testing.T, data []byte, magic int8) {
		_, err := FromBatches(data, magic&1)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedCodec) {
			t.Fatalf("undocumented error: %v", err)
		}
	})
}
