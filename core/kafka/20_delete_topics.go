package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// topicDeletedTimeout bounds Config.OnTopicDeleted for one topic.
const topicDeletedTimeout = 30 * time.Second

// DeleteTopics: versions 0–6 (v6 may name topics by id).
func init() { register(20, 0, 6, (*conn).handleDeleteTopics) }

func (c *conn) handleDeleteTopics(h *header, req *kmsg.DeleteTopicsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: kmsg.StringPtr(n)})
		}
	}
	for _, t := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = t.name, t.id
		name := ""
		if t.name != nil {
			name = *t.name
		} else if n, ok := c.s.b.TopicName(t.id); ok {
			name = n
			st.Topic = kmsg.StringPtr(n)
		} else {
			st.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !c.mayTopic(auth.OpDelete, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			if t.name == nil {
				st.Topic = nil // an id must not reveal the name
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !c.mayWriteInternal(name) {
			st.ErrorCode, st.ErrorMessage = internalTopicError.Code, kmsg.StringPtr(internalTopicMessage)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if tm, ok := c.s.b.Topic(name); ok {
			st.TopicID = tm.ID
		}
		if err := c.s.b.DeleteTopic(name); err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
		} else if f := c.s.cfg.OnTopicDeleted; f != nil {
			ctx, cancel := context.WithTimeout(context.Background(), topicDeletedTimeout)
			f(ctx, name)
			cancel()
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
