package main

import (
	"context"
	"flag"
	"fmt"
	"math"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
)

// topicCommand is `sluice topic`: topic administration over the Kafka
// protocol. list and describe live in their own files.
func (c *cli) topicCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "topic",
		ShortUsage: "sluice topic <create|list|describe|alter|delete|reassign|elect-leaders> [flags] [NAME]",
		ShortHelp:  "Create, list, describe, alter, delete and reassign topics; elect leaders.",
		FlagSet:    c.newFlagSet("topic"),
		Subcommands: []*ffcli.Command{
			c.topicCreateCommand(),
			c.topicListCommand(),
			c.topicDescribeCommand(),
			c.topicAlterCommand(),
			c.topicDeleteCommand(),
			c.topicReassignCommand(), // topic_reassign.go
			c.topicElectLeadersCommand(),
		},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

func (c *cli) topicCreateCommand() *ffcli.Command {
	var (
		partitions int
		replicas   int
		configs    keyValueList
	)
	return c.adminCommand(adminSpec{
		path:  "topic create",
		usage: "sluice topic create NAME [--partitions N] [--replicas R] [--config KEY=VALUE ...]",
		help:  "Create a topic.",
		args:  []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&partitions, "partitions", -1, "number of partitions; -1 = the broker's --default-partitions")
			fs.IntVar(&replicas, "replicas", -1, "replication factor; -1 = the broker's default")
			fs.Var(&configs, "config", "topic config `KEY=VALUE` (repeatable), e.g. retention.ms=3600000")
		},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			name := args[0]
			if partitions == 0 || partitions < -1 || partitions > math.MaxInt32 {
				return fmt.Errorf("--partitions must be positive or -1, got %d", partitions)
			}
			if replicas == 0 || replicas < -1 || replicas > math.MaxInt16 {
				return fmt.Errorf("--replicas must be positive or -1, got %d", replicas)
			}
			cfg := make(map[string]*string, len(configs.pairs))
			for _, kv := range configs.pairs {
				cfg[kv.key] = kadm.StringPtr(kv.value)
			}
			resp, err := adm.CreateTopic(ctx, int32(partitions), int16(replicas), cfg, name)
			if err != nil {
				return fmt.Errorf("create topic %q: %w", name, kafkaErr(err, resp.ErrMessage))
			}
			// Brokers answering CreateTopics v5+ report what they actually
			// used, which matters when -1 asked for defaults.
			gotPartitions, gotReplicas := int(resp.NumPartitions), int(resp.ReplicationFactor)
			if gotPartitions <= 0 {
				gotPartitions = partitions
			}
			if gotReplicas <= 0 {
				gotReplicas = replicas
			}
			fmt.Fprintf(c.stdout, "Created topic %q (partitions: %s, replication factor: %s).\n",
				name, orDefault(gotPartitions), orDefault(gotReplicas))
			return nil
		},
	})
}

// orDefault prints a count, or "broker default" for -1.
func orDefault(n int) string {
	if n < 0 {
		return "broker default"
	}
	return fmt.Sprint(n)
}

func (c *cli) topicDeleteCommand() *ffcli.Command {
	return c.adminCommand(adminSpec{
		path:  "topic delete",
		usage: "sluice topic delete NAME",
		help:  "Delete a topic and all its data.",
		args:  []string{"NAME"},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			name := args[0]
			resp, err := adm.DeleteTopic(ctx, name)
			if err != nil {
				return fmt.Errorf("delete topic %q: %w", name, kafkaErr(err, resp.ErrMessage))
			}
			fmt.Fprintf(c.stdout, "Deleted topic %q.\n", name)
			return nil
		},
	})
}

func (c *cli) topicAlterCommand() *ffcli.Command {
	var (
		set    keyValueList
		remove stringList
	)
	return c.adminCommand(adminSpec{
		path:  "topic alter",
		usage: "sluice topic alter NAME [--config KEY=VALUE ...] [--delete-config KEY ...]",
		help:  "Change topic configs (incrementally: other keys are kept).",
		args:  []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.Var(&set, "config", "set topic config `KEY=VALUE` (repeatable)")
			fs.Var(&remove, "delete-config", "revert topic config `KEY` to its default (repeatable)")
		},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			name := args[0]
			if len(set.pairs) == 0 && len(remove) == 0 {
				return fmt.Errorf("alter topic %q: nothing to do: give --config KEY=VALUE or --delete-config KEY", name)
			}
			var alters []kadm.AlterConfig
			for _, kv := range set.pairs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv.key, Value: kadm.StringPtr(kv.value)})
			}
			for _, key := range remove {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: key})
			}
			resps, err := adm.AlterTopicConfigs(ctx, alters, name)
			if err != nil {
				return fmt.Errorf("alter topic %q: %w", name, err)
			}
			resp, err := resps.On(name, nil)
			if err == nil {
				err = kafkaErr(resp.Err, resp.ErrMessage)
			}
			if err != nil {
				return fmt.Errorf("alter topic %q: %w", name, err)
			}
			fmt.Fprintf(c.stdout, "Altered topic %q:\n", name)
			for _, kv := range set.pairs {
				fmt.Fprintf(c.stdout, "  set %s=%s\n", kv.key, kv.value)
			}
			for _, key := range remove {
				fmt.Fprintf(c.stdout, "  deleted %s\n", key)
			}
			return nil
		},
	})
}
