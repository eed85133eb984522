package msgset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const testNow = 1_800_000_000_000

func TestToBatchEveryCodecAndMagic(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, c := range allCodecs {
			t.Run(fmt.Sprintf("magic%d/%v", magic, c), func(t *testing.T) {
				msgs := sampleMessages()
				batch, err := ToBatch(legacySet(t, magic, c, msgs), testNow)
				if err != nil {
					t.Fatalf("ToBatch: %v", err)
				}
				h := batchHeader(t, batch)
				wantFirst, wantMax := int64(noTimestamp), int64(noTimestamp)
				if magic == 1 {
					wantFirst, wantMax = msgs[0].ts, maxTS(msgs)
				}
				want := kmsg.RecordBatch{
					FirstOffset: 0, Length: int32(len(batch) - 12), PartitionLeaderEpoch: -1, Magic: 2,
					CRC: h.CRC, Attributes: int16(c), LastOffsetDelta: int32(len(msgs) - 1),
					FirstTimestamp: wantFirst, MaxTimestamp: wantMax,
					ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(msgs)),
				}
				h.Records = nil
				if !reflect.DeepEqual(h, want) {
					t.Fatalf("batch header\n got %+v\nwant %+v", h, want)
				}
				if magic == 0 {
					for i := range msgs {
						msgs[i].ts = noTimestamp // magic 0 up-converts to "no timestamp"
					}
				}
				checkRecords(t, fetchRecords(t, batch), msgs, 0, true)
			})
		}
	}
}

// batchHeader parses a batch with kmsg and checks its CRC-32C.
func batchHeader(t *testing.T, batch []byte) kmsg.RecordBatch {
	t.Helper()
	var b kmsg.RecordBatch
	if err := b.ReadFrom(batch); err != nil {
		t.Fatalf("RecordBatch.ReadFrom: %v", err)
	}
	if crc := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(b.CRC) != crc {
		t.Fatalf("batch CRC %#x, computed %#x", uint32(b.CRC), crc)
	}
	return b
}

// TestToBatchXerialSnappy: the Java client's xerial-framed snappy, several
// blocks long, is accepted like raw snappy.
func TestToBatchXerialSnappy(t *testing.T) {
	msgs := make([]testMessage, 40)
	for i := range msgs {
		msgs[i] = testMessage{key: fmt.Appendf(nil, "key-%d", i), value: make([]byte, 2000), ts: int64(1000 + i)}
		msgs[i].value[0] = byte(i)
	}
	var inner []byte
	for i, m := range msgs {
		inner = append(inner, legacyEntry(1, int64(i), 0, m.ts, m.key, m.value)...)
	}
	framed := xerialEncode(inner)
	if len(inner) <= xerialBlockSize {
		t.Fatalf("inner set of %d bytes does not span several xerial blocks", len(inner))
	}
	set := legacyEntry(1, int64(len(msgs)-1), int8(codecSnappy), maxTS(msgs), nil, framed)
	batch, err := ToBatch(set, testNow)
	if err != nil {
		t.Fatalf("ToBatch: %v", err)
	}
	if h := batchHeader(t, batch); h.Attributes != int16(codecSnappy) {
		t.Fatalf("attributes %#x, want snappy", h.Attributes)
	}
	checkRecords(t, fetchRecords(t, batch), msgs, 0, true)
}

// TestToBatchSeveralWrappers: messages of all wrappers and loose messages
// end up in one batch, in order, compressed with the last wrapper's codec.
func TestToBatchSeveralWrappers(t *testing.T) {
	msgs := sampleMessages()
	set := legacySet(t, 1, codecGzip, msgs[:2])
	set = append(set, legacyEntry(1, 0, 0, msgs[2].ts, msgs[2].key, msgs[2].value)...)
	set = append(set, legacySet(t, 1, codecLZ4, msgs[3:])...)
	batch, err := ToBatch(set, testNow)
	if err != nil {
		t.Fatalf("ToBatch: %v", err)
	}
	h := batchHeader(t, batch)
	if h.Attributes != int16(codecLZ4) || h.NumRecords != 5 || h.LastOffsetDelta != 4 {
		t.Fatalf("attributes %#x, %d records, last delta %d; want lz4, 5, 4", h.Attributes, h.NumRecords, h.LastOffsetDelta)
	}
	checkRecords(t, fetchRecords(t, batch), msgs, 0, true)
}

// TestToBatchIgnoresClientOffsets: whatever offsets the producer wrote
// (Kafka clients write 0s or garbage), the batch counts 0..n-1.
func TestToBatchIgnoresClientOffsets(t *testing.T) {
	var set []byte
	for i, off := range []int64{77, -5, 77} {
		set = append(set, legacyEntry(0, off, 0, 0, nil, fmt.Appendf(nil, "v%d", i))...)
	}
	batch, err := ToBatch(set, testNow)
	if err != nil {
		t.Fatalf("ToBatch: %v", err)
	}
	want := []testMessage{{value: []byte("v0")}, {value: []byte("v1")}, {value: []byte("v2")}}
	checkRecords(t, fetchRecords(t, batch), want, 0, false)
}

func TestToBatchLogAppendTime(t *testing.T) {
	msgs := sampleMessages()
	for _, c := range []codec{codecNone, codecGzip} {
		t.Run(c.String(), func(t *testing.T) {
			var set []byte
			if c == codecNone {
				for i, m := range msgs {
					set = append(set, legacyEntry(1, int64(i), legacyAttrLogAppendTime, m.ts, m.key, m.value)...)
				}
			} else {
				var inner []byte
				for i, m := range msgs {
					inner = append(inner, legacyEntry(1, int64(i), 0, m.ts, m.key, m.value)...)
				}
				set = legacyEntry(1, 4, legacyAttrLogAppendTime|int8(c), 5, nil, kgoCompress(t, c, inner))
			}
			batch, err := ToBatch(set, testNow)
			if err != nil {
				t.Fatalf("ToBatch: %v", err)
			}
			h := batchHeader(t, batch)
			if h.Attributes != batchAttrLogAppendTime|int16(c) || h.FirstTimestamp != testNow || h.MaxTimestamp != testNow {
				t.Fatalf("attributes %#x first %d max %d; want LogAppendTime|%v at %d", h.Attributes, h.FirstTimestamp, h.MaxTimestamp, c, int64(testNow))
			}
			for i := range msgs {
				msgs[i].ts = testNow
			}
			checkRecords(t, fetchRecords(t, batch), msgs, 0, true)
		})
	}
}

// TestToBatchLZ4HeaderChecksum: magic 0 lz4 frames from 0.8/0.9 clients carry
// the wrong header checksum (KAFKA-3160) and are accepted; magic 1 must be
// right.
func TestToBatchLZ4HeaderChecksum(t *testing.T) {
	msgs := sampleMessages()
	for _, magic := range []int8{0, 1} {
		var inner []byte
		for i, m := range msgs {
			inner = append(inner, legacyEntry(magic, int64(i), 0, m.ts, m.key, m.value)...)
		}
		frame := kgoCompress(t, codecLZ4, inner)
		correct := frame[6]
		breakLZ4HeaderChecksum(frame)
		if frame[6] == correct {
			t.Fatalf("broken checksum %#x equals the correct one; pick other data", correct)
		}
		set := legacyEntry(magic, 4, int8(codecLZ4), 0, nil, frame)
		batch, err := ToBatch(set, testNow)
		if magic == 1 {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("magic 1 with a broken lz4 checksum: err %v, want ErrCorrupt", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("magic 0 with a broken lz4 checksum: %v", err)
		}
		for i := range msgs {
			msgs[i].ts = noTimestamp
		}
		checkRecords(t, fetchRecords(t, batch), msgs, 0, true)
	}
}

func TestToBatchRejects(t *testing.T) {
	good := legacyEntry(1, 0, 0, 10, []byte("k"), []byte("v"))
	goodV0 := legacyEntry(0, 0, 0, 0, []byte("k"), []byte("v"))
	withCRC := func(entry []byte) []byte {
		binary.BigEndian.PutUint32(entry[12:], crc32.ChecksumIEEE(entry[16:]))
		return entry
	}
	gzipped := func(inner []byte) []byte { return kgoCompress(t, codecGzip, inner) }

	tests := []struct {
		name    string
		set     []byte
		want    error
		wantPos int
	}{
		{"empty set", nil, ErrEmpty, -1},
		{"bad CRC", func() []byte { b := clone(good); b[len(b)-1] ^= 1; return b }(), ErrCorrupt, 0},
		{"bad CRC in second message", append(clone(goodV0), func() []byte { b := clone(good); b[14] ^= 0xff; return b }()...), ErrCorrupt, len(goodV0)},
		{"truncated message", good[:len(good)-1], ErrCorrupt, 0},
		{"truncated header", append(clone(good), 0, 0, 0), ErrCorrupt, len(good)},
		{"size below minimum", func() []byte { b := clone(good[:12+13]); binary.BigEndian.PutUint32(b[8:], 13); return b }(), ErrCorrupt, 0},
		{"magic 2", withCRC(func() []byte { b := clone(good); b[16] = 2; return b }()), ErrCorrupt, 0},
		{"magic -1", withCRC(func() []byte { b := clone(good); b[16] = 0xff; return b }()), ErrCorrupt, 0},
		{"key length overruns", withCRC(func() []byte { b := clone(good); binary.BigEndian.PutUint32(b[26:], 100); return b }()), ErrCorrupt, 0},
		{"key length below -1", withCRC(func() []byte {
			b := legacyEntry(1, 0, 0, 10, nil, []byte("v"))
			binary.BigEndian.PutUint32(b[26:], 0xfffffffb) // -5
			return b
		}()), ErrCorrupt, 0},
		{"trailing bytes in message", withCRC(func() []byte {
			b := append(clone(good), 0xAA)
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
			return b
		}()), ErrCorrupt, 0},
		{"nested wrapper", legacyEntry(1, 0, int8(codecGzip), 0, nil, gzipped(legacyEntry(1, 0, int8(codecGzip), 0, nil, gzipped(good)))), ErrCorrupt, 0},
		{"magic 0 inside magic 1 wrapper", legacyEntry(1, 0, int8(codecGzip), 0, nil, gzipped(goodV0)), ErrCorrupt, 0},
		{"bad CRC inside wrapper", append(clone(good), legacyEntry(1, 0, int8(codecGzip), 0, nil, gzipped(func() []byte { b := clone(good); b[20] ^= 1; return b }()))...), ErrCorrupt, len(good)},
		{"wrapper without value", legacyEntry(0, 0, int8(codecSnappy), 0, nil, nil), ErrCorrupt, 0},
		{"wrapper with empty inner set", legacyEntry(0, 0, int8(codecGzip), 0, nil, gzipped(nil)), ErrCorrupt, 0},
		{"undecodable gzip", legacyEntry(1, 0, int8(codecGzip), 0, nil, []byte("not gzip at all")), ErrCorrupt, 0},
		{"undecodable snappy", legacyEntry(1, 0, int8(codecSnappy), 0, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2}), ErrCorrupt, 0},
		{"undecodable lz4", legacyEntry(1, 0, int8(codecLZ4), 0, nil, []byte{4, 0x22, 0x4d, 0x18, 1, 2, 3}), ErrCorrupt, 0},
		{"unknown codec 5", legacyEntry(1, 0, 5, 0, nil, []byte("x")), ErrCorrupt, 0},
		{"zstd", legacyEntry(1, 0, int8(codecZstd), 0, nil, kgoCompress(t, codecZstd, good)), ErrUnsupportedCodec, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch, err := ToBatch(tt.set, testNow)
			if !errors.Is(err, tt.want) || batch != nil {
				t.Fatalf("ToBatch: batch of %d bytes, err %v; want %v", len(batch), err, tt.want)
			}
			if tt.wantPos < 0 {
				return
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Pos != tt.wantPos {
				t.Fatalf("err %#v, want *CorruptError at byte %d", err, tt.wantPos)
			}
		})
	}
}

// TestToBatchDecompressionBound: a small message that inflates past the
// bound is refused rather than allocated.
func TestToBatchDecompressionBound(t *testing.T) {
	// A raw snappy block starts with the uvarint decoded length; claim
	// one byte more than the bound.
	snappyBomb := binary.AppendUvarint(nil, maxDecompressedBytes+1)
	snappyBomb = append(snappyBomb, 0, 'x')
	gzipBomb := kgoCompress(t, codecGzip, make([]byte, maxDecompressedBytes+1))
	for name, set := range map[string][]byte{
		"snappy": legacyEntry(1, 0, int8(codecSnappy), 0, nil, snappyBomb),
		"gzip":   legacyEntry(1, 0, int8(codecGzip), 0, nil, gzipBomb),
	} {
		_, err := ToBatch(set, testNow)
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errTooLarge) {
			t.Errorf("%s bomb: err %v, want ErrCorrupt wrapping errTooLarge", name, err)
		}
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// TestToBatchBudgetPerRequest: the budget covers all wrappers of a set
// (and all sets sharing it), not each wrapper: four gzip wrappers that
// each inflate to a quarter of the budget plus a little are refused.
func TestToBatchBudgetPerRequest(t *testing.T) {
	const budget = 4 << 20
	inner := legacyEntry(1, 0, 0, testNow, nil, make([]byte, budget/4+1))
	wrapper := legacyEntry(1, 0, int8(codecGzip), testNow, nil, kgoCompress(t, codecGzip, inner))
	var set []byte
	for range 4 {
		set = append(set, wrapper...)
	}
	if _, err := ToBatchWithin(set, testNow, NewBudget(budget)); !errors.Is(err, ErrCorrupt) || !errors.Is(err, errTooLarge) {
		t.Fatalf("four wrappers past the budget: err %v, want ErrCorrupt wrapping errTooLarge", err)
	}
	// Three fit; a second call sharing the budget then has too little.
	b := NewBudget(budget)
	if _, err := ToBatchWithin(set[:3*len(wrapper)], testNow, b); err != nil {
		t.Fatalf("three wrappers: %v", err)
	}
	if _, err := ToBatchWithin(wrapper, testNow, b); !errors.Is(err, errTooLarge) {
		t.Fatalf("second set sharing the budget: err %v, want errTooLarge", err)
	}
}
