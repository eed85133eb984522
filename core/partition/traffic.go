package partition

import (
	"slices"
	"sync/atomic"

	"github.com/sluicemq/sluice/core/storage"
)

// traffic counts a partition's client traffic for the metrics collector
// (node/metrics), which reads it at scrape time: the partition package
// stays free of any metrics library.
type traffic struct {
	bytesIn, messagesIn, bytesOut atomic.Int64
}

// countIn records a producer append (leader side; replication is not
// client traffic, as in Kafka's BytesInPerSec): the record bytes as
// received and their record count.
func (p *Partition) countIn(records []byte, headers []storage.BatchHeader) {
	var n int64
	for _, h := range headers {
		n += int64(h.NumRecords)
	}
	p.traffic.bytesIn.Add(int64(len(records)))
	p.traffic.messagesIn.Add(n)
}

// CountOut records record bytes sent to a consumer (not a follower).
func (p *Partition) CountOut(n int) { p.traffic.bytesOut.Add(int64(n)) }

// Traffic is what producers appended and consumers were sent through this
// partition object since it was opened.
func (p *Partition) Traffic() (bytesIn, messagesIn, bytesOut int64) {
	return p.traffic.bytesIn.Load(), p.traffic.messagesIn.Load(), p.traffic.bytesOut.Load()
}

// ISR changes applied by leaders, process-wide (Kafka's IsrShrinksPerSec
// and IsrExpandsPerSec count on the leader).
var isrShrinks, isrExpands atomic.Uint64

// countISRChange counts an ISR change a leader applies: members lost
// and gained are counted separately, so a swap counts one of each.
func countISRChange(leader bool, old, cur []int32) {
	if !leader {
		return
	}
	for _, id := range old {
		if !slices.Contains(cur, id) {
			isrShrinks.Add(1)
			break
		}
	}
	for _, id := range cur {
		if !slices.Contains(old, id) {
			isrExpands.Add(1)
			break
		}
	}
}

// ISRChanges returns the ISR shrinks and expands counted since the
// process started.
func ISRChanges() (shrinks, expands uint64) { return isrShrinks.Load(), isrExpands.Load() }
