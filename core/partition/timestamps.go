package partition

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/storage"
)

// decompressor is shared: kgo's handles gzip, snappy, lz4 and zstd.
var decompressor = kgo.DefaultDecompressor()

// errBadRecords: a stored batch's records could not be decoded.
var errBadRecords = errors.New("partition: undecodable records")

// eachRecord decodes a stored batch and calls fn with each record's
// absolute offset and timestamp; fn returns false to stop.
func eachRecord(batch []byte, fn func(offset, ts int64) bool) error {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return errBadRecords
	}
	data := rb.Records
	if codec := kgo.CompressionCodecType(rb.Attributes & 0x07); codec != 0 {
		var err error
		if data, err = decompressor.Decompress(data, codec); err != nil {
			return errBadRecords
		}
	}
	logAppend := rb.Attributes&0x08 != 0
	for i := int32(0); i < rb.NumRecords && len(data) > 0; i++ {
		length, n := kbin.Varint(data)
		if n == 0 || length < 0 || int(length)+n > len(data) {
			return errBadRecords
		}
		var r kmsg.Record
		if err := r.ReadFrom(data[:n+int(length)]); err != nil {
			return errBadRecords
		}
		data = data[n+int(length):]
		ts := rb.FirstTimestamp + r.TimestampDelta64
		if logAppend {
			ts = rb.MaxTimestamp
		}
		if !fn(rb.FirstOffset+int64(r.OffsetDelta), ts) {
			return nil
		}
	}
	return nil
}

// OffsetForTimestamp implements ListOffsets: ts -2 is the earliest offset,
// -1 the latest (high watermark), -3 the record with the largest
// timestamp, otherwise the first record whose timestamp >= ts. It returns
// offset -1 and timestamp -1 when no record qualifies, as Kafka does.
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	hw := p.HighWatermark()
	switch ts {
	case -2:
		return p.log.LogStartOffset(), -1, nil
	case -1:
		return hw, -1, nil
	case -3:
		return p.maxTimestampOffset(hw)
	}
	chunk, ok, err := p.log.FindOffsetByTimestamp(ts)
	if err != nil {
		return -1, -1, kerr.KafkaStorageError
	}
	defer chunk.Release()
	if !ok || chunk.FirstOffset >= hw {
		return -1, -1, nil
	}
	b, err := chunk.ReadAll()
	if err != nil {
		return -1, -1, kerr.KafkaStorageError
	}
	offset, timestamp = -1, -1
	h, err := storage.ParseHeader(b)
	if err != nil {
		return -1, -1, kerr.KafkaStorageError
	}
	err = eachRecord(b[:h.Size()], func(o, t int64) bool {
		if t >= ts && o >= p.log.LogStartOffset() {
			offset, timestamp = o, t
			return false
		}
		return true
	})
	if err != nil {
		return -1, -1, kerr.CorruptMessage
	}
	if offset >= hw {
		return -1, -1, nil
	}
	return offset, timestamp, nil
}

// maxTimestampOffset scans the committed log for the record with the
// largest timestamp (ListOffsets -3, KIP-734). Rare and admin-only, so a
// scan is acceptable.
func (p *Partition) maxTimestampOffset(hw int64) (int64, int64, error) {
	best, bestTS := int64(-1), int64(-1)
	err := p.log.Scan(p.log.LogStartOffset(), func(h storage.Header, batch []byte) error {
		if h.BaseOffset >= hw || h.MaxTimestamp <= bestTS {
			return nil
		}
		return eachRecord(batch, func(o, t int64) bool {
			if o < hw && t > bestTS {
				best, bestTS = o, t
			}
			return true
		})
	})
	if err != nil {
		return -1, -1, kerr.KafkaStorageError
	}
	return best, bestTS, nil
}
