package pipeline

import (
	"fmt"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// TestDecodeForHooksMatchesRecords: the pipeline's decoder gives what
// records.Decode gives, for every codec, with nil and empty keys, values
// and headers, and LogAppendTime; truncated batches fail.
func TestDecodeForHooksMatchesRecords(t *testing.T) {
	var recs []records.Record
	for i := 0; i < 50; i++ {
		r := records.Record{Timestamp: 1700000000000 + int64(i*7), Value: []byte(fmt.Sprintf("value-%d", i))}
		switch i % 4 {
		case 0:
			r.Key = []byte(fmt.Sprintf("k%d", i))
			r.Headers = []records.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}}
		case 1:
			r.Value = nil
		case 2:
			r.Key, r.Value = []byte{}, []byte{}
			r.Headers = []records.Header{{Key: "c", Value: []byte{}}}
		}
		recs = append(recs, r)
	}
	for _, codec := range []records.Codec{records.None, records.Gzip, records.Snappy, records.LZ4, records.Zstd} {
		for _, lat := range []bool{false, true} {
			raw, err := records.Encode(recs, records.EncodeOptions{Codec: codec, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, BaseOffset: 1000, LogAppendTime: lat})
			if err != nil {
				t.Fatal(err)
			}
			h, err := storage.ValidateBatch(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeForHooks(raw, h, 1<<20)
			if err != nil {
				t.Fatalf("codec %d: %v", codec, err)
			}
			want, err := records.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.Records) {
				t.Fatalf("codec %d: %d records, want %d", codec, len(got), len(want.Records))
			}
			for i, w := range want.Records {
				g := got[i]
				wh := hooks.Record{Key: w.Key, Value: w.Value, Timestamp: w.Timestamp, Offset: w.Offset}
				for _, x := range w.Headers {
					wh.Headers = append(wh.Headers, hooks.Header{Key: x.Key, Value: x.Value})
				}
				if !unchanged([]hooks.Record{g}, []hooks.Record{wh}) || g.Offset != wh.Offset {
					t.Fatalf("codec %d lat %v record %d: %+v, want %+v", codec, lat, i, g, wh)
				}
			}
			if codec == records.None {
				for cut := storage.BatchHeaderLen + 1; cut < len(raw); cut += 37 {
					if _, err := decodeForHooks(raw[:cut], h, 1<<20); err == nil {
						t.Fatalf("truncated at %d: no error", cut)
					}
				}
			}
		}
	}
}

// TestEncodeBatch: encodeBatch's batches validate (CRC, records) and
// decode to what was encoded, for every codec, with a producer identity
// and an offset span beyond the records.
func TestEncodeBatch(t *testing.T) {
	recs := []hooks.Record{
		{Key: []byte("k"), Value: []byte("v"), Timestamp: 1700000000005, Headers: []hooks.Header{{Key: "a", Value: []byte("1")}, {Key: "b"}}},
		{Value: nil, Timestamp: 1700000000001},
		{Key: []byte{}, Value: []byte{}, Timestamp: 1700000000009},
	}
	for _, codec := range []records.Codec{records.None, records.Gzip, records.Snappy, records.LZ4, records.Zstd} {
		raw, err := encodeBatch(recs, batchOptions{codec: codec, pid: 42, epoch: 3, seq: 17, lastOffset: 9})
		if err != nil {
			t.Fatal(err)
		}
		h, err := storage.ValidateBatch(raw)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		// A produced batch's records must fill its span (a stored one
		// need not, as after compaction).
		dense, err := encodeBatch(recs, batchOptions{codec: codec, pid: 42, epoch: 3, seq: 17})
		if err != nil {
			t.Fatal(err)
		}
		if err := records.Validate(dense, records.ValidateOptions{DecompressBudget: 1 << 20}); err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 17 || h.LastOffsetDelta != 9 || h.NumRecords != 3 || h.Codec() != int8(codec) ||
			h.FirstTimestamp != 1700000000001 || h.MaxTimestamp != 1700000000009 {
			t.Fatalf("codec %d: header %+v", codec, h)
		}
		got, err := decodeForHooks(raw, h, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].Offset = 0
		}
		if !unchanged(recs, got) {
			t.Fatalf("codec %d: decoded %+v, want %+v", codec, got, recs)
		}
	}
	empty, err := encodeBatch(nil, batchOptions{codec: records.Zstd, pid: 1, lastOffset: 4})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := storage.ValidateBatch(empty); err != nil || h.NumRecords != 0 || h.LastOffsetDelta != 4 || h.Codec() != 0 {
		t.Fatalf("empty batch: %+v %v", h, err)
	}
}
