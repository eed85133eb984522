package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// registry is a hooks.Registry of Go functions.
type registry struct {
	transforms   map[string]hooks.Transform
	partitioners map[string]hooks.Partitioner
}

func (r *registry) Partitioner(t string) hooks.Partitioner { return r.partitioners[t] }
func (r *registry) Transform(t string) hooks.Transform     { return r.transforms[t] }
func (r *registry) Filter(string) hooks.Filter             { return nil }

type transformFunc func(recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error)

func (f transformFunc) Apply(_ context.Context, _ string, _ int32, recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
	return f(recs)
}

type partitionerFunc func(recs []hooks.Record, n int32) ([]int32, error)

func (f partitionerFunc) Partition(_ context.Context, _ string, recs []hooks.Record, n int32) ([]int32, error) {
	return f(recs, n)
}

// dlq keeps records whose value starts with '{' and emits the others,
// keyed as they are, to "<topic>.dlq" (like examples/plugins/json-dlq).
func dlq(target string) transformFunc {
	return func(recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
		var out []hooks.Record
		var emits []hooks.Emit
		for _, r := range recs {
			if len(r.Value) > 0 && r.Value[0] == '{' {
				out = append(out, r)
				continue
			}
			emits = append(emits, hooks.Emit{Topic: target, Record: hooks.Record{Key: r.Key, Value: r.Value}})
		}
		return out, emits, nil
	}
}

func openBroker(t testing.TB, dir string) *broker.Broker {
	t.Helper()
	b, err := localbroker.Open(broker.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newPipeline(t testing.TB, reg *registry) (*Pipeline, *broker.Broker, string) {
	t.Helper()
	dir := t.TempDir()
	b := openBroker(t, dir)
	t.Cleanup(func() { b.Close() })
	p := New(Config{Broker: b, Hooks: reg})
	t.Cleanup(func() { p.Close() })
	return p, b, dir
}

func createTopic(t testing.TB, b *broker.Broker, name string, parts int32, configs map[string]string) {
	t.Helper()
	if _, err := b.CreateTopic(broker.TopicSpec{Name: name, Partitions: parts, ReplicationFactor: 1, Configs: configs}, false); err != nil {
		t.Fatal(err)
	}
}

// batch encodes values (keyed k<value>) as one batch of producer pid (-1:
// none) from sequence seq.
func batch(t testing.TB, pid int64, seq int32, values ...string) []byte {
	t.Helper()
	recs := make([]records.Record, len(values))
	for i, v := range values {
		recs[i] = records.Record{Key: []byte("k" + v), Value: []byte(v), Timestamp: 1700000000000}
	}
	o := records.EncodeOptions{ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq}
	if pid < 0 {
		o = records.Plain
	}
	b, err := records.Encode(recs, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stored returns a partition's stored batches.
func stored(t testing.TB, b *broker.Broker, topic string, part int32) [][]byte {
	t.Helper()
	p, err := b.Partition(topic, part)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	if err := p.Scan(func(raw []byte) error { out = append(out, bytes.Clone(raw)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// values lists every record value of a topic, by partition.
func values(t testing.TB, b *broker.Broker, topic string) map[int32][]string {
	t.Helper()
	mt, ok := b.Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	out := map[int32][]string{}
	for i := range mt.Partitions {
		for _, raw := range stored(t, b, topic, int32(i)) {
			d, err := records.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range d.Records {
				out[int32(i)] = append(out[int32(i)], string(r.Value))
			}
		}
	}
	return out
}

func count(m map[int32][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func appendWait(t testing.TB, p *Pipeline, req AppendRequest) (*Pending, error) {
	t.Helper()
	pd, err := p.Append(context.Background(), req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pd, pd.Wait(ctx)
}

// TestUnchangedTransformStoresOriginalBatch: a transform that passes every
// record through (as copies) stores the produced batch byte for byte.
func TestUnchangedTransformStoresOriginalBatch(t *testing.T) {
	reg := &registry{transforms: map[string]hooks.Transform{"in": transformFunc(func(recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
		out := make([]hooks.Record, len(recs))
		for i, r := range recs {
			out[i] = hooks.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Timestamp: r.Timestamp, Offset: -1}
		}
		return out, nil, nil
	})}}
	p, b, _ := newPipeline(t, reg)
	createTopic(t, b, "in", 1, nil)
	in := batch(t, 7, 0, `{"a":1}`, `{"a":2}`)
	want := bytes.Clone(in)
	if _, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: in, Acks: -1}); err != nil {
		t.Fatal(err)
	}
	got := stored(t, b, "in", 0)
	if len(got) != 1 {
		t.Fatalf("%d batches stored, want 1", len(got))
	}
	// The log stamps base offset and leader epoch (outside the CRC).
	if !bytes.Equal(got[0][21:], want[21:]) {
		t.Fatalf("stored batch differs from the produced one")
	}
}

// TestDroppingTransformKeepsSequenceRange: a transform that drops records
// of an idempotent producer's batches stores batches with the producer's
// id and sequence range, so that the dedupe state rebuilt from the log
// (a follower, a restart without snapshot) answers a retry as a duplicate
// and accepts the next batch.
func TestDroppingTransformKeepsSequenceRange(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, dir)
	reg := &registry{transforms: map[string]hooks.Transform{"in": dlq("in.dlq")}}
	p := New(Config{Broker: b, Hooks: reg})
	createTopic(t, b, "in", 1, nil)
	createTopic(t, b, "in.dlq", 1, nil)
	b1 := batch(t, 9, 0, `{"a":1}`, `bad1`, `{"a":2}`)
	b2 := batch(t, 9, 3, `bad2`, `bad3`)
	b3 := batch(t, 9, 5, `{"a":3}`)
	var offs []int64
	for _, bt := range [][]byte{b1, b2, b3} {
		pd, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: bytes.Clone(bt), Acks: -1})
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, pd.Result.BaseOffset)
	}
	if fmt.Sprint(offs) != "[0 3 5]" {
		t.Fatalf("base offsets %v, want [0 3 5] (spans kept)", offs)
	}
	for i, raw := range stored(t, b, "in", 0) {
		h, _ := storage.ParseHeader(raw)
		if h.ProducerID != 9 || h.BaseSequence != []int32{0, 3, 5}[i] || h.LastOffsetDelta != []int32{2, 1, 0}[i] {
			t.Fatalf("stored batch %d: producer %d seq %d last delta %d", i, h.ProducerID, h.BaseSequence, h.LastOffsetDelta)
		}
	}
	p.Close()
	b.Close()
	// A restart whose producer state comes from the log alone.
	if err := os.Remove(filepath.Join(dir, "in-0", "producer-state.json")); err != nil {
		t.Fatal(err)
	}
	b = openBroker(t, dir)
	defer b.Close()
	p = New(Config{Broker: b, Hooks: reg})
	defer p.Close()
	pd, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: bytes.Clone(b2), Acks: -1})
	if err != nil || pd.Result.BaseOffset != 3 {
		t.Fatalf("retry of batch 2 after restart: offset %v, %v; want 3 (duplicate)", pd, err)
	}
	if _, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: batch(t, 9, 6, `{"a":4}`), Acks: -1}); err != nil {
		t.Fatalf("next batch after restart: %v", err)
	}
	if got := fmt.Sprint(values(t, b, "in")); got != `map[0:[{"a":1} {"a":2} {"a":3} {"a":4}]]` {
		t.Fatalf("in: %s", got)
	}
	if got := count(values(t, b, "in.dlq")); got != 3 {
		t.Fatalf("in.dlq has %d records, want 3 (the retry's emits deduplicated)", got)
	}
}

// TestEmitsDeduplicated: emits carry their source batch's identity, so a
// retried source batch (answered as a duplicate) re-sends them without
// duplicates, and emits that landed before their source was stored (the
// source leader died in between) are not stored twice.
func TestEmitsDeduplicated(t *testing.T) {
	reg := &registry{transforms: map[string]hooks.Transform{"in": dlq("dead")}}
	p, b, _ := newPipeline(t, reg)
	createTopic(t, b, "in", 2, nil)
	createTopic(t, b, "dead", 3, nil)
	src := batch(t, 11, 0, "x1", "x2", "x3", "x4", `{"ok":1}`)
	for i := 0; i < 3; i++ {
		pd, err := appendWait(t, p, AppendRequest{Topic: "in", Partition: 1, Batch: bytes.Clone(src), Acks: -1})
		if err != nil || pd.Result.BaseOffset != 0 {
			t.Fatalf("attempt %d: %v, %v", i, pd, err)
		}
	}
	dead := values(t, b, "dead")
	if count(dead) != 4 {
		t.Fatalf("dead: %v, want the 4 emits once", dead)
	}
	// Emits landed, the source did not: plan them as the first attempt
	// would have, deliver them, then produce the source.
	src2 := batch(t, 11, 5, "y1", "y2")
	prep, err := p.transform(context.Background(), reg.transforms["in"], "in", 1, mustPartition(t, b, "in", 1).Config(), bytes.Clone(src2))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.planEmits(context.Background(), "in", 1, prep.ident, prep.emits)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-p.sendEmits(plan, -1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := appendWait(t, p, AppendRequest{Topic: "in", Partition: 1, Batch: src2, Acks: -1}); err != nil {
		t.Fatal(err)
	}
	if dead := values(t, b, "dead"); count(dead) != 6 {
		t.Fatalf("dead: %v, want 6 records", dead)
	}
	// Keyed emits follow murmur2 of the key.
	for part, vs := range values(t, b, "dead") {
		for _, v := range vs {
			if want := records.KeyPartition([]byte("k"+v), 3); want != part {
				t.Fatalf("emit %s on partition %d, want %d", v, part, want)
			}
		}
	}
}

func mustPartition(t testing.TB, b *broker.Broker, topic string, part int32) *partition.Partition {
	t.Helper()
	pt, err := b.Partition(topic, part)
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

// TestEmitToInternalTopicRefused: the produce fails with the refusal and
// nothing of it is stored.
func TestEmitToInternalTopicRefused(t *testing.T) {
	reg := &registry{transforms: map[string]hooks.Transform{"in": dlq("__sluice_plugins")}}
	p, b, _ := newPipeline(t, reg)
	createTopic(t, b, "in", 1, nil)
	_, err := p.Append(context.Background(), AppendRequest{Topic: "in", Batch: batch(t, -1, 0, "not json"), Acks: 1})
	var ee *EmitError
	if !errors.As(err, &ee) || !errors.Is(err, ErrInternalTopic) || ee.Topic != "__sluice_plugins" {
		t.Fatalf("err %v, want an EmitError for __sluice_plugins", err)
	}
	if got := stored(t, b, "in", 0); len(got) != 0 {
		t.Fatalf("%d batches stored, want none", len(got))
	}
}

// TestEmitFailureFailsSource: emits are acknowledged with the source's
// acks and min.insync.replicas. The target needs 2 in-sync replicas and
// has one: acks=all produces fail with the emit's NOT_ENOUGH_REPLICAS
// (naming the target), acks=1 produces succeed, acks=0 wait for nothing.
// A target partitioner's failure fails the produce before anything is
// stored.
func TestEmitFailureFailsSource(t *testing.T) {
	reg := &registry{
		transforms: map[string]hooks.Transform{"in": dlq("strict"), "in2": dlq("picky")},
		partitioners: map[string]hooks.Partitioner{"picky": partitionerFunc(func([]hooks.Record, int32) ([]int32, error) {
			return nil, fmt.Errorf("%w: no", hooks.ErrPluginFailed)
		})},
	}
	p, b, _ := newPipeline(t, reg)
	createTopic(t, b, "in", 1, nil)
	createTopic(t, b, "in2", 1, nil)
	createTopic(t, b, "strict", 1, map[string]string{"min.insync.replicas": "2"})
	createTopic(t, b, "picky", 1, nil)

	_, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: batch(t, -1, 0, "bad"), Acks: -1, Timeout: 200 * time.Millisecond})
	var ee *EmitError
	if !errors.As(err, &ee) || !errors.Is(err, partition.ErrNotEnoughReplicas) || ee.Topic != "strict" || ee.Partition != 0 {
		t.Fatalf("acks=all: %v, want an EmitError NOT_ENOUGH_REPLICAS for strict-0", err)
	}
	if _, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: batch(t, -1, 0, "bad2"), Acks: 1}); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	pd, err := p.Append(context.Background(), AppendRequest{Topic: "in", Batch: batch(t, -1, 0, "bad3"), Acks: 0})
	if err != nil || !pd.Done() {
		t.Fatalf("acks=0: %v", err)
	}
	if err := pd.Wait(context.Background()); err != nil {
		t.Fatalf("acks=0 wait: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count(values(t, b, "strict")) != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // acks=0 emits go in the background
	}
	if got := fmt.Sprint(values(t, b, "strict")); got != "map[0:[bad2 bad3]]" {
		t.Fatalf("strict: %s", got)
	}

	_, err = p.Append(context.Background(), AppendRequest{Topic: "in2", Batch: batch(t, -1, 0, "bad"), Acks: -1})
	var pe *PluginError
	if !errors.As(err, &ee) || !errors.As(err, &pe) || pe.Hook != "partitioner" || ee.Topic != "picky" {
		t.Fatalf("partitioner failure: %v", err)
	}
	if got := stored(t, b, "in2", 0); len(got) != 0 {
		t.Fatalf("in2: %d batches stored, want none", len(got))
	}
}

// TestEmitsSkipTargetTransform: emits are not transformed by their
// target topic's own transform (no chains).
func TestEmitsSkipTargetTransform(t *testing.T) {
	reg := &registry{transforms: map[string]hooks.Transform{"a": dlq("b"), "b": dlq("a")}}
	p, b, _ := newPipeline(t, reg)
	createTopic(t, b, "a", 1, nil)
	createTopic(t, b, "b", 1, nil)
	if _, err := appendWait(t, p, AppendRequest{Topic: "a", Batch: batch(t, 3, 0, "plain"), Acks: -1}); err != nil {
		t.Fatal(err)
	}
	if a, bb := values(t, b, "a"), values(t, b, "b"); count(a) != 0 || fmt.Sprint(bb) != "map[0:[plain]]" {
		t.Fatalf("a %v b %v", a, bb)
	}
}

// TestClientsMayNotUseEmitProducerIDs: a client's batch with an emit
// stream's producer id is refused (those skip sequence checks).
func TestClientsMayNotUseEmitProducerIDs(t *testing.T) {
	p, b, _ := newPipeline(t, &registry{})
	createTopic(t, b, "in", 1, nil)
	ok := batch(t, 5, 0, "a")
	forged := batch(t, EmitProducerID("x", 0, 5), 0, "b")
	if _, err := p.Append(context.Background(), AppendRequest{Topic: "in", Batch: append(bytes.Clone(ok), forged...), Acks: 1}); !errors.Is(err, ErrReservedProducerID) || !kerrmap.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("forged emit producer id: %v", err)
	}
	if _, err := appendWait(t, p, AppendRequest{Topic: "in", Batch: forged, Acks: 1, Emit: true}); err != nil {
		t.Fatalf("as an emit: %v", err)
	}
}
