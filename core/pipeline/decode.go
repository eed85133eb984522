package pipeline

import (
	"encoding/binary"
	"errors"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// errBadRecord: a record of a batch does not parse.
var errBadRecord = errors.New("pipeline: malformed record")

// decodeForHooks decodes one v2 batch (header h already parsed) straight
// into the records a plugin sees, without records.Decode's intermediate
// records: keys, values and header values alias the batch (or its
// decompressed copy), every record's headers share one array, and header
// keys are interned per batch (records of one producer repeat the same
// few). It allocates a handful of times per batch instead of a few times
// per record. Offsets are absolute; timestamps are the append time on
// LogAppendTime batches. Nothing is sized from a count in the batch
// beyond what its bytes can hold; data inflates to at most budget bytes.
func decodeForHooks(raw []byte, h storage.BatchHeader, budget int) ([]hooks.Record, error) {
	return decodeForHooksInto(nil, raw, h, budget)
}

// decodeForHooksInto is decodeForHooks decompressing into scratch (when
// the batch is compressed; its capacity is reused): the records then
// alias scratch, which the caller must not reuse while it holds them.
func decodeForHooksInto(scratch *[]byte, raw []byte, h storage.BatchHeader, budget int) ([]hooks.Record, error) {
	if len(raw) < storage.BatchHeaderLen || h.NumRecords < 0 {
		return nil, errBadRecord
	}
	data := raw[storage.BatchHeaderLen:]
	if c := records.Codec(h.Attributes & 0x07); c != records.None {
		var dst []byte
		if scratch != nil {
			dst = (*scratch)[:0]
		}
		var err error
		if data, err = records.Decompress(dst, c, data, budget); err != nil {
			return nil, err
		}
		if scratch != nil {
			*scratch = data
		}
	}
	logAppend := h.Attributes&0x08 != 0
	// A record takes at least 7 bytes (length and body).
	out := make([]hooks.Record, 0, min(int(h.NumRecords), len(data)/7))
	var hs []hooks.Header
	var keys map[string]string
	for i := int32(0); i < h.NumRecords; i++ {
		l, n := records.Varint32(data)
		if n <= 0 || l < 6 || l > int64(len(data)-n) {
			return nil, errBadRecord
		}
		b := data[n+1 : n+int(l)] // after the attributes byte
		data = data[n+int(l):]
		ts, n := binary.Varint(b)
		if n <= 0 {
			return nil, errBadRecord
		}
		b = b[n:]
		off, n := records.Varint32(b)
		if n <= 0 {
			return nil, errBadRecord
		}
		b = b[n:]
		r := hooks.Record{Offset: h.BaseOffset + off, Timestamp: h.FirstTimestamp + ts}
		if logAppend {
			r.Timestamp = h.MaxTimestamp
		}
		var ok bool
		if r.Key, b, ok = nullable(b); !ok {
			return nil, errBadRecord
		}
		if r.Value, b, ok = nullable(b); !ok {
			return nil, errBadRecord
		}
		nh, n := records.Varint32(b)
		if n <= 0 || nh < 0 || nh > int64(len(b)-n)/2 {
			return nil, errBadRecord
		}
		b = b[n:]
		if nh > 0 {
			if hs == nil {
				// Guess: every record has as many headers as this
				// one, but never more than the bytes can hold (a
				// header takes at least 2).
				hs = make([]hooks.Header, 0, min(int(nh)*(int(h.NumRecords)-int(i)), int(nh)+len(data)/2))
				keys = map[string]string{}
			}
			start := len(hs)
			for j := int64(0); j < nh; j++ {
				var k, v []byte
				if k, b, ok = nullable(b); !ok || k == nil {
					return nil, errBadRecord
				}
				if v, b, ok = nullable(b); !ok {
					return nil, errBadRecord
				}
				key, seen := keys[string(k)]
				if !seen {
					key = string(k)
					keys[key] = key
				}
				hs = append(hs, hooks.Header{Key: key, Value: v})
			}
			r.Headers = hs[start:len(hs):len(hs)]
		}
		if len(b) != 0 {
			return nil, errBadRecord
		}
		out = append(out, r)
	}
	return out, nil
}

// nullable reads a varint length (-1: nil) and that many bytes, capped
// so appends to it never write into the batch.
func nullable(b []byte) ([]byte, []byte, bool) {
	l, n := records.Varint32(b)
	if n <= 0 || l < -1 || l > int64(len(b)-n) {
		return nil, nil, false
	}
	if l < 0 {
		return nil, b[n:], true
	}
	return b[n : n+int(l) : n+int(l)], b[n+int(l):], true
}
