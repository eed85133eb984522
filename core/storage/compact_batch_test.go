package storage

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicemq/sluice/core/records"
)

func TestCompactCompressedBatches(t *testing.T) {
	codecs := []records.Codec{records.None, records.Gzip, records.Snappy, records.LZ4, records.Zstd}
	for _, codec := range codecs {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			c := newCompactLog(t, t.TempDir())
			o := records.Plain
			o.Codec = codec
			c.addWith(o, 0, "k0=r1", "k1=r1", "k2=r1", "k3=r1", "k4=r1", "k5=r1")
			c.roll()
			c.addWith(o, 0, "k1=r2", "k2=r2")
			c.roll()
			c.addWith(o, 0, "k0=r3")

			st := c.compact(CompactOptions{})
			if st.SegmentsCleaned != 1 || st.RecordsRemoved != 3 {
				t.Fatalf("stats %+v", st)
			}
			wantRecords(t, c.l, "3:k3=r1", "4:k4=r1", "5:k5=r1", "6:k1=r2", "7:k2=r2", "8:k0=r3")
			hs := headersOf(t, c.l)
			if len(hs) != 3 {
				t.Fatalf("%d batches", len(hs))
			}
			for i, h := range hs {
				if h.Codec() != int8(codec) {
					t.Fatalf("batch %d codec %d, want %d", i, h.Codec(), codec)
				}
			}
			if h := hs[0]; h.BaseOffset != 0 || h.LastOffset() != 5 || h.NumRecords != 3 {
				t.Fatalf("rewritten batch header %+v", h)
			}
		})
	}
}

func TestCompactPreservesBatchFields(t *testing.T) {
	c := newCompactLog(t, t.TempDir())
	// An idempotent producer's batch whose first and last records go.
	idem := records.EncodeOptions{ProducerID: 77, ProducerEpoch: 3, BaseSequence: 10}
	c.addWith(idem, 9, "a=1", "b=1", "g=1", "c=1") // 0-3
	// A LogAppendTime batch losing e=1.
	const appendTime = 1_700_000_000_000
	lat, err := records.Encode(c.parseRecs("d=1", "e=1"), records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	SetLogAppendTime(lat, appendTime)
	c.appendRaw(lat, 9) // 4-5
	// A transactional batch: kept verbatim, and g=t does not supersede g=1.
	txn, err := records.Encode(c.parseRecs("g=t", "f=1"), records.EncodeOptions{ProducerID: 88, ProducerEpoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	setAttributes(txn, 0x10)
	c.appendRaw(txn, 9) // 6-7
	c.roll()
	c.add("c=2", "e=2", "a=2") // 8-10
	c.roll()
	c.add("z=1") // 11

	before := batchesOf(t, c.l)
	st := c.compact(CompactOptions{})
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 3 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, "1:b=1", "2:g=1", "4:d=1", "6:g=t", "7:f=1", "8:c=2", "9:e=2", "10:a=2", "11:z=1")
	after := batchesOf(t, c.l)
	if len(after) != 5 {
		t.Fatalf("%d batches", len(after))
	}

	h := mustHeader(t, after[0])
	if h.BaseOffset != 0 || h.LastOffset() != 3 || h.NumRecords != 2 || h.ProducerID != 77 ||
		h.ProducerEpoch != 3 || h.BaseSequence != 10 || h.PartitionLeaderEpoch != 9 || h.Attributes != 0 {
		t.Fatalf("idempotent batch header %+v", h)
	}
	wantTimestamps(t, after[0], before[0], 1, 2)

	h = mustHeader(t, after[1])
	if h.BaseOffset != 4 || h.LastOffset() != 5 || h.NumRecords != 1 || !h.LogAppendTime() ||
		h.MaxTimestamp != appendTime || h.ProducerID != -1 || h.PartitionLeaderEpoch != 9 {
		t.Fatalf("log-append-time batch header %+v", h)
	}
	if b, _ := records.Decode(after[1]); b.Records[0].Timestamp != appendTime {
		t.Fatalf("log-append-time record timestamp %d", b.Records[0].Timestamp)
	}
	if !bytes.Equal(after[2], before[2]) {
		t.Fatal("transactional batch was rewritten")
	}
}

func mustHeader(t *testing.T, b []byte) BatchHeader {
	t.Helper()
	h, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// wantTimestamps checks that the records at offsets keep the timestamps
// they had in the original batch.
func wantTimestamps(t *testing.T, got, orig []byte, offsets ...int64) {
	t.Helper()
	g, err := records.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	o, err := records.Decode(orig)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[int64]int64{}
	for _, r := range o.Records {
		ts[r.Offset] = r.Timestamp
	}
	if len(g.Records) != len(offsets) {
		t.Fatalf("%d records, want %d", len(g.Records), len(offsets))
	}
	for i, r := range g.Records {
		if r.Offset != offsets[i] || r.Timestamp != ts[r.Offset] {
			t.Fatalf("record %d: offset %d ts %d, want offset %d ts %d", i, r.Offset, r.Timestamp, offsets[i], ts[offsets[i]])
		}
	}
}
