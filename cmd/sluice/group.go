package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupStateDead is what DescribeGroups reports for a group the coordinator
// does not know: Kafka answers unknown groups with this state, not an error.
const groupStateDead = "Dead"

// Group types (ListGroups v5): consumer groups use the KIP-848 protocol.
const (
	groupTypeClassic  = "classic"
	groupTypeConsumer = "consumer"
)

// noValue fills a cell that has nothing to show (no commit, no member).
const noValue = "-"

// groupCommand is `sluice group`: consumer group inspection over the Kafka
// protocol.
func (c *cli) groupCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "group",
		ShortUsage: "sluice group <list|describe> [flags] [GROUP]",
		ShortHelp:  "List and describe consumer groups.",
		FlagSet:    c.newFlagSet("group"),
		Subcommands: []*ffcli.Command{
			c.groupListCommand(),
			c.groupDescribeCommand(),
		},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

func (c *cli) groupListCommand() *ffcli.Command {
	return c.adminCommand(adminSpec{
		path:  "group list",
		usage: "sluice group list",
		help:  "List groups with their state and protocol type.",
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			groups, err := adm.ListGroups(ctx)
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			if len(groups) == 0 {
				fmt.Fprintln(c.stdout, "No groups.")
				return nil
			}
			// ListGroups v5 tells consumer (KIP-848) groups from
			// classic ones; a broker without it has only classic ones.
			consumer := map[string]bool{}
			if cgs, err := adm.ListGroupsByType(ctx, []string{groupTypeConsumer}); err == nil {
				for _, g := range cgs.Groups() {
					consumer[g] = true
				}
			}
			t := newTable(c.stdout, "GROUP", "TYPE", "STATE", "PROTOCOL-TYPE")
			for _, g := range groups.Sorted() {
				typ := groupTypeClassic
				if consumer[g.Group] {
					typ = groupTypeConsumer
				}
				// Groups that only hold offsets committed by tools have no
				// protocol type.
				t.row(g.Group, typ, g.State, orNoValue(g.ProtocolType))
			}
			return t.flush()
		},
	})
}

func (c *cli) groupDescribeCommand() *ffcli.Command {
	return c.adminCommand(adminSpec{
		path:  "group describe",
		usage: "sluice group describe GROUP",
		help:  "Show a group's type, state, members with their assigned partitions (for consumer (KIP-848) groups: epochs, assignor and target assignments), and committed offsets with lag.",
		args:  []string{"GROUP"},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			name := args[0]
			d, err := describeGroup(ctx, adm, name)
			if err != nil {
				return fmt.Errorf("describe group %q: %w", name, err)
			}
			return printGroup(c, d, describeConsumerGroup(ctx, adm, name))
		},
	})
}

// describeGroup gathers the group, its commits and the log end offsets of
// every partition it consumes or committed to, before anything is printed.
func describeGroup(ctx context.Context, adm *kadm.Client, name string) (kadm.DescribedGroupLag, error) {
	// Lag describes the group (kadm decodes consumer assignments), fetches
	// its commits and lists start and end offsets in one go.
	lags, err := adm.Lag(ctx, name)
	if err != nil {
		return kadm.DescribedGroupLag{}, err
	}
	d, ok := lags[name]
	if !ok {
		return kadm.DescribedGroupLag{}, kerr.GroupIDNotFound
	}
	if err := d.Error(); err != nil {
		return kadm.DescribedGroupLag{}, err
	}
	if d.State == groupStateDead {
		return kadm.DescribedGroupLag{}, kerr.GroupIDNotFound
	}
	return d, nil
}

// describeConsumerGroup is the ConsumerGroupDescribe view of a consumer
// (KIP-848) group; nil for classic groups (GROUP_ID_NOT_FOUND) and brokers
// without the API.
func describeConsumerGroup(ctx context.Context, adm *kadm.Client, name string) *kadm.DescribedConsumerGroup {
	ds, err := adm.DescribeConsumerGroups(ctx, name)
	if err != nil {
		return nil
	}
	d, ok := ds[name]
	if !ok || d.Err != nil {
		return nil
	}
	return &d
}

func printGroup(c *cli, d kadm.DescribedGroupLag, cd *kadm.DescribedConsumerGroup) error {
	head := newTable(c.stdout)
	head.row("Group:", d.Group)
	if cd != nil {
		head.row("Type:", groupTypeConsumer)
	} else {
		head.row("Type:", groupTypeClassic)
	}
	head.row("State:", d.State)
	head.row("Protocol type:", orNoValue(d.ProtocolType))
	head.row("Protocol:", orNoValue(d.Protocol))
	if cd != nil {
		head.row("Group epoch:", fmt.Sprint(cd.Epoch))
		head.row("Assignment epoch:", fmt.Sprint(cd.AssignmentEpoch))
		head.row("Assignor:", orNoValue(cd.AssignorName))
		head.row("Members:", fmt.Sprint(len(cd.Members)))
	} else {
		head.row("Members:", fmt.Sprint(len(d.Members)))
	}
	if err := head.flush(); err != nil {
		return err
	}

	if cd != nil && len(cd.Members) > 0 {
		fmt.Fprintln(c.stdout)
		members := newTable(c.stdout, "MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "MEMBER-EPOCH", "ASSIGNMENT", "TARGET")
		ms := slices.Clone(cd.Members)
		slices.SortFunc(ms, func(x, y kadm.ConsumerGroupMember) int { return strings.Compare(x.MemberID, y.MemberID) })
		for _, m := range ms {
			instance := noValue
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			members.row(m.MemberID, instance, m.ClientID, m.ClientHost, fmt.Sprint(m.MemberEpoch), topicsSetCell(m.Assignment), topicsSetCell(m.TargetAssignment))
		}
		if err := members.flush(); err != nil {
			return err
		}
	} else if len(d.Members) > 0 {
		fmt.Fprintln(c.stdout)
		members := newTable(c.stdout, "MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT")
		for _, m := range d.Members {
			instance := noValue
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			members.row(m.MemberID, instance, m.ClientID, m.ClientHost, assignmentCell(m))
		}
		if err := members.flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(c.stdout)
	lags := shownLags(d.Lag)
	if len(lags) == 0 {
		fmt.Fprintln(c.stdout, "Offsets: none committed and no partitions assigned")
		return nil
	}
	offsets := newTable(c.stdout, "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID")
	for _, l := range lags {
		cells := []string{
			l.Topic, fmt.Sprint(l.Partition), committedCell(l), logEndCell(l), lagCell(l), memberCell(l),
		}
		if l.Err != nil {
			cells = append(cells, "error: "+kafkaErrorName(l.Err))
		}
		offsets.row(cells...)
	}
	return offsets.flush()
}

// shownLags are the partitions a member is assigned or the group committed
// for, sorted. kadm also lists every other partition of a committed topic
// for a group without members; like Kafka's tools, leave those out: nothing
// says the group means to read them.
func shownLags(lag kadm.GroupLag) []kadm.GroupMemberLag {
	var out []kadm.GroupMemberLag
	for _, l := range lag.Sorted() {
		if l.Member != nil || l.Commit.At >= 0 {
			out = append(out, l)
		}
	}
	return out
}

// assignmentCell prints a consumer member's partitions as
// "orders:0,1 events:2", topics sorted.
func assignmentCell(m kadm.DescribedGroupMember) string {
	a, ok := m.Assigned.AsConsumer()
	if !ok || len(a.Topics) == 0 {
		return noValue
	}
	topics := slices.Clone(a.Topics)
	slices.SortFunc(topics, func(x, y kmsg.ConsumerMemberAssignmentTopic) int { return strings.Compare(x.Topic, y.Topic) })
	parts := make([]string, 0, len(topics))
	for _, t := range topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, t.Topic+":"+joinInt32s(ps))
	}
	return strings.Join(parts, " ")
}

// topicsSetCell prints partitions as "orders:0,1 events:2", topics sorted.
func topicsSetCell(s kadm.TopicsSet) string {
	var parts []string
	for _, t := range s.Sorted() {
		if len(t.Partitions) == 0 {
			continue
		}
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, t.Topic+":"+joinInt32s(ps))
	}
	if len(parts) == 0 {
		return noValue
	}
	return strings.Join(parts, " ")
}

// committedCell is the committed offset, or "-" when the group has not
// committed for the partition yet (the consumer then starts from its reset
// policy, as Kafka's tools show it).
func committedCell(l kadm.GroupMemberLag) string {
	if l.Commit.At < 0 {
		return noValue
	}
	return fmt.Sprint(l.Commit.At)
}

func logEndCell(l kadm.GroupMemberLag) string {
	if l.End.Err != nil {
		return noValue
	}
	return fmt.Sprint(l.End.Offset)
}

// lagCell is how many records the group has yet to consume; kadm counts an
// uncommitted partition from its log start offset.
func lagCell(l kadm.GroupMemberLag) string {
	if l.Err != nil || l.Lag < 0 {
		return noValue
	}
	return fmt.Sprint(l.Lag)
}

// memberCell names the member consuming the partition; committed partitions
// nobody is assigned (an Empty group, or a topic no longer subscribed)
// have none.
func memberCell(l kadm.GroupMemberLag) string {
	if l.Member == nil {
		return noValue
	}
	return l.Member.MemberID
}

func orNoValue(s string) string {
	if s == "" {
		return noValue
	}
	return s
}
