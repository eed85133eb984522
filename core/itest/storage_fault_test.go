package itest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// mountTinyTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends (after the broker stopped: cleanups run
// last-registered first).
func mountTinyTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount tmpfs (this test needs root; run with -short to skip it): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillUpTo writes a filler file so that about free bytes stay available.
func fillUpTo(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * st.Bsize
	path := filepath.Join(dir, "filler")
	if avail > free {
		if err := os.WriteFile(path, make([]byte, avail-free), 0o644); err != nil {
			t.Fatalf("write filler: %v", err)
		}
	}
	return path
}

// TestFullDiskTakesPartitionOffline runs the real broker on a 4 MiB tmpfs
// and fills it while producing: the partition whose write fails answers
// KAFKA_STORAGE_ERROR to produce and fetch, keeps doing so after space is
// freed (a failed write is sticky, no retry hides it), other partitions
// keep working, and after a restart every acknowledged record is there.
func TestFullDiskTakesPartitionOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	dir := mountTinyTmpfs(t, 4<<20)
	b := startBroker(t, brokerOptions{
		DataDir:       dir,
		FlushMessages: 1,
		ExtraArgs:     []string{"--offsets-topic-partitions", "1"},
	})
	adm := newAdmin(t, b)
	const topic = "full-disk"
	createTopic(ctx, t, adm, topic, 2, nil)

	producer := newClient(t, b,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(1),
		kgo.ProducerLinger(0),
	)
	filler := fillUpTo(t, dir, 256<<10)

	value := make([]byte, 8<<10)
	rand.Read(value) // incompressible: kgo compresses batches
	var acked []string
	var failure error
	for i := 0; i < 1000 && failure == nil; i++ {
		key := fmt.Sprintf("k%04d", i)
		err := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(key), Value: value}).FirstErr()
		if err != nil {
			failure = err
			break
		}
		acked = append(acked, key)
	}
	if failure == nil {
		t.Fatalf("1000 produces of 8 KiB fit in 256 KiB")
	}
	wantKerr(t, "produce to a full disk", failure, kerr.KafkaStorageError)
	if len(acked) < 5 {
		t.Fatalf("only %d records acknowledged before the disk filled", len(acked))
	}
	t.Logf("%d records acknowledged before the write failed: %v", len(acked), failure)

	// Space comes back, but the partition stays offline: produce and
	// fetch answer KAFKA_STORAGE_ERROR, and nothing more is acknowledged.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	raw := newClient(t, b)
	fp := rawFetch(ctx, t, raw, topic, 0, 0)
	wantErrCode(t, "fetch from the offline partition", fp.ErrorCode, kerr.KafkaStorageError)
	err := producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}).FirstErr()
	wantKerr(t, "produce after space was freed", err, kerr.KafkaStorageError)
	// The broker is up and the other partition works.
	produceSync(ctx, t, producer, &kgo.Record{Topic: topic, Partition: 1, Key: []byte("other"), Value: []byte("fine")})
	if logs := b.stderr.String(); !strings.Contains(logs, "log taken offline") || !strings.Contains(logs, "no space left on device") {
		t.Fatalf("broker log does not report the offline log and its cause:\n%s", logs)
	}

	// A restart recovers the partition from its last good fsync.
	if err := b.Process.Stop(); err == nil {
		t.Errorf("broker with an offline log exited 0; want a non-clean exit so the next start recovers")
	}
	b.Start()
	if !strings.Contains(b.stderr.String(), "recovering logs") {
		t.Errorf("restart did not run recovery")
	}
	got := consumeAll(ctx, t, b, topic)
	if len(got[0]) < len(acked) {
		t.Fatalf("partition 0 has %d records after restart, %d were acknowledged", len(got[0]), len(acked))
	}
	for i, key := range acked {
		if r := got[0][i]; string(r.Key) != key || !bytes.Equal(r.Value, value) || r.Offset != int64(i) {
			t.Fatalf("record %d after restart: key %q offset %d, want %q at %d", i, r.Key, r.Offset, key, i)
		}
	}
	if len(got[1]) != 1 || string(got[1][0].Value) != "fine" {
		t.Fatalf("partition 1 after restart: %d records", len(got[1]))
	}
	// And it takes writes again.
	produceSync(ctx, t, producer, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("again")})
}

// TestDurabilityDefault: a single node fsyncs before acknowledging by
// default (flush.messages=1 on every topic), --durability page-cache keeps
// Kafka's default (never by count), and a topic can still override it.
func TestDurabilityDefault(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, time.Minute)
	for _, tc := range []struct {
		args  []string
		flush string
	}{
		{nil, "1"},
		{[]string{"--durability", "page-cache"}, "9223372036854775807"},
	} {
		b := startBroker(t, brokerOptions{ExtraArgs: append([]string{"--offsets-topic-partitions", "1"}, tc.args...)})
		adm := newAdmin(t, b)
		createTopic(ctx, t, adm, "durability", 1, nil)
		checkConfigs(ctx, t, adm, "durability", map[string]wantConfig{"flush.messages": {tc.flush, kmsg.ConfigSourceDefaultConfig}})
		opt := "1000"
		createTopic(ctx, t, adm, "durability-override", 1, map[string]*string{"flush.messages": &opt})
		checkConfigs(ctx, t, adm, "durability-override", map[string]wantConfig{"flush.messages": {"1000", kmsg.ConfigSourceDynamicTopicConfig}})
		produceSync(ctx, t, newClient(t, b), &kgo.Record{Topic: "durability", Value: []byte("v")})
		b.Stop()
	}
}
