package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
)

func (c *cli) topicListCommand() *ffcli.Command {
	var internal bool
	return c.adminCommand(adminSpec{
		path:  "topic list",
		usage: "sluice topic list [--internal]",
		help:  "List topics with their partition counts.",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
		},
		run: func(ctx context.Context, adm *kadm.Client, _ []string) error {
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			topics, err := list(ctx)
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			if len(topics) == 0 {
				fmt.Fprintln(c.stdout, "No topics.")
				return nil
			}
			t := newTable(c.stdout, "TOPIC", "PARTITIONS", "REPLICAS")
			for _, td := range topics.Sorted() {
				if td.Err != nil {
					t.row(td.Topic, "-", "-", "error: "+td.Err.Error())
					continue
				}
				t.row(td.Topic, fmt.Sprint(len(td.Partitions)), fmt.Sprint(td.Partitions.NumReplicas()))
			}
			return t.flush()
		},
	})
}
