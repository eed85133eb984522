package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// FuzzConsumerHeartbeat sends ConsumerGroupHeartbeats with arbitrary
// field combinations (epochs, nil and empty lists, owned partitions of
// unknown topics, negative or huge partition numbers, static members,
// regexes, assignors) from a few members to one coordinator, then
// describes the group: any answer is fine, a panic is not.
func FuzzConsumerHeartbeat(f *testing.F) {
	pcfg := partition.Config{
		Log:             storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes: 1 << 20, MinInsyncReplicas: 1, BrokerID: 1,
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := partition.Open(OffsetsTopic, 0, f.TempDir(), pcfg, false, logger)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	p.BecomeLeader(1, []int32{1}, []int32{1})
	topics := []TopicMeta{{Name: "t", ID: topicID("t"), Partitions: 3}, {Name: "u", ID: topicID("u"), Partitions: 1}}
	cfg := Config{
		ConsumerSessionTimeout: 10 * time.Second, ConsumerHeartbeatInterval: time.Second,
		Topics: func() []TopicMeta { return topics }, Clock: NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Logger: logger, MinSessionTimeout: time.Second, OffsetsRetentionCheckInterval: -1,
	}
	c, err := New(cfg, NewStore(1, func(int32) (*partition.Partition, error) { return p, nil }))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.Close)

	f.Add(uint8(0), int32(0), uint16(0b0000_0100), "", int32(0), int64(30000))
	f.Add(uint8(1), int32(0), uint16(0b0001_0110), "t|u", int32(1), int64(-1))
	f.Add(uint8(0), int32(1), uint16(0b0110_1100), "", int32(-1), int64(5000))
	f.Add(uint8(2), int32(-2), uint16(0b1000_0001), "", int32(1<<30), int64(0))
	f.Add(uint8(1), int32(-1), uint16(0b1111_1111), "(", int32(2), int64(1))
	f.Fuzz(func(t *testing.T, member uint8, epoch int32, flags uint16, regex string, part int32, rebalance int64) {
		str := func(s string) *string { return &s }
		req := ConsumerHeartbeatRequest{
			GroupID: "fuzz", MemberID: []string{"m-aaaaaaaaaaaaaaaaaaaaaa", "m-bbbbbbbbbbbbbbbbbbbbbb", "", "m-c"}[member%4],
			MemberEpoch: epoch, RebalanceTimeout: time.Duration(rebalance) * time.Millisecond,
			ClientID: "c", ClientHost: "/127.0.0.1",
		}
		if flags&1 != 0 {
			req.InstanceID = str("i-1")
		}
		if flags&2 != 0 {
			req.RackID = str("r")
		}
		switch (flags >> 2) & 3 {
		case 1:
			req.TopicNames = []string{"t", "u", "missing"}
		case 2:
			req.TopicNames = []string{}
		case 3:
			req.TopicNames = []string{"t", "t"}
		}
		if flags&16 != 0 && len(regex) <= 64 {
			req.TopicRegex = str(regex)
		}
		switch (flags >> 5) & 3 {
		case 1:
			req.Owned = []ConsumerTopic{}
		case 2:
			req.Owned = []ConsumerTopic{{TopicID: topicID("t"), Partitions: []int32{part, part, 0}}}
		case 3:
			req.Owned = []ConsumerTopic{{TopicID: topicID("nope"), Partitions: []int32{part}}, {TopicID: topicID("u"), Partitions: nil}}
		}
		switch (flags >> 7) & 3 {
		case 1:
			req.ServerAssignor = str("range")
		case 2:
			req.ServerAssignor = str("bogus")
		case 3:
			req.ServerAssignor = str("")
		}
		res := c.ConsumerHeartbeat(req)
		for _, a := range res.Assignment {
			for _, p := range a.Partitions {
				if p < 0 {
					t.Fatalf("assigned negative partition %d of %x", p, a.TopicID)
				}
			}
		}
		c.DescribeConsumer("fuzz")
	})
}
