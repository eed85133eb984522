package msgset

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Layout of one MessageSet entry: offset int64, size int32, then the message
// of size bytes: crc uint32, magic int8, attributes int8, [timestamp int64
// with magic 1], key bytes, value bytes.
const (
	entryHeaderLen = 12 // offset + size
	posCRC         = 12
	posMagic       = 16 // the CRC covers from here to the end of the message

	// Smallest message sizes: crc, magic, attributes, [timestamp], and the
	// two length fields of a null key and a null value.
	minMessageSizeV0 = 4 + 1 + 1 + 4 + 4
	minMessageSizeV1 = minMessageSizeV0 + 8

	// legacyAttrLogAppendTime is the magic 1 timestamp-type bit.
	legacyAttrLogAppendTime = 0x08
)

// noTimestamp is Kafka's NO_TIMESTAMP: what magic 0 messages up-convert to.
const noTimestamp = -1

// legacyMessage is one decoded MessageSet message. Key and Value alias the
// input.
type legacyMessage struct {
	Magic      int8
	Attributes int8
	Timestamp  int64 // noTimestamp for magic 0
	Key, Value []byte
}

func (m *legacyMessage) codec() codec { return codec(m.Attributes & codecMask) }

func (m *legacyMessage) logAppendTime() bool {
	return m.Magic == 1 && m.Attributes&legacyAttrLogAppendTime != 0
}

// walkSet calls fn for each message of a MessageSet, with its byte position,
// after checking its framing and CRC. It stops at the first error.
func walkSet(set []byte, fn func(pos int, m legacyMessage) error) error {
	for pos := 0; pos < len(set); {
		rest := set[pos:]
		if len(rest) < entryHeaderLen {
			return corruptf(pos, "truncated message header: %d bytes", len(rest))
		}
		size := int32(binary.BigEndian.Uint32(rest[8:]))
		if size < minMessageSizeV0 {
			return corruptf(pos, "message size %d below the minimum %d", size, minMessageSizeV0)
		}
		end := entryHeaderLen + int(size)
		if end > len(rest) {
			return corruptf(pos, "truncated message: size %d, %d bytes left", size, len(rest)-entryHeaderLen)
		}
		m, err := decodeMessage(pos, rest[:end])
		if err != nil {
			return err
		}
		if err := fn(pos, m); err != nil {
			return err
		}
		pos += end
	}
	return nil
}

// decodeMessage decodes one whole entry (offset, size and message) found at
// pos, checking that it is well formed.
func decodeMessage(pos int, raw []byte) (legacyMessage, error) {
	magic := int8(raw[posMagic])
	var m legacyMessage
	var keyPos int
	switch magic {
	case 0:
		var v kmsg.MessageV0
		if err := v.ReadFrom(raw); err != nil {
			return m, corrupt(pos, "key or value overruns the message")
		}
		m = legacyMessage{Magic: 0, Attributes: v.Attributes, Timestamp: noTimestamp, Key: v.Key, Value: v.Value}
		keyPos = posMagic + 2
	case 1:
		if len(raw) < entryHeaderLen+minMessageSizeV1 {
			return m, corrupt(pos, "message too short for magic 1")
		}
		var v kmsg.MessageV1
		if err := v.ReadFrom(raw); err != nil {
			return m, corrupt(pos, "key or value overruns the message")
		}
		m = legacyMessage{Magic: 1, Attributes: v.Attributes, Timestamp: v.Timestamp, Key: v.Key, Value: v.Value}
		keyPos = posMagic + 2 + 8
	default:
		return m, corruptf(pos, "unknown magic %d", magic)
	}
	// kmsg reads any negative length as null and ignores trailing bytes;
	// a message is only well formed if its length fields are exact.
	valuePos := keyPos + 4 + len(m.Key)
	if !lengthFieldMatches(raw[keyPos:], m.Key) || !lengthFieldMatches(raw[valuePos:], m.Value) ||
		valuePos+4+len(m.Value) != len(raw) {
		return m, corrupt(pos, "key and value lengths disagree with the message size")
	}
	stored := binary.BigEndian.Uint32(raw[posCRC:])
	if computed := crc32.ChecksumIEEE(raw[posMagic:]); computed != stored {
		return m, corruptf(pos, "CRC mismatch: stored %#08x, computed %#08x", stored, computed)
	}
	return m, nil
}

// lengthFieldMatches reports whether the int32 length at the start of field
// is exactly what encodes b: -1 for null, len(b) otherwise.
func lengthFieldMatches(field, b []byte) bool {
	n := int32(binary.BigEndian.Uint32(field))
	if b == nil {
		return n == -1
	}
	return int(n) == len(b)
}

// appendMessage appends one MessageSet entry of the given magic (0 or 1)
// with a correct size and CRC; ts is ignored for magic 0.
func appendMessage(dst []byte, magic int8, offset int64, attrs int8, ts int64, key, value []byte) []byte {
	start := len(dst)
	payload := len(key) + len(value)
	if magic == 0 {
		m := kmsg.MessageV0{
			Offset:      offset,
			MessageSize: int32(minMessageSizeV0 + payload),
			Attributes:  attrs,
			Key:         key,
			Value:       value,
		}
		dst = m.AppendTo(dst)
	} else {
		m := kmsg.MessageV1{
			Offset:      offset,
			MessageSize: int32(minMessageSizeV1 + payload),
			Magic:       1,
			Attributes:  attrs,
			Timestamp:   ts,
			Key:         key,
			Value:       value,
		}
		dst = m.AppendTo(dst)
	}
	binary.BigEndian.PutUint32(dst[start+posCRC:], crc32.ChecksumIEEE(dst[start+posMagic:]))
	return dst
}
