package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/sluicemq/sluice/core/records"
)

// segView is a segment as Compact saw it when it started, with the
// committed size and offsets of that moment (pinned only while read).
// Everything below size is immutable, so it is read without locks.
type segView struct {
	seg    *segment
	size   int64
	maxTs  int64
	active bool
}

// compactSnapshot is what one Compact run works on.
type compactSnapshot struct {
	views    []segView // ascending, from the segment holding logStart
	log      *Log
	pinned   *segment // the view being read (see pin)
	logStart int64
	// limit: batches whose last offset is >= limit are neither compacted
	// nor entered into the key map. buildKeyMap may lower it (minimum
	// compaction lag).
	limit int64
	// truncations is Log.truncations at the start: a truncation meanwhile
	// may have removed records the key map counts as superseding.
	truncations int64
	// dirtyBytes of totalBytes compactable bytes were appended since the
	// last run (estimated at index granularity).
	dirtyBytes, totalBytes int64
}

// snapshotForCompaction pins the segments holding offsets in
// [logStart, limit) and estimates the dirty ratio.
func (l *Log) snapshotForCompaction(maxOffset int64) (*compactSnapshot, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	s := &compactSnapshot{log: l, logStart: l.logStart.Load(), truncations: l.truncations.Load()}
	s.limit = min(maxOffset, l.recoveryPoint.Load(), l.nextOffset.Load())
	firstDirty := min(max(l.cleanerOffset.Load(), s.logStart), s.limit)
	for _, seg := range l.segs {
		if seg.base >= s.limit {
			break
		}
		if seg.end <= s.logStart {
			continue // wholly below the log start: unreadable, left alone
		}
		s.views = append(s.views, segView{seg: seg, size: seg.size, maxTs: seg.maxTs, active: seg == l.active})

		lo, hi := seg.positionFor(s.logStart), seg.size
		if seg.end > s.limit {
			hi = seg.positionFor(s.limit)
		}
		s.totalBytes += max(hi-lo, 0)
		if seg.end > firstDirty {
			s.dirtyBytes += max(hi-max(lo, seg.positionFor(firstDirty)), 0)
		}
	}
	return s, nil
}

// pin opens v's file for reading: one view at a time is pinned (a log
// may have thousands of segments), so pinning v unpins the previous one.
func (s *compactSnapshot) pin(v segView) (File, error) {
	s.release()
	f, err := s.log.pinLive(v.seg)
	if err != nil {
		return nil, err
	}
	s.pinned = v.seg
	return f, nil
}

// release unpins the view pinned last.
func (s *compactSnapshot) release() {
	if s.pinned != nil {
		s.pinned.unpin()
		s.pinned = nil
	}
}

// pinLive pins seg if it is still one of the log's segments.
func (l *Log) pinLive(seg *segment) (File, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if i := l.floorSegment(seg.base); i >= len(l.segs) || l.segs[i] != seg {
		return nil, errSegmentGone
	}
	return seg.pin()
}

// closedViews are the segments Compact may rewrite: closed, and starting
// below the limit.
func (s *compactSnapshot) closedViews() []segView {
	var out []segView
	for _, v := range s.views {
		if !v.active && v.seg.base < s.limit {
			out = append(out, v)
		}
	}
	return out
}

func (s *compactSnapshot) hasCleanable() bool { return len(s.closedViews()) > 0 }

// dirtyEnough applies MinCleanableDirtyRatio.
func (s *compactSnapshot) dirtyEnough(ratio float64) bool {
	if ratio <= 0 {
		return true
	}
	return s.totalBytes > 0 && float64(s.dirtyBytes)/float64(s.totalBytes) >= ratio
}

// buildKeyMap maps every key to the offset of its latest record below the
// limit, over all pinned segments including the active one. It stops at
// the first batch at or past the limit or, with lagCutoff >= 0, newer than
// lagCutoff (unix ms), and lowers the limit to that batch: records from
// there on are neither removed nor allowed to remove others. Batches
// without timestamps (-1) count as old.
//
// Keys are held as strings: exact (no hash collisions can drop a live
// record), at the cost of memory proportional to the distinct keys.
func (s *compactSnapshot) buildKeyMap(lagCutoff int64) (map[string]int64, error) {
	keys := make(map[string]int64)
	for _, v := range s.views {
		f, err := s.pin(v)
		if err != nil {
			return nil, err
		}
		br := newBatchReader(f, v.seg.logPath, v.size)
		for {
			h, b, _, err := br.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if h.LastOffset() < s.logStart {
				continue
			}
			if h.LastOffset() >= s.limit || (lagCutoff >= 0 && h.MaxTimestamp > lagCutoff) {
				s.limit = min(s.limit, h.BaseOffset)
				return keys, nil
			}
			if !compactable(h) {
				continue
			}
			batch, err := records.Decode(b)
			if err != nil {
				return nil, &CompactError{Segment: v.seg.logPath, Offset: h.BaseOffset, Err: err}
			}
			for _, r := range batch.Records {
				if r.Key != nil {
					keys[string(r.Key)] = r.Offset
				}
			}
		}
	}
	return keys, nil
}

// compactable: control batches (transaction markers) and transactional
// batches are never rewritten (see Compact).
func compactable(h BatchHeader) bool { return !h.IsControl() && !h.IsTransactional() }

// readBufferSize is the read-ahead of compaction's sequential reads.
const readBufferSize = 64 << 10

// batchReader reads one segment file's whole batches in order, up to a
// limit, through a read-ahead buffer (pread underneath: the file offset is
// never used, so readers sharing the fd are unaffected).
type batchReader struct {
	path  string
	r     *bufio.Reader
	pos   int64
	limit int64
	buf   []byte
}

func newBatchReader(f io.ReaderAt, path string, limit int64) *batchReader {
	return &batchReader{
		path:  path,
		r:     bufio.NewReaderSize(io.NewSectionReader(f, 0, limit), readBufferSize),
		limit: limit,
	}
}

// next returns the next batch's header, bytes (valid until the next call)
// and position; io.EOF after the last batch.
func (br *batchReader) next() (BatchHeader, []byte, int64, error) {
	pos := br.pos
	if pos >= br.limit {
		return BatchHeader{}, nil, pos, io.EOF
	}
	if br.limit-pos < BatchHeaderLen {
		return BatchHeader{}, nil, pos, &CorruptError{Reason: fmt.Sprintf("%s: partial batch header at position %d", br.path, pos)}
	}
	if cap(br.buf) < BatchHeaderLen {
		br.buf = make([]byte, readBufferSize)
	}
	if _, err := io.ReadFull(br.r, br.buf[:BatchHeaderLen]); err != nil {
		return BatchHeader{}, nil, pos, br.readErr(pos, err)
	}
	h := parseHeader(br.buf[:BatchHeaderLen])
	if err := checkHeader(h); err != nil {
		return h, nil, pos, fmt.Errorf("%s at position %d: %w", br.path, pos, err)
	}
	size := int64(h.Size())
	if pos+size > br.limit {
		return h, nil, pos, &CorruptError{Reason: fmt.Sprintf("%s: batch at position %d crosses the end (%d)", br.path, pos, br.limit)}
	}
	if int64(cap(br.buf)) < size {
		grown := make([]byte, size)
		copy(grown, br.buf[:BatchHeaderLen])
		br.buf = grown
	}
	b := br.buf[:size]
	if _, err := io.ReadFull(br.r, b[BatchHeaderLen:]); err != nil {
		return h, nil, pos, br.readErr(pos, err)
	}
	br.pos = pos + size
	return h, b, pos, nil
}

func (br *batchReader) readErr(pos int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &CorruptError{Reason: fmt.Sprintf("%s: file ends inside the batch at position %d", br.path, pos)}
	}
	return fmt.Errorf("storage: read %s: %w", br.path, err)
}
