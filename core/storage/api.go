// Package storage is Sluice's on-disk partition log: a directory of segments,
// each a .log file of Kafka v2 record batches stored exactly as producers sent
// them (only base offset and partition leader epoch are stamped in place), a
// sparse .index (offset -> file position) and a .timeindex (timestamp -> offset).
//
// The package knows the record batch format (it is the storage format) but
// nothing of the Kafka request protocol, replication or high watermarks:
// callers pass the limits (e.g. the high watermark) they want enforced.
//
// This file is the contract the rest of the broker codes against.
package storage

import (
	"errors"
	"log/slog"
	"time"
)

// Sentinel errors.
var (
	// ErrOffsetOutOfRange: the requested offset is below the log start
	// offset or above the log end offset.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("storage: log closed")
	// ErrCorruptBatch wraps every *CorruptError (errors.Is works).
	ErrCorruptBatch = errors.New("storage: corrupt record batch")
)

// CorruptError says why a batch failed validation.
type CorruptError struct{ Reason string }

func (e *CorruptError) Error() string { return "storage: corrupt record batch: " + e.Reason }
func (e *CorruptError) Unwrap() error { return ErrCorruptBatch }

// Config tunes one log. Zero values mean "use the default" as documented on
// each field; use -1 where a field says so to disable a limit.
type Config struct {
	// SegmentBytes rolls the active segment when appending would exceed it.
	// Default 1 GiB (Kafka's segment.bytes).
	SegmentBytes int64
	// SegmentMs rolls the active segment when its first batch is older than
	// this (checked on append and by MaybeRoll). Default 7 days; -1 never.
	SegmentMs int64
	// IndexIntervalBytes: an .index/.timeindex entry is added after at least
	// this many bytes since the previous entry. Default 4096.
	IndexIntervalBytes int32
	// RetentionMs deletes closed segments whose newest timestamp is older.
	// Default 7 days; -1 unlimited.
	RetentionMs int64
	// RetentionBytes deletes the oldest closed segments while the log is
	// larger. Default -1 (unlimited).
	RetentionBytes int64
	// FlushMessages fsyncs once this many messages were appended since the
	// last fsync. 1 makes every append durable before it is acknowledged
	// (callers use WaitDurable, which group-commits). Default: never by
	// count (Kafka's default; rely on FlushMs and the page cache).
	FlushMessages int64
	// FlushMs: the broker's periodic flusher fsyncs logs with unflushed
	// data at least this often. Default: 0 (only the broker's interval).
	FlushMs int64
}

// BatchHeader is the fixed 61-byte header of a v2 record batch (named
// apart from a record's headers, records.Header, which are key/value pairs).
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// BatchHeaderLen is the size of a v2 record batch header.
const BatchHeaderLen = 61

// Size is the whole batch size in bytes (12 + Length).
func (h BatchHeader) Size() int { return 12 + int(h.Length) }

// LastOffset is BaseOffset + LastOffsetDelta.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// IsTransactional, IsControl report attribute bits.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&0x10 != 0 }
func (h BatchHeader) IsControl() bool       { return h.Attributes&0x20 != 0 }

// Codec is the compression codec in the attributes (0 none, 1 gzip, 2
// snappy, 3 lz4, 4 zstd).
func (h BatchHeader) Codec() int8 { return int8(h.Attributes & 0x07) }

// LogAppendTime reports the timestamp-type attribute bit.
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&0x08 != 0 }

// Chunk is a contiguous byte range of one segment file holding whole
// batches. It keeps the segment file open until Release, even if retention
// deletes the segment meanwhile. Use File+Pos+Size for sendfile (pread
// semantics: never rely on or move the file's offset).
type Chunk struct {
	File File
	Pos  int64
	Size int
	// FirstOffset is the base offset of the first batch, LastOffset the last
	// offset of the last batch in the chunk.
	FirstOffset, LastOffset int64
	release                 func()
}

// Release drops the chunk's reference on its segment. Safe to call twice
// and on a zero Chunk.
func (c *Chunk) Release() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
}

// ReadAll copies the chunk's bytes into memory (pread).
func (c *Chunk) ReadAll() ([]byte, error) { return c.ReadInto(nil) }

// ReadInto is ReadAll into dst's space (grown when too small).
func (c *Chunk) ReadInto(dst []byte) ([]byte, error) {
	if c.Size == 0 {
		return nil, nil
	}
	b := dst[:0]
	if cap(b) < c.Size {
		b = make([]byte, c.Size)
	}
	b = b[:c.Size]
	_, err := c.File.ReadAt(b, c.Pos)
	return b, err
}

// OpenOptions are decided by the broker, not per topic.
type OpenOptions struct {
	// Recover: the previous shutdown was unclean, so scan every segment
	// from the recovery point on, validate batches (length, magic, CRC-32C),
	// truncate the torn/corrupt tail and rebuild those segments' indexes.
	// When false (after a clean shutdown) open without a full scan.
	Recover bool
	// Now is the clock (for tests); nil means time.Now.
	Now func() time.Time
	// Logger receives recovery and deletion reports; nil means
	// slog.Default().
	Logger *slog.Logger
	// OpenFile opens segment data files; nil means os.OpenFile. Tests
	// use it to inject I/O errors.
	OpenFile OpenFileFunc
	// Files bounds the open segment files; nil means the process-wide
	// DefaultFileCache.
	Files *FileCache
}

// Stats describes a log for metrics and the CLI.
type Stats struct {
	Segments       int
	Size           int64
	LogStartOffset int64
	NextOffset     int64
	RecoveryPoint  int64
}

// Compile-time reminder of the full Log API; implemented in log.go.
var _ interface {
	Append(batch []byte, leaderEpoch int32) (BatchHeader, error)
	Read(offset int64, maxBytes int, maxOffset int64) (Chunk, error)
	NextOffset() int64
	LogStartOffset() int64
	WaitDurable(offset int64) error
	Flush() error
	Scan(from int64, fn func(h BatchHeader, batch []byte) error) error
	FindOffsetByTimestamp(ts int64) (Chunk, bool, error)
	DeleteRecordsBefore(offset int64) error
	Truncate(offset int64) error
	EnforceRetention(maxOffset int64) (deleted int, err error)
	Compact(opts CompactOptions) (CompactStats, error)
	MaybeRoll() error
	SetConfig(cfg Config)
	Config() Config
	Dir() string
	Stats() Stats
	Close() error
	Delete() error
} = (*Log)(nil)
