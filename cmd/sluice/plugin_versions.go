package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sluicemq/sluice/plugins"
)

// pluginVersionsCommand is `sluice plugin versions NAME`: the versions of
// a plugin the broker keeps for a rollback (GET
// /admin/plugins/{name}/versions).
func (c *cli) pluginVersionsCommand() *ffcli.Command {
	return c.pluginSubcommand(pluginSpec{
		name:  "versions",
		usage: "sluice plugin versions NAME",
		help:  "List the versions of a plugin kept for `sluice plugin rollback` (newest first).",
		args:  []string{"NAME"},
		run: func(ctx context.Context, api *pluginAPI, args []string) error {
			var v plugins.VersionsResponse
			if err := api.do(ctx, http.MethodGet, "/admin/plugins/"+url.PathEscape(args[0])+"/versions", nil, &v); err != nil {
				return fmt.Errorf("versions of %s: %w", args[0], err)
			}
			t := newTable(c.stdout, "VERSION", "STATE", "HOOK", "TOPIC", "SHA256", "SIZE", "DEPLOYED", "RESTORES", "ROLLBACK-OF")
			for _, d := range v.Versions {
				state := "-"
				switch {
				case d.Live:
					state = "live"
				case d.Version == v.Previous:
					state = "previous"
				}
				t.row(fmt.Sprint(d.Version), state, string(d.Hook), d.Topic, shortSHA(d.SHA256), fmt.Sprint(d.Size),
					d.DeployedAt.Format(time.RFC3339), orDash(d.Restores), orDash(d.RollbackOf))
			}
			return t.flush()
		},
	})
}

// orDash prints 0 as "-".
func orDash(v int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

// shortSHA is the first 12 hex digits of a sha256, as deploy prints it.
func shortSHA(s string) string { return s[:min(12, len(s))] }
