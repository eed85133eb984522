package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Partition states `cluster describe` prints in its STATUS column.
const (
	partitionOK              = "ok"
	partitionUnderReplicated = "under-replicated" // fewer in-sync replicas than replicas
	partitionOffline         = "offline"          // no leader: nobody can read or write it
)

// clusterCommand is `sluice cluster`: cluster-wide inspection over the
// Kafka protocol.
func (c *cli) clusterCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:        "cluster",
		ShortUsage:  "sluice cluster <describe> [flags]",
		ShortHelp:   "Describe the cluster: brokers, controller and partition health.",
		FlagSet:     c.newFlagSet("cluster"),
		Subcommands: []*ffcli.Command{c.clusterDescribeCommand()},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

func (c *cli) clusterDescribeCommand() *ffcli.Command {
	var internal bool
	return c.adminCommand(adminSpec{
		path:  "cluster describe",
		usage: "sluice cluster describe [--internal]",
		help: "Show the cluster id, the controller, every broker, and each partition's leader, " +
			"epoch, replicas and ISR, marking under-replicated and offline partitions.",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&internal, "internal", false, "also list the healthy partitions of internal topics (__consumer_offsets, ...)")
		},
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			// One Metadata request for every topic, internal ones included:
			// an under-replicated __consumer_offsets partition matters too.
			md, err := adm.Metadata(ctx)
			if err != nil {
				return fmt.Errorf("describe cluster: %w", err)
			}
			return printCluster(c, md, internal)
		},
	})
}

// printCluster writes the report. Internal topics have many partitions
// (__consumer_offsets: 50) that would bury the user's topics, so unless
// listInternal is set only their unhealthy partitions are listed; every
// partition is counted either way.
func printCluster(c *cli, md kadm.Metadata, listInternal bool) error {
	head := newTable(c.stdout)
	head.row("Cluster ID:", orNoValue(md.Cluster))
	head.row("Controller:", brokerIDCell(md.Controller))
	head.row("Brokers:", fmt.Sprint(len(md.Brokers)))
	if err := head.flush(); err != nil {
		return err
	}

	fmt.Fprintln(c.stdout)
	brokers := newTable(c.stdout, "BROKER", "ADDRESS", "RACK")
	sorted := slices.Clone(md.Brokers)
	slices.SortFunc(sorted, func(a, b kadm.BrokerDetail) int { return cmp.Compare(a.NodeID, b.NodeID) })
	for _, b := range sorted {
		rack := noValue
		if b.Rack != nil && *b.Rack != "" {
			rack = *b.Rack
		}
		brokers.row(fmt.Sprint(b.NodeID), net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), rack)
	}
	if err := brokers.flush(); err != nil {
		return err
	}

	fmt.Fprintln(c.stdout)
	topics := md.Topics.Sorted()
	if len(topics) == 0 {
		fmt.Fprintln(c.stdout, "No topics.")
		return nil
	}
	var total, under, offline, hidden int
	var hiddenTopics []string
	parts := newTable(c.stdout, "TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "STATUS")
	for _, td := range topics {
		if td.Err != nil && len(td.Partitions) == 0 {
			// A topic-level error (still being created, not authorized)
			// comes without partitions; say so rather than hide the topic.
			parts.row(td.Topic, noValue, noValue, noValue, noValue, noValue, "error: "+kafkaErrorName(td.Err))
			continue
		}
		for _, p := range td.Partitions.Sorted() {
			status := partitionStatus(p)
			total++
			switch status {
			case partitionOffline:
				offline++
			case partitionUnderReplicated:
				under++
			}
			if p.Err != nil {
				status += " (" + kafkaErrorName(p.Err) + ")"
			}
			if td.IsInternal && !listInternal && status == partitionOK {
				hidden++
				if !slices.Contains(hiddenTopics, td.Topic) {
					hiddenTopics = append(hiddenTopics, td.Topic)
				}
				continue
			}
			parts.row(td.Topic, fmt.Sprint(p.Partition), brokerIDCell(p.Leader), fmt.Sprint(p.LeaderEpoch),
				orNoValue(joinInt32s(p.Replicas)), orNoValue(joinInt32s(p.ISR)), status)
		}
	}
	if err := parts.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	fmt.Fprintf(c.stdout, "Partitions: %d, under-replicated: %d, offline: %d\n", total, under, offline)
	if hidden > 0 {
		fmt.Fprintf(c.stdout, "Not listed: %d healthy partitions of internal topics (%s); --internal lists them.\n",
			hidden, strings.Join(hiddenTopics, ", "))
	}
	return nil
}

// partitionStatus classifies one partition. Offline wins over
// under-replicated: with no leader the ISR no longer matters to clients.
func partitionStatus(p kadm.PartitionDetail) string {
	switch {
	case p.Leader < 0:
		return partitionOffline
	case len(p.ISR) < len(p.Replicas):
		return partitionUnderReplicated
	default:
		return partitionOK
	}
}

// brokerIDCell prints a broker id, or "none" for Kafka's -1 (no controller,
// no leader), as Kafka's tools print it.
func brokerIDCell(id int32) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprint(id)
}
