package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	// errConsumeMismatch means the broker returned something other than
	// exactly the records that were acked: lost, extra, reordered or altered.
	errConsumeMismatch = errors.New("consumed records do not match produced records")
)

// consumeStats is what one consume phase achieved.
type consumeStats struct {
	records int64
	bytes   int64
	elapsed time.Duration
}

// consumeAll reads topic from the start of every partition, without a
// group, until it has seen exactly what produced describes, and verifies
// per-partition offsets, counts and the content checksum on the way. conn
// adds connection options (TLS, SASL), as for produceAll.
func consumeAll(ctx context.Context, addr, topic string, produced produceStats, conn ...kgo.Opt) (consumeStats, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, conn...)...)
	if err != nil {
		return consumeStats{}, err
	}
	defer cl.Close()

	var progress atomic.Int64
	ctx, stopWatch := watchProgress(ctx, &progress, stallTimeout)
	defer stopWatch()

	nextOffset := make([]int64, len(produced.perPart))
	var stats consumeStats
	var checksum uint64
	var mismatch error

	start := time.Now()
	for stats.records < produced.records && mismatch == nil {
		fetches := cl.PollFetches(ctx)
		if err := fetchError(ctx, fetches); err != nil {
			return consumeStats{}, err
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if mismatch != nil {
				return
			}
			if mismatch = checkNext(r, nextOffset, produced.perPart); mismatch != nil {
				return
			}
			nextOffset[r.Partition]++
			stats.records++
			stats.bytes += int64(len(r.Value))
			checksum += valueChecksum(r.Value)
		})
		progress.Store(stats.records)
	}
	stats.elapsed = time.Since(start)

	if mismatch != nil {
		return consumeStats{}, mismatch
	}
	if stats.bytes != produced.bytes || checksum != produced.checksum {
		return consumeStats{}, fmt.Errorf("%w: read %d bytes with checksum %#x, produced %d bytes with checksum %#x",
			errConsumeMismatch, stats.bytes, checksum, produced.bytes, produced.checksum)
	}
	return stats, nil
}

// checkNext verifies r is the next record its partition should deliver:
// offsets must run 0,1,2,... on a fresh topic and stop at the acked count.
func checkNext(r *kgo.Record, nextOffset, ackedPerPart []int64) error {
	p := r.Partition
	if p < 0 || int(p) >= len(nextOffset) {
		return fmt.Errorf("%w: record from partition %d of a %d-partition topic", errConsumeMismatch, p, len(nextOffset))
	}
	if r.Offset != nextOffset[p] {
		return fmt.Errorf("%w: partition %d: got offset %d, want %d", errConsumeMismatch, p, r.Offset, nextOffset[p])
	}
	if r.Offset >= ackedPerPart[p] {
		return fmt.Errorf("%w: partition %d: offset %d but only %d records were acked there", errConsumeMismatch, p, r.Offset, ackedPerPart[p])
	}
	return nil
}

// fetchError turns the first error in a poll into a phase error.
func fetchError(ctx context.Context, fetches kgo.Fetches) error {
	if fetches.IsClientClosed() {
		return causeOr(ctx, context.Canceled)
	}
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
			return causeOr(ctx, fe.Err)
		}
		return fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
	}
	return nil
}
