package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sluicemq/sluice/plugins"
)

// pluginTestCommand is `sluice plugin test`: a dry run of a module over
// records already in a topic (POST /admin/plugins/dry-run).
func (c *cli) pluginTestCommand() *ffcli.Command {
	var hook, topic, from, principal string
	var limit, show, partitions int
	var asJSON bool
	var config keyValueList
	return c.pluginSubcommand(pluginSpec{
		name:  "test",
		usage: "sluice plugin test --hook transform|filter|partitioner --topic TOPIC [--from earliest|latest|TIME] [--limit N] [--show N] [--config k=v]... FILE.wasm",
		help:  "Dry-run a plugin over records already in a topic, without deploying it, and summarize what it would do.",
		args:  []string{"FILE.wasm"},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&hook, "hook", "", "partitioner, transform or filter (required)")
			fs.StringVar(&topic, "topic", "", "topic whose records the plugin runs over (required)")
			fs.StringVar(&from, "from", "earliest", "earliest, latest (the last --limit records), an RFC 3339 time or epoch milliseconds")
			fs.IntVar(&limit, "limit", plugins.DefaultDryRunLimit, fmt.Sprintf("records to read at most (up to %d)", plugins.MaxDryRunLimit))
			fs.IntVar(&show, "show", 0, fmt.Sprintf("print before/after of the first N records (up to %d)", plugins.MaxDryRunShow))
			fs.StringVar(&principal, "principal", "", "principal a filter sees as the reader (default User:ANONYMOUS)")
			fs.IntVar(&partitions, "partitions", 0, "partition count a partitioner is asked for (default: the topic's)")
			fs.Var(&config, "config", "plugin configuration KEY=VALUE (repeatable)")
			fs.BoolVar(&asJSON, "json", false, "print the broker's JSON answer")
		},
		run: func(ctx context.Context, api *pluginAPI, args []string) error {
			if hook == "" || topic == "" {
				return errors.New("plugin test: --hook and --topic are required")
			}
			code, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			q := url.Values{"hook": {hook}, "topic": {topic}, "from": {from}, "limit": {fmt.Sprint(limit)}, "show": {fmt.Sprint(show)}}
			if principal != "" {
				q.Set("principal", principal)
			}
			if partitions != 0 {
				q.Set("partitions", fmt.Sprint(partitions))
			}
			for _, kv := range config.pairs {
				q.Add("config", kv.key+"="+kv.value)
			}
			var res plugins.DryRunResult
			if err := api.do(ctx, http.MethodPost, "/admin/plugins/dry-run?"+q.Encode(), code, &res); err != nil {
				return fmt.Errorf("dry run: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprint(c.stdout, plugins.FormatDryRun(&res))
			return nil
		},
	})
}

func (c *cli) pluginPromoteCommand() *ffcli.Command {
	return c.pluginSubcommand(pluginSpec{
		name:  "promote",
		usage: "sluice plugin promote NAME",
		help:  "Make a plugin's shadow version live (the live one is kept as the previous version).",
		args:  []string{"NAME"},
		run: func(ctx context.Context, api *pluginAPI, args []string) error {
			var dep plugins.Deployment
			if err := api.do(ctx, http.MethodPost, "/admin/plugins/"+url.PathEscape(args[0])+"/promote", nil, &dep); err != nil {
				return fmt.Errorf("promote %s: %w", args[0], err)
			}
			fmt.Fprintf(c.stdout, "Promoted plugin %q version %d: it is now the live %s of topic %q.\n", dep.Name, dep.Version, dep.Hook, dep.Topic)
			return nil
		},
	})
}

func (c *cli) pluginRollbackCommand() *ffcli.Command {
	var to int
	return c.pluginSubcommand(pluginSpec{
		name:  "rollback",
		usage: "sluice plugin rollback [--to VERSION] NAME",
		help:  "Make an earlier version of a plugin live again (as a new version number): the previous one, or --to a kept one (`sluice plugin versions`).",
		args:  []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&to, "to", 0, "version to make live again (default: the previous version)")
		},
		run: func(ctx context.Context, api *pluginAPI, args []string) error {
			path := "/admin/plugins/" + url.PathEscape(args[0]) + "/rollback"
			if to != 0 {
				path += "?version=" + strconv.Itoa(to)
			}
			var dep plugins.Deployment
			if err := api.do(ctx, http.MethodPost, path, nil, &dep); err != nil {
				return fmt.Errorf("rollback %s: %w", args[0], err)
			}
			fmt.Fprintf(c.stdout, "Rolled back plugin %q: version %d (the module of version %d, sha256 %s) replaced version %d.\n",
				dep.Name, dep.Version, dep.Restores, shortSHA(dep.SHA256), dep.RollbackOf)
			return nil
		},
	})
}

// printPluginList prints `sluice plugin list`: each plugin's live
// version with this broker's call statistics, and its shadow version (if
// any) with how its answers compared.
func (c *cli) printPluginList(list []plugins.PluginStatus) error {
	t := newTable(c.stdout, "NAME", "VERSION", "HOOK", "TOPIC", "CALLS", "RECORDS", "ERRORS", "NS/REC",
		"PREV", "SHADOW", "SH-CALLS", "SH-DIVERGED", "SH-ERRORS", "SH-SLOWER", "SH-NS/REC", "CONFIG", "DEPLOYED")
	for _, p := range list {
		prev := "-"
		if p.PreviousVersion != 0 {
			prev = fmt.Sprint(p.PreviousVersion)
		}
		shadow := []string{"-", "-", "-", "-", "-", "-"}
		if sh := p.Shadow; sh != nil {
			st := sh.Stats
			shadow = []string{fmt.Sprint(sh.Version), fmt.Sprint(st.Calls),
				fmt.Sprintf("%d/%d (%d rec)", st.DivergentCalls, st.Compared, st.DivergentRecords),
				fmt.Sprint(st.Errors), fmt.Sprint(st.SlowerCalls), fmt.Sprintf("%.0f", st.NsPerRecord)}
		}
		row := []string{p.Name, fmt.Sprint(p.Version), string(p.Hook), p.Topic, fmt.Sprint(p.Stats.Calls), fmt.Sprint(p.Stats.Records),
			fmt.Sprint(p.Stats.Errors), fmt.Sprintf("%.0f", p.Stats.NsPerRecord), prev}
		row = append(row, shadow...)
		row = append(row, formatConfig(p.Config), p.DeployedAt.Format(time.RFC3339))
		t.row(row...)
	}
	return t.flush()
}
