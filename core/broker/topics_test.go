package broker

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/records"
)

// openTestBroker opens a broker on cfg.DataDir (a fresh t.TempDir() when
// empty) without any listener. store nil means the embedded single-node
// store in the data dir (what node.RunWith opens in single-node mode;
// package broker itself never opens a store). This is the only place the
// unit tests of this package construct a broker.
func openTestBroker(t *testing.T, cfg Config, store meta.Store) *Broker {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.OffsetsTopicPartitions == 0 {
		cfg.OffsetsTopicPartitions = 1 // one partition to open, not 50
	}
	if cfg.GroupInitialRebalanceDelay == 0 {
		cfg.GroupInitialRebalanceDelay = -1
	}
	if store == nil {
		local, err := meta.OpenLocal(cfg.DataDir, meta.Broker{ID: cfg.BrokerID, Host: "127.0.0.1", Port: 9092})
		if err != nil {
			t.Fatalf("open local store: %v", err)
		}
		store = local
	}
	b, err := New(cfg, store, nil)
	if err != nil {
		store.Close()
		t.Fatalf("open broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// restart closes b cleanly and opens a broker on the same data dir.
func restart(t *testing.T, b *Broker) *Broker {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return openTestBroker(t, b.Config(), nil)
}

// wantErr fails unless err is exactly want: the same Kafka code and
// message for *Error, the same fields for *ConfigError, the same value
// for sentinels.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !reflect.DeepEqual(err, want) {
		t.Fatalf("%s: error %#v (%v), want %#v (%v)", what, err, err, want, want)
	}
}

// appendN produces n one-record batches to a topic's partition.
func appendN(t *testing.T, b *Broker, topic string, p int32, n int) {
	t.Helper()
	part, err := b.Partition(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		batch, err := records.Encode([]records.Record{{Value: []byte("v")}}, records.Plain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := part.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
}

func TestValidateTopicName(t *testing.T) {
	long := strings.Repeat("a", maxTopicNameLen)
	for _, tc := range []struct {
		name string
		want error
	}{
		{"orders", nil},
		{"a.b_c-D9", nil},
		{long, nil},
		{"", errf(ErrInvalidTopicName, "topic name is empty")},
		{".", errf(ErrInvalidTopicName, `topic name cannot be "."`)},
		{"..", errf(ErrInvalidTopicName, `topic name cannot be ".."`)},
		{long + "a", errf(ErrInvalidTopicName, "topic name is longer than 249 characters")},
		{"a b", errf(ErrInvalidTopicName, `topic name "a b" contains characters other than ASCII alphanumerics, '.', '_' and '-'`)},
		{"a/b", errf(ErrInvalidTopicName, `topic name "a/b" contains characters other than ASCII alphanumerics, '.', '_' and '-'`)},
		{"é", errf(ErrInvalidTopicName, `topic name "é" contains characters other than ASCII alphanumerics, '.', '_' and '-'`)},
	} {
		wantErr(t, "ValidateTopicName("+tc.name+")", ValidateTopicName(tc.name), tc.want)
	}
}

// TestCreateTopicRefused: every refusal has its Kafka code and message,
// and leaves nothing behind (no topic, no partition directory).
func TestCreateTopicRefused(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	for _, tc := range []struct {
		desc string
		spec TopicSpec
		want error
	}{
		{"bad name", TopicSpec{Name: "a b", Partitions: 1, ReplicationFactor: 1},
			errf(ErrInvalidTopicName, `topic name "a b" contains characters other than ASCII alphanumerics, '.', '_' and '-'`)},
		{"zero partitions", TopicSpec{Name: "t", Partitions: 0, ReplicationFactor: 1},
			errf(ErrInvalidPartitions, "number of partitions must be positive, got 0")},
		{"negative partitions", TopicSpec{Name: "t", Partitions: -2, ReplicationFactor: 1},
			errf(ErrInvalidPartitions, "number of partitions must be positive, got -2")},
		{"zero replicas", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 0},
			errf(ErrInvalidReplicationFactor, "replication factor 0 is invalid: 1 broker(s) available")},
		{"negative replicas", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: -2},
			errf(ErrInvalidReplicationFactor, "replication factor -2 is invalid: 1 broker(s) available")},
		{"more replicas than brokers", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 2},
			errf(ErrInvalidReplicationFactor, "replication factor 2 is invalid: 1 broker(s) available")},
		{"unknown config", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"no.such": "1"}},
			&ConfigError{Name: "no.such", Value: "1", Reason: "unknown topic config"}},
		{"bad config value", TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "-2"}},
			&ConfigError{Name: "retention.ms", Value: "-2", Reason: "must be at least -1"}},
	} {
		for _, validateOnly := range []bool{false, true} {
			_, err := b.CreateTopic(tc.spec, validateOnly)
			wantErr(t, tc.desc, err, tc.want)
		}
		if _, ok := b.Topic(tc.spec.Name); ok {
			t.Fatalf("%s: topic %q exists after a refused create", tc.desc, tc.spec.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Config().DataDir, "t-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partition directory of a refused topic: %v", err)
	}
}

// TestCreateTopic: defaults (-1) resolve to the broker's, every partition
// is assigned to this broker, opened and led by it, and usable at once.
func TestCreateTopic(t *testing.T) {
	b := openTestBroker(t, Config{BrokerID: 4, DefaultPartitions: 3}, nil)
	got, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: -1, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": "1000"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == ([16]byte{}) {
		t.Fatal("created topic has no id")
	}
	want := meta.PartitionState{Replicas: []int32{4}, ISR: []int32{4}, Leader: 4}
	if len(got.Partitions) != 3 {
		t.Fatalf("%d partitions, want the default 3", len(got.Partitions))
	}
	for i, ps := range got.Partitions {
		if !reflect.DeepEqual(ps, want) {
			t.Fatalf("partition %d: %+v, want %+v", i, ps, want)
		}
		p, err := b.Partition("t", int32(i))
		if err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
		leader, id, epoch, isr := p.Role()
		if !leader || id != 4 || epoch != 0 || !slices.Equal(isr, []int32{4}) {
			t.Fatalf("partition %d role: leader %v id %d epoch %d isr %v", i, leader, id, epoch, isr)
		}
		if p.Config().Log.RetentionMs != 1000 {
			t.Fatalf("partition %d retention.ms %d, want the topic's 1000", i, p.Config().Log.RetentionMs)
		}
	}
	if stored, _ := b.Topic("t"); !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored %+v, returned %+v", stored, got)
	}
	if name, ok := b.TopicName(got.ID); !ok || name != "t" {
		t.Fatalf("TopicName(id) = %q, %v", name, ok)
	}
	if n, ok := b.PartitionCount("t"); !ok || n != 3 {
		t.Fatalf("PartitionCount = %d, %v", n, ok)
	}
	for _, idx := range []int32{-1, 3} {
		if _, err := b.Partition("t", idx); err != ErrUnknownTopic {
			t.Fatalf("Partition(t, %d): %v, want UNKNOWN_TOPIC_OR_PARTITION", idx, err)
		}
	}
	appendN(t, b, "t", 2, 2)
	// Durable by default on a single node: committed once fsynced.
	p, _ := b.Partition("t", 2)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != 2 {
		t.Fatalf("high watermark %d after 2 appends and a flush, want 2", p.HighWatermark())
	}
}

func TestCreateTopicValidateOnly(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	got, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Partitions) != 2 || got.Partitions[1].Leader != 0 {
		t.Fatalf("validate-only answer %+v", got)
	}
	if _, ok := b.Topic("t"); ok {
		t.Fatal("validate-only created the topic")
	}
	if _, err := os.Stat(filepath.Join(b.Config().DataDir, "t-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("validate-only made a partition directory: %v", err)
	}
}

func TestCreateTopicTwice(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	first, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, validateOnly := range []bool{false, true} {
		_, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 5, ReplicationFactor: 1}, validateOnly)
		wantErr(t, "second create", err, errf(ErrTopicExists, `topic "t" already exists`))
	}
	if again, _ := b.Topic("t"); again.ID != first.ID || len(again.Partitions) != 1 {
		t.Fatalf("the second create changed the topic: %+v", again)
	}
	// Auto-creation of an existing topic is no error.
	if err := b.EnsureTopic("t"); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureTopic(t *testing.T) {
	b := openTestBroker(t, Config{DefaultPartitions: 2}, nil)
	if err := b.EnsureTopic("auto"); err != nil {
		t.Fatal(err)
	}
	if n, ok := b.PartitionCount("auto"); !ok || n != 2 {
		t.Fatalf("auto-created %d partitions (%v), want 2", n, ok)
	}
	if err := b.EnsureTopic("bad name"); !errors.Is(err, ErrInvalidTopicName) {
		t.Fatalf("auto-create of a bad name: %v", err)
	}
	off := openTestBroker(t, Config{AutoCreateTopics: false, AutoCreateTopicsSet: true}, nil)
	if err := off.EnsureTopic("auto"); err != ErrUnknownTopic {
		t.Fatalf("auto-create when off: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if _, ok := off.Topic("auto"); ok {
		t.Fatal("topic created with auto-creation off")
	}
}

// TestDeleteAndRecreateTopic: a deleted topic's data and id go; the same
// name created again is a new, empty topic.
func TestDeleteAndRecreateTopic(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	old, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, b, "t", 0, 3)
	if err := b.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Topic("t"); ok {
		t.Fatal("topic still in the store")
	}
	if _, err := b.Partition("t", 0); err != ErrUnknownTopic {
		t.Fatalf("partition of a deleted topic: %v", err)
	}
	if _, ok := b.TopicName(old.ID); ok {
		t.Fatal("the deleted topic's id still resolves")
	}
	if _, ok := b.PartitionCount("t"); ok {
		t.Fatal("PartitionCount of a deleted topic")
	}
	for _, dir := range []string{"t-0", "t-1"} {
		if _, err := os.Stat(filepath.Join(b.Config().DataDir, dir)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s after delete: %v", dir, err)
		}
	}
	if err := b.DeleteTopic("t"); err != ErrUnknownTopic {
		t.Fatalf("second delete: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	cur, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID == old.ID {
		t.Fatal("re-created topic kept the old id")
	}
	p, err := b.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if end := p.LogEndOffset(); end != 0 {
		t.Fatalf("re-created topic's log ends at %d, want 0 (the old data is gone)", end)
	}
	if _, err := b.Partition("t", 1); err != ErrUnknownTopic {
		t.Fatalf("old partition 1 of the re-created topic: %v", err)
	}
}

// TestTopicsSurviveRestart: topics, ids, configs and data come back after
// a clean restart, without recovery.
func TestTopicsSurviveRestart(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	created, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"cleanup.policy": "compact"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	appendKeyed := func(b *Broker, n int) {
		p, err := b.Partition("t", 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			batch, _ := records.Encode([]records.Record{{Key: []byte("k"), Value: []byte("v")}}, records.Plain)
			if _, err := p.Append(batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendKeyed(b, 4)
	b = restart(t, b)
	if b.recover {
		t.Fatal("recovery after a clean shutdown")
	}
	got, ok := b.Topic("t")
	if !ok || !reflect.DeepEqual(got, created) {
		t.Fatalf("after restart %+v, want %+v", got, created)
	}
	p, err := b.Partition("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 4 || p.HighWatermark() != 4 {
		t.Fatalf("after restart log end %d, high watermark %d, want 4 and 4", p.LogEndOffset(), p.HighWatermark())
	}
	if !p.Config().Compacted {
		t.Fatal("cleanup.policy=compact lost at restart")
	}
}

// TestOffsetsTopic: the broker creates its internal __consumer_offsets at
// open (compacted, with its own partition count) and keeps it across
// restarts; clients cannot create it again. (Refusing client deletes and
// config changes of internal topics is the protocol edge's job, see
// core/kafka mayWriteInternal.)
func TestOffsetsTopic(t *testing.T) {
	b := openTestBroker(t, Config{OffsetsTopicPartitions: 3, DefaultPartitions: 1}, nil)
	ot, ok := b.Topic(group.OffsetsTopic)
	if !ok {
		t.Fatal("no offsets topic after open")
	}
	if len(ot.Partitions) != 3 {
		t.Fatalf("offsets topic has %d partitions, want 3", len(ot.Partitions))
	}
	if !reflect.DeepEqual(ot.Configs, offsetsTopicConfigs()) {
		t.Fatalf("offsets topic configs %v", ot.Configs)
	}
	_, err := b.CreateTopic(TopicSpec{Name: group.OffsetsTopic, Partitions: 1, ReplicationFactor: 1}, false)
	wantErr(t, "create offsets topic", err, errf(ErrTopicExists, `topic "__consumer_offsets" already exists`))
	id, _, _, err := b.CoordinatorFor("g")
	if err != nil || id != 0 {
		t.Fatalf("CoordinatorFor = %d, %v", id, err)
	}
	cfg := b.Config()
	cfg.OffsetsTopicPartitions = 7 // fixed once created
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTestBroker(t, cfg, nil)
	again, _ := b.Topic(group.OffsetsTopic)
	if again.ID != ot.ID || len(again.Partitions) != 3 {
		t.Fatalf("offsets topic after restart: id changed %v, %d partitions", again.ID != ot.ID, len(again.Partitions))
	}
}

// TestMaxPartitions: creating or adding partitions past max.partitions
// (internal topics included) is refused before anything is allocated,
// validate-only too.
func TestMaxPartitions(t *testing.T) {
	b := openTestBroker(t, Config{MaxPartitions: 4}, nil) // the offsets topic holds 1
	for _, validateOnly := range []bool{true, false} {
		_, err := b.CreateTopic(TopicSpec{Name: "big", Partitions: 4, ReplicationFactor: 1}, validateOnly)
		wantErr(t, "create past the limit", err, errf(ErrInvalidPartitions, "adding 4 partitions to the 1 there are would pass max.partitions (4)"))
	}
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create up to the limit: %v", err)
	}
	for _, validateOnly := range []bool{true, false} {
		err := b.CreatePartitions("t", 4, validateOnly)
		wantErr(t, "grow past the limit", err, errf(ErrInvalidPartitions, "adding 1 partitions to the 4 there are would pass max.partitions (4)"))
	}
	if n, _ := b.PartitionCount("t"); n != 3 {
		t.Fatalf("%d partitions after refused growth, want 3", n)
	}
}

func TestCreatePartitions(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	appendN(t, b, "t", 0, 2)
	for _, tc := range []struct {
		topic string
		count int32
		want  error
	}{
		{"t", 2, errf(ErrInvalidPartitions, `topic "t" has 2 partitions; the new count 2 must be larger`)},
		{"t", 1, errf(ErrInvalidPartitions, `topic "t" has 2 partitions; the new count 1 must be larger`)},
		{"t", -1, errf(ErrInvalidPartitions, `topic "t" has 2 partitions; the new count -1 must be larger`)},
		{"nope", 3, ErrUnknownTopic},
	} {
		wantErr(t, tc.topic, b.CreatePartitions(tc.topic, tc.count, false), tc.want)
	}
	if err := b.CreatePartitions("t", 5, true); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.PartitionCount("t"); n != 2 {
		t.Fatalf("validate-only grew the topic to %d", n)
	}
	if err := b.CreatePartitions("t", 5, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.PartitionCount("t"); n != 5 {
		t.Fatalf("%d partitions after growth, want 5", n)
	}
	got, _ := b.Topic("t")
	for i := 2; i < 5; i++ {
		if ps := got.Partitions[i]; ps.Leader != 0 || !slices.Equal(ps.Replicas, []int32{0}) || !slices.Equal(ps.ISR, []int32{0}) {
			t.Fatalf("new partition %d: %+v", i, ps)
		}
		p, err := b.Partition("t", int32(i))
		if err != nil {
			t.Fatalf("new partition %d: %v", i, err)
		}
		if p.LogEndOffset() != 0 {
			t.Fatalf("new partition %d starts at %d", i, p.LogEndOffset())
		}
	}
	if p, _ := b.Partition("t", 0); p.LogEndOffset() != 2 {
		t.Fatalf("growth touched partition 0: log end %d", p.LogEndOffset())
	}
}
