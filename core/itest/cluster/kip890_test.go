package cluster_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicemq/sluice/core/records"
)

// TestKIP890RemoteVerification: KIP-890 part 1 across brokers. The
// partition's leader is not the transactional id's coordinator, so the
// leader verifies with AddPartitionsToTxn v4+ VerifyOnly over the
// inter-broker client: a batch for a partition never added, and one
// delayed past its transaction's abort, are refused with INVALID_TXN_STATE
// and leave the LSO at the HW; batches of the ongoing transaction go in;
// kgo's transactions commit across every broker as before.
func TestKIP890RemoteVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("3-broker cluster (skipped by -short)")
	}
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic, id = "kip890", "kip890-txn"
	const parts = 6
	createTopic(ctx, t, adm, topic, parts, 1, nil)
	// Clients send AddPartitionsToTxn v3 (kgo's producer pins it).
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(24, 3)
	cl := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.MaxVersions(vs), kgo.MetadataMinAge(100*time.Millisecond))

	var coord int32
	waitFor(ctx, t, "a transaction coordinator", func() bool {
		r := adm.FindTxnCoordinators(ctx, id)[id]
		coord = r.NodeID
		return r.Err == nil
	})
	part, leader := int32(-1), int32(-1)
	waitFor(ctx, t, "a partition led by another broker than the coordinator", func() bool {
		for p := int32(0); p < parts; p++ {
			if d := partitionInfo(ctx, t, adm, topic, p); d.Leader >= 0 && d.Leader != coord {
				part, leader = p, d.Leader
				return true
			}
		}
		return false
	})
	t.Logf("coordinator %d, partition %d led by %d", coord, part, leader)

	var pid int64
	var epoch int16
	waitFor(ctx, t, "InitProducerId", func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return true
	})
	produce := func(seq int32, value string) int16 {
		t.Helper()
		batch, err := records.Encode([]records.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte(value)}},
			records.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		batch[22] |= 0x10 // transactional
		crc := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli))
		batch[17], batch[18], batch[19], batch[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(id), -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = part, batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			t.Fatalf("produce %s: %v", value, err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	// offsets: the leader's HW and LSO (a read_committed Fetch).
	offsets := func() (hw, lso int64) {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = part, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		return p.HighWatermark, p.LastStableOffset
	}
	txnState := func(want string) {
		t.Helper()
		waitFor(ctx, t, "transaction "+want, func() bool {
			d, err := adm.DescribeTransactions(ctx, id)
			if err != nil {
				return false
			}
			s, ok := d[id]
			return ok && s.Err == nil && s.State == want
		})
	}

	// Never added: refused by the remote coordinator's answer.
	if code := produce(0, "stray"); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce to a partition not in the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if hw, lso := offsets(); hw != 0 || lso != 0 {
		t.Fatalf("after the refused batch: HW %d, LSO %d", hw, lso)
	}

	// Added: in; the next batch of the open transaction too.
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{part}}}
	if r, err := add.RequestWith(ctx, cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %+v, %v", r, err)
	}
	for seq, v := range []string{"a0", "a1"} {
		if code := produce(int32(seq), v); code != 0 {
			t.Fatalf("produce %s in the transaction: %v", v, kerr.ErrorForCode(code))
		}
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, false
	if r, err := end.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
		t.Fatalf("EndTxn: %+v, %v", r, err)
	}
	txnState("CompleteAbort")
	if hw, lso := offsets(); hw != 3 || lso != 3 {
		t.Fatalf("after the abort: HW %d, LSO %d, want 3, 3", hw, lso)
	}
	// Delayed past the abort: refused, the LSO is not stuck.
	if code := produce(2, "late"); code != kerr.InvalidTxnState.Code {
		t.Fatalf("late batch: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if hw, lso := offsets(); hw != 3 || lso != 3 {
		t.Fatalf("after the late batch: HW %d, LSO %d, want 3, 3", hw, lso)
	}

	// kgo's transactions over every partition (most led by brokers other
	// than the coordinator) commit and abort as before.
	pr := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.TransactionalID("kip890-kgo"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	want := 0
	for round := range 4 {
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		commit := round != 2
		for i := range 2 * parts {
			if err := pr.ProduceSync(ctx, &kgo.Record{Partition: int32(i % parts), Value: []byte(fmt.Sprintf("k%d-%d", round, i))}).FirstErr(); err != nil {
				t.Fatalf("round %d: produce: %v", round, err)
			}
			if commit {
				want++
			}
		}
		if err := pr.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("round %d: end: %v", round, err)
		}
	}
	cons := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	got := map[string]int{}
	waitFor(ctx, t, fmt.Sprintf("%d committed records", want), func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cons.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++ })
		return len(got) >= want
	})
	for v, n := range got {
		if n != 1 || v[0] != 'k' || v[1] == '2' {
			t.Fatalf("read_committed read %q %d times", v, n)
		}
	}
	if len(got) != want {
		t.Fatalf("read_committed read %d records, want %d", len(got), want)
	}
}
