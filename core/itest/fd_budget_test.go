package itest

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/needs"
)

// procFds counts the open file descriptors of process pid.
func procFds(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count fds of %d: %v", pid, err)
	}
	return len(ents)
}

// watchFds samples pid's fd count every few ms until stop is called, which
// returns the largest count seen.
func watchFds(t *testing.T, pid int) (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil && int64(len(ents)) > peak.Load() {
				peak.Store(int64(len(ents)))
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return int(peak.Load())
	}
}

// TestTinySegmentsStayWithinFdBudget: a topic with 3,000 one-batch
// segments, written and read back in full by a kgo consumer (sendfile
// from the segment files), and reloaded after a restart, never makes the
// broker hold more than --max-open-segments segment files open.
func TestTinySegmentsStayWithinFdBudget(t *testing.T) {
	needs.Long(t, "3,000 segments written, read and reloaded")
	t.Parallel()
	const budget, segments, perRequest = 64, 3000, 500
	// Connections, ZooKeeper-less metadata files, index writes in flight:
	// what the broker may hold beyond the segment files.
	const slack = 40
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{"--max-open-segments", fmt.Sprint(budget), "--offsets-topic-partitions", "1"}})
	adm := newAdmin(t, b)
	const topic = "tiny-segments"
	segBytes := "100" // every batch (~130 bytes) rolls a new segment
	createTopic(ctx, t, adm, topic, 1, map[string]*string{"segment.bytes": &segBytes})
	raw := newClient(t, b)
	pid := b.PID()
	base := procFds(t, pid)

	stop := watchFds(t, pid)
	for r := 0; r < segments/perRequest; r++ {
		var batches []byte
		for i := r * perRequest; i < (r+1)*perRequest; i++ {
			batches = append(batches, encodeBatch([]rawRecord{{
				Key:       []byte(fmt.Sprintf("k%05d", i)),
				Value:     []byte(fmt.Sprintf("value %05d of a topic with very small segments", i)),
				Timestamp: time.Now().UnixMilli(),
			}})...)
		}
		resp := rawProduce(ctx, t, raw, topic, 0, batches)
		wantErrCode(t, "produce", resp.ErrorCode, nil)
		if resp.BaseOffset != int64(r*perRequest) {
			t.Fatalf("request %d stored at offset %d", r, resp.BaseOffset)
		}
	}
	if peak := stop(); peak > base+budget+slack {
		t.Fatalf("broker held %d fds while producing (%d before, budget %d)", peak, base, budget)
	}

	check := func(what string) {
		t.Helper()
		stop := watchFds(t, pid)
		got := consumeAll(ctx, t, b, topic)
		peak := stop()
		if len(got[0]) != segments {
			t.Fatalf("%s: consumed %d records, want %d", what, len(got[0]), segments)
		}
		for i, r := range got[0] {
			if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("k%05d", i) ||
				string(r.Value) != fmt.Sprintf("value %05d of a topic with very small segments", i) {
				t.Fatalf("%s: record %d is %q=%q at offset %d", what, i, r.Key, r.Value, r.Offset)
			}
		}
		t.Logf("%s: peak %d fds (%d at the start, budget %d segment files)", what, peak, base, budget)
		if peak > base+budget+slack {
			t.Fatalf("%s: broker held %d fds reading %d segments (budget %d, %d at the start)", what, peak, segments, budget, base)
		}
	}
	check("after producing")

	b.Restart()
	pid = b.PID()
	if n := procFds(t, pid); n > base+budget+slack {
		t.Fatalf("broker holds %d fds after loading %d segments on restart (budget %d)", n, segments, budget)
	}
	check("after a restart")
	// Still writable, and the new records readable.
	produceSync(ctx, t, newClient(t, b), &kgo.Record{Topic: topic, Partition: 0, Value: []byte("last")})
}
