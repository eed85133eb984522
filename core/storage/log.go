package storage

// STUB: the storage helper replaces the bodies; signatures and docs are the contract.

// Log is one partition's segmented log. All methods are safe for concurrent use.
type Log struct{}

// Open opens (creating if needed) the log in dir. See OpenOptions.Recover.
func Open(dir string, cfg Config, opts OpenOptions) (*Log, error) { panic("unimplemented") }

// ParseHeader reads a v2 batch header from b (no CRC check).
func ParseHeader(b []byte) (Header, error) { panic("unimplemented") }

// ValidateBatch checks that b is exactly one whole v2 batch: length field
// matches len(b), magic is 2, CRC-32C (Castagnoli) over b[21:] matches,
// NumRecords >= 0 and LastOffsetDelta >= 0. Returns *CorruptError on failure.
func ValidateBatch(b []byte) (Header, error) { panic("unimplemented") }

// SplitBatches splits a records blob (one or more concatenated v2 batches, as
// in a produce request) into batches without validating CRCs. A trailing
// partial batch is an error (*CorruptError).
func SplitBatches(b []byte) ([][]byte, error) { panic("unimplemented") }

// SetLogAppendTime sets the timestamp-type attribute bit and MaxTimestamp
// (and FirstTimestamp) to ts, then recomputes the CRC.
func SetLogAppendTime(b []byte, ts int64) { panic("unimplemented") }

// Append stamps BaseOffset = NextOffset() and PartitionLeaderEpoch into the
// batch in place (both lie outside the CRC), writes it to the active segment
// (rolling first if SegmentBytes/SegmentMs says so), updates the indexes and
// returns the stamped header. The caller validated the batch. Data is in the
// page cache when Append returns; use WaitDurable for fsync.
func (l *Log) Append(batch []byte, leaderEpoch int32) (Header, error) { panic("unimplemented") }

// Read returns whole batches starting with the batch that contains offset,
// up to maxBytes, but always at least one whole batch if one is available
// (KIP-74), and only batches whose last offset < maxOffset (the caller's
// high watermark). Reading at NextOffset() or at maxOffset returns an empty
// Chunk and nil. Offsets below LogStartOffset or above NextOffset give
// ErrOffsetOutOfRange. A chunk never spans segments.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (Chunk, error) {
	panic("unimplemented")
}

// NextOffset is the log end offset: the offset the next appended batch gets.
func (l *Log) NextOffset() int64 { panic("unimplemented") }

// LogStartOffset is the first offset still readable.
func (l *Log) LogStartOffset() int64 { panic("unimplemented") }

// WaitDurable returns once every batch with offsets < offset is fsynced.
// Concurrent callers share fsyncs (group commit): one goroutine fsyncs while
// others wait, and a waiter whose data the running fsync already covers does
// not fsync again.
func (l *Log) WaitDurable(offset int64) error { panic("unimplemented") }

// Flush fsyncs the active segment and indexes and advances the recovery point
// (persisted so that an unclean restart only scans past it).
func (l *Log) Flush() error { panic("unimplemented") }

// Scan calls fn for every batch from the batch containing from to the end
// of the log, in order. batch is only valid during the call.
func (l *Log) Scan(from int64, fn func(h Header, batch []byte) error) error {
	panic("unimplemented")
}

// FindOffsetByTimestamp returns a chunk holding the first batch whose
// MaxTimestamp >= ts (the caller finds the exact record inside); false if
// no batch qualifies.
func (l *Log) FindOffsetByTimestamp(ts int64) (Chunk, bool, error) { panic("unimplemented") }

// DeleteRecordsBefore raises the log start offset to offset (persisted) and
// deletes segments wholly below it. offset may not exceed NextOffset.
func (l *Log) DeleteRecordsBefore(offset int64) error { panic("unimplemented") }

// Truncate removes every batch with base offset >= offset (replication:
// follower truncation). Truncating inside a batch removes that whole batch.
func (l *Log) Truncate(offset int64) error { panic("unimplemented") }

// EnforceRetention deletes closed segments by RetentionMs/RetentionBytes,
// never the active segment and never a segment holding offsets >= maxOffset
// (the high watermark). Returns the number of segments deleted.
func (l *Log) EnforceRetention(maxOffset int64) (int, error) { panic("unimplemented") }

// MaybeRoll rolls the active segment if SegmentMs elapsed (for idle logs).
func (l *Log) MaybeRoll() error { panic("unimplemented") }

// SetConfig applies a new config (topic config changed at runtime).
func (l *Log) SetConfig(cfg Config) { panic("unimplemented") }

// Config returns the effective config (defaults filled in).
func (l *Log) Config() Config { panic("unimplemented") }

// Dir is the log's directory.
func (l *Log) Dir() string { panic("unimplemented") }

// Stats describes the log.
func (l *Log) Stats() Stats { panic("unimplemented") }

// Close flushes and closes all files (clean).
func (l *Log) Close() error { panic("unimplemented") }

// Delete closes the log and removes its directory.
func (l *Log) Delete() error { panic("unimplemented") }
