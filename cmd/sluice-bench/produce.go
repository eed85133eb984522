package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producerBufferBytes bounds what the client holds un-acked. It is enough to
// keep kgo's five in-flight requests full on one broker while keeping the
// ack-latency figure about the broker rather than a deep client queue.
const producerBufferBytes = 16 << 20

// errProduceIncomplete means the producer finished without every record acked.
var errProduceIncomplete = errors.New("not every record was acknowledged")

// produceStats is what one produce phase achieved.
type produceStats struct {
	records  int64
	bytes    int64
	elapsed  time.Duration
	ackP50   time.Duration
	ackP99   time.Duration
	checksum uint64  // sum of valueChecksum over every acked record
	perPart  []int64 // acked records per partition
}

// valueSource gives record values by sequence number with their checksums
// (random payloads, log lines).
type valueSource interface {
	value(seq int64) []byte
	checksum(seq int64) uint64
}

// produceCompression is the producers' batch codec (-compression).
var (
	produceCompression = kgo.NoCompression()
	produceCodecName   = "no compression"
)

func useSnappy() { produceCompression, produceCodecName = kgo.SnappyCompression(), "snappy" }

// produceAll writes w.records records to topic on addr with acks=all and
// idempotence (kgo's default), asynchronously, recording ack latency.
// conn adds connection options (TLS, SASL) and nothing else, so every
// listener is driven by the same client settings.
func produceAll(ctx context.Context, addr, topic string, w workload, payload valueSource, conn ...kgo.Opt) (produceStats, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Uncompressed: random payloads would only burn client CPU, and a
		// transform's cost must not hide behind recompressing batches.
		kgo.ProducerBatchCompression(produceCompression),
		kgo.MaxBufferedRecords(max(1000, producerBufferBytes/w.recordSize)),
		kgo.MaxBufferedBytes(producerBufferBytes),
	}, conn...)...)
	if err != nil {
		return produceStats{}, err
	}
	defer cl.Close()

	var (
		acked    atomic.Int64
		failed   atomic.Bool
		firstErr atomic.Pointer[error]
		perPart  = make([]atomic.Int64, w.partitions)
		sampler  = newLatencySampler(w.records)
	)
	ctx, stopWatch := watchProgress(ctx, &acked, stallTimeout)
	defer stopWatch()

	onAck := func(r *kgo.Record, err error) {
		if err != nil {
			if failed.CompareAndSwap(false, true) {
				firstErr.Store(&err)
			}
			return
		}
		if r.Partition < 0 || int(r.Partition) >= len(perPart) {
			err := fmt.Errorf("ack for partition %d of a %d-partition topic", r.Partition, len(perPart))
			if failed.CompareAndSwap(false, true) {
				firstErr.Store(&err)
			}
			return
		}
		perPart[r.Partition].Add(1)
		acked.Add(1)
	}

	var checksum uint64
	start := time.Now()
	for seq := int64(0); seq < w.records && !failed.Load(); seq++ {
		rec := &kgo.Record{Value: payload.value(seq)}
		checksum += payload.checksum(seq)
		if !sampler.sampled(seq) {
			cl.Produce(ctx, rec, onAck)
			continue
		}
		sent := time.Now()
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			sampler.record(seq, time.Since(sent))
			onAck(r, err)
		})
	}
	flushErr := cl.Flush(ctx)
	elapsed := time.Since(start)

	if errp := firstErr.Load(); errp != nil {
		return produceStats{}, causeOr(ctx, *errp)
	}
	if flushErr != nil {
		return produceStats{}, causeOr(ctx, flushErr)
	}
	if n := acked.Load(); n != w.records {
		return produceStats{}, fmt.Errorf("%w: %d of %d", errProduceIncomplete, n, w.records)
	}

	stats := produceStats{
		records:  w.records,
		bytes:    w.records * int64(w.recordSize),
		elapsed:  elapsed,
		checksum: checksum,
		perPart:  make([]int64, w.partitions),
	}
	for i := range perPart {
		stats.perPart[i] = perPart[i].Load()
	}
	stats.ackP50, stats.ackP99 = sampler.percentiles(w.records)
	return stats, nil
}

// causeOr prefers the reason ctx was cancelled (broker died, stall, Ctrl-C)
// over the generic context error a client call reports.
func causeOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return cause
	}
	return err
}
