package console

import (
	"math"
	"testing"
	"time"
)

// The rates count only leaders' growth: a follower's growth (replication),
// a shrinking log (retention) and a replica first seen give nothing.
func TestSamplerRates(t *testing.T) {
	s := newSampler()
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Size: 1000, LogEnd: 10},
		{Topic: "b", Partition: 0, Leader: false, Size: 500, LogEnd: 5},
	}, nil, 0)
	if r := s.total(); r.Known {
		t.Fatalf("one sample: %+v", r)
	}
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Size: 3000, LogEnd: 30}, // +2000 B, +20 msgs
		{Topic: "a", Partition: 1, Leader: true, Size: 9000, LogEnd: 90}, // new: nothing
		{Topic: "b", Partition: 0, Leader: false, Size: 900, LogEnd: 9},  // follower: nothing
	}, nil, time.Second)
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Size: 2500, LogEnd: 40}, // +10 msgs, size shrank (retention): 0 B
		{Topic: "a", Partition: 1, Leader: true, Size: 9100, LogEnd: 95}, // +100 B, +5 msgs
		{Topic: "b", Partition: 0, Leader: true, Size: 1000, LogEnd: 10}, // just became leader: nothing
	}, nil, time.Second)
	got := s.total()
	if !got.Known || math.Abs(got.BytesInPerSec-1050) > 1e-9 || math.Abs(got.MessagesInPerSec-17.5) > 1e-9 {
		t.Fatalf("total %+v, want 1050 B/s and 17.5 msg/s", got)
	}
	if b := s.topic("b"); b.BytesInPerSec != 0 || b.MessagesInPerSec != 0 {
		t.Fatalf("topic b %+v", b)
	}
	// The window keeps the last windowSamples intervals.
	for range windowSamples {
		s.add([]Replica{{Topic: "a", Partition: 0, Leader: true, Size: 2500, LogEnd: 40}}, nil, time.Second)
	}
	if r := s.total(); !r.Known || r.BytesInPerSec != 0 || r.MessagesInPerSec != 0 {
		t.Fatalf("after a quiet window: %+v", r)
	}
}

// Bytes out come from a cumulative counter the node may give; a counter
// that goes back (a restart) starts over rather than counting negative.
func TestSamplerBytesOut(t *testing.T) {
	s := newSampler()
	if s.out() != nil {
		t.Fatal("no counter: want no rate")
	}
	vals := []float64{100, 1100, 3100, 50}
	i := 0
	read := func() (float64, bool) { v := vals[i]; i++; return v, true }
	s.addOut(read, 0)
	s.addOut(read, time.Second)
	s.addOut(read, time.Second)
	if r := s.out(); r == nil || *r != 1500 {
		t.Fatalf("rate %v, want 1500", r)
	}
	s.addOut(read, time.Second) // reset to 50: no interval counted
	if r := s.out(); r == nil || *r != 1500 {
		t.Fatalf("after a reset %v, want 1500", r)
	}
}

// A partition the previous sample's metadata did not list was created
// since: all its log is new growth. One that was listed but could not be
// sized (its leader did not answer) gives nothing when it comes back, and
// neither does a leader change.
func TestSamplerNewPartitions(t *testing.T) {
	s := newSampler()
	k := func(topic string, p int32) replicaKey { return replicaKey{topic, p} }
	s.add([]Replica{{Topic: "a", Partition: 0, Leader: true, Broker: 1, Size: 100, LogEnd: 1}},
		map[replicaKey]bool{k("a", 0): true, k("b", 0): true}, 0)
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Broker: 2, Size: 300, LogEnd: 3},   // new leader: nothing
		{Topic: "b", Partition: 0, Leader: true, Broker: 1, Size: 5000, LogEnd: 50}, // listed, unsized before: nothing
		{Topic: "c", Partition: 0, Leader: true, Broker: 1, Size: 700, LogEnd: 7},   // created since: all of it
	}, map[replicaKey]bool{k("a", 0): true, k("b", 0): true, k("c", 0): true}, time.Second)
	got := s.total()
	if !got.Known || got.Window == nil || got.Window.MessagesIn != 7 || got.Window.BytesIn != 700 || got.Window.Seconds != 1 {
		t.Fatalf("total %+v window %+v, want 7 messages and 700 bytes in 1 s", got, got.Window)
	}
	if c := s.topic("c"); c.MessagesInPerSec != 7 || c.BytesInPerSec != 700 {
		t.Fatalf("topic c %+v", c)
	}
}
