package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The throttle rates `sluice topic reassign --throttle-rate` sets, as
// Kafka's kafka-reassign-partitions.sh --throttle does: dynamic broker
// configs on every broker of the moved partitions' old and new replica
// sets, with the topic's leader.replication.throttled.replicas naming the
// current replicas (the leaders the new ones copy from) next to the
// follower.replication.throttled.replicas --throttle sets.
const (
	leaderThrottledReplicasConfig = "leader.replication.throttled.replicas"
	leaderRateConfig              = "leader.replication.throttled.rate"
	followerRateConfig            = "follower.replication.throttled.rate"
)

// setThrottleRates sets the rates and returns the topic config that names
// the leaders' throttled replicas, for reassignExecute to write together
// with the follower one: one write, as two on different brokers may race.
func (c *cli) setThrottleRates(ctx context.Context, adm *kadm.Client, current, plan [][]int32, rate int64) (*kadm.AlterConfig, error) {
	var leaders []string
	var brokers []int32
	for p, target := range plan {
		if target == nil || slices.Equal(target, current[p]) {
			continue
		}
		for _, id := range current[p] {
			leaders = append(leaders, fmt.Sprintf("%d:%d", p, id))
		}
		for _, id := range append(slices.Clone(current[p]), target...) {
			if !slices.Contains(brokers, id) {
				brokers = append(brokers, id)
			}
		}
	}
	if len(brokers) == 0 {
		return nil, nil
	}
	slices.Sort(brokers)
	v := strconv.FormatInt(rate, 10)
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: leaderRateConfig, Value: &v},
		{Op: kadm.SetConfig, Name: followerRateConfig, Value: &v},
	}, brokers...)
	if err == nil {
		for _, r := range resps {
			if r.Err != nil {
				err = fmt.Errorf("broker %s: %w", r.Name, kafkaErr(r.Err, r.ErrMessage))
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("set the throttle rates: %w", err)
	}
	fmt.Fprintf(c.stdout, "Set %s and %s to %s bytes/s on brokers %s.\n", leaderRateConfig, followerRateConfig, v, formatIDs(brokers))
	return &kadm.AlterConfig{Name: leaderThrottledReplicasConfig, Value: kadm.StringPtr(strings.Join(leaders, ","))}, nil
}

// removeThrottleRates deletes the per-broker throttle rates once no
// reassignment is in progress anywhere in the cluster (other topics' moves
// may still need them), as Kafka's --verify does.
func (c *cli) removeThrottleRates(ctx context.Context, adm *kadm.Client) error {
	topics, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil // best effort: the throttle stays
	}
	if all, err := adm.ListPartitionReassignments(ctx, topics.TopicsSet()); err != nil || len(all) > 0 {
		return nil // the throttle stays while anything moves
	}
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil
	}
	for _, b := range md.Brokers {
		rcs, err := adm.DescribeBrokerConfigs(ctx, b.NodeID)
		if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
			continue
		}
		var del []kadm.AlterConfig
		for _, cfg := range rcs[0].Configs {
			if (cfg.Key == leaderRateConfig || cfg.Key == followerRateConfig) && cfg.Source == kmsg.ConfigSourceDynamicBrokerConfig {
				del = append(del, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: cfg.Key})
			}
		}
		if len(del) == 0 {
			continue
		}
		resps, err := adm.AlterBrokerConfigs(ctx, del, b.NodeID)
		if err == nil && len(resps) == 1 && resps[0].Err != nil {
			err = kafkaErr(resps[0].Err, resps[0].ErrMessage)
		}
		if err != nil {
			return fmt.Errorf("remove the throttle rates of broker %d: %w", b.NodeID, err)
		}
		fmt.Fprintf(c.stdout, "Removed the throttle rates of broker %d.\n", b.NodeID)
	}
	return nil
}
