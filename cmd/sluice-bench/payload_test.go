package main

import (
	"bytes"
	"testing"
)

func TestPayloadValuesAreDeterministicDistinctAndSized(t *testing.T) {
	a, b := newPayloadSource(100), newPayloadSource(100)
	for seq := int64(0); seq < 1000; seq++ {
		if len(a.value(seq)) != 100 || cap(a.value(seq)) != 100 {
			t.Fatalf("value %d has len %d cap %d", seq, len(a.value(seq)), cap(a.value(seq)))
		}
		if !bytes.Equal(a.value(seq), b.value(seq)) {
			t.Fatalf("value %d differs between two sources with the same seed", seq)
		}
	}
	if bytes.Equal(a.value(0), a.value(1)) {
		t.Fatal("consecutive records share a value")
	}
	// The window wraps inside the pool instead of running off its end.
	last := a.value(payloadPoolBytes/payloadStride + 1)
	if len(last) != 100 {
		t.Fatalf("wrapped value has len %d", len(last))
	}
}

func TestPayloadChecksumsMatchValues(t *testing.T) {
	p := newPayloadSource(1024)
	for _, seq := range []int64{0, 1, distinctPayloads - 1, distinctPayloads, 3*distinctPayloads + 7, 511_999} {
		if got, want := p.checksum(seq), valueChecksum(p.value(seq)); got != want {
			t.Fatalf("checksum(%d) = %#x, want %#x", seq, got, want)
		}
	}
	if !bytes.Equal(p.value(5), p.value(5+distinctPayloads)) {
		t.Fatal("values do not cycle every distinctPayloads records")
	}
}
