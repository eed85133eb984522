package itest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDescribeLogDirs: kadm.DescribeAllLogDirs on a single node lists its
// data dir with every partition's size (the bytes of its segment files),
// zero offset lag and the file system's sizes; a topic filter narrows it.
// Reassignment on a single node accepts only the node itself.
func TestDescribeLogDirs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	dir := t.TempDir()
	b := startBroker(t, brokerOptions{DataDir: dir})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, "dirs", 2, nil)
	createTopic(ctx, t, adm, "other", 1, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("dirs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte("record-" + string(rune('a'+i%26)))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d brokers described, want 1", len(all))
	}
	var d kadm.DescribedLogDir
	all.Each(func(x kadm.DescribedLogDir) { d = x })
	want, _ := filepath.Abs(dir)
	if d.Err != nil || d.Dir != want {
		t.Fatalf("dir %q err %v, want %q", d.Dir, d.Err, want)
	}
	if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Fatalf("total %d usable %d bytes", d.TotalBytes, d.UsableBytes)
	}
	segBytes := func(topic string, p int) int64 {
		files, _ := filepath.Glob(filepath.Join(dir, topic+"-"+string(rune('0'+p)), "*.log"))
		var n int64
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			n += st.Size()
		}
		return n
	}
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"dirs", 0}, {"dirs", 1}, {"other", 0}} {
		got, ok := d.Topics.Lookup(tp.topic, tp.p)
		if !ok {
			t.Fatalf("%s-%d not listed", tp.topic, tp.p)
		}
		if want := segBytes(tp.topic, int(tp.p)); got.Size != want || got.OffsetLag != 0 {
			t.Fatalf("%s-%d: size %d lag %d, want %d bytes and lag 0", tp.topic, tp.p, got.Size, got.OffsetLag, want)
		}
	}
	if got, _ := d.Topics.Lookup("dirs", 0); got.Size == 0 {
		t.Fatal("the written partition has size 0")
	}
	if _, ok := d.Topics["__consumer_offsets"]; !ok {
		t.Fatal("all log dirs omit __consumer_offsets")
	}

	some, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"dirs": {1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	some.Each(func(x kadm.DescribedLogDir) {
		x.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			n++
			if p.Topic != "dirs" || p.Partition != 1 {
				t.Fatalf("filtered answer lists %s-%d", p.Topic, p.Partition)
			}
		})
	})
	if n != 1 {
		t.Fatalf("filtered answer lists %d partitions, want 1", n)
	}

	// A single node reassigns only to itself, and nothing is ever moving.
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign("dirs", 0, []int32{0})
	req.Assign("dirs", 1, []int32{0, 1})
	req.CancelAssign("other", 0)
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		p     int32
		want  error
	}{{"dirs", 0, nil}, {"dirs", 1, kerr.InvalidReplicaAssignment}, {"other", 0, kerr.NoReassignmentInProgress}} {
		if got := resp[c.topic][c.p].Err; !errors.Is(got, c.want) && !(got == nil && c.want == nil) {
			t.Fatalf("%s-%d: %v, want %v", c.topic, c.p, got, c.want)
		}
	}
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"dirs": {0: {}}})
	if err != nil || len(listed) != 0 {
		t.Fatalf("list reassignments: %v %v, want none", listed, err)
	}
}
