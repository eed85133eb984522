package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/needs"
	"github.com/sluicemq/sluice/internal/testkit"
)

// burrowLag is the part of Burrow's consumer lag answer
// (GET /v3/kafka/CLUSTER/consumer/GROUP/lag) the test reads.
type burrowLag struct {
	Error   bool   `json:"error"`
	Message string `json:"message"`
	Status  struct {
		Status     string `json:"status"`
		TotalLag   int64  `json:"totallag"`
		Partitions []struct {
			Topic      string `json:"topic"`
			Partition  int32  `json:"partition"`
			CurrentLag int64  `json:"current_lag"`
			End        *struct {
				Offset int64 `json:"offset"`
			} `json:"end"`
		} `json:"partitions"`
	} `json:"status"`
}

// TestBurrowReportsGroupLag runs LinkedIn's Burrow (Debian's package)
// against the broker: Burrow learns committed offsets by consuming
// __consumer_offsets and decoding Kafka's key and value layouts, and the
// log end offsets with ListOffsets. After a group member commits known
// offsets, Burrow's HTTP API must report each partition's lag exactly.
//
// Burrow 1.2.1 (Debian bookworm) decodes group metadata records only up
// to value version 2 and logs "failed to decode ... value version 3" for
// ours, as it does for Kafka 2.3 and later, which write version 3 too
// (static membership): it then shows no owner or client id for the
// partitions. Offsets and lag do not depend on it.
func TestBurrowReportsGroupLag(t *testing.T) {
	bin := needs.Burrow(t)
	zk := zktest.Start(t) // Burrow keeps its own coordination in ZooKeeper
	b := startBroker(t, brokerOptions{})
	ctx := testContext(t, 3*time.Minute)
	const topic, group = "burrow-lag", "burrow-group"
	// A real group member (join, sync: the group's metadata record)
	// commits offset 10 of partition 0 and 20 (the end) of partition 1.
	member := seedBurrowTopic(ctx, t, b, topic, kgo.ConsumerGroup(group))
	commitBurrowOffsets(ctx, t, member, topic)

	url, _ := startBurrow(t, bin, zk.Addr, b.Addr())
	body := waitBurrowLag(ctx, t, url, topic, group, true)
	t.Logf("Burrow: %s", body)
}

// seedBurrowTopic creates topic with 2 partitions, produces 30 and 20
// records to them, and returns a group member (memberOpts name the group
// and its protocol) that has consumed all 50 from the start without
// committing.
func seedBurrowTopic(ctx context.Context, t *testing.T, b *broker, topic string, memberOpts ...kgo.Opt) *kgo.Client {
	t.Helper()
	createTopic(ctx, t, newAdmin(t, b), topic, 2, nil)
	prod := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part, n := range []int{30, 20} {
		for i := range n {
			produceSync(ctx, t, prod, &kgo.Record{Partition: int32(part), Value: []byte(fmt.Sprint(i))})
		}
	}
	member := newClient(t, b, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, memberOpts...)...)
	for got := 0; got < 50; {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	return member
}

// burrowCommitted is what commitBurrowOffsets commits: partition 0 at 10
// of its 30 records (lag 20), partition 1 at its end, 20 (lag 0).
var (
	burrowCommitted = map[int32]int64{0: 10, 1: 20}
	burrowWantLag   = map[int32]int64{0: 20, 1: 0}
)

// commitBurrowOffsets commits burrowCommitted for member, failing on any
// partition's error.
func commitBurrowOffsets(ctx context.Context, t *testing.T, member *kgo.Client, topic string) {
	t.Helper()
	commit := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range burrowCommitted {
		commit[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
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
}

// startBurrow runs Burrow (bin) against the broker at brokerAddr, with its
// coordination in the ZooKeeper at zkAddr, until the test ends. It
// returns the base URL of Burrow's cluster API ("http://ADDR/v3/kafka/
// sluice") and Burrow's output (logged if the test failed).
func startBurrow(t *testing.T, bin, zkAddr, brokerAddr string) (string, *syncBuffer) {
	t.Helper()
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
`, filepath.Join(dir, "burrow.pid"), zkAddr, brokerAddr, httpAddr)
	if err := os.WriteFile(filepath.Join(dir, "burrow.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := new(syncBuffer)
	cmd := exec.Command(bin, "-config-dir", dir)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
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
	return "http://" + httpAddr + "/v3/kafka/sluice", out
}

// waitBurrowLag polls Burrow (base URL url) for group's lag until it
// reports exactly burrowWantLag on topic's two partitions (total 20) and,
// with checkEnd, each partition's end at burrowCommitted; it returns the
// answer, or fails after 90 s.
func waitBurrowLag(ctx context.Context, t *testing.T, url, topic, group string, checkEnd bool) string {
	t.Helper()
	url += "/consumer/" + group + "/lag"
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		lag, body, err := getBurrowLag(ctx, url)
		last = body
		if err == nil && !lag.Error && len(lag.Status.Partitions) == 2 {
			ok := lag.Status.TotalLag == 20
			for _, p := range lag.Status.Partitions {
				if p.Topic != topic || p.CurrentLag != burrowWantLag[p.Partition] ||
					(checkEnd && (p.End == nil || p.End.Offset != burrowCommitted[p.Partition])) {
					ok = false
				}
			}
			if ok {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Burrow never reported lag %v (total 20) for %s; last answer: %s (err %v)", burrowWantLag, group, last, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func getBurrowLag(ctx context.Context, url string) (burrowLag, string, error) {
	var lag burrowLag
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return lag, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return lag, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return lag, "", err
	}
	return lag, string(body), json.Unmarshal(body, &lag)
}
