package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// verifyTimeout bounds reading every topic back.
const verifyTimeout = 10 * time.Minute

// checker compares the records read back with the producers' ledgers:
// every acknowledged seq present exactly once at the offset it was
// acknowledged at, no seq twice, and each producer's seqs increasing
// within a partition.
type checker struct {
	byName  map[string]*ledger
	counts  map[string]map[int64]int
	found   map[string]map[int64]position
	lastSeq map[string]map[int32]int64
	res     map[string]*producerResult
	foreign int64
}

func newChecker(ledgers []*ledger) *checker {
	c := &checker{byName: map[string]*ledger{}, counts: map[string]map[int64]int{}, found: map[string]map[int64]position{},
		lastSeq: map[string]map[int32]int64{}, res: map[string]*producerResult{}}
	for _, l := range ledgers {
		c.byName[l.name] = l
		c.counts[l.name] = map[int64]int{}
		c.found[l.name] = map[int64]position{}
		c.lastSeq[l.name] = map[int32]int64{}
		c.res[l.name] = &producerResult{Name: l.name, Topic: l.topic}
	}
	return c
}

// add accounts for one record read back, in partition order.
func (c *checker) add(topic string, partition int32, offset int64, value []byte) {
	name, seq, ok := parseValue(value)
	l := c.byName[name]
	if !ok || l == nil || l.topic != topic || seq < 1 || seq > l.sent {
		c.foreign++
		return
	}
	c.counts[name][seq]++
	if c.counts[name][seq] == 1 {
		c.found[name][seq] = position{partition, offset}
	}
	if seq <= c.lastSeq[name][partition] {
		c.res[name].Disorder++
	}
	c.lastSeq[name][partition] = max(c.lastSeq[name][partition], seq)
}

// results compares with the ledgers, in the ledgers' order.
func (c *checker) results(ledgers []*ledger) []producerResult {
	var out []producerResult
	for _, l := range ledgers {
		r := c.res[l.name]
		l.mu.Lock()
		r.Sent, r.Acked, r.Errors = l.sent, int64(len(l.acked)), maps.Clone(l.errs)
		for seq, pos := range l.acked {
			switch n := c.counts[l.name][seq]; {
			case n == 0:
				r.Lost++
			case pos.offset >= 0 && c.found[l.name][seq] != pos:
				r.Misplaced++
			}
		}
		for seq, n := range c.counts[l.name] {
			if n > 1 {
				r.Dup += int64(n - 1)
			}
			if _, ok := l.acked[seq]; !ok {
				r.UnackedPresent++
			}
		}
		l.mu.Unlock()
		out = append(out, *r)
	}
	return out
}

// verify reads every soak topic from the start to its end offset, checks
// it against the ledgers and the plain consumer's reads, and checks the
// consumer group's commits against the end offsets.
func verify(ctx context.Context, addr string, ledgers []*ledger, cst *consumerStats, sum *summary) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topics := slices.Sorted(maps.Keys(topicPartitions))
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	sum.VictimEnd = ends[topicVictim][0].Offset

	// A committed offset past the log's end means the group saw records
	// the log no longer has.
	committed, err := adm.FetchOffsets(ctx, "soak-group")
	if err != nil {
		return fmt.Errorf("group offsets: %w", err)
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if end, ok := ends.Lookup(o.Topic, o.Partition); ok && o.At > end.Offset {
			sum.CommitsPastEnd++
		}
	})

	want := map[string]map[int32]int64{} // partitions left to read: their end offset
	parts := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Topic == topicVictim || o.Offset == 0 {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic] = map[int32]int64{}
			parts[o.Topic] = map[int32]kgo.Offset{}
		}
		want[o.Topic][o.Partition] = o.Offset
		parts[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
	})

	chk := newChecker(ledgers)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(parts), kgo.FetchMaxBytes(16<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	cst.mu.Lock()
	defer cst.mu.Unlock()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading back: %w (still to read: %v)", err, want)
		}
		fs.EachError(func(t string, p int32, err error) { cst.errs["verify: "+errKey(err)]++ })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == topicKgo {
				if h, ok := cst.seen[r.Partition][r.Offset]; ok {
					if h != valueHash(r.Value) {
						sum.ReadChanged++
					}
					delete(cst.seen[r.Partition], r.Offset)
				}
			}
			chk.add(r.Topic, r.Partition, r.Offset, r.Value)
			if end, ok := want[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(want[r.Topic], r.Partition)
				if len(want[r.Topic]) == 0 {
					delete(want, r.Topic)
				}
			}
		})
	}
	for _, m := range cst.seen {
		sum.ReadGone += int64(len(m))
	}
	sum.Foreign = chk.foreign
	sum.Producers = chk.results(ledgers)
	return nil
}
