package msgset

import (
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ToBatch up-converts a MessageSet of magic 0 or 1 messages (the records of
// a Produce v0–v2 partition) into one v2 record batch, as Kafka does when it
// stores old-format data in the new format.
//
// The batch has base offset 0, offset deltas 0..n-1, no producer id, epoch
// or base sequence (-1), and leader epoch -1, ready for the log to stamp. It
// is compressed with the codec of the set's compressed wrapper (the last one,
// should there be several, as Kafka does), or not at all. Magic 1 timestamps
// are kept; magic 0 messages, which have none, get -1. When a magic 1
// message declares LogAppendTime the batch does too, with every timestamp
// set to now (ms), the broker's append time.
//
// Errors: *CorruptError (matching ErrCorrupt) for malformed input,
// *CodecError (matching ErrUnsupportedCodec) for zstd in a MessageSet, and
// ErrEmpty for a set without messages.
func ToBatch(set []byte, now int64) ([]byte, error) {
	return ToBatchWithin(set, now, NewBudget(maxDecompressedBytes))
}

// ToBatchWithin is ToBatch with the decompression of all the set's
// wrappers charged to b: past it, the set is refused (ErrCorrupt).
func ToBatchWithin(set []byte, now int64, b *Budget) ([]byte, error) {
	flat, err := flatten(set, b)
	if err != nil {
		return nil, err
	}
	if len(flat.messages) == 0 {
		return nil, ErrEmpty
	}
	if len(flat.messages) > math.MaxInt32 {
		return nil, corrupt(0, "more messages than a batch can count")
	}

	attrs := int16(flat.codec)
	firstTS, maxTS := flat.messages[0].Timestamp, int64(math.MinInt64)
	if flat.logAppendTime {
		attrs |= batchAttrLogAppendTime
		firstTS, maxTS = now, now
	}

	var records []byte
	for i := range flat.messages {
		m := &flat.messages[i]
		ts := m.Timestamp
		if flat.logAppendTime {
			ts = now
		}
		maxTS = max(maxTS, ts)
		r := kmsg.Record{
			TimestampDelta64: ts - firstTS,
			OffsetDelta:      int32(i),
			Key:              m.Key,
			Value:            m.Value,
		}
		records = appendRecord(records, &r)
	}
	if flat.codec != codecNone {
		if records, err = compress(flat.codec, records, batchMagic); err != nil {
			return nil, err
		}
	}

	batch := kmsg.RecordBatch{
		PartitionLeaderEpoch: noLeaderEpoch,
		Attributes:           attrs,
		LastOffsetDelta:      int32(len(flat.messages) - 1),
		FirstTimestamp:       firstTS,
		MaxTimestamp:         maxTS,
		ProducerID:           noProducer,
		ProducerEpoch:        noProducer,
		FirstSequence:        noProducer,
		NumRecords:           int32(len(flat.messages)),
		Records:              records,
	}
	return appendBatch(nil, &batch), nil
}

// flatSet is a MessageSet with its compressed wrappers opened.
type flatSet struct {
	messages      []legacyMessage // uncompressed, in order
	codec         codec           // of the last compressed wrapper
	logAppendTime bool            // some message declared LogAppendTime
	budget        *Budget         // what opening wrappers may still inflate
}

// flatten validates set and opens its compressed wrappers.
func flatten(set []byte, b *Budget) (*flatSet, error) {
	flat := &flatSet{budget: b}
	err := walkSet(set, func(pos int, m legacyMessage) error {
		if m.logAppendTime() {
			flat.logAppendTime = true
		}
		c := m.codec()
		if c == codecNone {
			flat.messages = append(flat.messages, m)
			return nil
		}
		if err := flat.openWrapper(pos, m); err != nil {
			return err
		}
		flat.codec = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return flat, nil
}

// openWrapper appends the messages inside the compressed wrapper m, found
// at pos.
func (f *flatSet) openWrapper(pos int, wrapper legacyMessage) error {
	c := wrapper.codec()
	switch {
	case c == codecZstd:
		return &CodecError{Codec: int8(c), Magic: wrapper.Magic}
	case !legacyCodecOK(c):
		return corruptf(pos, "unknown compression codec %d", c)
	case wrapper.Value == nil:
		return corrupt(pos, "compressed wrapper without a value")
	}
	inner, err := decompressWithin(c, wrapper.Value, wrapper.Magic, f.budget)
	if err != nil {
		return &CorruptError{Pos: pos, Reason: "cannot decompress " + c.String(), Err: err}
	}
	count := 0
	err = walkSet(inner, func(innerPos int, m legacyMessage) error {
		switch {
		case m.codec() != codecNone:
			return corrupt(innerPos, "nested compressed message")
		case m.Magic != wrapper.Magic:
			return corruptf(innerPos, "magic %d message inside a magic %d wrapper", m.Magic, wrapper.Magic)
		}
		count++
		f.messages = append(f.messages, m)
		return nil
	})
	var ce *CorruptError
	if errors.As(err, &ce) {
		// Report the wrapper's position in the caller's input, and where
		// in the inner set the problem is.
		return &CorruptError{Pos: pos, Reason: fmt.Sprintf("inner set byte %d: %s", ce.Pos, ce.Reason), Err: ce.Err}
	}
	if err != nil {
		return err
	}
	if count == 0 {
		return corrupt(pos, "compressed wrapper holds no messages")
	}
	return nil
}
