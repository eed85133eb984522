package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// DeleteRecords: versions 0–2. Offset -1 means the high watermark.
func init() { register(21, 0, 2, (*conn).handleDeleteRecords) }

func (c *conn) handleDeleteRecords(h *header, req *kmsg.DeleteRecordsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		var denied int16
		switch {
		case !c.mayTopic(auth.OpDelete, rt.Topic):
			denied = kerr.TopicAuthorizationFailed.Code
		case !c.mayWriteInternal(rt.Topic):
			denied = internalTopicError.Code
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			if denied != 0 {
				sp.ErrorCode = denied
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err == nil {
				sp.LowWatermark, err = p.DeleteRecordsBefore(rp.Offset)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
