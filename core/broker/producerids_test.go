package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProducerIDsAcrossRestart: ids are unique across restarts: the
// unused rest of a reserved block is skipped, never handed out again.
func TestProducerIDsAcrossRestart(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	next := func(want int64) {
		t.Helper()
		id, err := b.AllocateProducerID()
		if err != nil || id != want {
			t.Fatalf("AllocateProducerID = %d, %v; want %d", id, err, want)
		}
	}
	blockEnd := func() string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(b.Config().DataDir, producerIDFile))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	next(0)
	next(1)
	next(2)
	if got := blockEnd(); got != "1000" {
		t.Fatalf("reserved block ends at %s, want 1000", got)
	}
	b = restart(t, b)
	next(1000)
	for i := int64(1001); i < 2000; i++ {
		next(i)
	}
	if got := blockEnd(); got != "2000" {
		t.Fatalf("reserved block ends at %s, want 2000", got)
	}
	next(2000) // crosses into the next block
	if got := blockEnd(); got != "3000" {
		t.Fatalf("reserved block ends at %s, want 3000", got)
	}
	// An unclean stop (no Close; here: the file as it is now, read by a
	// new allocator) reuses nothing either: the block was reserved on
	// disk before its first id was handed out.
	data, err := os.ReadFile(filepath.Join(b.Config().DataDir, producerIDFile))
	if err != nil {
		t.Fatal(err)
	}
	pids, err := openProducerIDs(writeTemp(t, producerIDFile, data))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pids.allocate(); err != nil || id != 3000 {
		t.Fatalf("after an unclean stop: %d, %v; want 3000", id, err)
	}
}

// writeTemp writes name into a fresh directory and returns the directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestProducerIDsCarryBrokerID: brokers of a cluster keep separate
// counters, so the broker id goes in the high bits.
func TestProducerIDsCarryBrokerID(t *testing.T) {
	b := openTestBroker(t, Config{BrokerID: 3}, nil)
	for want := int64(3<<40 | 0); want <= 3<<40|1; want++ {
		id, err := b.AllocateProducerID()
		if err != nil || id != want {
			t.Fatalf("AllocateProducerID = %#x, %v; want %#x", id, err, want)
		}
	}
}

// TestProducerIDsLargestBrokerID: the largest broker id still makes
// positive ids; a larger one is refused rather than making negative ones
// (int64(id)<<40 overflowed from 2^23 on).
func TestProducerIDsLargestBrokerID(t *testing.T) {
	b := openTestBroker(t, Config{BrokerID: MaxBrokerID}, nil)
	if id, err := b.AllocateProducerID(); err != nil || id != MaxBrokerID<<40 || id < 0 {
		t.Fatalf("AllocateProducerID = %#x, %v; want %#x", id, err, int64(MaxBrokerID)<<40)
	}
	b = openTestBroker(t, Config{BrokerID: MaxBrokerID + 1}, nil)
	if id, err := b.AllocateProducerID(); err == nil || id != -1 {
		t.Fatalf("broker id 2^23: AllocateProducerID = %#x, %v; want -1 and an error", id, err)
	}
}

// TestProducerIDsCorruptFile: a block file that does not parse stops the
// broker from opening rather than restarting ids at 0.
func TestProducerIDsCorruptFile(t *testing.T) {
	dir := writeTemp(t, producerIDFile, []byte("12x\n"))
	_, err := openProducerIDs(dir)
	if err == nil || err.Error() != "broker: corrupt "+filepath.Join(dir, producerIDFile) {
		t.Fatalf("corrupt block file: %v", err)
	}
}
