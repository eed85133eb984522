package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reassignRate is the follower and leader throttle every broker runs with (bytes/s):
// slow enough that catching up the preloaded data takes seconds.
const reassignRate = 128 << 10

// preload writes n records of about 1 KiB ("pre<i> xxx…") to partition 0,
// uncompressed, in batches of at most 8 KiB: a follower fetches whole batches, so the
// throttle can only pace a log made of small ones.
func preload(ctx context.Context, t *testing.T, c *testCluster, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(8<<10),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pad := strings.Repeat("x", 1000)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte("pre" + strconv.Itoa(i) + " " + pad)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("preload %s: %v", topic, err)
	}
}

// reassignments lists topic's reassignments (kadm needs a topic set).
func reassignments(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) map[int32]kadm.ListPartitionReassignmentsResponse {
	t.Helper()
	rs, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("list reassignments: %v", err)
	}
	return rs[topic]
}

func alterAssignment(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, replicas []int32) error {
	t.Helper()
	req := kadm.AlterPartitionAssignmentsReq{}
	if replicas == nil {
		req.CancelAssign(topic, 0)
	} else {
		req.Assign(topic, 0, replicas)
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("alter partition assignments: %v", err)
	}
	return resp[topic][0].Err
}

// setThrottledReplicas sets the topic's leader. or
// follower.replication.throttled.replicas.
func setThrottledReplicas(ctx context.Context, t *testing.T, adm *kadm.Client, topic, side, replicas string) {
	t.Helper()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: side + ".replication.throttled.replicas", Value: kadm.StringPtr(replicas)}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("set throttled replicas: %v", err)
	}
}

// partitionDirGone reports whether nd holds no directory for topic-0.
func partitionDirGone(nd *node, topic string) bool {
	_, err := os.Stat(filepath.Join(nd.dir, topic+"-0"))
	return errors.Is(err, os.ErrNotExist)
}

// TestReassignPartition moves a live RF=3 partition from brokers {1,2,3}
// to {2,3,4} (broker 4 started for it, its catch-up throttled on the
// follower side) under an idempotent acks=all producer, and rolls back a
// cancelled one (throttled on the leader side): the
// cluster's ids start at 1, so these are Kafka's {0,1,2} → {1,2,3}.
func TestReassignPartition(t *testing.T) {
	c := startCluster(t, 3, "--follower-replication-throttled-rate", strconv.Itoa(reassignRate), "--leader-replication-throttled-rate", strconv.Itoa(reassignRate))
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	minISR := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	createTopic(ctx, t, adm, "cancelled", 1, 3, minISR)
	createTopic(ctx, t, adm, "moving", 1, 3, minISR)
	for _, topic := range []string{"cancelled", "moving"} {
		if p := partitionInfo(ctx, t, adm, topic, 0); !slices.Equal(p.Replicas, []int32{1, 2, 3}) || p.Leader != 1 {
			t.Fatalf("%s starts with replicas %v leader %d, want [1 2 3] leader 1", topic, p.Replicas, p.Leader)
		}
	}
	preload(ctx, t, c, "cancelled", 1500)
	preload(ctx, t, c, "moving", 600)

	m4 := c.kit.AddProcess(t, 4)
	c.kit.WaitBrokers(t, 4)
	n4 := &node{t: t, id: 4, addr: m4.Addr, http: m4.HTTP, dir: m4.Proc.DataDir(), logs: output{m4.Proc}, proc: m4.Proc}
	c.nodes = append(c.nodes, n4)

	// Refusals, as Kafka's: a broker that is not alive, a duplicate, and
	// cancelling what is not moving.
	if err := alterAssignment(ctx, t, adm, "moving", []int32{2, 3, 9}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("target with dead broker 9: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	if err := alterAssignment(ctx, t, adm, "moving", []int32{2, 2, 3}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("duplicate target: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	if err := alterAssignment(ctx, t, adm, "moving", nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel without reassignment: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}

	t.Run("cancel", func(t *testing.T) {
		const topic = "cancelled"
		// The leader side this time: leader 1 paces what it sends 4.
		setThrottledReplicas(ctx, t, adm, topic, "leader", "0:1")
		if err := alterAssignment(ctx, t, adm, topic, []int32{2, 3, 4}); err != nil {
			t.Fatalf("reassign: %v", err)
		}
		// In progress: the set grew to target ++ removed, 4 catches up.
		waitFor(ctx, t, "the reassignment started", func() bool {
			r, ok := reassignments(ctx, t, adm, topic)[0]
			return ok && slices.Equal(r.Replicas, []int32{2, 3, 4, 1}) && slices.Equal(r.AddingReplicas, []int32{4}) &&
				slices.Equal(r.RemovingReplicas, []int32{1}) && slices.Equal(partitionInfo(ctx, t, adm, topic, 0).Replicas, []int32{2, 3, 4, 1})
		})
		waitFor(ctx, t, "broker 4 holding a copy", func() bool { return !partitionDirGone(n4, topic) })
		if p := partitionInfo(ctx, t, adm, topic, 0); slices.Contains(p.ISR, 4) {
			t.Fatalf("broker 4 already in the ISR %v: the throttle should keep it catching up", p.ISR)
		}
		// Kafka refuses new partitions while the topic moves.
		if resp, err := adm.CreatePartitions(ctx, 1, topic); err != nil || !errors.Is(resp[topic].Err, kerr.ReassignmentInProgress) {
			t.Fatalf("create partitions while moving: %v %v, want REASSIGNMENT_IN_PROGRESS", err, resp[topic].Err)
		}
		if err := alterAssignment(ctx, t, adm, topic, nil); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		waitFor(ctx, t, "rolled back to [1 2 3]", func() bool {
			p := partitionInfo(ctx, t, adm, topic, 0)
			_, listed := reassignments(ctx, t, adm, topic)[0]
			return !listed && slices.Equal(p.Replicas, []int32{1, 2, 3}) && p.Leader == 1 && len(p.ISR) == 3
		})
		waitFor(ctx, t, "broker 4's copy deleted", func() bool { return partitionDirGone(n4, topic) })
		if err := alterAssignment(ctx, t, adm, topic, nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
			t.Fatalf("second cancel: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
		}
	})

	t.Run("move", func(t *testing.T) {
		const topic = "moving"
		setThrottledReplicas(ctx, t, adm, topic, "follower", "0:4")
		s := startSequencer(t, c, topic)
		waitFor(ctx, t, "first acknowledgements", func() bool { return s.ackedCount() >= 100 })
		dirs, err := adm.DescribeBrokerLogDirs(ctx, 1, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		var size int64
		dirs.Each(func(d kadm.DescribedLogDir) {
			if p, ok := d.Topics.Lookup(topic, 0); ok {
				size = p.Size
			}
		})
		if size < 600<<10 {
			t.Fatalf("leader's log is %d bytes, want at least the preloaded 600 KiB", size)
		}

		// The longest time without a new acknowledgement while moving
		// (sampled every 10 ms): the throttled move must not starve the
		// producer, and the leader change at the end is its one pause.
		gapDone, gapResult := make(chan struct{}), make(chan time.Duration, 1)
		go func() {
			var longest time.Duration
			last, lastAt := s.ackedCount(), time.Now()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-gapDone:
					gapResult <- max(longest, time.Since(lastAt))
					return
				case now := <-tick.C:
					if n := s.ackedCount(); n != last {
						last, lastAt = n, now
					} else {
						longest = max(longest, now.Sub(lastAt))
					}
				}
			}
		}()
		start := time.Now()
		if err := alterAssignment(ctx, t, adm, topic, []int32{2, 3, 4}); err != nil {
			t.Fatalf("reassign: %v", err)
		}
		sawProgress := false
		waitFor(ctx, t, "the reassignment done", func() bool {
			if r, ok := reassignments(ctx, t, adm, topic)[0]; ok {
				sawProgress = sawProgress || slices.Equal(r.AddingReplicas, []int32{4}) && slices.Equal(r.RemovingReplicas, []int32{1})
				return false
			}
			p := partitionInfo(ctx, t, adm, topic, 0)
			return slices.Equal(p.Replicas, []int32{2, 3, 4}) && p.Leader == 2
		})
		took := time.Since(start)
		if !sawProgress {
			t.Fatal("ListPartitionReassignments never showed 4 adding and 1 removing")
		}
		// The follower fetched at most a second's burst plus the rate.
		if floor := time.Duration(float64(size-reassignRate) / reassignRate * 0.8 * float64(time.Second)); took < floor {
			t.Fatalf("moving %d bytes took %v with a %d B/s throttle, want at least %v", size, took, reassignRate, floor)
		}
		afterMove := s.ackedCount()
		waitFor(ctx, t, "acknowledgements after the move", func() bool { return s.ackedCount() >= afterMove+200 })
		close(gapDone)
		// Seen: 100 ms. The bound only catches a stalled producer (the
		// machine is shared with other test runs).
		gapSeen := <-gapResult
		if gapSeen > 5*time.Second {
			t.Fatalf("no acknowledgement for %v during the move", gapSeen)
		}
		acked := s.finish()

		// Every acknowledged record is there once, in order, offsets dense.
		checkMoved(ctx, t, c, adm, topic, 600, acked)
		waitFor(ctx, t, "broker 1's copy deleted", func() bool { return partitionDirGone(c.node(1), topic) })
		var leaderLog []byte
		waitFor(ctx, t, "brokers 2, 3 and 4 holding the same bytes", func() bool {
			if len(partitionInfo(ctx, t, adm, topic, 0).ISR) != 3 {
				return false
			}
			leaderLog = replicaLog(t, c.node(2), topic, 0)
			return len(leaderLog) > 0 && bytes.Equal(replicaLog(t, n4, topic, 0), leaderLog) && bytes.Equal(replicaLog(t, c.node(3), topic, 0), leaderLog)
		})
		// DescribeLogDirs reports the new replica's size.
		all, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range map[int32]bool{1: false, 2: true, 3: true, 4: true} {
			found := false
			all[id].Each(func(d kadm.DescribedLogDir) {
				if p, ok := d.Topics.Lookup(topic, 0); ok {
					found = true
					if p.Size != int64(len(leaderLog)) || p.OffsetLag != 0 {
						t.Errorf("broker %d: size %d lag %d, want %d and 0", id, p.Size, p.OffsetLag, len(leaderLog))
					}
				}
			})
			if found != want {
				t.Errorf("broker %d lists %s-0: %v, want %v", id, topic, found, want)
			}
		}
		t.Logf("moved %d bytes in %v (throttle %d B/s); %d records acknowledged, %d after the move; longest acknowledgement gap from the request to 200 acks after the move: %v",
			size, took, reassignRate, len(acked), len(acked)-afterMove, gapSeen)
	})
}

// checkMoved reads topic-0 from the start: pre pre-loaded records, then
// the sequencer's, each acknowledged one exactly once and in order, at
// dense offsets.
func checkMoved(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client, topic string, pre int, acked []int) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var n int64
	var values []int
	for n < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", n, end.Offset)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != n {
				t.Fatalf("offset %d at position %d", r.Offset, n)
			}
			if n < int64(pre) {
				if want := "pre" + strconv.FormatInt(n, 10) + " "; !bytes.HasPrefix(r.Value, []byte(want)) {
					t.Fatalf("offset %d: %.20q, want preloaded %q", n, r.Value, want)
				}
			} else {
				v, err := strconv.Atoi(string(r.Value))
				if err != nil {
					t.Fatalf("bad value %q at offset %d", r.Value, r.Offset)
				}
				if len(values) > 0 && v <= values[len(values)-1] {
					t.Fatalf("record %d at offset %d after %d: duplicated or out of order", v, r.Offset, values[len(values)-1])
				}
				values = append(values, v)
			}
			n++
		})
	}
	for _, a := range acked {
		if _, ok := slices.BinarySearch(values, a); !ok {
			t.Fatalf("acknowledged record %d is missing (read %d)", a, len(values))
		}
	}
}
