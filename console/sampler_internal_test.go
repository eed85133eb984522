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
	at := clock()
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Size: 1000, LogEnd: 10},
		{Topic: "b", Partition: 0, Leader: false, Size: 500, LogEnd: 5},
	}, nil, at())
	if r := s.total(); r.Known {
		t.Fatalf("one sample: %+v", r)
	}
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Size: 3000, LogEnd: 30}, // +2000 B, +20 msgs
		{Topic: "a", Partition: 1, Leader: true, Size: 9000, LogEnd: 90}, // new: nothing
		{Topic: "b", Partition: 0, Leader: false, Size: 900, LogEnd: 9},  // follower: nothing
	}, nil, at())
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Size: 2500, LogEnd: 40}, // +10 msgs, size shrank (retention): 0 B
		{Topic: "a", Partition: 1, Leader: true, Size: 9100, LogEnd: 95}, // +100 B, +5 msgs
		{Topic: "b", Partition: 0, Leader: true, Size: 1000, LogEnd: 10}, // just became leader: nothing
	}, nil, at())
	got := s.total()
	if !got.Known || math.Abs(got.BytesInPerSec-1050) > 1e-9 || math.Abs(got.MessagesInPerSec-17.5) > 1e-9 {
		t.Fatalf("total %+v, want 1050 B/s and 17.5 msg/s", got)
	}
	if b := s.topic("b"); b.BytesInPerSec != 0 || b.MessagesInPerSec != 0 {
		t.Fatalf("topic b %+v", b)
	}
	// The window keeps the last windowSamples intervals.
	for range windowSamples {
		s.add([]Replica{{Topic: "a", Partition: 0, Leader: true, Size: 2500, LogEnd: 40}}, nil, at())
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
	at := clock()
	k := func(topic string, p int32) replicaKey { return replicaKey{topic, p} }
	s.add([]Replica{{Topic: "a", Partition: 0, Leader: true, Broker: 1, Size: 100, LogEnd: 1}},
		map[replicaKey]bool{k("a", 0): true, k("b", 0): true}, at())
	s.add([]Replica{
		{Topic: "a", Partition: 0, Leader: true, Broker: 2, Size: 300, LogEnd: 3},   // new leader: nothing
		{Topic: "b", Partition: 0, Leader: true, Broker: 1, Size: 5000, LogEnd: 50}, // listed, unsized before: nothing
		{Topic: "c", Partition: 0, Leader: true, Broker: 1, Size: 700, LogEnd: 7},   // created since: all of it
	}, map[replicaKey]bool{k("a", 0): true, k("b", 0): true, k("c", 0): true}, at())
	got := s.total()
	if !got.Known || got.Window == nil || got.Window.MessagesIn != 7 || got.Window.BytesIn != 700 || got.Window.Seconds != 1 {
		t.Fatalf("total %+v window %+v, want 7 messages and 700 bytes in 1 s", got, got.Window)
	}
	if c := s.topic("c"); c.MessagesInPerSec != 7 || c.BytesInPerSec != 700 {
		t.Fatalf("topic c %+v", c)
	}
}

// clock returns successive sample times one second apart.
func clock() func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

// A leader's log grows when it appends and its high watermark moves only
// once the followers have the batch: a sample in between sees the bytes
// before the messages. Both still count, in consecutive intervals (the CI
// flake of TestConsoleClusterRates: the bytes were dropped because that
// interval's high watermark had not moved).
func TestSamplerBytesBeforeHighWatermark(t *testing.T) {
	s := newSampler()
	at := clock()
	r := func(size, hw int64) []Replica {
		return []Replica{{Topic: "a", Partition: 0, Leader: true, Broker: 1, Size: size, LogEnd: hw}}
	}
	t0 := at()
	s.add(r(0, 0), nil, t0)
	s.add(r(672, 0), nil, at()) // appended, not yet replicated
	if w := s.total().Window; w == nil || w.BytesIn != 672 || w.MessagesIn != 0 {
		t.Fatalf("window %+v, want 672 bytes and no messages yet", w)
	}
	t2 := at()
	s.add(r(672, 31), nil, t2) // high watermark caught up
	got := s.total()
	if w := got.Window; w == nil || w.BytesIn != 672 || w.MessagesIn != 31 || w.Seconds != 2 || !w.From.Equal(t0) || !w.To.Equal(t2) {
		t.Fatalf("window %+v, want 672 bytes and 31 messages in 2 s from %v to %v", w, t0, t2)
	}
	if got.BytesInPerSec != 336 || got.MessagesInPerSec != 15.5 {
		t.Fatalf("rates %+v", got)
	}
}

// A partition whose leader did not answer a sample keeps its last
// reading: its growth in the meantime counts at the next sample that
// reads it, and the window's From goes back to that last reading. One no
// longer listed (deleted) is forgotten.
func TestSamplerUnreadPartitionCarries(t *testing.T) {
	s := newSampler()
	at := clock()
	k := func(p int32) replicaKey { return replicaKey{"a", p} }
	both := map[replicaKey]bool{k(0): true, k(1): true}
	r := func(p, broker int32, size, hw int64) Replica {
		return Replica{Topic: "a", Partition: p, Leader: true, Broker: broker, Size: size, LogEnd: hw}
	}
	t0 := at()
	s.add([]Replica{r(0, 1, 100, 1), r(1, 2, 100, 1)}, both, t0)
	t1 := at()
	s.add([]Replica{r(0, 1, 300, 3)}, both, t1) // broker 2 did not answer
	if w := s.total().Window; w == nil || w.MessagesIn != 2 || w.BytesIn != 200 || !w.From.Equal(t0) {
		t.Fatalf("window %+v, want partition 0's 2 messages and 200 bytes from %v", w, t0)
	}
	// The window slides past t0 and t1; partition 1's growth since t0
	// shows when broker 2 answers again, from t0.
	for range windowSamples - 1 {
		s.add([]Replica{r(0, 1, 300, 3)}, both, at())
	}
	tn := at()
	s.add([]Replica{r(0, 1, 300, 3), r(1, 2, 600, 6)}, both, tn)
	got := s.total()
	if w := got.Window; w == nil || w.MessagesIn != 5 || w.BytesIn != 500 || !w.From.Equal(t0) || !w.To.Equal(tn) || w.Seconds != windowSamples {
		t.Fatalf("window %+v, want partition 1's 5 messages and 500 bytes from %v to %v over %d s", w, t0, tn, windowSamples)
	}
	// Deleted while unread: forgotten, so a new partition 1 (listed again
	// later) does not count against the old reading.
	s.add([]Replica{r(0, 1, 300, 3)}, map[replicaKey]bool{k(0): true}, at())
	if _, ok := s.prev[k(1)]; ok {
		t.Fatal("a partition no longer listed is still kept")
	}
}
