package main

import (
	"slices"
	"time"
)

// maxLatencySamples bounds the memory and sort time spent on ack latencies;
// 200k samples put p99 on ~2,000 observations, plenty for a stable figure.
const maxLatencySamples = 200_000

// latencySampler records the ack latency of every stride-th record. Slot i
// belongs to record i*stride alone, so concurrent producer callbacks write
// disjoint slots and need no lock.
type latencySampler struct {
	stride  int64
	samples []time.Duration
}

func newLatencySampler(totalRecords int64) *latencySampler {
	stride := max(1, (totalRecords+maxLatencySamples-1)/maxLatencySamples)
	return &latencySampler{
		stride:  stride,
		samples: make([]time.Duration, (totalRecords+stride-1)/stride),
	}
}

// sampled reports whether record seq (0-based) has a latency slot.
func (s *latencySampler) sampled(seq int64) bool { return seq%s.stride == 0 }

// record stores the latency of sampled record seq.
func (s *latencySampler) record(seq int64, d time.Duration) { s.samples[seq/s.stride] = d }

// percentiles returns the nearest-rank p50 and p99 of the samples taken so
// far. Call it only after every producer callback has returned.
func (s *latencySampler) percentiles(filled int64) (p50, p99 time.Duration) {
	n := min(int64(len(s.samples)), (filled+s.stride-1)/s.stride)
	if n == 0 {
		return 0, 0
	}
	sorted := slices.Clone(s.samples[:n])
	slices.Sort(sorted)
	return nearestRank(sorted, 50), nearestRank(sorted, 99)
}

// nearestRank is the smallest sample such that at least pct% of samples are
// <= it (the textbook nearest-rank percentile; no interpolation).
func nearestRank(sorted []time.Duration, pct int) time.Duration {
	rank := (len(sorted)*pct + 99) / 100 // ceil(n*pct/100)
	return sorted[max(rank, 1)-1]
}
