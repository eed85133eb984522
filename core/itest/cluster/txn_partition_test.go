package cluster_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/records"
)

// TestTxnStateSurvivesLeaderKill: followers replicate a partition's
// transactions (an open one, an aborted one and its .txnindex entry), so
// after the leader is SIGKILLed the new leader keeps the LSO where the
// open transaction starts, tells read_committed consumers about the abort,
// and takes the commit marker; the old leader rejoins with the same state.
// (The coordinator is not involved: Produce and WriteTxnMarkers are sent
// raw, as a coordinator would send them.)
func TestTxnStateSurvivesLeaderKill(t *testing.T) {
	// Verification off: these transactional batches belong to no
	// coordinator's transaction (KIP-890 would refuse them).
	c := startCluster(t, 3, "--transaction-partition-verification-enable=false")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "txn-failover"
	createTopic(ctx, t, adm, topic, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	cl := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(100*time.Millisecond))
	var leader kadm.PartitionDetail
	waitFor(ctx, t, "a leader with a full ISR", func() bool {
		leader = partitionInfo(ctx, t, adm, topic, 0)
		return leader.Leader > 0 && len(leader.ISR) == 3
	})

	initPID := func() (int64, int16) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis = 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("InitProducerId: %v %v", err, resp)
		}
		return resp.ProducerID, resp.ProducerEpoch
	}
	a, ae := initPID()
	b, be := initPID()
	produce := func(to int32, pid int64, epoch int16, seq int32, value string) {
		t.Helper()
		batch, err := records.Encode([]records.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte(value)}},
			records.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		if pid >= 0 {
			batch[22] |= 0x10 // transactional
			crc := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli))
			batch[17], batch[18], batch[19], batch[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
			req.TransactionID = kmsg.StringPtr("etl")
		}
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(to)))
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce %s to %d: %v %v", value, to, err, resp)
		}
	}
	marker := func(to int32, pid int64, epoch int16, commit bool) int16 {
		t.Helper()
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, commit
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, cl.Broker(int(to)))
		if err != nil {
			t.Fatalf("WriteTxnMarkers to %d: %v", to, err)
		}
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	// b0 (0), a0 (1), abort B (2), a1 (3), p0 (4): A stays open.
	produce(leader.Leader, b, be, 0, "b0")
	produce(leader.Leader, a, ae, 0, "a0")
	if code := marker(leader.Leader, b, be, false); code != 0 {
		t.Fatalf("abort B: %v", kerr.ErrorForCode(code))
	}
	produce(leader.Leader, a, ae, 1, "a1")
	produce(leader.Leader, -1, -1, -1, "p0")

	// The state as one broker serves it: LSO, aborted list.
	state := func(to int32) (lso int64, aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction, err error) {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(to)))
		if err != nil {
			return 0, nil, err
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			return 0, nil, kerr.ErrorForCode(p.ErrorCode)
		}
		return p.LastStableOffset, p.AbortedTransactions, nil
	}
	wantState := func(what string, to int32) {
		t.Helper()
		var lso int64
		var ab []kmsg.FetchResponseTopicPartitionAbortedTransaction
		var err error
		waitFor(ctx, t, what, func() bool {
			lso, ab, err = state(to)
			return err == nil && lso == 1 && len(ab) == 1 && ab[0].ProducerID == b && ab[0].FirstOffset == 0
		})
	}
	wantState("the leader's transaction state", leader.Leader)

	old := c.node(leader.Leader)
	old.kill()
	var now kadm.PartitionDetail
	waitFor(ctx, t, "a new leader", func() bool {
		now = partitionInfo(ctx, t, adm, topic, 0)
		return now.Leader > 0 && now.Leader != leader.Leader && now.LeaderEpoch > leader.LeaderEpoch
	})
	wantState(fmt.Sprintf("broker %d's transaction state after the failover", now.Leader), now.Leader)
	if code := marker(now.Leader, a, ae, true); code != 0 {
		t.Fatalf("commit A on the new leader: %v", kerr.ErrorForCode(code))
	}

	consume := func(iso kgo.IsolationLevel, want []string) {
		t.Helper()
		cons := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.FetchIsolationLevel(iso),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		var got []string
		for len(got) < len(want) && ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if !slices.Equal(got, want) {
			t.Fatalf("consumed %v, want %v", got, want)
		}
		cons.Close()
	}
	consume(kgo.ReadCommitted(), []string{"a0", "a1", "p0"})
	consume(kgo.ReadUncommitted(), []string{"b0", "a0", "a1", "p0"})

	// The old leader recovers (SIGKILL: log replay) and catches up.
	old.start()
	waitFor(ctx, t, fmt.Sprintf("broker %d back in the ISR", old.id), func() bool {
		return slices.Contains(partitionInfo(ctx, t, adm, topic, 0).ISR, old.id)
	})
	if code := marker(now.Leader, a, ae, true); code != 0 { // a retry: no-op
		t.Fatalf("retried commit: %v", kerr.ErrorForCode(code))
	}
	waitFor(ctx, t, "replica logs identical", func() bool {
		first := replicaLog(t, c.nodes[0], topic, 0)
		for _, nd := range c.nodes[1:] {
			if string(replicaLog(t, nd, topic, 0)) != string(first) {
				return false
			}
		}
		return len(first) > 0
	})
	consume(kgo.ReadCommitted(), []string{"a0", "a1", "p0"})
}
