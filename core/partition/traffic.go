package partition

import (
	"slices"
	"sync/atomic"

	"github.com/sluicemq/sluice/core/storage"
)

// Traffic counts a topic partition's client traffic for the metrics
// collector (node/metrics) and the console, which read it at scrape time:
// the partition package stays free of any metrics library. A broker keeps
// one per topic partition for as long as it runs and hands it to every
// partition object it opens for it (UseTraffic), so the counts outlive
// the object: a replica reassigned away and back, or reopened, keeps
// counting from where it was, and what /metrics exports as a counter
// never goes down.
type Traffic struct {
	bytesIn, messagesIn, bytesOut atomic.Int64
}

// Load reads the counters.
func (t *Traffic) Load() (bytesIn, messagesIn, bytesOut int64) {
	return t.bytesIn.Load(), t.messagesIn.Load(), t.bytesOut.Load()
}

// UseTraffic makes the partition count into t from now on (the broker's
// counters for this topic partition, which outlive this object). Counts
// already made into the previous counters stay there.
func (p *Partition) UseTraffic(t *Traffic) {
	if t != nil {
		p.traffic.Store(t)
	}
}

// countIn records a producer append (leader side; replication is not
// client traffic, as in Kafka's BytesInPerSec): the record bytes as
// received and their record count.
func (p *Partition) countIn(records []byte, headers []storage.BatchHeader) {
	var n int64
	for _, h := range headers {
		n += int64(h.NumRecords)
	}
	t := p.traffic.Load()
	t.bytesIn.Add(int64(len(records)))
	t.messagesIn.Add(n)
}

// CountOut records record bytes sent to a consumer (not a follower).
func (p *Partition) CountOut(n int) { p.traffic.Load().bytesOut.Add(int64(n)) }

// Traffic is what producers appended and consumers were sent through
// this partition's counters (see Traffic: the broker's, which outlive
// this object, once UseTraffic was called).
func (p *Partition) Traffic() (bytesIn, messagesIn, bytesOut int64) {
	return p.traffic.Load().Load()
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
