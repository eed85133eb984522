package msgset

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// appendDownConverted appends the messages of the one whole v2 batch raw,
// found at pos, in the given magic.
func appendDownConverted(dst []byte, pos int, raw []byte, magic int8, budget *Budget) ([]byte, error) {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil {
		return nil, corrupt(pos, "truncated batch header")
	}
	switch {
	case b.Magic != batchMagic:
		return nil, corruptf(pos, "batch magic %d, want %d", b.Magic, batchMagic)
	case b.NumRecords < 0:
		return nil, corruptf(pos, "negative record count %d", b.NumRecords)
	case b.Attributes&batchAttrControl != 0 || b.NumRecords == 0:
		return dst, nil // nothing an old client may see
	}

	c := codec(b.Attributes & codecMask)
	switch {
	case c == codecZstd:
		return nil, &CodecError{Codec: int8(c), Magic: magic}
	case !legacyCodecOK(c):
		return nil, corruptf(pos, "unknown compression codec %d", c)
	}
	records := b.Records
	if c != codecNone {
		var err error
		if records, err = decompressWithin(c, records, batchMagic, budget); err != nil {
			return nil, &CorruptError{Pos: pos, Reason: "cannot decompress " + c.String(), Err: err}
		}
	}

	conv := downConverter{batch: &b, magic: magic, compressed: c != codecNone}
	if conv.logAppendTime() && magic == 1 {
		conv.attrs = legacyAttrLogAppendTime
	}
	var messages []byte // the inner set of a compressed batch, else dst
	if !conv.compressed {
		messages = dst
	}
	lastOffset := b.FirstOffset
	for i := range b.NumRecords {
		r, rest, ok := readRecord(records)
		if !ok {
			return nil, corruptf(pos, "record %d of %d is truncated or malformed", i, b.NumRecords)
		}
		records = rest
		lastOffset = b.FirstOffset + int64(r.OffsetDelta)
		messages = appendMessage(messages, magic, conv.offset(&r), conv.attrs, conv.timestamp(&r), r.Key, r.Value)
	}
	if len(records) != 0 {
		return nil, corruptf(pos, "%d bytes after the batch's %d records", len(records), b.NumRecords)
	}
	if !conv.compressed {
		return messages, nil
	}

	value, err := compress(c, messages, magic)
	if err != nil {
		return nil, err
	}
	return appendMessage(dst, magic, lastOffset, conv.attrs|int8(c), b.MaxTimestamp, nil, value), nil
}

// downConverter holds the per-batch rules for the messages it becomes.
type downConverter struct {
	batch      *kmsg.RecordBatch
	magic      int8
	compressed bool
	attrs      int8 // timestamp type bit for magic 1; codec bits are the wrapper's
}

func (d *downConverter) logAppendTime() bool {
	return d.batch.Attributes&batchAttrLogAppendTime != 0
}

// offset is absolute, except inside a magic 1 wrapper where it is relative
// to the batch's base offset (clients add the wrapper's offset minus the
// last inner offset).
func (d *downConverter) offset(r *kmsg.Record) int64 {
	if d.compressed && d.magic == 1 {
		return int64(r.OffsetDelta)
	}
	return d.batch.FirstOffset + int64(r.OffsetDelta)
}

// timestamp is the record's own, or the append time for LogAppendTime.
func (d *downConverter) timestamp(r *kmsg.Record) int64 {
	if d.logAppendTime() {
		return d.batch.MaxTimestamp
	}
	return d.batch.FirstTimestamp + r.TimestampDelta64
}
