package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta"
)

func (c *cli) topicDescribeCommand() *ffcli.Command {
	return c.adminCommand(adminSpec{
		path:  "topic describe",
		usage: "sluice topic describe NAME",
		help:  "Show a topic's partitions, offsets and non-default configs.",
		args:  []string{"NAME"},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			d, err := describeTopic(ctx, adm, args[0])
			if err != nil {
				return fmt.Errorf("describe topic %q: %w", args[0], err)
			}
			return d.print(c)
		},
	})
}

// topicDescription is everything `topic describe` shows, gathered before
// printing so a failing request prints nothing partial.
type topicDescription struct {
	detail      kadm.TopicDetail
	startOffs   kadm.ListedOffsets
	endOffs     kadm.ListedOffsets
	overrides   []kadm.Config // topic-level configs (DYNAMIC_TOPIC_CONFIG)
	configError error
}

func describeTopic(ctx context.Context, adm *kadm.Client, name string) (*topicDescription, error) {
	topics, err := adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return nil, err
	}
	detail, ok := topics[name]
	if !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	if detail.Err != nil {
		return nil, detail.Err
	}
	d := &topicDescription{detail: detail}
	if d.startOffs, err = adm.ListStartOffsets(ctx, name); err != nil {
		return nil, fmt.Errorf("log start offsets: %w", err)
	}
	if d.endOffs, err = adm.ListEndOffsets(ctx, name); err != nil {
		return nil, fmt.Errorf("log end offsets: %w", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	rc, err := configs.On(name, nil)
	if err == nil {
		err = kafkaErr(rc.Err, rc.ErrMessage)
	}
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	for _, cfg := range rc.Configs {
		// Like kafka-topics.sh, show only what was set on the topic itself;
		// broker-wide settings and defaults would bury the overrides.
		if cfg.Source == kmsg.ConfigSourceDynamicTopicConfig {
			d.overrides = append(d.overrides, cfg)
		}
	}
	return d, nil
}

func (d *topicDescription) print(c *cli) error {
	td := d.detail
	head := newTable(c.stdout)
	head.row("Topic:", td.Topic)
	if td.ID != (kadm.TopicID{}) {
		head.row("Topic ID:", meta.TopicIDString(td.ID))
	}
	head.row("Partitions:", fmt.Sprint(len(td.Partitions)))
	head.row("Replication factor:", fmt.Sprint(td.Partitions.NumReplicas()))
	if td.IsInternal {
		head.row("Internal:", "true")
	}
	if err := head.flush(); err != nil {
		return err
	}

	fmt.Fprintln(c.stdout)
	parts := newTable(c.stdout, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "LOG-END")
	for _, p := range td.Partitions.Sorted() {
		cells := []string{
			fmt.Sprint(p.Partition), fmt.Sprint(p.Leader), fmt.Sprint(p.LeaderEpoch),
			joinInt32s(p.Replicas), joinInt32s(p.ISR),
			offsetCell(d.startOffs, td.Topic, p.Partition),
			offsetCell(d.endOffs, td.Topic, p.Partition),
		}
		if p.Err != nil {
			cells = append(cells, "error: "+kafkaErrorName(p.Err))
		}
		parts.row(cells...)
	}
	if err := parts.flush(); err != nil {
		return err
	}

	fmt.Fprintln(c.stdout)
	if len(d.overrides) == 0 {
		fmt.Fprintln(c.stdout, "Configs: none set on the topic (broker defaults apply)")
		return nil
	}
	fmt.Fprintln(c.stdout, "Configs (non-default):")
	cfgs := newTable(c.stdout)
	for _, cfg := range d.overrides {
		value := cfg.MaybeValue()
		if cfg.Sensitive {
			value = "(sensitive)"
		}
		cfgs.row("  "+cfg.Key, value)
	}
	return cfgs.flush()
}

// offsetCell is one partition's listed offset, its Kafka error name, or "-"
// when the broker did not answer for it.
func offsetCell(offs kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := offs.Lookup(topic, partition)
	switch {
	case !ok:
		return "-"
	case o.Err != nil:
		return kafkaErrorName(o.Err)
	default:
		return fmt.Sprint(o.Offset)
	}
}

// kafkaErrorName is the protocol name of a Kafka error code
// (NOT_LEADER_OR_FOLLOWER), or the error text for anything else.
func kafkaErrorName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}
