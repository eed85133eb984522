package kafka

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// AlterPartitionReassignments: versions 0–1. Records target replica sets
// (or cancellations, null replicas) that the controller then carries out
// (core/cluster/reassign.go); the answer says whether each was accepted,
// not that the move is done (ListPartitionReassignments shows progress).
// ALTER on CLUSTER, as in Kafka.
func init() { register(45, 0, 1, (*conn).handleAlterPartitionReassignments) }

func (c *conn) handleAlterPartitionReassignments(h *header, req *kmsg.AlterPartitionAssignmentsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	fail := func(code int16, msg string) *reply {
		resp.ErrorCode, resp.ErrorMessage = code, kmsg.StringPtr(msg)
		for _, rt := range req.Topics {
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.ErrorMessage = rp.Partition, code, kmsg.StringPtr(msg)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return c.ready(h, resp)
	}
	if !c.mayCluster(auth.OpAlter) {
		return fail(kerr.ClusterAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Message)
	}
	store, ok := c.s.b.Store().(meta.ReassignmentStore)
	if !ok {
		return fail(kerr.UnsupportedVersion.Code, "this broker's metadata store cannot reassign partitions")
	}
	live := map[int32]bool{}
	for _, b := range c.s.b.Store().Brokers() {
		live[b.ID] = true
	}
	// Validated requests go to the store in one batch; results map back.
	type slot struct{ t, p int }
	var reqs []meta.Reassignment
	var slots []slot
	for ti, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		mt, known := c.s.b.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			var err error
			switch {
			case !known || rp.Partition < 0 || int(rp.Partition) >= len(mt.Partitions):
				err = kerr.UnknownTopicOrPartition
			case rp.Replicas != nil:
				err = validReassignment(rp.Replicas, live)
				if err == nil && !req.AllowReplicationFactorChange && req.Version >= 1 &&
					len(rp.Replicas) != len(mt.Partitions[rp.Partition].Replicas) {
					err = fmt.Errorf("%w: the replication factor of %s-%d would change from %d to %d",
						kerr.InvalidReplicationFactor, rt.Topic, rp.Partition, len(mt.Partitions[rp.Partition].Replicas), len(rp.Replicas))
				}
			}
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = reassignErrorCode(err), kmsg.StringPtr(err.Error())
			} else {
				reqs = append(reqs, meta.Reassignment{Topic: rt.Topic, Partition: rp.Partition, Target: rp.Replicas})
				slots = append(slots, slot{ti, len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(reqs) > 0 {
		errs := store.AlterReassignments(reqs)
		for i, err := range errs {
			if err == nil {
				c.s.cfg.Logger.Info("partition reassignment requested", "topic", reqs[i].Topic, "partition", reqs[i].Partition,
					"replicas", reqs[i].Target, "cancel", reqs[i].Target == nil, "principal", string(c.principal))
				continue
			}
			sp := &resp.Topics[slots[i].t].Partitions[slots[i].p]
			sp.ErrorCode, sp.ErrorMessage = reassignErrorCode(err), kmsg.StringPtr(err.Error())
		}
	}
	return c.ready(h, resp)
}

// validReassignment applies Kafka's checks on a target replica set:
// non-empty, distinct, non-negative ids of live brokers.
func validReassignment(replicas []int32, live map[int32]bool) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: the replica list is empty", kerr.InvalidReplicaAssignment)
	}
	for i, id := range replicas {
		if slices.Contains(replicas[:i], id) {
			return fmt.Errorf("%w: duplicate replica %d in %v", kerr.InvalidReplicaAssignment, id, replicas)
		}
		if !live[id] {
			return fmt.Errorf("%w: replica assignment %v has broker %d, which is not alive", kerr.InvalidReplicaAssignment, replicas, id)
		}
	}
	return nil
}

// reassignErrorCode maps store and validation errors to Kafka codes.
func reassignErrorCode(err error) int16 {
	switch {
	case errors.Is(err, meta.ErrNoReassignment):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, meta.ErrInvalid):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, meta.ErrUnknownTopic), errors.Is(err, meta.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	}
	return errorCode(err)
}
