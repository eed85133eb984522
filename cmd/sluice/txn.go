package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
	var states string
	return c.adminCommand(adminSpec{
		path:  "txn list",
		usage: "sluice txn list [--state Ongoing,PrepareCommit,...]",
		help:  "List transactional ids with their producer id and state, from every broker.",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&states, "state", "", "only these states (comma-separated: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)")
		},
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			var filter []string
			for _, s := range strings.Split(states, ",") {
				if s = strings.TrimSpace(s); s != "" {
					filter = append(filter, s)
				}
			}
			txns, err := adm.ListTransactions(ctx, nil, filter)
			if err != nil {
				return fmt.Errorf("list transactions: %w", err)
			}
			if len(txns) == 0 {
				fmt.Fprintln(c.stdout, "No transactions.")
				return nil
			}
			t := newTable(c.stdout, "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR")
			for _, l := range txns.Sorted() {
				t.row(l.TxnID, fmt.Sprint(l.ProducerID), l.State, fmt.Sprint(l.Coordinator))
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
