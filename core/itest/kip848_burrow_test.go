package itest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/needs"
	"github.com/sluicemq/sluice/internal/testkit"
)

// TestKIP848Burrow: a KIP-848 group's records (key versions 3–8: group,
// subscription metadata, members, target and current assignments) sit in
// __consumer_offsets before its offset commits. Burrow, which decodes
// only key versions 0–2 as Kafka's old readers do, must skip them and
// still report the group's lag from the commits that follow.
func TestKIP848Burrow(t *testing.T) {
	bin := needs.Burrow(t)
	zk := zktest.Start(t)
	b := startBroker(t, brokerOptions{ExtraArgs: kip848RestartFlags})
	ctx := testContext(t, 3*time.Minute)
	const topic, group = "burrow848", "burrow848-group"
	createTopic(ctx, t, newAdmin(t, b), topic, 2, nil)
	prod := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part, n := range []int{30, 20} {
		for i := range n {
			produceSync(ctx, t, prod, &kgo.Record{Partition: int32(part), Value: []byte(fmt.Sprint(i))})
		}
	}
	member := newClient(t, b, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < 50; {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	adm := newAdmin(t, b)
	if d := describeConsumerGroup(ctx, t, adm, group); len(d.Members) != 1 {
		t.Fatalf("consumer group: %+v", d)
	}
	commit := map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 10}, 1: {Epoch: -1, Offset: 20}}}
	var commitErr error
	member.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						commitErr = fmt.Errorf("%s-%d: error %d", rt.Topic, rp.Partition, rp.ErrorCode)
					}
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}

	addrs, err := testkit.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, dir := addrs[0], t.TempDir()
	cfg := fmt.Sprintf(`[general]
pidfile=%[1]q
[logging]
level="info"
[zookeeper]
servers=[%[2]q]
timeout=6
root-path="/burrow"
[client-profile.sluice]
client-id="burrow-itest"
kafka-version="2.0.0"
[cluster.sluice]
class-name="kafka"
servers=[%[3]q]
client-profile="sluice"
topic-refresh=1
offset-refresh=1
[consumer.sluice]
class-name="kafka"
cluster="sluice"
servers=[%[3]q]
client-profile="sluice"
start-latest=false
[httpserver.default]
address=%[4]q
[storage.default]
class-name="inmemory"
workers=2
intervals=10
expire-group=604800
min-distance=1
`, filepath.Join(dir, "burrow.pid"), zk.Addr, b.Addr(), httpAddr)
	if err := os.WriteFile(filepath.Join(dir, "burrow.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-config-dir", dir)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("Burrow output:\n%s", out.String())
		}
	})

	url := "http://" + httpAddr + "/v3/kafka/sluice/consumer/" + group + "/lag"
	want := map[int32]int64{0: 20, 1: 0}
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		lag, body, err := getBurrowLag(ctx, url)
		last = body
		if err == nil && !lag.Error && len(lag.Status.Partitions) == 2 && lag.Status.TotalLag == 20 {
			ok := true
			for _, p := range lag.Status.Partitions {
				if p.Topic != topic || p.CurrentLag != want[p.Partition] {
					ok = false
				}
			}
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Burrow never reported lag %v for %s; last answer: %s (err %v)", want, group, last, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if o := out.String(); strings.Contains(o, "panic") {
		t.Fatalf("Burrow panicked:\n%s", o)
	}
	// It did read the new records, and skipped them.
	skipped := burrowKeyLines(out.String())
	if len(skipped) == 0 {
		t.Fatalf("Burrow logged no skipped key versions:\n%s", out.String())
	}
	t.Logf("Burrow reported the KIP-848 group's lag, skipping e.g. %s", skipped[0])
}

// burrowKeyLines are Burrow's warnings about records it skipped for their
// key version ("failed to decode", reason "key version").
func burrowKeyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"reason":"key version"`) {
			out = append(out, l)
		}
	}
	return out
}
