package cluster

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/records"
)

// TestStuckPartitionDoesNotStopOthers: the leader fails one partition's
// divergence check (OffsetForLeaderEpoch answers UNKNOWN_LEADER_EPOCH, as
// a leader that has not applied its new epoch does); the follower still
// fetches every other partition from that leader. It used to skip the
// whole fetch while any check failed, which in the run-1 wedge of issue 18
// kept every follower out of every ISR of that leader. The leader is a
// kfake broker whose answers the test scripts.
func TestStuckPartitionDoesNotStopOthers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	batch, err := records.Encode([]records.Record{{Value: []byte("x")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.OffsetForLeaderEpoch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return epochsResponse(kr.(*kmsg.OffsetForLeaderEpochRequest), func(int32) (int16, int32, int64) {
			return kerr.UnknownLeaderEpoch.Code, -1, -1
		}), nil, true
	})
	c.ControlKey(int16(kmsg.Fetch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return fetchResponse(kr.(*kmsg.FetchRequest), 1, func(rp kmsg.FetchRequestTopicPartition) []byte {
			if rp.Partition == 0 && rp.FetchOffset == 0 {
				return batch
			}
			return nil
		}), nil, true
	})

	const self = 5
	m, err := newReplicaManager(Config{BrokerID: self, Logger: discardLogger()},
		newMemStore(meta.PartitionState{}), c.ListenAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Partition 0 has an empty log (nothing can diverge: fetched at
	// once); partition 1 has a record of an older epoch, so it needs the
	// check the leader keeps failing.
	p0, p1 := testReplicaOf(t, 0, self), testReplicaOf(t, 1, self)
	p1.BecomeLeader(0, []int32{self}, []int32{self})
	if _, err := p1.Append(batch); err != nil {
		t.Fatal(err)
	}
	st := meta.PartitionState{Replicas: []int32{0, self}, ISR: []int32{0, self}, Leader: 0, LeaderEpoch: 1}
	m.ApplyState(p0, st)
	m.ApplyState(p1, st)

	deadline := time.Now().Add(15 * time.Second)
	for p0.LogEndOffset() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("partition 0 was never fetched while partition 1's divergence check kept failing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if end := p1.LogEndOffset(); end != 1 {
		t.Fatalf("partition 1 log end %d, want 1 (untouched until its check passes)", end)
	}
}

// The scripted leader's answers (kfake ControlKey handlers build them).

// epochsResponse answers every partition of an OffsetForLeaderEpoch
// request with answer's error code, leader epoch and end offset.
func epochsResponse(req *kmsg.OffsetForLeaderEpochRequest, answer func(partition int32) (code int16, epoch int32, end int64)) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Version = req.Version
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset = answer(rp.Partition)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// fetchResponse answers every partition of req with high watermark and
// last stable offset hw and the record batches batches gives (nil: none).
func fetchResponse(req *kmsg.FetchRequest, hw int64, batches func(kmsg.FetchRequestTopicPartition) []byte) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.Version = req.Version
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rp.Partition, hw, hw, 0
			if batches != nil {
				sp.RecordBatches = batches(rp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
