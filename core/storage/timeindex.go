package storage

import (
	"encoding/binary"
	"fmt"
)

// timeEntry is one .timeindex entry: ts is the largest MaxTimestamp of all
// batches up to and including the batch with base offset segment base +
// rel. Entries are only added when ts grows, so both fields increase, and
// every batch at or before rel has MaxTimestamp <= ts: a timestamp search
// can start at the last entry whose ts is below the target.
type timeEntry struct {
	ts  int64
	rel uint32
}

const timeEntrySize = 12

// lastTimeBelow returns the index of the last entry with ts < target, or -1.
func lastTimeBelow(entries []timeEntry, target int64) int {
	lo, hi := 0, len(entries)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if entries[mid].ts < target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

func appendTimeEntries(dst []byte, entries []timeEntry) []byte {
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.BigEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// decodeTimeIndex parses and sanity-checks a .timeindex file: whole
// entries, strictly increasing timestamps and offsets.
func decodeTimeIndex(b []byte) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of time entries", errBadIndex, len(b))
	}
	entries := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if n := len(entries); n > 0 && (e.ts <= entries[n-1].ts || e.rel <= entries[n-1].rel) {
			return nil, fmt.Errorf("%w: time entry %d not increasing", errBadIndex, n)
		}
		entries = append(entries, e)
	}
	return entries, nil
}
