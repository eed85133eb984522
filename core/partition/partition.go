// Package partition wraps a storage log with a partition's replication
// state: high watermark, leader epoch, in-sync replicas and idempotent
// producer state. Protocol handlers talk to partitions, never to files.
//
// Single-node mode is a cluster of one: the ISR is just this broker, so the
// high watermark follows the log end offset (after fsync in durable mode).
//
// Lock discipline: appendMu serializes appends and guards producers; mu
// guards the replication fields (hw, notify, epoch, isr). appendMu may be
// held while taking mu, never the other way round. Neither is held during
// fsync waits or reads.
package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// Config is a partition's effective topic configuration.
type Config struct {
	Log storage.Config
	// MaxMessageBytes bounds one record batch (max.message.bytes).
	MaxMessageBytes int32
	// LogAppendTime stamps batches with the broker's clock
	// (message.timestamp.type=LogAppendTime).
	LogAppendTime bool
	// MinInsyncReplicas: acks=all produce needs this many in-sync
	// replicas (min.insync.replicas).
	MinInsyncReplicas int
	// BrokerID is this broker (the partition's own replica id).
	BrokerID int32
	// DecompressBudget bounds what one produced batch may inflate to
	// during validation and timestamp lookups; 0 means
	// records.BudgetFor(MaxMessageBytes).
	DecompressBudget int
	// Compacted: cleanup.policy includes compact, so produced records
	// need keys.
	Compacted bool
}

// DecompressLimit is the effective decompression budget of one batch.
func (c Config) DecompressLimit() int {
	if c.DecompressBudget > 0 {
		return c.DecompressBudget
	}
	return records.BudgetFor(c.MaxMessageBytes)
}

// durable reports whether acknowledgements wait for fsync.
func (c *Config) durable() bool { return c.Log.FlushMessages == 1 }

// Partition is one topic partition hosted by this broker.
type Partition struct {
	Topic string
	Index int32

	log    *storage.Log
	logger *slog.Logger
	cfg    atomic.Pointer[Config]
	now    func() time.Time

	// flushMu serializes Flush with Delete, so that a background flush
	// never writes into (or renames in) a directory being removed.
	flushMu sync.Mutex
	deleted bool // flushMu

	appendMu  sync.Mutex
	producers *producers
	// firstUnstable is the first offset of the oldest open transaction
	// (-1: none), published under appendMu for lock-free LSO reads.
	firstUnstable atomic.Int64
	flushedEnd    int64 // log end at the last completed Flush; -1 before any
	// snapMu orders producer-snapshot saves with truncations, which bump
	// truncGen: Flush saves only if no truncation happened since it
	// cloned the producer state.
	snapMu   sync.Mutex
	truncGen atomic.Uint64

	mu          sync.Mutex
	hw          int64
	notify      chan struct{} // closed when hw advances
	appended    chan struct{} // closed when the log grows (replica fetches wait on it)
	leaderEpoch int32
	closed      bool
	repl        replication
	epochs      *epochCache
	isrWake     func() // see SetISRWaker

	// traffic counts client bytes and records, for metrics (traffic.go):
	// its own counters from Open, or the broker's for this topic
	// partition once UseTraffic hands them over.
	traffic atomic.Pointer[Traffic]
}

// Open opens the partition's log in dir and rebuilds its producer state.
func Open(topic string, index int32, dir string, cfg Config, recover bool, logger *slog.Logger) (*Partition, error) {
	l, err := storage.Open(dir, cfg.Log, storage.OpenOptions{Recover: recover})
	if err != nil {
		return nil, fmt.Errorf("partition %s-%d: open log: %w", topic, index, err)
	}
	prods, err := loadProducers(l, logger)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("partition %s-%d: producer state: %w", topic, index, err)
	}
	epochs, err := loadEpochs(dir)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("partition %s-%d: leader epochs: %w", topic, index, err)
	}
	epochs.logger = logger.With("topic", topic, "partition", index)
	p := &Partition{
		Topic:     topic,
		Index:     index,
		log:       l,
		logger:    logger.With("topic", topic, "partition", index),
		now:       time.Now,
		producers: prods,
		// -1 forces the first Flush (e.g. at a clean shutdown right after
		// recovery) to write a producer snapshot.
		flushedEnd: -1,
		notify:     make(chan struct{}),
		appended:   make(chan struct{}),
		epochs:     epochs,
		// Everything that survived recovery is committed: a cluster of
		// one has no follower that could lack it. In a cluster the
		// replica manager sets the role (and the follower learns the
		// leader's high watermark) before anyone reads.
		hw:   l.NextOffset(),
		repl: soleLeader(cfg.BrokerID, l.NextOffset()),
	}
	p.cfg.Store(&cfg)
	p.firstUnstable.Store(prods.firstOpen())
	p.traffic.Store(new(Traffic))
	return p, nil
}

// SetLeaderEpoch sets the epoch stamped into appended batches, keeping the
// partition a leader (single-node mode and startup).
func (p *Partition) SetLeaderEpoch(e int32) {
	// appendMu serialises the epoch checkpoint's writes (BecomeLeader and
	// FollowerAppend write it without mu).
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaderEpoch = e
	start := p.log.NextOffset()
	if _, ok := p.epochs.latest(); !ok {
		start = p.log.LogStartOffset()
	}
	if err := p.epochs.assign(e, start); err != nil {
		p.logger.Error("saving leader epochs", "err", err)
	}
}

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leaderEpoch
}

// SetConfig applies a topic config change.
func (p *Partition) SetConfig(cfg Config) {
	p.cfg.Store(&cfg)
	p.log.SetConfig(cfg.Log)
}

// Config returns the effective config.
func (p *Partition) Config() Config { return *p.cfg.Load() }

// AppendResult is what a produce answers.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64

	commitOffset int64 // offset after the appended records
}

// Append validates and appends a produce request's records (one or more v2
// batches). It returns one of the errors of errors.go for anything the
// client must see: ErrCorruptMessage, ErrMessageTooLarge, sequence errors,
// etc. Nothing of a
// request is appended if any of its batches is invalid. The data is in the
// log when Append returns; acks=all callers then call WaitCommitted.
func (p *Partition) Append(records []byte) (AppendResult, error) {
	return p.AppendTransformed(records, nil)
}

// TransformFunc turns one validated input batch into the batch or batches
// (concatenated) to store; nil stores nothing (every record dropped). It
// runs under the partition's append lock, so transforms of a partition
// happen in produce order. The input's producer sequence is recorded at
// the first output batch.
type TransformFunc func(h storage.BatchHeader, batch []byte) ([]byte, error)

// AppendTransformed is Append with a transform applied to each batch after
// validation and deduplication. Idempotent producers are sequenced by
// their input batches, whatever the transform makes of them: a retried
// input batch is answered with the offset its output got.
func (p *Partition) AppendTransformed(records []byte, transform TransformFunc) (AppendResult, error) {
	return p.AppendGuarded(records, transform, nil)
}

// AppendGuarded is AppendTransformed with transaction verification on
// when g is not nil (see StartTxnVerification): a transactional batch of
// a producer with no transaction open here fails with ErrTxnNotVerified
// unless g's verification is still pending (no marker since).
func (p *Partition) AppendGuarded(records []byte, transform TransformFunc, g *TxnGuard) (AppendResult, error) {
	cfg := p.cfg.Load()
	batches, headers, err := p.validate(records, cfg)
	if err != nil {
		return AppendResult{}, err
	}
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	epoch, closed, leader := p.leaderEpoch, p.closed, p.repl.leader
	p.mu.Unlock()
	if closed || !leader {
		return res, ErrNotLeader
	}
	// Check every batch before appending any, so a bad one fails the
	// whole request without a partial append.
	for i, h := range headers {
		if err := p.producers.check(h); err != nil {
			var dup *errDuplicate
			if errors.As(err, &dup) {
				if len(headers) > 1 || i > 0 {
					return res, ErrOutOfOrderSequence
				}
				// A retry of a batch we have: answer with its offset.
				res.BaseOffset = dup.baseOffset
				res.LogStartOffset = p.log.LogStartOffset()
				res.commitOffset = dup.baseOffset + int64(h.LastOffsetDelta) + 1
				return res, nil
			}
			return res, err
		}
		if err := p.producers.checkVerified(h, g); err != nil {
			return res, err
		}
	}
	outs := batches
	if transform != nil {
		outs = make([][]byte, len(batches))
		for i, b := range batches {
			out, err := transform(headers[i], b)
			if err != nil {
				return res, err
			}
			if out != nil {
				split, err := storage.SplitBatches(out)
				if err != nil || len(split) == 0 {
					return res, ErrCorruptMessage
				}
				for _, o := range split {
					if len(o) > int(cfg.MaxMessageBytes) {
						return res, ErrMessageTooLarge
					}
				}
			}
			outs[i] = out
		}
	}
	res.commitOffset = p.log.NextOffset()
	for i, out := range outs {
		in := headers[i]
		if out == nil {
			// Everything dropped: remember the sequence at the current
			// end so a retry is answered, store nothing.
			in.BaseOffset = p.log.NextOffset()
			p.producers.record(in)
			if i == 0 {
				res.BaseOffset = in.BaseOffset
			}
			continue
		}
		split := [][]byte{out}
		if transform != nil {
			split, _ = storage.SplitBatches(out) // checked above
		}
		for j, b := range split {
			if transform != nil && in.IsTransactional() {
				markTransactional(b)
			}
			if cfg.LogAppendTime {
				ts := p.now().UnixMilli()
				storage.SetLogAppendTime(b, ts)
				res.LogAppendTime = ts
			}
			h, err := p.log.Append(b, epoch)
			if err != nil {
				return res, p.storageError("append", err)
			}
			if i == 0 && j == 0 {
				res.BaseOffset = h.BaseOffset
			}
			if j == 0 {
				in.BaseOffset = h.BaseOffset
				p.producers.record(in)
			}
			res.commitOffset = h.LastOffset() + 1
		}
	}
	if slices.ContainsFunc(headers, storage.BatchHeader.IsTransactional) {
		p.firstUnstable.Store(p.producers.firstOpen())
	}
	p.mu.Lock()
	if !cfg.durable() {
		// Page cache is as durable as Kafka's default gets: the
		// leader's own copy counts towards the high watermark now.
		p.ownEndLocked(res.commitOffset)
	}
	p.wakeAppendedLocked()
	p.mu.Unlock()
	p.countIn(records, headers)
	res.LogStartOffset = p.log.LogStartOffset()
	return res, nil
}

// validate splits and checks a produce's records.
func (p *Partition) validate(recs []byte, cfg *Config) ([][]byte, []storage.BatchHeader, error) {
	batches, err := storage.SplitBatches(recs)
	if err != nil || len(batches) == 0 {
		return nil, nil, ErrCorruptMessage
	}
	headers := make([]storage.BatchHeader, len(batches))
	for i, b := range batches {
		if len(b) >= 17 && b[16] != 2 {
			// Magic 0/1 message sets are up-converted by the protocol
			// layer before they get here.
			return nil, nil, ErrLegacyMessageFormat
		}
		h, err := storage.ValidateBatch(b)
		if err != nil {
			p.logger.Warn("rejected corrupt batch", "err", err)
			return nil, nil, ErrCorruptMessage
		}
		if h.Size() > int(cfg.MaxMessageBytes) {
			return nil, nil, ErrMessageTooLarge
		}
		if err := records.Validate(b, records.ValidateOptions{
			DecompressBudget: cfg.DecompressLimit(),
			RequireKeys:      cfg.Compacted,
		}); err != nil {
			p.logger.Warn("rejected invalid batch", "err", err)
			return nil, nil, invalidBatch(err)
		}
		// Validate may have corrected the max timestamp.
		h, _ = storage.ParseHeader(b)
		headers[i] = h
	}
	return batches, headers, nil
}

// invalidBatch classifies a validator's refusal (see InvalidBatchError).
func invalidBatch(err error) error {
	kind := ErrCorruptMessage
	if errors.Is(err, records.ErrInvalidRecord) {
		kind = ErrInvalidRecord
	}
	return &InvalidBatchError{Err: kind, Reason: err.Error()}
}

// WaitCommitted returns once the result's records are committed: fsynced
// in durable mode (flush.messages=1, group-committed with concurrent
// producers) and replicated to every in-sync replica, i.e. below the high
// watermark. acks=all produce calls it before answering; ctx bounds the
// wait (ErrCommitTimeout), and losing leadership, or the partition
// being closed or deleted, meanwhile answers ErrNotLeader.
// Records committed while the ISR is smaller than min.insync.replicas
// (it shrank after the append) answer ErrCommittedUnderMinISR,
// as in Kafka: they are in the log, but on fewer replicas than the
// producer asked for.
func (p *Partition) WaitCommitted(ctx context.Context, res AppendResult) error {
	p.mu.Lock()
	done, err := p.committedLocked(res)
	p.mu.Unlock()
	if done {
		return err
	}
	if p.cfg.Load().durable() {
		if err := p.log.WaitDurable(res.commitOffset); err != nil {
			return p.storageError("fsync", err)
		}
		p.mu.Lock()
		p.ownEndLocked(res.commitOffset)
		p.mu.Unlock()
	}
	for {
		// One look under mu: the high watermark and the channel that
		// announces its next advance must go together.
		p.mu.Lock()
		done, err := p.committedLocked(res)
		leader, closed, ch := p.repl.leader, p.closed, p.notify
		p.mu.Unlock()
		switch {
		case done:
			return err
		case !leader || closed:
			// Closed (shutdown) or deleted under the wait: the high
			// watermark will not move again; answer now, not when the
			// request times out.
			return ErrNotLeader
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ErrCommitTimeout
		}
	}
}

// committedLocked reports whether res is below the high watermark, and
// then whether enough replicas were in sync (see WaitCommitted). mu held.
func (p *Partition) committedLocked(res AppendResult) (bool, error) {
	if p.hw < res.commitOffset {
		return false, nil
	}
	if p.repl.leader && len(p.repl.isr) < p.cfg.Load().MinInsyncReplicas {
		return true, ErrCommittedUnderMinISR
	}
	return true, nil
}

// advanceHWLocked raises the high watermark to off (never lowers it) and
// wakes waiting fetches and acks=all producers. Parked follower fetches
// are not woken: a follower learns the high watermark with its next
// answer (the next records, or its fetch's MaxWait, 100 ms), as in Kafka;
// answering every advance would add a round trip per follower per commit.
func (p *Partition) advanceHWLocked(off int64) {
	if off > p.hw {
		if p.repl.leader && !p.repl.hwMoved {
			p.repl.hwMoved = true
			p.logger.Debug("high watermark advanced in this leader epoch", "from", p.hw, "to", off,
				"epoch", p.leaderEpoch, "since_leader", p.now().Sub(p.repl.since))
		}
		p.hw = off
		close(p.notify)
		p.notify = make(chan struct{})
	}
}

// wakeAppendedLocked wakes replica fetches waiting for new data.
func (p *Partition) wakeAppendedLocked() {
	close(p.appended)
	p.appended = make(chan struct{})
}

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// Wait returns a channel closed when the high watermark next advances.
func (p *Partition) Wait() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify
}

// LogStartOffset is the first readable offset.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the next offset to be assigned.
func (p *Partition) LogEndOffset() int64 { return p.log.NextOffset() }

// ReadResult is a fetch's data and the partition's offsets at read time.
type ReadResult struct {
	Chunk            storage.Chunk // release it when written
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Aborted lists the aborted transactions overlapping the chunk
	// (read_committed reads only).
	Aborted []storage.AbortedTxn
}

// Read reads committed batches from offset, up to maxBytes (at least one
// whole batch if any). ErrOffsetOutOfRange below the log start or past
// the log end.
func (p *Partition) Read(offset int64, maxBytes int) (ReadResult, error) {
	return p.ReadIsolated(offset, maxBytes, false)
}

// ReadIsolated is Read with an isolation level: committed (read_committed)
// reads stop at the last stable offset and list the aborted transactions
// of what they return, for the consumer to drop.
func (p *Partition) ReadIsolated(offset int64, maxBytes int, committed bool) (ReadResult, error) {
	p.mu.Lock()
	hw, leader := p.hw, p.repl.leader
	p.mu.Unlock()
	if !leader {
		return ReadResult{HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}, ErrNotLeader
	}
	res := ReadResult{HighWatermark: hw, LastStableOffset: p.lso(hw), LogStartOffset: p.log.LogStartOffset()}
	limit := hw
	if committed {
		limit = res.LastStableOffset
	}
	if p.log.Err() != nil {
		// Offline after an I/O error: even reads below the high
		// watermark answer ErrStorage, as Kafka does for a
		// partition on an offline log dir.
		return res, ErrStorage
	}
	if offset < res.LogStartOffset || offset > p.log.NextOffset() {
		return res, ErrOffsetOutOfRange
	}
	if offset >= limit {
		return res, nil
	}
	c, err := p.log.Read(offset, maxBytes, limit)
	if err != nil {
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			// Retention moved the start while we looked.
			res.LogStartOffset = p.log.LogStartOffset()
			return res, ErrOffsetOutOfRange
		}
		return res, p.storageError("read", err)
	}
	res.Chunk = c
	if committed && c.Size > 0 {
		res.Aborted = p.log.AbortedTxns(offset, c.LastOffset+1)
	}
	return res, nil
}

// DeleteRecordsBefore implements DeleteRecords: offset -1 means the high
// watermark. Returns the new log start offset.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return p.log.LogStartOffset(), ErrOffsetOutOfRange
	}
	if offset <= p.log.LogStartOffset() {
		return p.log.LogStartOffset(), nil
	}
	if err := p.log.DeleteRecordsBefore(offset); err != nil {
		p.logger.Error("delete records failed", "offset", offset, "err", err)
		return p.log.LogStartOffset(), ErrStorage
	}
	return p.log.LogStartOffset(), nil
}

// EnforceRetention applies retention.ms/retention.bytes below the high
// watermark.
func (p *Partition) EnforceRetention() (int, error) {
	if err := p.log.MaybeRoll(); err != nil {
		return 0, err
	}
	return p.log.EnforceRetention(p.HighWatermark())
}

// Flush fsyncs the log and snapshots producer state as of the flushed
// offset, bounding the replay after an unclean restart.
func (p *Partition) Flush() error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	if p.deleted {
		return nil // nothing left to make durable
	}
	p.appendMu.Lock()
	end := p.log.NextOffset()
	if end == p.flushedEnd {
		p.appendMu.Unlock()
		return nil // nothing appended since the last flush
	}
	snap := p.producers.clone()
	gen := p.truncGen.Load()
	p.appendMu.Unlock()
	if err := p.log.Flush(); err != nil {
		return err
	}
	// Flushed data counts in durable mode too (acks=0/1 producers never
	// call WaitCommitted).
	p.mu.Lock()
	p.ownEndLocked(end)
	p.mu.Unlock()
	// A truncation since the clone makes the snapshot describe batches
	// that are gone; saved, it would answer producer retries with their
	// offsets after a later load (see truncateLocked).
	p.snapMu.Lock()
	if p.truncGen.Load() != gen {
		p.snapMu.Unlock()
		return nil
	}
	err := snap.save(p.log.Dir(), end)
	p.snapMu.Unlock()
	if err != nil {
		return err
	}
	p.appendMu.Lock()
	p.flushedEnd = max(p.flushedEnd, end)
	p.appendMu.Unlock()
	return nil
}

// storageError logs a failed log operation and returns the partition
// error for it: ErrNotLeader when the log was closed meanwhile, else
// ErrStorage. An offline log already logged its first failure
// (with the file and cause), so repeats are not logged again.
func (p *Partition) storageError(op string, err error) error {
	if errors.Is(err, storage.ErrClosed) {
		return ErrNotLeader // closed or deleted meanwhile
	}
	if !errors.Is(err, storage.ErrOffline) {
		p.logger.Error(op+" failed", "err", err)
	}
	return ErrStorage
}

// Offline reports the log's sticky I/O error (nil while healthy): the
// partition refuses appends and reads until the broker restarts.
func (p *Partition) Offline() error { return p.log.Err() }

// Stats describes the partition's log.
func (p *Partition) Stats() storage.Stats { return p.log.Stats() }

// Close flushes and closes the log (clean shutdown).
func (p *Partition) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.notify) // wake fetches so they answer before shutdown
	p.notify = make(chan struct{})
	p.wakeAppendedLocked()
	p.mu.Unlock()
	ferr := p.Flush()
	cerr := p.log.Close()
	return errors.Join(ferr, cerr)
}

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.deleted = true
	p.mu.Lock()
	p.closed = true
	close(p.notify)
	p.notify = make(chan struct{})
	p.mu.Unlock()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.log.Delete()
}

// Scan calls fn with every stored batch from the log start, in order
// (internal readers such as the group coordinator's loader).
func (p *Partition) Scan(fn func(batch []byte) error) error {
	return p.log.Scan(p.log.LogStartOffset(), func(_ storage.BatchHeader, batch []byte) error { return fn(batch) })
}

// CompactOptions are the topic settings compaction honours.
type CompactOptions struct {
	DeleteRetentionMs      int64
	MinCompactionLagMs     int64
	MinCleanableDirtyRatio float64
}

// Compact runs log compaction below the high watermark.
func (p *Partition) Compact(o CompactOptions) (storage.CompactStats, error) {
	return p.log.Compact(storage.CompactOptions{
		MaxOffset:              p.HighWatermark(),
		DeleteRetentionMs:      o.DeleteRetentionMs,
		MinCompactionLagMs:     o.MinCompactionLagMs,
		MinCleanableDirtyRatio: o.MinCleanableDirtyRatio,
	})
}
