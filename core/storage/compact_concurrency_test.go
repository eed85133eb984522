package storage

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/sluicemq/sluice/core/records"
)

// readPass reads the log from its start to end (snapshotted first) and
// returns every record's offset and description, without failing the test
// (it runs on reader goroutines).
func readPass(l *Log) (map[int64]string, int64, error) {
	end := l.NextOffset()
	got := map[int64]string{}
	last := int64(-1)
	for off := l.LogStartOffset(); off < end; {
		c, err := l.Read(off, 4096, end)
		if err != nil {
			return nil, 0, fmt.Errorf("read %d: %w", off, err)
		}
		if c.Size == 0 {
			return nil, 0, fmt.Errorf("read %d: empty chunk below the end %d", off, end)
		}
		b, err := c.ReadAll()
		c.Release()
		if err != nil {
			return nil, 0, err
		}
		batches, err := SplitBatches(b)
		if err != nil {
			return nil, 0, err
		}
		for _, raw := range batches {
			if _, err := ValidateBatch(raw); err != nil {
				return nil, 0, err
			}
			batch, err := records.Decode(raw)
			if err != nil {
				return nil, 0, err
			}
			for _, r := range batch.Records {
				if r.Offset <= last {
					return nil, 0, fmt.Errorf("offset %d after %d", r.Offset, last)
				}
				last = r.Offset
				got[r.Offset] = describeRecord(r)
			}
		}
		off = c.LastOffset + 1
	}
	return got, end, nil
}

// TestCompactConcurrentReads also runs with a budget of 2 open segment
// files: compaction's renames over live segments must never let a reader
// open the replacement in place of the original it is reading.
func TestCompactConcurrentReads(t *testing.T) {
	t.Run("default", func(t *testing.T) { testCompactConcurrentReads(t, nil) })
	t.Run("budget=2", func(t *testing.T) { testCompactConcurrentReads(t, NewFileCache(2)) })
}

func testCompactConcurrentReads(t *testing.T, files *FileCache) {
	c := newCompactLogFiles(t, t.TempDir(), files)
	type rec struct {
		offset    int64
		key, desc string
	}
	var appended []rec
	batch := 0
	appendRound := func(n int) {
		for range n {
			k := batch % 7
			specs := []string{fmt.Sprintf("k%d=v%d", k, batch), fmt.Sprintf("k%d=v%d", (k+3)%7, batch), fmt.Sprintf("=x%d", batch)}
			h := c.add(specs...)
			for i, spec := range specs {
				key, _, _ := strings.Cut(spec, "=")
				off := h.BaseOffset + int64(i)
				appended = append(appended, rec{offset: off, key: key, desc: fmt.Sprintf("%d:%s", off, spec)})
			}
			batch++
			if batch%4 == 0 {
				c.roll()
			}
		}
	}
	appendRound(40)

	// A chunk taken before compaction keeps reading the original bytes.
	held, err := c.l.Read(0, 1<<20, c.l.NextOffset())
	if err != nil {
		t.Fatal(err)
	}
	heldBytes := readFile2(t, segmentPath(c.dir, 0, logSuffix))

	var (
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		seen  []map[int64]string
		ends  []int64
		fails []error
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, end, err := readPass(c.l)
				mu.Lock()
				if err != nil {
					fails = append(fails, err)
				} else {
					seen, ends = append(seen, got), append(ends, end)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	cleaned := 0
	for range 5 {
		appendRound(8)
		cleaned += c.compact(CompactOptions{}).SegmentsCleaned
	}
	close(stop)
	wg.Wait()
	if err := errors.Join(fails...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d segments cleaned during %d read passes", cleaned, len(seen))
	if cleaned == 0 || len(seen) == 0 {
		t.Fatalf("%d segments cleaned, %d read passes", cleaned, len(seen))
	}

	// A record that survived every run was never missing from a pass
	// that covered its offset, and never looked different.
	final, _, err := readPass(c.l)
	if err != nil {
		t.Fatal(err)
	}
	for i, pass := range seen {
		for off, desc := range final {
			if off < ends[i] && pass[off] != desc {
				t.Fatalf("pass %d (end %d): offset %d is %q, want %q", i, ends[i], off, pass[off], desc)
			}
		}
	}
	// Exactly what compaction promises survived: below the active
	// segment the latest record per key plus the keyless ones, and the
	// active segment untouched.
	c.l.mu.RLock()
	activeBase := c.l.active.base
	c.l.mu.RUnlock()
	latest := map[string]int64{}
	for _, r := range appended {
		if r.key != "" {
			latest[r.key] = r.offset
		}
	}
	want := map[int64]string{}
	for _, r := range appended {
		if r.key == "" || r.offset >= activeBase || latest[r.key] == r.offset {
			want[r.offset] = r.desc
		}
	}
	if !maps.Equal(final, want) {
		t.Fatalf("survivors:\n got %v\nwant %v", final, want)
	}

	if got := readChunk(t, held); !bytes.Equal(got, heldBytes[:held.Size]) {
		t.Fatal("a chunk held across compaction changed")
	}
	if now := readFile2(t, segmentPath(c.dir, 0, logSuffix)); len(now) >= len(heldBytes) {
		t.Fatal("segment 0 was not compacted")
	}
}
