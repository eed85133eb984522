package cluster

import (
	"testing"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// TestFetchersSpreadPartitions: with several fetchers per leader, a
// leader's partitions are spread over them (each on its own client, so
// one partition's parked fetch does not hold up another's answer), and
// every followed partition is in exactly one fetcher.
func TestFetchersSpreadPartitions(t *testing.T) {
	st := meta.PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1}
	m, err := NewReplicaManager(Config{BrokerID: 2, Fetchers: 3, Logger: discardLogger()},
		newMemStore(st), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if len(m.clients) != 3 {
		t.Fatalf("%d clients, want 3", len(m.clients))
	}
	var parts []*partition.Partition
	for i := range int32(12) {
		p := testReplicaOf(t, i, 2)
		parts = append(parts, p)
		m.ApplyState(p, st)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fetchers) < 2 || len(m.fetchers) > 3 {
		t.Fatalf("%d fetchers for 12 partitions of one leader, want 2 or 3", len(m.fetchers))
	}
	seen := map[*partition.Partition]int{}
	for k, f := range m.fetchers {
		if k.leader != 1 || f.cl != m.clients[k.slot] {
			t.Fatalf("fetcher %+v: leader %d, client of slot %d", k, f.leader, k.slot)
		}
		for p := range f.snapshot() {
			seen[p]++
			if m.fetcherSlot(p) != k.slot {
				t.Fatalf("%s-%d in slot %d, its slot is %d", p.Topic, p.Index, k.slot, m.fetcherSlot(p))
			}
		}
	}
	for _, p := range parts {
		if seen[p] != 1 {
			t.Fatalf("%s-%d followed by %d fetchers", p.Topic, p.Index, seen[p])
		}
	}
}
