// Package abi is the byte layout of Sluice's plugin batch ABI (version 2),
// shared by the host (package wasm) and the Go SDK (package sdk). It has
// no dependencies so it compiles for both the broker and GOOS=wasip1
// plugins. docs/plugin-abi.md is the normative description; this package
// is its Go implementation.
//
// All integers are little-endian. A batch is one Input (header, then
// records) written by the host into guest memory; the plugin answers with
// one Output in its own memory.
package abi

import (
	"encoding/binary"
	"errors"
)

// Version is the ABI version the host writes in every Input header.
//
// Version 2 added the echoed input count at the start of transform and
// filter answers: with version 1 a plugin that lost its input (an SDK
// bug decoded zero records) answered exactly like one that dropped every
// record on purpose, and the broker acknowledged records it never stored.
const Version = 2

// Export and import names a plugin module uses.
const (
	ExportAlloc      = "sluice_alloc"
	ExportPartition  = "sluice_partition"
	ExportTransform  = "sluice_transform"
	ExportFilter     = "sluice_filter"
	ExportInitialize = "_initialize" // WASI reactor initializer, optional
	ImportModule     = "sluice"
	ImportConfigGet  = "config_get"
	// ImportYield is added to every module by the broker at deploy (the
	// deadline checks call it); plugins do not import it themselves.
	ImportYield  = "yield"
	ExportMemory = "memory"
)

// HeaderSize is the fixed part of an Input header (before its strings).
const HeaderSize = 32

// Sizes used to bound declared counts before trusting them.
const (
	recordFixedSize  = 4 + 8 + 8 + 4 + 4 + 4 // body length, timestamp, offset, key/value lengths, header count
	headerEntryFixed = 4 + 4                 // key and value lengths
	nullLen          = -1                    // length of a null key, value or header value
)

// Output status codes (first u32 of an Output).
const (
	StatusOK       = 0 // hook-specific payload follows
	StatusRejected = 1 // INVALID_RECORD; message follows
	StatusPolicy   = 2 // POLICY_VIOLATION; message follows
)

// Output entry tags for transforms and filters.
const (
	TagKeep    = 0 // keep input record #index unchanged
	TagRecord  = 1 // a full record follows (transform: new/rewritten record)
	TagReplace = 1 // filter: input record #index replaced by the record that follows
)

// ErrMalformed is returned when bytes do not follow the layout.
var ErrMalformed = errors.New("abi: malformed batch")

// ErrVersion is returned for an Input of another ABI version: the plugin
// was built with an SDK that does not match the broker.
var ErrVersion = errors.New("abi: unsupported ABI version (rebuild the plugin with the broker's SDK)")

// Header is a record header.
type Header struct {
	Key   []byte
	Value []byte // nil: null value
}

// Record is one record in a batch. Slices alias the decoded buffer.
type Record struct {
	Timestamp int64
	Offset    int64
	Key       []byte // nil: null key
	Value     []byte // nil: null value (tombstone)
	Headers   []Header
}

// Meta is the per-call context in an Input header.
type Meta struct {
	Partition     int32 // -1 for the partitioner
	NumPartitions int32 // partitioner only; 0 otherwise
	Topic         string
	GroupID       string
	ClientID      string
	Principal     string
}

var le = binary.LittleEndian

// AppendInputHeader appends the Input header for a batch of count records.
func AppendInputHeader(b []byte, m *Meta, count int) []byte {
	b = le.AppendUint32(b, Version)
	b = le.AppendUint32(b, uint32(m.Partition))
	b = le.AppendUint32(b, uint32(m.NumPartitions))
	b = le.AppendUint32(b, uint32(count))
	b = le.AppendUint32(b, uint32(len(m.Topic)))
	b = le.AppendUint32(b, uint32(len(m.GroupID)))
	b = le.AppendUint32(b, uint32(len(m.ClientID)))
	b = le.AppendUint32(b, uint32(len(m.Principal)))
	b = append(b, m.Topic...)
	b = append(b, m.GroupID...)
	b = append(b, m.ClientID...)
	return append(b, m.Principal...)
}

// AppendRecord appends one length-prefixed record.
func AppendRecord(b []byte, ts, offset int64, key, value []byte, headers int, header func(i int) (k, v []byte)) []byte {
	b, start := BeginRecord(b, ts, offset, key, value, headers)
	for i := 0; i < headers; i++ {
		k, v := header(i)
		b = le.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = appendBytes(b, v)
	}
	return FinishRecord(b, start)
}

// BeginRecord appends a record up to its header count (the headers,
// appended with AppendHeader, follow) and returns where it starts, for
// FinishRecord. Unlike AppendRecord it takes no callback: the SDK runs it
// once per record written, as Go compiled to WebAssembly, where every
// call counts.
func BeginRecord(b []byte, ts, offset int64, key, value []byte, headers int) ([]byte, int) {
	start := len(b)
	b = le.AppendUint32(b, 0) // body length, patched by FinishRecord
	b = le.AppendUint64(b, uint64(ts))
	b = le.AppendUint64(b, uint64(offset))
	b = appendBytes(b, key)
	b = appendBytes(b, value)
	return le.AppendUint32(b, uint32(headers)), start
}

// AppendHeader appends one header of a record begun with BeginRecord.
func AppendHeader(b []byte, key string, value []byte) []byte {
	b = le.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	return appendBytes(b, value)
}

// FinishRecord sets the length of the record that starts at start.
func FinishRecord(b []byte, start int) []byte {
	le.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// AppendABIRecord appends r (a convenience over AppendRecord).
func AppendABIRecord(b []byte, r *Record) []byte {
	return AppendRecord(b, r.Timestamp, r.Offset, r.Key, r.Value, len(r.Headers), func(i int) ([]byte, []byte) {
		return r.Headers[i].Key, r.Headers[i].Value
	})
}

// AppendString appends a u32-length-prefixed string.
func AppendString(b []byte, s string) []byte {
	b = le.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return le.AppendUint32(b, uint32(0xFFFFFFFF))
	}
	b = le.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// Reader decodes a buffer front to back without copying; every method
// reports ErrMalformed through Err once the buffer runs short.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Reset reuses r for b.
func (r *Reader) Reset(b []byte) { *r = Reader{buf: b} }

// Err is the first decoding error.
func (r *Reader) Err() error { return r.err }

// Remaining is the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

func (r *Reader) fail() {
	if r.err == nil {
		r.err = ErrMalformed
	}
	r.off = len(r.buf)
}

// Uint32 reads a u32.
func (r *Reader) Uint32() uint32 {
	if r.Remaining() < 4 {
		r.fail()
		return 0
	}
	v := u32(r.buf[r.off:])
	r.off += 4
	return v
}

// Uint8 reads a byte.
func (r *Reader) Uint8() uint8 {
	if r.Remaining() < 1 {
		r.fail()
		return 0
	}
	v := r.buf[r.off]
	r.off++
	return v
}

// Int64 reads an i64.
func (r *Reader) Int64() int64 {
	if r.Remaining() < 8 {
		r.fail()
		return 0
	}
	v := u64(r.buf[r.off:])
	r.off += 8
	return int64(v)
}

// Bytes reads n bytes (aliasing the buffer).
func (r *Reader) Bytes(n int) []byte {
	if n < 0 || n > r.Remaining() {
		r.fail()
		return nil
	}
	v := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

// String reads a u32-length-prefixed string.
func (r *Reader) String() string { return string(r.Bytes(int(r.Uint32()))) }

// nullable reads an i32 length (-1 = null) and the bytes.
func (r *Reader) nullable() []byte {
	n := int32(r.Uint32())
	if n == nullLen {
		return nil
	}
	if n < 0 {
		r.fail()
		return nil
	}
	b := r.Bytes(int(n))
	if b == nil && r.err == nil {
		b = []byte{}
	}
	return b
}

// InputHeader reads an Input header; it returns the record count.
func (r *Reader) InputHeader(m *Meta) int {
	if v := r.Uint32(); v != Version && r.err == nil {
		r.fail()
		r.err = ErrVersion
	}
	m.Partition = int32(r.Uint32())
	m.NumPartitions = int32(r.Uint32())
	count := int(r.Uint32())
	lt, lg, lc, lp := r.Uint32(), r.Uint32(), r.Uint32(), r.Uint32()
	m.Topic = string(r.Bytes(int(lt)))
	m.GroupID = string(r.Bytes(int(lg)))
	m.ClientID = string(r.Bytes(int(lc)))
	m.Principal = string(r.Bytes(int(lp)))
	if count > r.Remaining()/recordFixedSize {
		r.fail()
		return 0
	}
	return count
}

// Record reads one length-prefixed record into rec, reusing rec.Headers'
// backing array. It indexes the record's bytes directly rather than
// through the Reader's methods: Go compiled to WebAssembly (the SDK) pays
// for every call and branch, and this runs once per record.
func (r *Reader) Record(rec *Record) {
	body := int(r.Uint32())
	if body < recordFixedSize-4 || body > r.Remaining() {
		r.fail()
		return
	}
	b := r.buf[r.off : r.off+body : r.off+body]
	r.off += body
	rec.Timestamp = int64(u64(b))
	rec.Offset = int64(u64(b[8:]))
	p := 16
	for field := 0; field < 2; field++ { // key, value: nullable bytes
		if len(b)-p < 4 {
			r.fail()
			return
		}
		n := int32(u32(b[p:]))
		p += 4
		var v []byte // nil: null
		if n != nullLen {
			if n < 0 || int(n) > len(b)-p {
				r.fail()
				return
			}
			v = b[p : p+int(n) : p+int(n)] // non-nil even when empty
			p += int(n)
		}
		if field == 0 {
			rec.Key = v
		} else {
			rec.Value = v
		}
	}
	if len(b)-p < 4 {
		r.fail()
		return
	}
	nh := int(u32(b[p:]))
	p += 4
	rec.Headers = rec.Headers[:0]
	if nh == 0 {
		if p != len(b) {
			r.fail()
		}
		return
	}
	if nh > (len(b)-p)/headerEntryFixed {
		r.fail()
		return
	}
	hr := Reader{buf: b, off: p}
	for i := 0; i < nh; i++ {
		k := hr.Bytes(int(hr.Uint32()))
		if k == nil {
			k = []byte{}
		}
		rec.Headers = append(rec.Headers, Header{Key: k, Value: hr.nullable()})
	}
	if hr.err != nil || hr.off != len(b) {
		r.fail()
	}
}
