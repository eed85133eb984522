package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicElectLeadersCommand is `sluice topic elect-leaders`: Kafka's
// kafka-leader-election.sh over ElectLeaders.
func (c *cli) topicElectLeadersCommand() *ffcli.Command {
	var (
		how        string
		topic      string
		partitions string
		all        bool
	)
	return c.adminCommand(adminSpec{
		path:  "topic elect-leaders",
		usage: "sluice topic elect-leaders [--type preferred|unclean] (--all | --topic NAME [--partitions 0,1,...])",
		help:  "Move leadership back to preferred replicas, or elect leaders for leaderless partitions (unclean).",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&how, "type", "preferred", "election `TYPE`: preferred (first assigned replica, if in sync) or unclean (any live replica of a partition without a leader; may lose acknowledged records)")
			fs.StringVar(&topic, "topic", "", "topic `NAME` whose partitions to elect for")
			fs.StringVar(&partitions, "partitions", "", "comma-separated partition `LIST` of --topic (default: all of its partitions)")
			fs.BoolVar(&all, "all", false, "every partition of every topic")
		},
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			var et kadm.ElectLeadersHow
			switch how {
			case "preferred":
				et = kadm.ElectPreferredReplica
			case "unclean":
				et = kadm.ElectLiveReplica
			default:
				return fmt.Errorf("--type must be preferred or unclean, got %q", how)
			}
			if all == (topic != "") {
				return errors.New("give either --all or --topic")
			}
			if all && partitions != "" {
				return errors.New("--partitions needs --topic")
			}
			var set kadm.TopicsSet
			if topic != "" {
				ps, err := parsePartitionList(partitions)
				if err != nil {
					return err
				}
				if len(ps) == 0 {
					md, err := adm.Metadata(ctx, topic)
					if err != nil {
						return err
					}
					td, ok := md.Topics[topic]
					if !ok {
						return fmt.Errorf("topic %q: %w", topic, kerr.UnknownTopicOrPartition)
					}
					if td.Err != nil {
						return fmt.Errorf("topic %q: %w", topic, td.Err)
					}
					ps = td.Partitions.Numbers()
				}
				set = kadm.TopicsSet{}
				set.Add(topic, ps...)
			}
			res, err := adm.ElectLeaders(ctx, et, set)
			if err != nil {
				return fmt.Errorf("elect leaders: %w", err)
			}
			var failed int
			var lines []string
			for _, ps := range res {
				for _, r := range ps {
					status := "elected"
					if r.Err != nil {
						status = r.Err.Error()
						if !errors.Is(r.Err, kerr.ElectionNotNeeded) {
							failed++
						}
					}
					lines = append(lines, fmt.Sprintf("%s-%d\t%s", r.Topic, r.Partition, status))
				}
			}
			slices.Sort(lines)
			if len(lines) == 0 {
				fmt.Fprintln(c.stdout, "No election needed.")
			}
			for _, l := range lines {
				fmt.Fprintln(c.stdout, l)
			}
			if failed > 0 {
				return fmt.Errorf("%d partitions got no new leader", failed)
			}
			return nil
		},
	})
}

// parsePartitionList parses "0,1,2" (empty: none).
func parsePartitionList(s string) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	var out []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--partitions: bad partition %q", f)
		}
		out = append(out, int32(n))
	}
	return out, nil
}
