package partition

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// Deleting a partition while the background flusher flushes it (a topic
// deletion racing the flusher) must neither fail the flush ("rename ...:
// no such file or directory") nor leave files behind.
func TestDeleteRacingFlush(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	batch, err := records.Encode([]records.Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1}}, records.EncodeOptions{ProducerID: -1, BaseSequence: -1})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ {
		dir := filepath.Join(t.TempDir(), "t-0")
		p, err := Open("t", 0, dir, Config{Log: storage.Config{FlushMessages: 0}, MaxMessageBytes: 1 << 20}, false, logger)
		if err != nil {
			t.Fatal(err)
		}
		p.SetLeaderEpoch(0)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		wg.Add(2)
		go func() { // producer
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := append([]byte(nil), batch...)
				if _, err := p.Append(b); err != nil && !errors.Is(err, ErrNotLeader) {
					errs <- err
					return
				}
			}
		}()
		go func() { // the broker's flusher
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := p.Flush(); err != nil && !errors.Is(err, storage.ErrClosed) {
					errs <- err
					return
				}
			}
		}()
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if err := p.Delete(); err != nil {
			t.Fatalf("round %d: delete: %v", round, err)
		}
		time.Sleep(time.Millisecond)
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: error racing delete: %v", round, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: partition dir still there after Delete: %v", round, err)
		}
	}
}
