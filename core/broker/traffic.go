package broker

import (
	"sync"

	"github.com/sluicemq/sluice/core/partition"
)

// trafficRegistry holds the client traffic counters of every topic
// partition this broker has hosted, keyed by topic and partition so they
// outlive the partition objects (a replica reassigned away and back, or
// reopened, continues its counters): Prometheus counters must never go
// down. A deleted topic's counters go with it, as in Kafka; a topic
// re-created under the same name starts over.
type trafficRegistry struct {
	mu sync.Mutex
	m  map[string][]*partition.Traffic // topic -> by partition index
}

// get returns the counters of topic partition idx, created on first use.
func (r *trafficRegistry) get(topic string, idx int32) *partition.Traffic {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string][]*partition.Traffic{}
	}
	ps := r.m[topic]
	for len(ps) <= int(idx) {
		ps = append(ps, nil)
	}
	if ps[idx] == nil {
		ps[idx] = new(partition.Traffic)
	}
	r.m[topic] = ps
	return ps[idx]
}

func (r *trafficRegistry) drop(topic string) {
	r.mu.Lock()
	delete(r.m, topic)
	r.mu.Unlock()
}

// PartitionTraffic is one topic partition's client traffic on this broker
// since it started: record bytes produced (leader side), records produced
// and record bytes sent to consumers.
type PartitionTraffic struct {
	Topic                         string
	Partition                     int32
	BytesIn, MessagesIn, BytesOut int64
}

// Traffic lists the client traffic counters of every topic partition this
// broker hosts or has hosted since it started (topics since deleted
// excepted), hosted now or not: the monotonic source for the metrics.
func (b *Broker) Traffic() []PartitionTraffic {
	r := &b.traffic
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PartitionTraffic
	for topic, ps := range r.m {
		for i, t := range ps {
			if t == nil {
				continue
			}
			in, n, o := t.Load()
			out = append(out, PartitionTraffic{Topic: topic, Partition: int32(i), BytesIn: in, MessagesIn: n, BytesOut: o})
		}
	}
	return out
}
