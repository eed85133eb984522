package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// ListOffsets: versions 0–8. Timestamps -2 (earliest), -1 (latest: the
// high watermark), -3 (largest timestamp, v7+), -4 (earliest local, v8+,
// the same as earliest here) or a timestamp: the first record at or after
// it. v0 answers in the old offsets-array form. isolation_level=1
// (read_committed, v2+) makes latest the last stable offset and answers
// lookups only below it, as Kafka does.
func init() { register(2, 0, 8, (*conn).handleListOffsets) }

func (c *conn) handleListOffsets(h *header, req *kmsg.ListOffsetsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		describable := c.mayTopic(auth.OpDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			if !describable {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch()); code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			ts := rp.Timestamp
			if ts == -4 || ts == -5 {
				ts = -2
			}
			off, stamp, err := p.OffsetForTimestampIsolated(ts, req.Version >= 2 && req.IsolationLevel == 1)
			if err != nil {
				sp.ErrorCode = errorCode(err)
			}
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, stamp, p.LeaderEpoch()
			if req.Version == 0 {
				if off >= 0 {
					sp.OldStyleOffsets = []int64{off}
				} else {
					sp.OldStyleOffsets = []int64{}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
