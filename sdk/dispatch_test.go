package sdk

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/sluicemq/sluice/wasm/abi"
)

// The SDK's dispatch runs natively too; these tests drive it with encoded
// batches and check the exact answers.

func batch(meta abi.Meta, recs ...abi.Record) []byte {
	b := abi.AppendInputHeader(nil, &meta, len(recs))
	for i := range recs {
		b = abi.AppendABIRecord(b, &recs[i])
	}
	return b
}

func TestPartitionAnswer(t *testing.T) {
	Partitioner(func(r Record, n int) int { return len(r.Key) % n })
	out := handlePartition(batch(abi.Meta{Partition: -1, NumPartitions: 3, Topic: "t"},
		abi.Record{Key: []byte("ab"), Offset: -1}, abi.Record{Key: []byte("abcd"), Offset: -1}))
	want := []byte{0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %v, want %v", out, want)
	}
}

func TestTransformAnswer(t *testing.T) {
	Transform(func(r Record, w Writer) error {
		switch string(r.Key) {
		case "keep":
			w.Keep()
		case "rewrite":
			r.Value = []byte("new")
			w.Write(r)
		case "emit":
			w.Emit("dlq", r)
		case "refuse":
			return Policy("no %s", Topic())
		}
		return nil
	})
	in := []abi.Record{
		{Key: []byte("keep"), Value: []byte("v"), Offset: -1},
		{Key: []byte("rewrite"), Value: []byte("old"), Timestamp: 9, Offset: -1, Headers: []abi.Header{{Key: []byte("h"), Value: nil}}},
		{Key: []byte("emit"), Value: nil, Offset: -1},
		{Key: []byte("drop"), Offset: -1},
	}
	out := handleTransform(batch(abi.Meta{Partition: 0, Topic: "orders"}, in...))
	want := []byte{0, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, abi.TagKeep, 0, 0, 0, 0, abi.TagRecord}
	rewritten := in[1]
	rewritten.Value = []byte("new")
	want = abi.AppendABIRecord(want, &rewritten)
	want = append(want, 1, 0, 0, 0)
	want = abi.AppendString(want, "dlq")
	want = abi.AppendABIRecord(want, &in[2])
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got  %v\nwant %v", out, want)
	}

	out = handleTransform(batch(abi.Meta{Topic: "orders"}, abi.Record{Key: []byte("refuse"), Offset: -1}))
	want = abi.AppendString([]byte{abi.StatusPolicy, 0, 0, 0}, "record 0: no orders")
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("refusal: got %q, want %q", out, want)
	}
}

func TestFilterAnswer(t *testing.T) {
	FilterMap(func(r Record, rd Reader) (Record, bool) {
		if string(r.Key) == rd.ClientID {
			return r, true
		}
		if string(r.Key) == "mask" {
			r.Value = []byte("***")
			return r, true
		}
		return r, false
	})
	in := []abi.Record{
		{Key: []byte("other"), Value: []byte("x"), Offset: 7},
		{Key: []byte("mask"), Value: []byte("secret"), Offset: 8},
	}
	out := handleFilter(batch(abi.Meta{Topic: "t", ClientID: "me"}, in...))
	masked := in[1]
	masked.Value = []byte("***")
	want := abi.AppendABIRecord([]byte{0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, abi.TagReplace, 1, 0, 0, 0}, &masked)
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %v, want %v", out, want)
	}
}

func TestMalformedInputIsRefused(t *testing.T) {
	Partitioner(func(Record, int) int { return 0 })
	out := handlePartition([]byte{1, 0, 0})
	want := abi.AppendString([]byte{abi.StatusRejected, 0, 0, 0}, "sdk: abi: malformed batch")
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %q", out)
	}
}

// keepAllAnswer is the transform answer that keeps n input records.
func keepAllAnswer(n int) []byte {
	out := []byte{0, 0, 0, 0}
	out = le32(out, uint32(n))
	out = le32(out, uint32(n))
	for i := 0; i < n; i++ {
		out = le32(append(out, abi.TagKeep), uint32(i))
	}
	return le32(out, 0)
}

func lines(n int) []abi.Record {
	recs := make([]abi.Record, n)
	for i := range recs {
		recs[i] = abi.Record{Value: []byte("a log line"), Offset: -1}
	}
	return recs
}

// Regression: a batch of more than 1024 records after one over four times
// larger was decoded as zero records (the oversized decode space was
// dropped before it was returned), and the answer "kept nothing" made the
// broker acknowledge a batch it never stored.
func TestTransformAfterMuchLargerBatch(t *testing.T) {
	Transform(func(r Record, w Writer) error { w.Keep(); return nil })
	for _, n := range []int{20000, 1100, 5000, 1025, 3, 20000, 4000} {
		in := batch(abi.Meta{Topic: "logs"}, lines(n)...)
		if out := handleTransform(allocAndCopy(in)); !bytes.Equal(out, keepAllAnswer(n)) {
			t.Fatalf("batch of %d: answer of %d bytes, want %d bytes keeping every record", n, len(out), len(keepAllAnswer(n)))
		}
	}
}

// allocAndCopy places in where the host would: in the buffer sluice_alloc
// hands out.
func allocAndCopy(in []byte) []byte {
	buf := allocInput(len(in))
	copy(buf, in)
	return buf
}

func TestBuffersAreReusedAndBounded(t *testing.T) {
	Transform(func(r Record, w Writer) error { w.Write(r); return nil })
	big := batch(abi.Meta{Topic: "logs"}, lines(200_000)...) // ~7 MiB
	small := batch(abi.Meta{Topic: "logs"}, lines(1000)...)
	handleTransform(allocAndCopy(big))
	handleTransform(allocAndCopy(small))
	if cap(inBuf) > keepBufferBytes || cap(outBuf) > keepBufferBytes {
		t.Fatalf("after a small batch the SDK still holds %d input bytes, %d output bytes", cap(inBuf), cap(outBuf))
	}
	in, out := &inBuf[:1][0], &outBuf[:1][0]
	for range 10 {
		handleTransform(allocAndCopy(small))
	}
	if &inBuf[:1][0] != in || &outBuf[:1][0] != out {
		t.Fatal("same-size batches reallocated the SDK's buffers")
	}
}

func TestOtherABIVersionIsRefused(t *testing.T) {
	Transform(func(r Record, w Writer) error { w.Keep(); return nil })
	in := batch(abi.Meta{Topic: "logs"}, lines(1)...)
	in[0] = 1 // an ABI version 1 host
	want := abi.AppendString([]byte{abi.StatusRejected, 0, 0, 0}, "sdk: "+abi.ErrVersion.Error())
	if out := handleTransform(in); !bytes.Equal(out, want) {
		t.Fatalf("got %q, want %q", out, want)
	}
}
