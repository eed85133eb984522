package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// errBadIndex marks an index file that fails its sanity check; the segment's
// indexes are then rebuilt by scanning the log file.
var errBadIndex = errors.New("storage: malformed index file")

// indexEntry is one sparse .index entry: the batch whose base offset is
// segment base + rel starts at file position pos. Like Kafka, both are
// uint32 so an entry is 8 bytes; segments roll before either overflows.
type indexEntry struct {
	rel uint32
	pos uint32
}

const indexEntrySize = 8

// relOffset converts an absolute offset to one relative to base, clamped to
// the uint32 range so lookups beyond a segment's range stay well defined.
func relOffset(base, offset int64) uint32 {
	d := offset - base
	switch {
	case d < 0:
		return 0
	case d > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(d)
}

// floorEntry returns the index of the last entry with rel <= target, or -1.
// Hand-rolled binary search: it runs on every Read and must not allocate.
func floorEntry(entries []indexEntry, target uint32) int {
	lo, hi := 0, len(entries)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if entries[mid].rel <= target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

func appendIndexEntries(dst []byte, entries []indexEntry) []byte {
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
		dst = binary.BigEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

// decodeIndex parses and sanity-checks an .index file: whole entries,
// strictly increasing offsets and positions, positions inside the log file.
func decodeIndex(b []byte, logSize int64) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of entries", errBadIndex, len(b))
	}
	entries := make([]indexEntry, 0, len(b)/indexEntrySize)
	for i := 0; i < len(b); i += indexEntrySize {
		e := indexEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if int64(e.pos) >= logSize {
			return nil, fmt.Errorf("%w: position %d beyond log size %d", errBadIndex, e.pos, logSize)
		}
		if n := len(entries); n > 0 && (e.rel <= entries[n-1].rel || e.pos <= entries[n-1].pos) {
			return nil, fmt.Errorf("%w: entry %d not increasing", errBadIndex, n)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// writeIndexFile writes data at byte offset at of the file at path
// (creating it), cuts the file to at+len(data) and fsyncs it. Index files are
// not kept open: they are only written on flush, roll, truncation and close.
func writeIndexFile(path string, data []byte, at int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := f.WriteAt(data, at); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Truncate(at + int64(len(data))); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
