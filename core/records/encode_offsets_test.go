package records

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestEncodeKeepOffsets(t *testing.T) {
	recs := []Record{
		{Offset: 12, Timestamp: 500, Key: []byte("a"), Value: []byte("1")},
		{Offset: 15, Timestamp: 400, Key: []byte("b")},
		{Offset: 16, Timestamp: 700, Value: []byte("x")},
	}
	for _, codec := range []Codec{None, Gzip, Snappy, LZ4, Zstd} {
		b, err := Encode(recs, EncodeOptions{
			Codec: codec, ProducerID: 5, ProducerEpoch: 2, BaseSequence: 40,
			BaseOffset: 10, KeepOffsets: true, LastOffsetDelta: 9,
		})
		if err != nil {
			t.Fatal(err)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		if rb.FirstOffset != 10 || rb.LastOffsetDelta != 9 || rb.NumRecords != 3 || rb.FirstTimestamp != 400 ||
			rb.MaxTimestamp != 700 || rb.Attributes != int16(codec) || rb.ProducerID != 5 || rb.FirstSequence != 40 {
			t.Fatalf("codec %d: header %+v", codec, rb)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var offsets, stamps []int64
		for _, r := range got.Records {
			offsets, stamps = append(offsets, r.Offset), append(stamps, r.Timestamp)
		}
		if !slices.Equal(offsets, []int64{12, 15, 16}) || !slices.Equal(stamps, []int64{500, 400, 700}) {
			t.Fatalf("codec %d: offsets %v timestamps %v", codec, offsets, stamps)
		}
		if got.Records[1].Value != nil || got.Records[2].Key != nil {
			t.Fatalf("codec %d: null key/value not kept", codec)
		}
	}
}

func TestEncodeLastOffsetDeltaNeverShrinks(t *testing.T) {
	// A LastOffsetDelta below the records' own is ignored.
	b, err := Encode([]Record{{Offset: 0}, {Offset: 1}, {Offset: 2}}, EncodeOptions{ProducerID: -1, LastOffsetDelta: 1})
	if err != nil {
		t.Fatal(err)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil || rb.LastOffsetDelta != 2 {
		t.Fatalf("last offset delta %d, %v", rb.LastOffsetDelta, err)
	}
}

func TestEncodeLogAppendTime(t *testing.T) {
	b, err := Encode([]Record{{Timestamp: 900}, {Timestamp: 900}}, EncodeOptions{ProducerID: -1, LogAppendTime: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LogAppendTime || got.MaxTimestamp != 900 || got.Records[1].Timestamp != 900 {
		t.Fatalf("decoded %+v", got)
	}
}

func TestEncodeKeepOffsetsRejectsBadOffsets(t *testing.T) {
	for name, offsets := range map[string][]int64{
		"below base":     {9, 11},
		"not increasing": {11, 11},
		"backwards":      {12, 11},
		"too far":        {10, 10 + 1<<31},
	} {
		recs := make([]Record, len(offsets))
		for i, o := range offsets {
			recs[i].Offset = o
		}
		_, err := Encode(recs, EncodeOptions{ProducerID: -1, BaseOffset: 10, KeepOffsets: true})
		if !errors.Is(err, ErrBadOffsets) {
			t.Fatalf("%s: err %v", name, err)
		}
	}
}
