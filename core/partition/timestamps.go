package partition

import (
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// eachRecord decodes a stored batch and calls fn with each record's
// absolute offset and timestamp; fn returns false to stop.
func eachRecord(batch []byte, budget int, fn func(offset, ts int64) bool) error {
	b, err := records.DecodeWithin(batch, budget)
	if err != nil {
		return err
	}
	for _, r := range b.Records {
		if !fn(r.Offset, r.Timestamp) {
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
	return p.OffsetForTimestampIsolated(ts, false)
}

// OffsetForTimestampIsolated is OffsetForTimestamp with an isolation
// level: for read_committed the latest offset is the last stable offset,
// and lookups answer only offsets below it, as Kafka's ListOffsets does.
func (p *Partition) OffsetForTimestampIsolated(ts int64, committed bool) (offset, timestamp int64, err error) {
	hw := p.HighWatermark()
	if committed {
		hw = p.lso(hw)
	}
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
		return -1, -1, ErrStorage
	}
	defer chunk.Release()
	if !ok || chunk.FirstOffset >= hw {
		return -1, -1, nil
	}
	b, err := chunk.ReadAll()
	if err != nil {
		return -1, -1, ErrStorage
	}
	offset, timestamp = -1, -1
	h, err := storage.ParseHeader(b)
	if err != nil {
		return -1, -1, ErrStorage
	}
	err = eachRecord(b[:h.Size()], p.cfg.Load().DecompressLimit(), func(o, t int64) bool {
		if t >= ts && o >= p.log.LogStartOffset() {
			offset, timestamp = o, t
			return false
		}
		return true
	})
	if err != nil {
		return -1, -1, ErrCorruptMessage
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
	err := p.log.Scan(p.log.LogStartOffset(), func(h storage.BatchHeader, batch []byte) error {
		if h.BaseOffset >= hw || h.MaxTimestamp <= bestTS {
			return nil
		}
		return eachRecord(batch, p.cfg.Load().DecompressLimit(), func(o, t int64) bool {
			if o < hw && t > bestTS {
				best, bestTS = o, t
			}
			return true
		})
	})
	if err != nil {
		return -1, -1, ErrStorage
	}
	return best, bestTS, nil
}
