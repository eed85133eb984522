package partition

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// Batch attribute bits of transactions.
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errNotMarker: a control batch that is not a commit/abort marker (an
// unknown control type, which Kafka readers skip too).
var errNotMarker = errors.New("partition: control batch is not a transaction marker")

// encodeMarker builds the control batch that ends a producer's
// transaction: one record whose key is a ControlRecordKey (commit or
// abort) and whose value is an EndTxnMarker carrying the coordinator
// epoch, in a batch flagged transactional and control, as Kafka writes it.
func encodeMarker(pid int64, epoch int16, coordEpoch int32, commit bool, ts int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.NewEndTxnMarker()
	val.CoordinatorEpoch = coordEpoch
	rec := kmsg.Record{Key: key.AppendTo(nil), Value: val.AppendTo(nil)}
	// Record.AppendTo writes Length as a varint first: encode with 0 (one
	// byte) to learn the body's size, then write the real length.
	body := rec.AppendTo(nil)[1:]
	raw := kbin.AppendVarint(nil, int32(len(body)))
	raw = append(raw, body...)
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrTransactional | attrControl,
		FirstTimestamp:       ts,
		MaxTimestamp:         ts,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              raw,
	}
	b := rb.AppendTo(nil)
	// Length counts the bytes after itself, the CRC-32C everything after
	// the CRC field.
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// markerInfo is what a stored control batch says.
type markerInfo struct {
	commit     bool
	coordEpoch int32
}

// decodeMarker reads a control batch's marker (the first record's key and
// value, decoded with kmsg).
func decodeMarker(h storage.BatchHeader, batch []byte) (markerInfo, error) {
	if !h.IsControl() {
		return markerInfo{}, errNotMarker
	}
	b, err := records.Decode(batch)
	if err != nil {
		return markerInfo{}, err
	}
	if len(b.Records) == 0 {
		return markerInfo{}, errNotMarker
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(b.Records[0].Key); err != nil {
		return markerInfo{}, err
	}
	if key.Type != kmsg.ControlRecordKeyTypeAbort && key.Type != kmsg.ControlRecordKeyTypeCommit {
		return markerInfo{}, errNotMarker
	}
	m := markerInfo{commit: key.Type == kmsg.ControlRecordKeyTypeCommit, coordEpoch: -1}
	var val kmsg.EndTxnMarker
	if val.ReadFrom(b.Records[0].Value) == nil {
		m.coordEpoch = val.CoordinatorEpoch
	}
	return m, nil
}
