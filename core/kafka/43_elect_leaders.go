package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/meta"
)

// ElectLeaders: versions 0–2, preferred (0) and unclean (1) elections,
// done by the controller (Config.Elector). Clients send it to the
// controller; any other broker answers NOT_CONTROLLER so they look again.
func init() { register(43, 0, 2, (*conn).handleElectLeaders) }

// LeaderElector runs requested leader elections: cluster.Controller.
type LeaderElector interface {
	ElectLeaders(ctx context.Context, unclean bool, parts map[string][]int32) (map[string]map[int32]error, error)
}

// electionTimeoutMax bounds how long one request may take, whatever the
// client asks.
const electionTimeoutMax = 60 * time.Second

func (c *conn) handleElectLeaders(h *header, req *kmsg.ElectLeadersRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	all := req.Topics == nil
	var parts map[string][]int32
	if !all {
		// A set, as Kafka's: a partition listed twice (or a million
		// times) is elected once, not once per mention.
		parts = make(map[string][]int32, min(len(req.Topics), 1024))
		seen := map[string]map[int32]bool{}
		for _, t := range req.Topics {
			if seen[t.Topic] == nil {
				seen[t.Topic] = map[int32]bool{}
				parts[t.Topic] = []int32{}
			}
			for _, p := range t.Partitions {
				if !seen[t.Topic][p] {
					seen[t.Topic][p] = true
					parts[t.Topic] = append(parts[t.Topic], p)
				}
			}
		}
	}
	// fail answers every requested partition with code (and, from v1,
	// the request as a whole).
	fail := func(code int16) *reply {
		resp.ErrorCode = code
		for topic, ps := range parts {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = topic
			for _, p := range ps {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return c.ready(h, resp)
	}
	if !c.mayCluster(auth.OpAlter) {
		return fail(kerr.ClusterAuthorizationFailed.Code)
	}
	if req.ElectionType != 0 && req.ElectionType != 1 {
		return fail(kerr.InvalidRequest.Code)
	}
	if c.s.cfg.Elector == nil {
		// The embedded single-node store: this broker leads everything.
		return c.electSingleNode(h, req, resp, parts, all)
	}
	timeout := min(max(time.Duration(req.TimeoutMillis)*time.Millisecond, time.Second), electionTimeoutMax)
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	res, err := c.s.cfg.Elector.ElectLeaders(ctx, req.ElectionType == 1, parts)
	if err != nil {
		return fail(electionCode(err))
	}
	for topic, ps := range res {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = topic
		for p, perr := range ps {
			// Kafka leaves partitions that needed nothing out of an
			// answer for all partitions.
			if all && errors.Is(perr, cluster.ErrElectionNotNeeded) {
				continue
			}
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			if perr != nil {
				rp.ErrorCode = electionCode(perr)
				rp.ErrorMessage = kmsg.StringPtr(perr.Error())
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return c.ready(h, resp)
}

// electSingleNode answers for a single broker: every partition already has
// its only possible leader.
func (c *conn) electSingleNode(h *header, req *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse, parts map[string][]int32, all bool) *reply {
	if all {
		return c.ready(h, resp)
	}
	store := c.s.b.Store()
	for topic, ps := range parts {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = topic
		t, ok := store.Topic(topic)
		for _, p := range ps {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			if !ok || p < 0 || int(p) >= len(t.Partitions) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				rp.ErrorCode = kerr.ElectionNotNeeded.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return c.ready(h, resp)
}

// electionCode maps an election outcome to its Kafka code.
func electionCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cluster.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, cluster.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, cluster.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, cluster.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, meta.ErrUnknownTopic), errors.Is(err, meta.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}
