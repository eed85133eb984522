package storage

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/records"
)

// compactLog is a log whose segments roll on demand: SegmentMs is 1s on a
// fake clock, so advancing the clock past it makes the next append roll.
type compactLog struct {
	t     *testing.T
	l     *Log
	dir   string
	clock *fakeClock
	ts    int64 // timestamp of the next record
	logs  *logBuffer
	files *FileCache
}

// logBuffer collects a log's slog output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var compactT0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newCompactLog(t *testing.T, dir string) *compactLog {
	t.Helper()
	return newCompactLogFiles(t, dir, nil)
}

// newCompactLogFiles is newCompactLog with its own FileCache (nil: the
// default one).
func newCompactLogFiles(t *testing.T, dir string, files *FileCache) *compactLog {
	t.Helper()
	clock := &fakeClock{now: compactT0}
	c := &compactLog{t: t, dir: dir, clock: clock, ts: compactT0.UnixMilli(), logs: &logBuffer{}, files: files}
	c.l = openLog(t, dir, c.config(), c.openOptions(false))
	return c
}

func (c *compactLog) openOptions(recover bool) OpenOptions {
	return OpenOptions{Now: c.clock.Now, Recover: recover, Logger: slog.New(slog.NewTextHandler(c.logs, nil)), Files: c.files}
}

func (c *compactLog) config() Config {
	return Config{SegmentMs: 1000, IndexIntervalBytes: 1, RetentionMs: -1}
}

// reopen closes and reopens the log.
func (c *compactLog) reopen(recover bool) {
	c.t.Helper()
	if err := c.l.Close(); err != nil {
		c.t.Fatal(err)
	}
	c.l = openLog(c.t, c.dir, c.config(), c.openOptions(recover))
}

// roll makes the next append start a new segment.
func (c *compactLog) roll() { c.clock.Advance(2 * time.Second) }

// parseRecs turns "k=v" (keyed), "k!" (tombstone) and "=v" (keyless) into
// records; each record gets the next timestamp.
func (c *compactLog) parseRecs(specs ...string) []records.Record {
	recs := make([]records.Record, 0, len(specs))
	for _, s := range specs {
		var r records.Record
		switch {
		case strings.HasSuffix(s, "!"):
			r.Key = []byte(strings.TrimSuffix(s, "!"))
		case strings.HasPrefix(s, "="):
			r.Value = []byte(s[1:])
		default:
			k, v, _ := strings.Cut(s, "=")
			r.Key, r.Value = []byte(k), []byte(v)
		}
		r.Timestamp = c.ts
		c.ts++
		recs = append(recs, r)
	}
	return recs
}

// add appends one uncompressed, non-idempotent batch.
func (c *compactLog) add(specs ...string) BatchHeader {
	c.t.Helper()
	return c.addWith(records.Plain, 0, specs...)
}

func (c *compactLog) addWith(o records.EncodeOptions, leaderEpoch int32, specs ...string) BatchHeader {
	c.t.Helper()
	b, err := records.Encode(c.parseRecs(specs...), o)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.appendRaw(b, leaderEpoch)
}

func (c *compactLog) appendRaw(b []byte, leaderEpoch int32) BatchHeader {
	c.t.Helper()
	h, err := c.l.Append(b, leaderEpoch)
	if err != nil {
		c.t.Fatal(err)
	}
	return h
}

func (c *compactLog) compact(o CompactOptions) CompactStats {
	c.t.Helper()
	if o.MaxOffset == 0 {
		o.MaxOffset = c.l.NextOffset()
	}
	st, err := c.l.Compact(o)
	if err != nil {
		c.t.Fatalf("compact: %v", err)
	}
	return st
}

// recordsOf reads the whole log with Read (as a consumer would, stepping
// over gaps) and returns its records as "offset:key=value" strings
// ("offset:key!" for tombstones, "offset:=value" for keyless records).
func recordsOf(t *testing.T, l *Log) []string {
	t.Helper()
	var out []string
	for _, b := range batchesOf(t, l) {
		out = append(out, describeRecords(t, b)...)
	}
	return out
}

// batchesOf reads every batch from the log start to the end with Read.
func batchesOf(t *testing.T, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	end := l.NextOffset()
	for off := l.LogStartOffset(); off < end; {
		c, err := l.Read(off, 1<<20, end)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if c.Size == 0 {
			t.Fatalf("read %d: empty chunk before the end %d", off, end)
		}
		bs, err := SplitBatches(readChunk(t, c))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bs...)
		off = c.LastOffset + 1
	}
	return out
}

func describeRecords(t *testing.T, b []byte) []string {
	t.Helper()
	if _, err := ValidateBatch(b); err != nil {
		t.Fatalf("stored batch invalid: %v", err)
	}
	batch, err := records.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range batch.Records {
		out = append(out, describeRecord(r))
	}
	return out
}

func describeRecord(r records.Record) string {
	switch {
	case r.Key == nil:
		return fmt.Sprintf("%d:=%s", r.Offset, r.Value)
	case r.Value == nil:
		return fmt.Sprintf("%d:%s!", r.Offset, r.Key)
	}
	return fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, r.Value)
}

func wantRecords(t *testing.T, l *Log, want ...string) {
	t.Helper()
	if got := recordsOf(t, l); !slices.Equal(got, want) {
		t.Fatalf("records:\n got %q\nwant %q", got, want)
	}
}

// headersOf returns the stored batches' headers.
func headersOf(t *testing.T, l *Log) []BatchHeader {
	t.Helper()
	var out []BatchHeader
	for _, b := range batchesOf(t, l) {
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// setAttributes overwrites a batch's attributes and fixes its CRC.
func setAttributes(b []byte, attrs int16) {
	b[offAttributes], b[offAttributes+1] = byte(attrs>>8), byte(attrs)
	crc := crc32.Checksum(b[offAttributes:], castagnoli)
	putUint32(b, offCRC, crc)
}
