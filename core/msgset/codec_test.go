package msgset

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestXXH32(t *testing.T) {
	// Reference values from the xxHash test suite (seed 0).
	long := []byte("Nobody inspects the spammish repetition")
	for _, tt := range []struct {
		in   []byte
		want uint32
	}{
		{nil, 0x02cc5d05},
		{[]byte("a"), 0x550d7456},
		{[]byte("abc"), 0x32d153ff},
		{long, 0xe2293b2f},
	} {
		if got := xxh32(tt.in); got != tt.want {
			t.Errorf("xxh32(%q) = %#08x, want %#08x", tt.in, got, tt.want)
		}
	}
}

// TestLZ4HeaderChecksum: our correct checksum is the one pierrec/lz4 writes
// (via franz-go's compressor), and the fix-up makes a broken frame
// decodable by a strict reader while leaving the input untouched.
func TestLZ4HeaderChecksum(t *testing.T) {
	data := bytes.Repeat([]byte("lz4 header checksum "), 100)
	frame := kgoCompress(t, codecLZ4, data)
	n, ok := lz4DescriptorLen(frame)
	if !ok {
		t.Fatalf("franz-go lz4 output is not a frame: % x", frame[:8])
	}
	if want := lz4HeaderChecksum(frame[4 : 4+n]); frame[4+n] != want {
		t.Fatalf("pierrec wrote header checksum %#x, we compute %#x", frame[4+n], want)
	}
	broken := clone(frame)
	breakLZ4HeaderChecksum(broken)
	if _, err := kgo.DefaultDecompressor().Decompress(broken, kgo.CodecLz4); err == nil {
		t.Fatal("a strict reader accepted the broken checksum; the test proves nothing")
	}
	before := clone(broken)
	got, err := unlz4(broken, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unlz4 magic 0: %d bytes, err %v", len(got), err)
	}
	if !bytes.Equal(broken, before) {
		t.Fatal("unlz4 modified its input")
	}
	if _, err := unlz4(broken, 1); err == nil {
		t.Fatal("unlz4 magic 1 accepted a broken header checksum")
	}
}

// TestCodecsInteroperate: what we compress, franz-go decompresses, and the
// other way round, including empty input and multi-block sizes.
func TestCodecsInteroperate(t *testing.T) {
	dec := kgo.DefaultDecompressor()
	sizes := []int{0, 1, 1000, 3*xerialBlockSize + 17, 200 << 10}
	for _, c := range []codec{codecGzip, codecSnappy, codecLZ4} {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%v/%d", c, size), func(t *testing.T) {
				data := make([]byte, size)
				for i := range data {
					data[i] = byte(i*7 + i/300)
				}
				ours, err := compress(c, data, 1)
				if err != nil {
					t.Fatalf("compress: %v", err)
				}
				got, err := dec.Decompress(ours, kgo.CompressionCodecType(c))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("franz-go decompressing ours: %d bytes, err %v", len(got), err)
				}
				got, err = decompress(c, kgoCompress(t, c, data), 1)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("decompressing franz-go's: %d bytes, err %v", len(got), err)
				}
			})
		}
	}
}

func TestXerialFraming(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000) // 100 KB: four blocks
	framed := xerialEncode(data)
	if !bytes.HasPrefix(framed, append(clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1)) {
		t.Fatalf("header % x", framed[:16])
	}
	got, err := unsnappy(framed)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unsnappy: %d bytes, err %v", len(got), err)
	}
	for _, bad := range [][]byte{
		framed[:len(framed)-1],                    // block cut short
		append(clone(framed), 0, 0),               // partial block length
		append(clone(framed[:16]), 0, 0, 0, 9, 1), // block longer than the data
	} {
		if _, err := unsnappy(bad); err == nil {
			t.Errorf("unsnappy accepted malformed framing of %d bytes", len(bad))
		}
	}
}
