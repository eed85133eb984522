package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// crashImages runs one Compact on c, capturing the directory at every swap
// stage as a crash at that moment would leave it.
func crashImages(t *testing.T, c *compactLog, o CompactOptions) (map[string]string, CompactStats) {
	t.Helper()
	images := map[string]string{}
	c.l.compactHook = func(stage string) {
		if stage == stageWritten {
			return
		}
		dir := filepath.Join(t.TempDir(), stage)
		copyDir(t, c.dir, dir)
		images[stage] = dir
	}
	st := c.compact(o)
	c.l.compactHook = nil
	if len(images) != 3 {
		t.Fatalf("captured stages %v", images)
	}
	return images, st
}

// openCrashImage opens a copy of a crash image and checks what a crash at
// that stage must leave: no temporary files, the given records, and a log
// that takes appends.
func openCrashImage(t *testing.T, image string, recover bool, segments int, want []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	copyDir(t, image, dir)
	c := &compactLog{t: t, dir: dir, clock: &fakeClock{now: compactT0}, ts: compactT0.UnixMilli() + 100, logs: &logBuffer{}}
	c.l = openLog(t, dir, c.config(), c.openOptions(recover))
	for _, suffix := range []string{cleanedSuffix, swapSuffix} {
		if left := segmentFiles(t, dir, suffix); len(left) != 0 {
			t.Fatalf("leftovers %v", left)
		}
	}
	wantRecords(t, c.l, want...)
	if st := c.l.Stats(); st.Segments != segments || st.NextOffset != 17 || st.LogStartOffset != 0 {
		t.Fatalf("stats %+v", st)
	}
	c.add("n=1")
	wantRecords(t, c.l, append(slices.Clone(want), "17:n=1")...)
}

func TestCompactCrashSafety(t *testing.T) {
	c := buildKeyedLog(t, t.TempDir())
	images, _ := crashImages(t, c, retainTombstones)

	// What each stage leaves on disk before open sorts it out.
	rewritten := []string{"00000000000000000000", "00000000000000000006", "00000000000000000010"}
	withSuffix := func(suffix string) []string {
		var out []string
		for _, r := range rewritten {
			out = append(out, r+suffix)
		}
		return out
	}
	for stage, files := range map[string]map[string][]string{
		stageCleaned:        {".log.cleaned": withSuffix(".log.cleaned"), ".index.cleaned": withSuffix(".index.cleaned"), ".swap": nil},
		stageCommitted:      {".log.swap": withSuffix(".log.swap"), ".index.swap": withSuffix(".index.swap"), ".cleaned": nil},
		stageIndexesSwapped: {".log.swap": withSuffix(".log.swap"), ".index.swap": nil, ".cleaned": nil},
	} {
		for suffix, want := range files {
			if got := segmentFiles(t, images[stage], suffix); !slices.Equal(got, want) {
				t.Fatalf("%s: %s files %v, want %v", stage, suffix, got, want)
			}
		}
	}

	for _, recover := range []bool{false, true} {
		t.Run(fmt.Sprintf("before commit, recover=%v", recover), func(t *testing.T) {
			openCrashImage(t, images[stageCleaned], recover, 4, keyedLogAll)
		})
		t.Run(fmt.Sprintf("after commit, recover=%v", recover), func(t *testing.T) {
			openCrashImage(t, images[stageCommitted], recover, 4, keyedLogCompacted)
		})
		t.Run(fmt.Sprintf("after index swap, recover=%v", recover), func(t *testing.T) {
			openCrashImage(t, images[stageIndexesSwapped], recover, 4, keyedLogCompacted)
		})
	}
	wantRecords(t, c.l, keyedLogCompacted...)

	// A run that removes a whole segment: the removal follows the commit,
	// so a crash at any stage keeps segment 6 with its tombstone.
	c.clock.Advance(25 * time.Hour)
	images, st := crashImages(t, c, retainTombstones)
	if st.SegmentsCleaned != 1 || st.BytesAfter != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, stage := range []string{stageCleaned, stageCommitted, stageIndexesSwapped} {
		for _, recover := range []bool{false, true} {
			openCrashImage(t, images[stage], recover, 4, keyedLogCompacted)
		}
	}
	wantRecords(t, c.l, keyedLogNoTombstones...)
}

func TestCompactDamagedSwapKeepsOriginal(t *testing.T) {
	c := buildKeyedLog(t, t.TempDir())
	images, _ := crashImages(t, c, retainTombstones)
	// A .log.swap cut short cannot have passed the commit point (it was
	// fsynced first), so open discards it and keeps segment 0 as it was;
	// the other committed swaps complete.
	for _, recover := range []bool{false, true} {
		image := filepath.Join(t.TempDir(), "image")
		copyDir(t, images[stageCommitted], image)
		swap := segmentPath(image, 0, logSuffix) + swapSuffix
		if err := os.Truncate(swap, fileSize(t, swap)-1); err != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(keyedLogAll[:6]), keyedLogCompacted[1:]...)
		openCrashImage(t, image, recover, 4, want)
	}
}
