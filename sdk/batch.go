package sdk

import "github.com/sluicemq/sluice/wasm/abi"

// The per-record path. Go compiled to WebAssembly pays for every call and
// every taken branch (a jump through the function's dispatch table), so
// the SDK reads each record straight from the input into the Record it
// hands the plugin (no decode pass into an intermediate array first) and
// writes each answer entry with one capacity check and direct stores.

// recordFixed is an encoded record's size without its key, value and
// headers' bytes: body length, timestamp, offset, key and value lengths,
// header count.
const recordFixed = 4 + 8 + 8 + 4 + 4 + 4

// batchReader walks the records of one batch.
type batchReader struct {
	buf  []byte
	off  int
	left int // records not read yet
}

var records batchReader

// begin reads in's header into current and readies the record walk; it
// returns the record count.
func (b *batchReader) begin(in []byte) (int, error) {
	reader.Reset(in)
	n := reader.InputHeader(&current)
	if err := reader.Err(); err != nil {
		return 0, err
	}
	*b = batchReader{buf: in, off: len(in) - reader.Remaining(), left: n}
	return n, nil
}

// next reads the next record into r (its slices alias the input; its
// headers live in space reused for the next record) and reports whether
// it was well formed.
func (b *batchReader) next(r *Record) bool {
	buf, off := b.buf, b.off
	if b.left <= 0 || len(buf)-off < recordFixed {
		return false
	}
	body := int(load32(buf, off))
	if body < recordFixed-4 || body > len(buf)-off-4 {
		return false
	}
	rec := buf[off+4 : off+4+body : off+4+body]
	b.off = off + 4 + body
	b.left--
	r.Timestamp = int64(load64(rec, 0))
	r.Offset = int64(load64(rec, 8))
	p := 16
	n := int32(load32(rec, p))
	p += 4
	r.Key = nil
	if n != -1 {
		if n < 0 || int(n) > len(rec)-p-8 {
			return false
		}
		r.Key = rec[p : p+int(n) : p+int(n)]
		p += int(n)
	}
	n = int32(load32(rec, p))
	p += 4
	r.Value = nil
	if n != -1 {
		if n < 0 || int(n) > len(rec)-p-4 {
			return false
		}
		r.Value = rec[p : p+int(n) : p+int(n)]
		p += int(n)
	}
	nh := int(load32(rec, p))
	p += 4
	r.Headers = nil
	if nh == 0 {
		return p == len(rec)
	}
	return readHeaders(r, rec, p, nh)
}

// readHeaders reads a record's nh headers from rec[p:] into the reused
// header space.
func readHeaders(r *Record, rec []byte, p, nh int) bool {
	if nh > (len(rec)-p)/8 {
		return false
	}
	headers = headers[:0]
	for i := 0; i < nh; i++ {
		if len(rec)-p < 8 {
			return false
		}
		kl := int(load32(rec, p))
		p += 4
		if kl < 0 || kl > len(rec)-p-4 {
			return false
		}
		key := headerKey(rec[p : p+kl])
		p += kl
		vl := int32(load32(rec, p))
		p += 4
		var v []byte
		if vl != -1 {
			if vl < 0 || int(vl) > len(rec)-p {
				return false
			}
			v = rec[p : p+int(vl) : p+int(vl)]
			p += int(vl)
		}
		headers = append(headers, Header{Key: key, Value: v})
	}
	r.Headers = headers[:nh:nh]
	return p == len(rec)
}

// headerKeys remembers recent header names: records of a topic carry the
// same few, and a string per header per record would be garbage for the
// guest's collector to catch up with (see gc.go).
var (
	headerKeys    [16]string
	nextHeaderKey int
)

func headerKey(b []byte) string {
	for i := range headerKeys {
		if headerKeys[i] == string(b) { // compared without allocating
			return headerKeys[i]
		}
	}
	s := string(b)
	headerKeys[nextHeaderKey] = s
	nextHeaderKey = (nextHeaderKey + 1) % len(headerKeys)
	return s
}

// grow returns b with room for n more bytes (len unchanged).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	c := make([]byte, len(b), max(2*cap(b), len(b)+n, 4096))
	copy(c, b)
	return c
}

// appendEntry appends a tag byte and a u32 (an answer's keep entry).
func appendEntry(b []byte, tag byte, v uint32) []byte {
	b = grow(b, 5)
	n := len(b)
	b = b[:n+5]
	b[n] = tag
	store32(b, n+1, v)
	return b
}

// appendRecord appends r in the record layout, one capacity check and
// direct stores for all but the key's and value's bytes.
func appendRecord(b []byte, r *Record) []byte {
	if len(r.Headers) > 0 {
		return appendRecordHeaders(b, r)
	}
	size := recordFixed + len(r.Key) + len(r.Value)
	b = grow(b, size)
	n := len(b)
	b = b[:n+size]
	store32(b, n, uint32(size-4))
	store64(b, n+4, uint64(r.Timestamp))
	store64(b, n+12, uint64(r.Offset))
	p := n + 20
	p = putNullable(b, p, r.Key)
	p = putNullable(b, p, r.Value)
	store32(b, p, 0)
	return b
}

// putNullable stores v as nullable bytes at b[p:] (room made by the
// caller) and returns the offset after it.
func putNullable(b []byte, p int, v []byte) int {
	if v == nil {
		store32(b, p, 0xFFFFFFFF)
		return p + 4
	}
	store32(b, p, uint32(len(v)))
	return p + 4 + copy(b[p+4:], v)
}

func appendRecordHeaders(b []byte, r *Record) []byte {
	b, start := abi.BeginRecord(b, r.Timestamp, r.Offset, r.Key, r.Value, len(r.Headers))
	for _, h := range r.Headers {
		b = abi.AppendHeader(b, h.Key, h.Value)
	}
	return abi.FinishRecord(b, start)
}
