package pipeline

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchOptions shape a batch encodeBatch builds.
type batchOptions struct {
	codec      records.Codec
	pid        int64 // -1: none
	epoch      int16
	seq        int32
	lastOffset int32 // the batch's last offset delta, at least len(recs)-1
	// deltas are the records' offset deltas, increasing (nil: 0, 1, ...):
	// a transform's output keeps its records at their input's offsets
	// (layout.go).
	deltas []int32
}

// encodeBatch builds a v2 batch of plugin records at offset deltas
// 0, 1, ... with one allocation for uncompressed batches (sized before
// writing), skipping records.Encode's intermediate records. Timestamps
// are kept; a batch may be empty (then it only spans offsets).
func encodeBatch(recs []hooks.Record, o batchOptions) ([]byte, error) {
	first, maxTS := int64(-1), int64(-1)
	for i := range recs {
		ts := recs[i].Timestamp
		if i == 0 {
			first, maxTS = ts, ts
		}
		first, maxTS = min(first, ts), max(maxTS, ts)
	}
	size := 0
	for i := range recs {
		n := bodyLen(&recs[i], recs[i].Timestamp-first, delta(o.deltas, i))
		size += kbin.VarintLen(int32(n)) + n
	}
	codec := o.codec
	if len(recs) == 0 {
		codec = records.None
	}
	var out []byte
	if codec == records.None {
		out = make([]byte, storage.BatchHeaderLen, storage.BatchHeaderLen+size)
		out = appendRecords(out, recs, first, o.deltas)
	} else {
		raw := appendRecords(make([]byte, 0, size), recs, first, o.deltas)
		c, err := kgo.DefaultCompressor(compression(codec))
		if err != nil || c == nil {
			return nil, errBadRecord
		}
		compressed, _ := c.Compress(new(bytes.Buffer), raw)
		out = make([]byte, storage.BatchHeaderLen, storage.BatchHeaderLen+len(compressed))
		out = append(out, compressed...)
	}
	be := binary.BigEndian
	be.PutUint64(out[0:], 0)                   // base offset: the log stamps it
	be.PutUint32(out[8:], uint32(len(out)-12)) // length
	be.PutUint32(out[12:], ^uint32(0))         // partition leader epoch -1
	out[16] = 2                                // magic
	be.PutUint16(out[21:], uint16(codec))      // attributes: codec, CreateTime
	be.PutUint32(out[23:], uint32(max(o.lastOffset, delta(o.deltas, len(recs)-1))))
	be.PutUint64(out[27:], uint64(first))
	be.PutUint64(out[35:], uint64(maxTS))
	be.PutUint64(out[43:], uint64(o.pid))
	be.PutUint16(out[51:], uint16(o.epoch))
	be.PutUint32(out[53:], uint32(o.seq))
	be.PutUint32(out[57:], uint32(len(recs)))
	be.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return out, nil
}

// compression maps a batch codec to franz-go's codec for its compressor.
func compression(c records.Codec) kgo.CompressionCodec {
	switch c {
	case records.Gzip:
		return kgo.GzipCompression()
	case records.Snappy:
		return kgo.SnappyCompression()
	case records.LZ4:
		return kgo.Lz4Compression()
	case records.Zstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// bodyLen is a record's encoded size after its length prefix.
func bodyLen(r *hooks.Record, tsDelta int64, offDelta int32) int {
	n := 1 + kbin.VarlongLen(tsDelta) + kbin.VarintLen(offDelta) + bytesLen(r.Key) + bytesLen(r.Value) + kbin.VarintLen(int32(len(r.Headers)))
	for _, h := range r.Headers {
		n += kbin.VarintLen(int32(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

func bytesLen(b []byte) int {
	if b == nil {
		return kbin.VarintLen(-1)
	}
	return kbin.VarintLen(int32(len(b))) + len(b)
}

// delta is record i's offset delta (-1 for i = -1: an empty batch).
func delta(deltas []int32, i int) int32 {
	if deltas == nil || i < 0 {
		return int32(i)
	}
	return deltas[i]
}

func appendRecords(dst []byte, recs []hooks.Record, first int64, deltas []int32) []byte {
	for i := range recs {
		r := &recs[i]
		d := delta(deltas, i)
		dst = kbin.AppendVarint(dst, int32(bodyLen(r, r.Timestamp-first, d)))
		dst = append(dst, 0) // attributes
		dst = kbin.AppendVarlong(dst, r.Timestamp-first)
		dst = kbin.AppendVarint(dst, d)
		dst = kbin.AppendVarintBytes(dst, r.Key)
		dst = kbin.AppendVarintBytes(dst, r.Value)
		dst = kbin.AppendVarint(dst, int32(len(r.Headers)))
		for _, h := range r.Headers {
			dst = kbin.AppendVarintString(dst, h.Key)
			dst = kbin.AppendVarintBytes(dst, h.Value)
		}
	}
	return dst
}
