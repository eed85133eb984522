package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnCommand is `sluice txn`: transaction inspection over the Kafka
// protocol (ListTransactions, DescribeTransactions).
func (c *cli) txnCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "txn",
		ShortUsage: "sluice txn <list|describe> [flags] [TRANSACTIONAL-ID]",
		ShortHelp:  "List and describe transactions.",
		FlagSet:    c.newFlagSet("txn"),
		Subcommands: []*ffcli.Command{
			c.txnListCommand(),
			c.txnDescribeCommand(),
		},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

func (c *cli) txnListCommand() *ffcli.Command {
	var (
		states, producerIDs, pattern string
		duration                     time.Duration
	)
	return c.adminCommand(adminSpec{
		path:  "txn list",
		usage: "sluice txn list [--state Ongoing,PrepareCommit,...] [--producer-id ID,...] [--duration D] [--pattern REGEX]",
		help:  "List transactional ids with their producer id and state, from every broker.",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&states, "state", "", "only these states (comma-separated: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)")
			fs.StringVar(&producerIDs, "producer-id", "", "only these producer `IDS` (comma-separated)")
			fs.DurationVar(&duration, "duration", 0, "only transactions running longer than this (ListTransactions v1, KIP-994)")
			fs.StringVar(&pattern, "pattern", "", "only transactional ids this `REGEX` matches whole (RE2; ListTransactions v2, KIP-1152)")
		},
		runRaw: func(ctx context.Context, cl *kgo.Client, _ *kadm.Client, _ []string) error {
			req := kmsg.NewPtrListTransactionsRequest()
			for _, s := range strings.Split(states, ",") {
				if s = strings.TrimSpace(s); s != "" {
					req.StateFilters = append(req.StateFilters, s)
				}
			}
			for _, s := range strings.Split(producerIDs, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil || id < 0 {
					return &usageError{msg: fmt.Sprintf("--producer-id: %q is not a producer id", s)}
				}
				req.ProducerIDFilters = append(req.ProducerIDFilters, id)
			}
			if duration < 0 {
				return &usageError{msg: "--duration must not be negative"}
			}
			req.DurationFilterMillis = -1
			if duration > 0 {
				req.DurationFilterMillis = duration.Milliseconds()
			}
			if pattern != "" {
				if _, err := regexp.Compile(pattern); err != nil {
					return &usageError{msg: fmt.Sprintf("--pattern: %v", err)}
				}
				req.TransactionalIDPattern = &pattern
			}
			type row struct {
				id, state   string
				pid         int64
				coordinator int32
			}
			var rows []row
			// ListTransactions goes to every broker (kgo shards it).
			for _, sh := range cl.RequestSharded(ctx, req) {
				if sh.Err != nil {
					return fmt.Errorf("list transactions on broker %d: %w", sh.Meta.NodeID, sh.Err)
				}
				resp := sh.Resp.(*kmsg.ListTransactionsResponse)
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return fmt.Errorf("list transactions on broker %d: %w", sh.Meta.NodeID, err)
				}
				// An older broker drops the filters it lacks: say so
				// rather than list too much.
				if (duration > 0 && sh.Req.GetVersion() < 1) || (pattern != "" && sh.Req.GetVersion() < 2) {
					return fmt.Errorf("broker %d does not support the --duration/--pattern filters (ListTransactions v%d)", sh.Meta.NodeID, sh.Req.GetVersion())
				}
				for _, ts := range resp.TransactionStates {
					rows = append(rows, row{ts.TransactionalID, ts.TransactionState, ts.ProducerID, sh.Meta.NodeID})
				}
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.stdout, "No transactions.")
				return nil
			}
			slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.id, b.id) })
			t := newTable(c.stdout, "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR")
			for _, r := range rows {
				t.row(r.id, fmt.Sprint(r.pid), r.state, fmt.Sprint(r.coordinator))
			}
			return t.flush()
		},
	})
}

func (c *cli) txnDescribeCommand() *ffcli.Command {
	return c.adminCommand(adminSpec{
		path:  "txn describe",
		usage: "sluice txn describe TRANSACTIONAL-ID",
		help:  "Show a transactional id's producer id and epoch, state, timeout and the partitions of its open transaction.",
		args:  []string{"TRANSACTIONAL-ID"},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			id := args[0]
			ds, err := adm.DescribeTransactions(ctx, id)
			if err != nil {
				return fmt.Errorf("describe transaction %q: %w", id, err)
			}
			d, ok := ds[id]
			if !ok {
				return fmt.Errorf("describe transaction %q: %w", id, kerr.TransactionalIDNotFound)
			}
			if d.Err != nil {
				return fmt.Errorf("describe transaction %q: %w", id, d.Err)
			}
			return printTxn(c, d)
		},
	})
}

func printTxn(c *cli, d kadm.DescribedTransaction) error {
	head := newTable(c.stdout)
	head.row("Transactional id:", d.TxnID)
	head.row("State:", d.State)
	head.row("Producer id:", fmt.Sprint(d.ProducerID))
	head.row("Producer epoch:", fmt.Sprint(d.ProducerEpoch))
	head.row("Timeout:", (time.Duration(d.TimeoutMillis) * time.Millisecond).String())
	start := noValue
	if d.StartTimestamp >= 0 {
		start = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339Nano)
	}
	head.row("Started:", start)
	head.row("Coordinator:", fmt.Sprint(d.Coordinator))
	if err := head.flush(); err != nil {
		return err
	}
	if len(d.Topics) == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout)
	t := newTable(c.stdout, "TOPIC", "PARTITIONS")
	for _, tp := range d.Topics.Sorted() {
		t.row(tp.Topic, joinInt32s(tp.Partitions))
	}
	return t.flush()
}
