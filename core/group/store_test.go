package group

import (
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// TestReplaySkipsLyingBatch: a __consumer_offsets batch claiming
// 0x7fffffff records (as an old version stored one) neither stops the
// coordinator from loading nor costs memory for its claim; the valid
// commit after it is loaded.
func TestReplaySkipsLyingBatch(t *testing.T) {
	dir := t.TempDir()
	l, err := storage.Open(dir, storage.Config{}, storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lying, _ := records.Encode([]records.Record{{Key: []byte("k"), Value: []byte("v")}}, records.Plain)
	binary.BigEndian.PutUint32(lying[57:], 0x7fffffff)
	if _, err := l.Append(lying, 0); err != nil {
		t.Fatal(err)
	}
	tp := TopicPartition{Topic: "t", Partition: 0}
	commit := encodeCommit(t, "g", tp, 42)
	if _, err := l.Append(commit, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := partition.Open(OffsetsTopic, 0, dir, partition.Config{MaxMessageBytes: 1 << 20}, false, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.BecomeLeader(0, []int32{0}, []int32{0})
	store := NewStore(1, func(int32) (*partition.Partition, error) { return p, nil })
	c, err := New(Config{Logger: slog.Default()}, store)
	if err != nil {
		t.Fatalf("coordinator did not load past the lying batch: %v", err)
	}
	got, code := c.FetchOffsets("g", []TopicPartition{tp})
	if code != 0 || got[tp].Offset != 42 {
		t.Fatalf("offsets after the lying batch: %+v code %d, want 42", got, code)
	}
}

func encodeCommit(t *testing.T, g string, tp TopicPartition, off int64) []byte {
	t.Helper()
	v := kmsg.OffsetCommitValue{Version: 3, Offset: off, LeaderEpoch: -1}
	recs := []records.Record{{Key: offsetKey(g, tp), Value: v.AppendTo(nil)}}
	b, err := records.Encode(recs, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
