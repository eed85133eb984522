package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// CreatePartitions: versions 0–3. Grows a topic; new partitions are placed
// by the broker's assignment algorithm.
func init() { register(37, 0, 3, (*conn).handleCreatePartitions) }

func (c *conn) handleCreatePartitions(h *header, req *kmsg.CreatePartitionsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if !c.mayTopic(auth.OpAlter, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !c.mayWriteInternal(rt.Topic) {
			st.ErrorCode, st.ErrorMessage = internalTopicError.Code, kmsg.StringPtr(internalTopicMessage)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		err := c.s.b.CreatePartitions(rt.Topic, rt.Count, req.ValidateOnly)
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
