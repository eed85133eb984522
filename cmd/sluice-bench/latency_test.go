package main

import (
	"testing"
	"time"
)

func TestLatencySamplerPercentilesAreNearestRank(t *testing.T) {
	s := newLatencySampler(100)
	if s.stride != 1 {
		t.Fatalf("stride = %d, want 1 for 100 records", s.stride)
	}
	// Record 1..100ms in reverse order: percentiles must not depend on order.
	for seq := int64(99); seq >= 0; seq-- {
		s.record(seq, time.Duration(seq+1)*time.Millisecond)
	}
	p50, p99 := s.percentiles(100)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond {
		t.Fatalf("p50, p99 = %s, %s; want 50ms, 99ms", p50, p99)
	}
}

func TestLatencySamplerStridesLargeRuns(t *testing.T) {
	const records = 2_000_000
	s := newLatencySampler(records)
	if s.stride != 10 || len(s.samples) != 200_000 {
		t.Fatalf("stride %d with %d slots; want 10 and 200000", s.stride, len(s.samples))
	}
	var sampled int
	for seq := int64(0); seq < records; seq++ {
		if s.sampled(seq) {
			sampled++
			s.record(seq, time.Microsecond)
		}
	}
	if sampled != 200_000 {
		t.Fatalf("sampled %d records, want 200000", sampled)
	}
	if p50, p99 := s.percentiles(records); p50 != time.Microsecond || p99 != time.Microsecond {
		t.Fatalf("p50, p99 = %s, %s; want 1µs both", p50, p99)
	}
}

func TestLatencySamplerIgnoresUnfilledSlots(t *testing.T) {
	s := newLatencySampler(10)
	for seq := int64(0); seq < 4; seq++ {
		s.record(seq, 7*time.Millisecond)
	}
	if p50, p99 := s.percentiles(4); p50 != 7*time.Millisecond || p99 != 7*time.Millisecond {
		t.Fatalf("p50, p99 = %s, %s; want 7ms both (zero slots excluded)", p50, p99)
	}
	if p50, p99 := newLatencySampler(10).percentiles(0); p50 != 0 || p99 != 0 {
		t.Fatalf("empty sampler gave %s, %s", p50, p99)
	}
}
