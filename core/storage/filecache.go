package storage

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// FileCache bounds how many segment data files are open at once, across
// all logs that share it. A topic with many small segments would otherwise
// hold one fd per segment, and running out of fds breaks every segment file
// (and socket) of the process.
//
// Segment files are opened lazily when a reader or writer pins them and
// stay open while pinned: by the log for its active segment and for rolled
// segments until their data is fsynced (an fd closed before its fsync could
// lose a writeback error), by every in-flight read, and by every Chunk
// until Release (sendfile reads from the fd). Unpinned files stay open for
// reuse, least recently used first in line to be closed when more than the
// budget are open. Pinned files are never closed, so the budget can be
// exceeded while that many are in use.
type FileCache struct {
	mu     sync.Mutex
	budget int
	open   int       // segment files open, pinned or idle
	idle   list.List // *segment with an open, unpinned file; LRU first

	opens atomic.Int64 // files opened so far (tests, metrics)
}

// NewFileCache returns a cache keeping at most budget segment files open
// (when not pinned); budget <= 0 means DefaultMaxOpenSegments.
func NewFileCache(budget int) *FileCache {
	c := &FileCache{}
	c.idle.Init()
	c.SetBudget(budget)
	return c
}

// defaultFileCache is shared by logs opened without OpenOptions.Files: fds
// are a per-process resource.
var defaultFileCache = NewFileCache(0)

// DefaultFileCache is the process-wide cache used when OpenOptions.Files
// is nil. The broker sets its budget from --max-open-segments.
func DefaultFileCache() *FileCache { return defaultFileCache }

// DefaultMaxOpenSegments is a quarter of the process's fd limit
// (RLIMIT_NOFILE, which Go raises to the hard limit at start), between 64
// and 65536: the rest stays for sockets, index files and everything else.
func DefaultMaxOpenSegments() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	return int(min(max(rl.Cur/4, 64), 65536))
}

// SetBudget changes the budget (<= 0: DefaultMaxOpenSegments), closing
// idle files beyond it.
func (c *FileCache) SetBudget(budget int) {
	if budget <= 0 {
		budget = DefaultMaxOpenSegments()
	}
	c.mu.Lock()
	c.budget = budget
	victims := c.evictLocked(nil)
	c.mu.Unlock()
	closeFiles(victims)
}

// Budget is the current budget.
func (c *FileCache) Budget() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.budget
}

// Open is how many segment files are open now.
func (c *FileCache) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// overBudget reports whether more files are open than the budget (only
// possible while pinned).
func (c *FileCache) overBudget() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open > c.budget
}

// evictLocked closes (returns, for closing outside the lock) the least
// recently used idle files until the budget holds. mu held.
func (c *FileCache) evictLocked(victims []File) []File {
	for c.open > c.budget && c.idle.Len() > 0 {
		s := c.idle.Remove(c.idle.Front()).(*segment)
		s.elem = nil
		victims = append(victims, s.file)
		s.file = nil
		c.open--
	}
	return victims
}

func closeFiles(fs []File) {
	for _, f := range fs {
		f.Close()
	}
}

// errSegmentGone: the segment left its log and its file is closed, so it
// cannot be read any more (its file may be deleted or replaced).
var errSegmentGone = errors.New("storage: segment deleted")

// adopt registers s's already open file f (a created segment), pinned for
// the log. No Log lock needed: s is not shared yet.
func (s *segment) adopt(f File) {
	c := s.fc
	c.mu.Lock()
	s.file, s.pins, s.logPin = f, 1, true
	c.open++
	victims := c.evictLocked(nil)
	c.mu.Unlock()
	c.opens.Add(1)
	closeFiles(victims)
}

// pin returns the segment's file, opening it if needed, and keeps it open
// until the matching unpin.
//
// The file at s.logPath must be s's: the caller holds Log.mu (or appendMu
// and syncMu) with s in the log's segment list, or the log is not shared
// yet, or s is already pinned. Compaction renames a new file over a live
// segment's path only while that segment is pinned, and deletion removes
// files only after the segment left the list.
func (s *segment) pin() (File, error) {
	c := s.fc
	c.mu.Lock()
	if f := s.pinOpenLocked(); f != nil || s.retired {
		c.mu.Unlock()
		if f == nil {
			return nil, errSegmentGone
		}
		return f, nil
	}
	c.mu.Unlock()

	// One opener per segment; the cache lock is not held during open(2).
	s.openMu.Lock()
	defer s.openMu.Unlock()
	c.mu.Lock()
	if f := s.pinOpenLocked(); f != nil {
		c.mu.Unlock()
		return f, nil
	}
	c.mu.Unlock()
	f, err := s.openFile(s.logPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("storage: open segment: %w", err)
	}
	c.opens.Add(1)
	c.mu.Lock()
	s.file = f
	s.pins++
	c.open++
	victims := c.evictLocked(nil)
	c.mu.Unlock()
	closeFiles(victims)
	return f, nil
}

// pinOpenLocked pins s if its file is open and returns the file, else nil.
// The cache's mu held.
func (s *segment) pinOpenLocked() File {
	if s.file == nil {
		return nil
	}
	s.pins++
	if s.elem != nil {
		s.fc.idle.Remove(s.elem)
		s.elem = nil
	}
	return s.file
}

// unpin drops one pin. The last one closes a retired segment's file and
// makes a live one's file idle (most recently used).
func (s *segment) unpin() {
	c := s.fc
	c.mu.Lock()
	s.pins--
	var victims []File
	if s.pins == 0 && s.file != nil {
		if s.retired {
			victims = append(victims, s.file)
			s.file = nil
			c.open--
		} else {
			s.elem = c.idle.PushBack(s)
			victims = c.evictLocked(nil)
		}
	}
	c.mu.Unlock()
	closeFiles(victims)
}

// pinForLog opens the file if needed and keeps it open for the log (the
// active segment), until dropLogPin or retire. Same rules as pin.
func (s *segment) pinForLog() (File, error) {
	f, err := s.pin()
	if err != nil {
		return nil, err
	}
	c := s.fc
	c.mu.Lock()
	if s.logPin {
		s.pins-- // already held: keep just the one (pins stays >= 1)
	} else {
		s.logPin = true
	}
	c.mu.Unlock()
	return f, nil
}

// dropLogPin releases the log's pin (the segment is rolled and fsynced).
func (s *segment) dropLogPin() {
	c := s.fc
	c.mu.Lock()
	held := s.logPin
	s.logPin = false
	c.mu.Unlock()
	if held {
		s.unpin()
	}
}

// logPinned reports whether the log holds its pin.
func (s *segment) logPinned() bool {
	s.fc.mu.Lock()
	defer s.fc.mu.Unlock()
	return s.logPin
}

// retire: the segment left its log (deleted, replaced, truncated away, or
// the log closed). Its file closes once the last pin is dropped and is
// never opened again.
func (s *segment) retire() {
	c := s.fc
	c.mu.Lock()
	if s.retired {
		c.mu.Unlock()
		return
	}
	s.retired = true
	if s.logPin {
		s.logPin = false
		s.pins--
	}
	var f File
	if s.pins == 0 && s.file != nil {
		if s.elem != nil {
			c.idle.Remove(s.elem)
			s.elem = nil
		}
		f, s.file = s.file, nil
		c.open--
	}
	c.mu.Unlock()
	if f != nil {
		f.Close()
	}
}
