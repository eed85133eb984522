package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sluicemq/sluice/plugins"
)

// defaultPluginHTTP is where `sluice plugin` finds the broker's admin API
// (the broker's --http-addr default).
const defaultPluginHTTP = "http://127.0.0.1:8080"

// pluginCommand is `sluice plugin`: WebAssembly plugin deployment through
// the broker's HTTP admin API (docs/plugin-abi.md).
func (c *cli) pluginCommand() *ffcli.Command {
	cmd := &ffcli.Command{
		Name:       "plugin",
		ShortUsage: "sluice plugin <new|deploy|list|remove|test|promote|rollback|versions> [flags] [args...]",
		ShortHelp:  "Create, deploy, list, test, shadow, promote, roll back and remove WebAssembly plugins.",
		FlagSet:    c.newFlagSet("plugin"),
		Subcommands: []*ffcli.Command{
			c.pluginNewCommand(),
			c.pluginDeployCommand(),
			c.pluginListCommand(),
			c.pluginRemoveCommand(),
			c.withLocalRecords(c.pluginTestCommand()),
			c.pluginPromoteCommand(),
			c.pluginRollbackCommand(),
			c.pluginVersionsCommand(),
		},
	}
	cmd.Exec = c.groupExec(cmd)
	return cmd
}

// pluginSpec describes one `sluice plugin` subcommand.
type pluginSpec struct {
	name, usage, help string
	args              []string // positional argument names, all required
	flags             func(fs *flag.FlagSet)
	run               func(ctx context.Context, api *pluginAPI, args []string) error
}

func (c *cli) pluginSubcommand(spec pluginSpec) *ffcli.Command {
	fs := c.newFlagSet("plugin " + spec.name)
	httpURL := fs.String("http", defaultPluginHTTP, "broker HTTP address (env SLUICE_HTTP)")
	var creds adminCredFlags
	creds.register(fs)
	if spec.flags != nil {
		spec.flags(fs)
	}
	cmd := &ffcli.Command{Name: spec.name, ShortUsage: spec.usage, ShortHelp: spec.help, FlagSet: fs}
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := parseInterspersed(fs, args)
		if err != nil {
			return newUsageError(cmd, "%v", err)
		}
		if err := fillFromEnv(fs, "http"); err != nil {
			return newUsageError(cmd, "%v", err)
		}
		if len(args) != len(spec.args) {
			return newUsageError(cmd, "plugin %s: want %s", spec.name, strings.Join(spec.args, " "))
		}
		api := &pluginAPI{base: strings.TrimRight(*httpURL, "/")}
		if err := creds.apply(fs, api); err != nil {
			return newUsageError(cmd, "%v", err)
		}
		return spec.run(ctx, api, args)
	}
	return cmd
}

func (c *cli) pluginDeployCommand() *ffcli.Command {
	var name, hook, topic, rollbackRate string
	var shadow bool
	var rollbackWindow, shadowEvery int
	var config keyValueList
	return c.pluginSubcommand(pluginSpec{
		name:  "deploy",
		usage: "sluice plugin deploy --name NAME --hook partitioner|transform|filter --topic TOPIC [--config k=v]... [--shadow [--shadow-every N]] [--rollback-error-rate R|off] [--rollback-window N] FILE.wasm",
		help:  "Deploy a plugin, or a new version of it (replacing the old one without a restart, or beside it with --shadow).",
		args:  []string{"FILE.wasm"},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "plugin name (required)")
			fs.StringVar(&hook, "hook", "", "partitioner, transform or filter (required)")
			fs.StringVar(&topic, "topic", "", "topic the plugin is bound to (required)")
			fs.Var(&config, "config", "plugin configuration KEY=VALUE (repeatable)")
			fs.BoolVar(&shadow, "shadow", false, "run the new version beside the live one, output discarded and compared (promote it with `sluice plugin promote`)")
			fs.IntVar(&shadowEvery, "shadow-every", 0, "with --shadow: run the shadow on one call in N only (default every call)")
			fs.StringVar(&rollbackRate, "rollback-error-rate", "", "roll back to the previous version when more than this fraction of the last --rollback-window calls fail (default 0.5; off: never)")
			fs.IntVar(&rollbackWindow, "rollback-window", 0, "calls the rollback error rate is measured over (default 20)")
		},
		run: func(ctx context.Context, api *pluginAPI, args []string) error {
			if name == "" || hook == "" || topic == "" {
				return errors.New("plugin deploy: --name, --hook and --topic are required")
			}
			code, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			q := url.Values{"name": {name}, "hook": {hook}, "topic": {topic}}
			for _, kv := range config.pairs {
				q.Add("config", kv.key+"="+kv.value)
			}
			if shadow {
				q.Set("shadow", "true")
			}
			if shadowEvery != 0 {
				q.Set("shadow_every", fmt.Sprint(shadowEvery))
			}
			if rollbackRate != "" {
				q.Set("rollback_error_rate", rollbackRate)
			}
			if rollbackWindow != 0 {
				q.Set("rollback_window", fmt.Sprint(rollbackWindow))
			}
			var dep plugins.Deployment
			if err := api.do(ctx, http.MethodPost, "/admin/plugins?"+q.Encode(), code, &dep); err != nil {
				return fmt.Errorf("deploy %s: %w", name, err)
			}
			role := "as"
			if shadow {
				role = "as a shadow of"
			}
			fmt.Fprintf(c.stdout, "Deployed plugin %q version %d %s the %s of topic %q (sha256 %s).\n",
				dep.Name, dep.Version, role, dep.Hook, dep.Topic, dep.SHA256[:12])
			return nil
		},
	})
}

func (c *cli) pluginListCommand() *ffcli.Command {
	return c.pluginSubcommand(pluginSpec{
		name:  "list",
		usage: "sluice plugin list",
		help:  "List deployed plugins.",
		run: func(ctx context.Context, api *pluginAPI, _ []string) error {
			var list plugins.ListResponse
			if err := api.do(ctx, http.MethodGet, "/admin/plugins", nil, &list); err != nil {
				return fmt.Errorf("list plugins: %w", err)
			}
			if len(list.Plugins) == 0 {
				fmt.Fprintln(c.stdout, "No plugins.")
				return nil
			}
			return c.printPluginList(list.Plugins)
		},
	})
}

func (c *cli) pluginRemoveCommand() *ffcli.Command {
	var shadow bool
	return c.pluginSubcommand(pluginSpec{
		name:  "remove",
		usage: "sluice plugin remove [--shadow] NAME",
		help:  "Remove a plugin (its topic goes back to the plain path), or with --shadow only its shadow version.",
		args:  []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&shadow, "shadow", false, "remove only the shadow version (the live one keeps running)")
		},
		run: func(ctx context.Context, api *pluginAPI, args []string) error {
			var dep plugins.Deployment
			if shadow {
				if err := api.do(ctx, http.MethodDelete, "/admin/plugins/"+url.PathEscape(args[0])+"/shadow", nil, &dep); err != nil {
					return fmt.Errorf("remove shadow of %s: %w", args[0], err)
				}
				fmt.Fprintf(c.stdout, "Removed the shadow version %d of plugin %q.\n", dep.Version, dep.Name)
				return nil
			}
			if err := api.do(ctx, http.MethodDelete, "/admin/plugins/"+url.PathEscape(args[0]), nil, &dep); err != nil {
				return fmt.Errorf("remove %s: %w", args[0], err)
			}
			fmt.Fprintf(c.stdout, "Removed plugin %q (version %d, %s of topic %q).\n", dep.Name, dep.Version, dep.Hook, dep.Topic)
			return nil
		},
	})
}

func formatConfig(cfg map[string]string) string {
	if len(cfg) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(cfg))
	for k, v := range cfg {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// pluginAPI is a client of the broker's plugin admin API.
type pluginAPI struct {
	base                  string
	client                *http.Client
	user, password, token string
}

// do sends a request and decodes a JSON answer into out; error answers
// become errors carrying the broker's message.
func (a *pluginAPI) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/wasm")
	}
	a.authorize(req)
	cl := a.client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e plugins.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
