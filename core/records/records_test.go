package records

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEncodeDecodeEveryCodec(t *testing.T) {
	for _, c := range []Codec{None, Gzip, Snappy, LZ4, Zstd} {
		in := []Record{
			{Timestamp: 1000, Key: []byte("k1"), Value: []byte("v1"), Headers: []Header{{Key: "h", Value: []byte("x")}}},
			{Timestamp: 1005, Key: nil, Value: []byte("v2")},
			{Timestamp: 999, Key: []byte("k3"), Value: nil},
		}
		o := Plain
		o.Codec = c
		b, err := Encode(in, o)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Decode(b)
		if err != nil {
			t.Fatalf("codec %d: %v", c, err)
		}
		if out.Codec != c || len(out.Records) != 3 {
			t.Fatalf("codec %d: got codec %d, %d records", c, out.Codec, len(out.Records))
		}
		for i, r := range out.Records {
			if r.Offset != int64(i) || r.Timestamp != in[i].Timestamp || !bytes.Equal(r.Key, in[i].Key) || !bytes.Equal(r.Value, in[i].Value) {
				t.Fatalf("codec %d record %d: got %+v want %+v", c, i, r, in[i])
			}
			if (r.Key == nil) != (in[i].Key == nil) || (r.Value == nil) != (in[i].Value == nil) {
				t.Fatalf("codec %d record %d: nil-ness changed", c, i)
			}
		}
		if len(out.Records[0].Headers) != 1 || out.Records[0].Headers[0].Key != "h" {
			t.Fatalf("headers lost: %+v", out.Records[0].Headers)
		}
	}
}

func TestEncodeSpanKeepsOffsets(t *testing.T) {
	b, err := EncodeSpan(100, 9, []Record{{Offset: 103, Value: []byte("a")}, {Offset: 107, Value: []byte("b")}}, Plain)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.BaseOffset != 100 || len(out.Records) != 2 || out.Records[0].Offset != 103 || out.Records[1].Offset != 107 {
		t.Fatalf("got %+v", out)
	}
	empty, err := EncodeSpan(200, 4, nil, Plain)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := Decode(empty); err != nil || len(out.Records) != 0 || out.BaseOffset != 200 {
		t.Fatalf("empty span: %+v %v", out, err)
	}
}

// TestMurmur2MatchesJavaClient checks our key hash against kgo's
// Kafka-compatible partitioner for many keys.
func TestMurmur2MatchesJavaClient(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := 0; i < 2000; i++ {
		key := []byte{byte(i), byte(i >> 8), 'k', byte(i * 7)}[:1+i%4]
		want := p.Partition(&kgo.Record{Key: key}, 12)
		if got := KeyPartition(key, 12); int(got) != want {
			t.Fatalf("key %x: got %d want %d", key, got, want)
		}
	}
}
