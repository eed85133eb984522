package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// ListPartitionReassignments: version 0. The partitions being moved, with
// their current replica set and the replicas being added and removed;
// null topics list all. DESCRIBE on CLUSTER, as in Kafka.
func init() { register(46, 0, 0, (*conn).handleListPartitionReassignments) }

func (c *conn) handleListPartitionReassignments(h *header, req *kmsg.ListPartitionReassignmentsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !c.mayCluster(auth.OpDescribe) {
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Message)
		return c.ready(h, resp)
	}
	var list []meta.Reassignment
	if store, ok := c.s.b.Store().(meta.ReassignmentStore); ok {
		var err error
		if list, err = store.Reassignments(); err != nil {
			resp.ErrorCode, resp.ErrorMessage = kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
			return c.ready(h, resp)
		}
	}
	wanted := askedPartitions(req.Topics == nil, len(req.Topics), func(yield func(string, []int32)) {
		for _, t := range req.Topics {
			yield(t.Topic, t.Partitions)
		}
	})
	byTopic := map[string]int{}
	for _, r := range list {
		if !wanted(r.Topic, r.Partition) {
			continue
		}
		mt, ok := c.s.b.Topic(r.Topic)
		if !ok || int(r.Partition) >= len(mt.Partitions) || r.Partition < 0 {
			continue
		}
		cur := mt.Partitions[r.Partition].Replicas
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = r.Partition
		sp.Replicas = slices.Clone(cur)
		sp.AddingReplicas = nonNil(r.AddingReplicas(cur))
		sp.RemovingReplicas = nonNil(r.RemovingReplicas(cur))
		if !r.Started() && r.Target != nil {
			// Not picked up by the controller yet: show the replica
			// set it is about to have, as Kafka's answer does once the
			// request returned.
			sp.Replicas = nonNil(append(slices.Clone(r.Target), sp.RemovingReplicas...))
		}
		i, ok := byTopic[r.Topic]
		if !ok {
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = r.Topic
			resp.Topics = append(resp.Topics, st)
			i = len(resp.Topics) - 1
			byTopic[r.Topic] = i
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	slices.SortFunc(resp.Topics, func(a, b kmsg.ListPartitionReassignmentsResponseTopic) int { return strings.Compare(a.Topic, b.Topic) })
	for i := range resp.Topics {
		slices.SortFunc(resp.Topics[i].Partitions, func(a, b kmsg.ListPartitionReassignmentsResponseTopicPartition) int {
			return int(a.Partition - b.Partition)
		})
	}
	return c.ready(h, resp)
}

// nonNil keeps empty lists empty (not null) on the wire.
func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
