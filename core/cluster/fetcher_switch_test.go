package cluster

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/records"
)

// brokersStore is a memStore listing the given brokers.
type brokersStore struct {
	*memStore
	brokers []meta.Broker
}

func (s brokersStore) Brokers() []meta.Broker { return s.brokers }

// TestFollowerFetchesNewLeaderAtOnce: a follower told of a new leader
// before the leader applied the epoch (it answers UNKNOWN_LEADER_EPOCH
// for a while, as a new leader still reading ZooKeeper does) fetches from
// it as soon as it accepts, not after an exponential backoff; and it
// finds the leader's address in the store, not through a client whose
// seed is dead (the stopped broker of a rolling restart). Before issue
// 14's fix the retries came 100, 200, 400 ms apart (a fetch up to 400 ms
// late), and a Metadata request to a dead broker waited kgo's 250 ms
// retry backoff. The leader is a kfake broker whose answers the test
// scripts.
func TestFollowerFetchesNewLeaderAtOnce(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	batch, err := records.Encode([]records.Record{{Value: []byte("x")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	const acceptAfter = 300 * time.Millisecond
	var (
		mu       sync.Mutex
		accepts  time.Time // when the leader starts answering (set at handover)
		refused  int
		fetchAt  time.Time // the first replica fetch
		epochErr = kerr.UnknownLeaderEpoch.Code
	)
	c.ControlKey(int16(kmsg.OffsetForLeaderEpoch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		refuse := accepts.IsZero() || time.Now().Before(accepts)
		if refuse {
			refused++
		}
		mu.Unlock()
		return epochsResponse(kr.(*kmsg.OffsetForLeaderEpochRequest), func(int32) (int16, int32, int64) {
			if refuse {
				return epochErr, -1, -1
			}
			return 0, 0, 1 // our record is the leader's
		}), nil, true
	})
	c.ControlKey(int16(kmsg.Fetch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.FetchRequest)
		mu.Lock()
		if fetchAt.IsZero() {
			fetchAt = time.Now()
		}
		mu.Unlock()
		return fetchResponse(req, 1, nil), nil, true
	})

	host, port, err := net.SplitHostPort(c.ListenAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	pn, _ := strconv.Atoi(port)
	const self = 5
	store := brokersStore{memStore: newMemStore(meta.PartitionState{}), brokers: []meta.Broker{{ID: 0, Host: host, Port: int32(pn)}}}
	// The replica client's only seed is dead: the leader's address must
	// come from the store.
	m, err := newReplicaManager(Config{BrokerID: self, Logger: discardLogger()}, store, []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A record of epoch 0 in our log: the new epoch needs the divergence
	// check the leader refuses at first.
	p := testReplicaOf(t, 0, self)
	p.BecomeLeader(0, []int32{self}, []int32{self})
	if _, err := p.Append(batch); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	accepts = time.Now().Add(acceptAfter)
	mu.Unlock()
	m.ApplyState(p, meta.PartitionState{Replicas: []int32{0, self}, ISR: []int32{0, self}, Leader: 0, LeaderEpoch: 1})

	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		at, acc, n := fetchAt, accepts, refused
		mu.Unlock()
		if !at.IsZero() {
			late := at.Sub(acc)
			t.Logf("divergence check refused %d times; first fetch %v after the leader accepted", n, late.Round(time.Millisecond))
			if n < 2 {
				t.Fatalf("the leader refused the divergence check %d times, want several (the scenario did not happen)", n)
			}
			// 10 ms retries; the bound leaves room for a loaded machine
			// (the old backoff fetched 300 ms after the leader accepted).
			if late > 150*time.Millisecond {
				t.Fatalf("first fetch %v after the leader accepted the new epoch, want < 150ms", late)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fetch from the new leader (divergence check refused %d times)", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHandoverCutsParkedFetchShort: a partition handed to a fetcher whose
// round is parked at the leader (a long poll on idle partitions) is
// fetched at once, on a new round, not when the parked one ends. The
// leader here parks the fetch of the first partition for 3 s.
func TestHandoverCutsParkedFetchShort(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var (
		mu      sync.Mutex
		parked  bool
		second  time.Time // the first fetch naming partition 1
		handout time.Time
	)
	c.ControlKey(int16(kmsg.Fetch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.FetchRequest)
		has1 := false
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				has1 = has1 || rp.Partition == 1
			}
		}
		mu.Lock()
		park := !has1 && !parked
		parked = parked || park
		if has1 && second.IsZero() {
			second = time.Now()
		}
		mu.Unlock()
		if park {
			c.SleepControl(func() { time.Sleep(3 * time.Second) })
		}
		return fetchResponse(req, 0, nil), nil, true
	})
	const self = 5
	// One fetcher per leader: both partitions share it.
	m, err := newReplicaManager(Config{BrokerID: self, Fetchers: 1, Logger: discardLogger()},
		newMemStore(meta.PartitionState{}), c.ListenAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p0, p1 := testReplicaOf(t, 0, self), testReplicaOf(t, 1, self)
	st := meta.PartitionState{Replicas: []int32{0, self}, ISR: []int32{0, self}, Leader: 0, LeaderEpoch: 1}
	m.ApplyState(p0, st)
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		p := parked
		mu.Unlock()
		if p {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first partition was never fetched")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // well inside the parked fetch
	mu.Lock()
	handout = time.Now()
	mu.Unlock()
	m.ApplyState(p1, st)
	for {
		mu.Lock()
		at := second
		mu.Unlock()
		if !at.IsZero() {
			late := at.Sub(handout)
			t.Logf("handed-over partition fetched %v after the handover", late.Round(time.Millisecond))
			if late > time.Second {
				t.Fatalf("handed-over partition fetched %v after the handover: it waited for the parked fetch", late)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the handed-over partition was never fetched")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
