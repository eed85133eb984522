package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// The plugins section's table of plugin languages: for WAT, the Go SDK,
// the Rust SDK and the AssemblyScript SDK, the size of a key-hash
// partitioner and of an e-mail masking transform, and what each costs per
// record in-process (the calls measurePluginCosts times: batches of
// costBatch records, the page-view events for partitioners, the 200 B log
// lines for the mask), all measured in the same run, one after another.
// Modules are built from the repository's sources (plugbuild caches them
// by the content of their sources); a language whose toolchain is
// missing gets a row saying so.

// languagePlugin is one module of the table.
type languagePlugin struct {
	what   string // how it hashes or masks
	build  func() (string, error)
	config map[string]string
}

type languageRow struct {
	lang        string
	partitioner languagePlugin
	mask        *languagePlugin // nil: none in this language
}

func languageRows() []languageRow {
	repoFile := func(rel string, build func(src, out string) error) func() (string, error) {
		return func() (string, error) {
			root, err := wasmtest.RepoRoot()
			if err != nil {
				return "", err
			}
			dir, err := plugbuild.Dir()
			if err != nil {
				return "", err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
			out := filepath.Join(dir, "bench-"+filepath.Base(filepath.Dir(rel))+".wasm")
			return out, build(filepath.Join(root, rel), out)
		}
	}
	return []languageRow{
		{lang: "WAT", partitioner: languagePlugin{what: "fnv1a, hand-written",
			build: repoFile("examples/plugins/"+watPlugin+"/partitioner.wat", wasmtest.WAT)}},
		{lang: "Go SDK",
			partitioner: languagePlugin{what: "fnv1a (wasm/testdata/keyhash)",
				build: func() (string, error) { return plugbuild.GoPlugin("wasm/testdata/" + keyhashPlugin) }},
			mask: &languagePlugin{what: "mask-pii (e-mails and cards)",
				build: func() (string, error) { return plugbuild.GoPlugin("examples/plugins/" + maskPlugin) }}},
		{lang: "Rust",
			partitioner: languagePlugin{what: "fnv1a (keyhash-partitioner hash=fnv1a)", config: map[string]string{"hash": "fnv1a"},
				build: func() (string, error) { return plugbuild.RustPlugin("examples/plugins-rust", "keyhash-partitioner") }},
			mask: &languagePlugin{what: "mask-email",
				build: func() (string, error) { return plugbuild.RustPlugin("examples/plugins-rust", "mask-email") }}},
		{lang: "AssemblyScript",
			partitioner: languagePlugin{what: "murmur2 (keyhash-partitioner)",
				build: func() (string, error) {
					return plugbuild.AssemblyScriptPlugin("examples/plugins-as/keyhash-partitioner")
				}},
			mask: &languagePlugin{what: "mask-email",
				build: func() (string, error) { return plugbuild.AssemblyScriptPlugin("examples/plugins-as/mask-email") }}},
	}
}

// languageCell is one measured module.
type languageCell struct {
	what      string
	size      int
	perRecord time.Duration // wall
	cpu       time.Duration // the median call's thread CPU time per record
	err       error
}

func (c *languageCell) String() string {
	switch {
	case c == nil:
		return "-"
	case errors.Is(c.err, plugbuild.ErrNoRust), errors.Is(c.err, plugbuild.ErrNoAssemblyScript):
		return "no toolchain"
	case c.err != nil:
		return "FAILED"
	}
	return fmt.Sprintf("%d ns (%d CPU)", c.perRecord.Nanoseconds(), c.cpu.Nanoseconds())
}

func (c *languageCell) sizeCell() string {
	if c == nil || c.err != nil {
		return "-"
	}
	return fmt.Sprintf("%.1f KB", float64(c.size)/1024)
}

// measureLanguageCosts builds and times every row's modules.
func measureLanguageCosts(ctx context.Context, lines *logLines) (parts, masks []*languageCell, err error) {
	engine, err := wasm.NewEngine(wasm.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, nil, err
	}
	defer engine.Close()
	logRecs := make([]hooks.Record, costBatch)
	events := make([]hooks.Record, costBatch)
	for i := range costBatch {
		logRecs[i] = hooks.Record{Value: lines.value(int64(i)), Timestamp: int64(i), Offset: -1}
		events[i] = hooks.Record{
			Key:       fmt.Appendf(nil, "session-%d", i),
			Value:     fmt.Appendf(nil, `{"type":"page_view","user_id":"u%d","url":"/products/%d","ref":"https://example.com/"}`, i%97, i),
			Timestamp: int64(i), Offset: -1,
		}
	}
	measure := func(p languagePlugin, hook wasm.Hook, call func(*wasm.Module) error) *languageCell {
		c := &languageCell{what: p.what}
		path, err := p.build()
		if err != nil {
			c.err = err
			return c
		}
		code, err := os.ReadFile(path)
		if err != nil {
			c.err = err
			return c
		}
		c.size = len(code)
		c.perRecord, c.cpu, c.err = timeCalls(ctx, engine, hook, code, p.config, call)
		return c
	}
	for _, row := range languageRows() {
		parts = append(parts, measure(row.partitioner, wasm.HookPartitioner, func(m *wasm.Module) error {
			_, err := m.Partition(ctx, "pageviews", events, 12)
			return err
		}))
		if row.mask == nil {
			masks = append(masks, nil)
			continue
		}
		masks = append(masks, measure(*row.mask, wasm.HookTransform, func(m *wasm.Module) error {
			_, _, err := m.Transform(ctx, "logs", 0, logRecs)
			return err
		}))
	}
	return parts, masks, nil
}

// timeCalls is timePlugin's measurement (a warm-up call, then one batch
// per call for at least costMinDuration, wall and median thread CPU per
// record) for a module loaded with config.
func timeCalls(ctx context.Context, engine *wasm.Engine, hook wasm.Hook, code []byte, config map[string]string,
	call func(*wasm.Module) error) (wall, cpu time.Duration, err error) {
	m, err := engine.Load(ctx, wasm.Spec{Name: "lang", Hook: hook, Wasm: code, Config: config})
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	if err := call(m); err != nil {
		return 0, 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpus []time.Duration
	batches := 0
	start := time.Now()
	for time.Since(start) < costMinDuration {
		t0 := threadCPU()
		if err := call(m); err != nil {
			return 0, 0, err
		}
		cpus = append(cpus, threadCPU()-t0)
		batches++
	}
	slices.Sort(cpus)
	return time.Since(start) / time.Duration(batches*costBatch), cpus[len(cpus)/2] / costBatch, nil
}

// renderLanguageCosts measures and prints the table (the plugins
// section's render calls it after the per-record costs).
func renderLanguageCosts(out io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	parts, masks, err := measureLanguageCosts(ctx, newLogLines())
	if err != nil {
		fmt.Fprintf(out, "FAILED plugin languages: %v\n", err)
		return
	}
	fmt.Fprintf(out, "plugin languages (in-process wazero, batches of %d; partitioner on page-view events, 12 partitions; mask on %d B log lines; ns/record wall, median call CPU):\n",
		costBatch, logLineBytes)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "language\tkey-hash partitioner\tsize\tns/record\tmask transform\tsize\tns/record\t")
	for i, row := range languageRows() {
		p, m := parts[i], masks[i]
		maskWhat := "-"
		if m != nil {
			maskWhat = m.what
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.lang, p.what, p.sizeCell(), p, maskWhat, m.sizeCell(), m)
	}
	_ = tw.Flush()
	for _, c := range append(parts, masks...) {
		if c != nil && c.err != nil {
			fmt.Fprintf(out, "FAILED %s: %v\n", c.what, c.err)
		}
	}
}
