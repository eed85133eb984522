package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// The plugins scenario measures what a produce transform costs end to end:
// the same stream of log lines produced (acks=all) to a topic with the
// mask-pii example transform and to a topic without a plugin, on one
// Sluice broker. The ratio is the figure. The topic without a plugin is
// then consumed twice, as it is (sendfile) and with the tenant-filter
// example bound as a filter that keeps every record: the consume ratio.
// It also reports the in-process cost per record of plugin calls (issue
// 12's targets beside each).

const (
	maskPlugin        = "mask-pii"
	partitionerPlugin = "pageview-partitioner"
	filterPlugin      = "tenant-filter"
	watPlugin         = "wat-partitioner"
	keyhashPlugin     = "keyhash" // wasm/testdata/keyhash: the Go SDK's floor
)

// Issue 12's targets.
const (
	targetMaskProduceRatio   = 0.5  // produce with mask-pii / without
	targetFilterConsumeRatio = 0.5  // consume through a keep-all filter / sendfile
	targetWATNanos           = 60   // WAT partitioner, ns/record
	targetKeyhashNanos       = 300  // Go SDK key-hash partitioner, ns/record
	targetMaskNanos          = 1000 // mask-pii transform on 200 B lines, ns/record
)

var pluginsWorkload = workload{name: "plugins", recordSize: logLineBytes, records: 300_000, partitions: 8}

func pluginsScenario() scenario {
	w := pluginsWorkload
	return scenario{
		name: w.name,
		description: fmt.Sprintf("%s x %d B log lines with e-mails: produce with the mask-pii transform vs none, consume through a keep-all filter vs sendfile; per-record wasm cost (-quick: 1/%d)",
			groupDigits(w.records), w.recordSize, quickScale),
		run: func(ctx context.Context, env *benchEnv) section {
			return runPluginsBench(ctx, env, w.scaled(env.quick))
		},
	}
}

// pluginVariant is one of the two topics compared.
type pluginVariant struct {
	label  string
	plugin string // "" for none
}

var pluginVariants = []pluginVariant{
	{label: "no plugin"},
	{label: "mask-pii transform", plugin: maskPlugin},
}

type pluginRuns struct {
	variant pluginVariant
	runs    []pluginRun
}

type pluginRun struct {
	produce  produceStats
	cpu      time.Duration
	consumed int64
	// For the topic without a plugin: the timed consumes of its records
	// as stored (sendfile) and through the keep-all filter.
	plainConsume, filteredConsume time.Duration
}

func (v pluginRuns) median() (run pluginRun, lo, hi float64, n int) {
	if len(v.runs) == 0 {
		return pluginRun{}, 0, 0, 0
	}
	rate := func(x pluginRun) float64 { return produceRate(x.produce) }
	sorted := slices.Clone(v.runs)
	slices.SortFunc(sorted, func(a, b pluginRun) int { return compareFloat(rate(a), rate(b)) })
	return sorted[(len(sorted)-1)/2], rate(sorted[0]), rate(sorted[len(sorted)-1]), len(sorted)
}

type pluginsReport struct {
	workload workload
	variants []pluginRuns
	costs    []pluginCost
	skipped  bool
	errs     []error
}

func (r *pluginsReport) err() error { return errors.Join(r.errs...) }

func (r *pluginsReport) ratio() (float64, bool) {
	plain, _, _, n0 := r.variants[0].median()
	masked, _, _, n1 := r.variants[1].median()
	if n0 == 0 || n1 == 0 || produceRate(plain.produce) == 0 {
		return 0, false
	}
	return produceRate(masked.produce) / produceRate(plain.produce), true
}

func (r *pluginsReport) ratioLine() string {
	x, ok := r.ratio()
	if !ok {
		return "mask-pii/no-plugin produce records/s: n/a"
	}
	return fmt.Sprintf("mask-pii/no-plugin produce records/s: %.2fx [target >= %.1fx: %s]",
		x, targetMaskProduceRatio, passOrMiss(x >= targetMaskProduceRatio))
}

// consumeRatio is the median over passes of the filtered consume rate
// over the sendfile consume rate of the same records.
func (r *pluginsReport) consumeRatio() (x float64, plain, filtered time.Duration, ok bool) {
	var ratios []float64
	var pairs [][2]time.Duration
	for _, run := range r.variants[0].runs {
		if run.plainConsume > 0 && run.filteredConsume > 0 {
			ratios = append(ratios, run.plainConsume.Seconds()/run.filteredConsume.Seconds())
			pairs = append(pairs, [2]time.Duration{run.plainConsume, run.filteredConsume})
		}
	}
	if len(ratios) == 0 {
		return 0, 0, 0, false
	}
	idx := make([]int, len(ratios))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return compareFloat(ratios[a], ratios[b]) })
	m := idx[(len(idx)-1)/2]
	return ratios[m], pairs[m][0], pairs[m][1], true
}

func (r *pluginsReport) consumeRatioLine() string {
	x, plain, filtered, ok := r.consumeRatio()
	if !ok {
		return "keep-all filter/sendfile consume records/s: n/a"
	}
	n := float64(r.workload.records)
	return fmt.Sprintf("keep-all filter/sendfile consume records/s: %.2fx (%s vs %s rec/s) [target >= %.1fx: %s]",
		x, groupDigits(int64(n/filtered.Seconds())), groupDigits(int64(n/plain.Seconds())),
		targetFilterConsumeRatio, passOrMiss(x >= targetFilterConsumeRatio))
}

func (r *pluginsReport) render(out io.Writer) {
	w := r.workload
	fmt.Fprintf(out, "\n== plugins: %s log lines x %d B = %.1f MB per topic, %d partitions, acks=all, idempotent; one Sluice broker\n",
		groupDigits(w.records), w.recordSize, float64(w.totalBytes())/megabyte, w.partitions)
	if r.skipped {
		fmt.Fprintln(out, skippedWithoutSluice)
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "topic\trecords/s\tMB/s\tack p50\tack p99\tbroker CPU s\tconsumed\truns: records/s range\t")
	for _, v := range r.variants {
		run, lo, hi, n := v.median()
		if n == 0 {
			fmt.Fprintf(tw, "%s\tFAILED\t-\t-\t-\t-\t-\t-\t\n", v.variant.label)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%s\t%s\t%.2f\t%s\t%s\t\n", v.variant.label,
			groupDigits(int64(produceRate(run.produce))), mbPerSecond(run.produce.bytes, run.produce.elapsed),
			millis(run.produce.ackP50), millis(run.produce.ackP99), run.cpu.Seconds(),
			groupDigits(run.consumed), rangeCell(lo, hi, n))
	}
	_ = tw.Flush()
	fmt.Fprintln(out, r.ratioLine())
	fmt.Fprintln(out, r.consumeRatioLine())
	for _, c := range r.costs {
		fmt.Fprintln(out, c.line())
	}
	renderLanguageCosts(out) // scenario_languages.go
	for _, err := range r.errs {
		fmt.Fprintf(out, "FAILED %v\n", err)
		writeBrokerOutput(out, err)
	}
}

func (r *pluginsReport) summary() []string {
	if r.skipped {
		return []string{"plugins: " + skippedWithoutSluice}
	}
	var lines []string
	for _, v := range r.variants {
		run, lo, hi, n := v.median()
		if n == 0 {
			lines = append(lines, fmt.Sprintf("plugins %s: FAILED", v.variant.label))
			continue
		}
		lines = append(lines, fmt.Sprintf("plugins %s: %s rec/s %.1f MB/s, consumed %s/%s (median of %d, range %s)",
			v.variant.label, groupDigits(int64(produceRate(run.produce))), mbPerSecond(run.produce.bytes, run.produce.elapsed),
			groupDigits(run.consumed), groupDigits(run.produce.records), n, rangeCell(lo, hi, n)))
	}
	lines = append(lines, "plugins "+r.ratioLine(), "plugins "+r.consumeRatioLine())
	for _, c := range r.costs {
		lines = append(lines, "plugins "+c.line())
	}
	return lines
}

func runPluginsBench(ctx context.Context, env *benchEnv, w workload) *pluginsReport {
	rep := &pluginsReport{workload: w}
	for _, v := range pluginVariants {
		rep.variants = append(rep.variants, pluginRuns{variant: v})
	}
	sluicePath, ok := sluiceBinary(env)
	if !ok {
		rep.skipped = true
		return rep
	}
	fail := func(phase string, err error) *pluginsReport {
		rep.errs = append(rep.errs, &phaseError{Scenario: w.name, Broker: "sluice", Phase: phase, Err: err})
		return rep
	}

	dir, err := os.MkdirTemp("", "sluice-bench-plugins-")
	if err != nil {
		return fail("build plugins", err)
	}
	defer os.RemoveAll(dir)
	env.log.Info("plugins bench: building example plugins", "plugins", []string{maskPlugin, partitionerPlugin, filterPlugin, watPlugin, keyhashPlugin})
	modules, err := buildPlugins(dir, maskPlugin, partitionerPlugin, filterPlugin, watPlugin, keyhashPlugin)
	if err != nil {
		return fail("build plugins", err)
	}
	lines := newLogLines()

	b, err := startBroker(ctx, brokerSpec{name: "sluice", binary: sluicePath, http: true}, env.log)
	if err != nil {
		return fail("start", err)
	}
	defer b.stop()
	bctx, cancel := b.watch(ctx)
	defer cancel()
	admin := &pluginAdmin{base: b.proc.HTTPBase()}

	for i := 1; i <= env.repeat && bctx.Err() == nil; i++ {
		for vi := range rep.variants {
			series := &rep.variants[vi]
			// A fresh topic per pass: sluice-bench-plugins-<variant>-<repetition>.
			pw := w
			pw.name = fmt.Sprintf("%s-%d-%d", w.name, vi, i)
			env.log.Info("plugins bench", "variant", series.variant.label, "repetition", fmt.Sprintf("%d/%d", i, env.repeat), "records", w.records)
			run, phase, err := pluginPass(bctx, b, admin, modules, series.variant, pw, lines)
			if err != nil {
				err = causeOr(bctx, err)
				var be *brokerError
				if !errors.As(err, &be) {
					// The broker log says why it refused or stalled (a
					// plugin failure's reason is not in the Kafka error).
					err = &brokerError{Err: err, Output: b.output.String()}
				}
				return fail(series.variant.label+" "+phase, err)
			}
			series.runs = append(series.runs, run)
		}
	}

	// The in-process costs involve no broker: stop it first, so that what
	// it still does after the passes (removing their topics, writing back
	// and dropping 120 MB of segments, its own collections) does not run
	// beside the timed calls on this 2-core budget, and collect what the
	// passes left in this process. With the broker still up, the same
	// module measured up to twice its cost here (1,694 CPU ns/record, the
	// WAT partitioner 68) that it did minutes later in the languages table
	// of the same run (912, 32).
	b.stop()
	runtime.GC()
	env.log.Info("plugins bench: per-record cost of plugin calls")
	rep.costs, err = measurePluginCosts(ctx, modules, lines)
	if err != nil {
		return fail("per-record cost", err)
	}
	return rep
}

// buildPlugins compiles the named plugins into dir and returns each
// module's bytes by name: examples/plugins Go examples as WASI reactors,
// the WAT example with wat2wasm, keyhash from wasm/testdata.
func buildPlugins(dir string, names ...string) (map[string][]byte, error) {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		return nil, err
	}
	modules := map[string][]byte{}
	for _, name := range names {
		out := filepath.Join(dir, name+".wasm")
		switch name {
		case watPlugin:
			err = wasmtest.WAT(filepath.Join(root, "examples", "plugins", name, "partitioner.wat"), out)
		case keyhashPlugin:
			err = wasmtest.GoPlugin(filepath.Join(root, "wasm", "testdata", name), out)
		default:
			err = wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", name), out)
		}
		if err != nil {
			return nil, err
		}
		if modules[name], err = os.ReadFile(out); err != nil {
			return nil, err
		}
	}
	return modules, nil
}

// pluginPass creates w's topic, deploys the variant's plugin on it,
// produces the log lines, reads them back checking every record, then
// removes the plugin and the topic. It names the failed phase.
func pluginPass(ctx context.Context, b *brokerProcess, admin *pluginAdmin, modules map[string][]byte,
	v pluginVariant, w workload, lines *logLines) (pluginRun, string, error) {
	var run pluginRun
	topic := w.topic()
	if err := createTopic(ctx, b.addr, w); err != nil {
		return run, "create-topic", err
	}
	if v.plugin != "" {
		if err := admin.deploy(ctx, v.plugin, "transform", topic, modules[v.plugin]); err != nil {
			return run, "deploy", err
		}
	}
	usage, err := measure(b, func() (err error) {
		run.produce, err = produceAll(ctx, b.addr, topic, w, lines)
		return err
	})
	if err != nil {
		return run, "produce", err
	}
	run.cpu = usage.cpu
	start := time.Now()
	if run.consumed, err = consumeLines(ctx, b.addr, topic, run.produce, lines, v.plugin != ""); err != nil {
		return run, "consume", err
	}
	if v.plugin == "" {
		// The same records again, as stored (sendfile), then through a
		// filter that keeps every one (none carries the tenant header).
		run.plainConsume = time.Since(start)
		start = time.Now()
		if _, err = consumeLines(ctx, b.addr, topic, run.produce, lines, false); err != nil {
			return run, "consume", err
		}
		run.plainConsume = min(run.plainConsume, time.Since(start))
		if err := admin.deploy(ctx, filterPlugin, "filter", topic, modules[filterPlugin], "show_untagged=true"); err != nil {
			return run, "deploy filter", err
		}
		// Measured like the plain consume: the better of two passes (the
		// first also starts the plugin's instances and grows their heaps).
		for pass := 0; pass < 2; pass++ {
			start = time.Now()
			if _, err = consumeLines(ctx, b.addr, topic, run.produce, lines, false); err != nil {
				return run, "filtered consume", err
			}
			if d := time.Since(start); pass == 0 || d < run.filteredConsume {
				run.filteredConsume = d
			}
		}
		if err := admin.remove(ctx, filterPlugin); err != nil {
			return run, "remove filter", err
		}
	}
	if v.plugin != "" {
		if err := admin.remove(ctx, v.plugin); err != nil {
			return run, "remove plugin", err
		}
	}
	if err := deleteTopic(ctx, b.addr, topic); err != nil {
		return run, "delete-topic", err
	}
	return run, "", nil
}

// pluginAdmin deploys and removes plugins through the broker's admin HTTP
// API (docs/plugin-abi.md), as `sluice plugin deploy` does.
type pluginAdmin struct{ base string }

func (a *pluginAdmin) deploy(ctx context.Context, name, hook, topic string, module []byte, config ...string) error {
	q := url.Values{"name": {name}, "hook": {hook}, "topic": {topic}}
	if len(config) > 0 {
		q["config"] = config
	}
	return a.do(ctx, http.MethodPost, "/admin/plugins?"+q.Encode(), module, http.StatusCreated)
}

func (a *pluginAdmin) remove(ctx context.Context, name string) error {
	return a.do(ctx, http.MethodDelete, "/admin/plugins/"+url.PathEscape(name), nil, http.StatusOK)
}

func (a *pluginAdmin) do(ctx context.Context, method, path string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/wasm")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != want {
		return fmt.Errorf("%w: %s %s: HTTP %d: %s", errPluginAdmin, method, path, resp.StatusCode, bytes.TrimSpace(answer))
	}
	return nil
}

var errPluginAdmin = errors.New("plugin admin API refused")

// deleteTopic removes a finished pass's topic so repetitions do not fill
// the disk.
func deleteTopic(ctx context.Context, addr, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

const (
	// logLineBytes is every log line's length, so MB/s compares like with
	// like (masking shortens the stored value, not what was sent).
	logLineBytes = 200
	// distinctLogLines bounds the pool: lines and checksums are made before
	// the measurement, as the other scenarios do with their payloads.
	distinctLogLines = 4096
)

// logLines is a pool of application log lines, each with one e-mail
// address for mask-pii to mask. Record seq uses line seq % the pool size.
type logLines struct {
	values    [][]byte
	checksums []uint64 // valueChecksum of each line
}

func newLogLines() *logLines {
	first := []string{"jane", "omar", "li", "ana", "sven", "priya", "kofi", "mia"}
	last := []string{"doe", "haddad", "wei", "silva", "berg", "nair", "mensah", "rossi"}
	domains := []string{"example.com", "example.org", "mail.example.net", "corp.example"}
	actions := []string{"login", "checkout", "password_reset", "profile_update"}
	l := &logLines{values: make([][]byte, distinctLogLines), checksums: make([]uint64, distinctLogLines)}
	for i := range l.values {
		line := fmt.Sprintf("2025-03-14T09:%02d:%02d.%03dZ INFO checkout-api req=%08x action=%s status=%d client=198.51.100.%d user=%s.%s%d@%s msg=\"request served\" pad=",
			i/60%60, i%60, i%1000, uint32(i)*2654435761, actions[i%len(actions)], 200+i%3, i%250,
			first[i%len(first)], last[i/len(first)%len(last)], i, domains[i%len(domains)])
		padded := []byte(line + strings.Repeat("-", logLineBytes-len(line)))
		l.values[i] = padded
		l.checksums[i] = valueChecksum(padded)
	}
	return l
}

func (l *logLines) value(seq int64) []byte    { return l.values[seq%int64(len(l.values))] }
func (l *logLines) checksum(seq int64) uint64 { return l.checksums[seq%int64(len(l.checksums))] }

// errUnmasked means a record of the masked topic still holds an address.
var errUnmasked = errors.New("record stored with an unmasked e-mail address")

var maskedAt = []byte("***@")

// consumeLines reads topic back from the start and checks it holds exactly
// what was acked, partition by partition and offset by offset. Without a
// plugin the bytes must match (checksum); with mask-pii every address must
// be masked, which is the plugin's whole point, and must not be silently
// skipped by a broken deployment.
func consumeLines(ctx context.Context, addr, topic string, produced produceStats, lines *logLines, masked bool) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var progress atomic.Int64
	ctx, stopWatch := watchProgress(ctx, &progress, stallTimeout)
	defer stopWatch()

	nextOffset := make([]int64, len(produced.perPart))
	var count int64
	var checksum uint64
	var mismatch error
	for count < produced.records && mismatch == nil {
		fetches := cl.PollFetches(ctx)
		if err := fetchError(ctx, fetches); err != nil {
			return count, fmt.Errorf("%w; %s; %s", err, shortPartitions(nextOffset, produced.perPart), endOffsets(addr, topic))
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if mismatch != nil {
				return
			}
			if mismatch = checkNext(r, nextOffset, produced.perPart); mismatch != nil {
				return
			}
			if masked && (bytes.Count(r.Value, maskedAt) != 1 || bytes.Count(r.Value, []byte("@")) != 1) {
				mismatch = fmt.Errorf("%w: partition %d offset %d: %q", errUnmasked, r.Partition, r.Offset, r.Value)
				return
			}
			nextOffset[r.Partition]++
			count++
			checksum += valueChecksum(r.Value)
		})
		progress.Store(count)
	}
	if mismatch != nil {
		return count, mismatch
	}
	if !masked && checksum != produced.checksum {
		return count, fmt.Errorf("%w: checksum %#x, produced %#x", errConsumeMismatch, checksum, produced.checksum)
	}
	return count, nil
}

// shortPartitions says which partitions have not returned every acked
// record, for a consume that stalled.
func shortPartitions(read, acked []int64) string {
	var parts []string
	for p := range read {
		if read[p] != acked[p] {
			parts = append(parts, fmt.Sprintf("partition %d read %d of %d", p, read[p], acked[p]))
		}
	}
	if len(parts) == 0 {
		return "every partition complete"
	}
	return strings.Join(parts, ", ")
}

// endOffsets lists topic's high watermarks, to tell "the broker never
// committed it" from "the broker does not serve it" when a consume stalls.
func endOffsets(addr, topic string) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return "end offsets: " + err.Error()
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return "end offsets: " + err.Error()
	}
	var parts []string
	ends.Each(func(o kadm.ListedOffset) { parts = append(parts, fmt.Sprintf("%d:%d", o.Partition, o.Offset)) })
	slices.Sort(parts)
	return "end offsets " + strings.Join(parts, " ")
}

// costBatch is how many records each measured plugin call carries, like a
// produce batch the broker hands a transform.
const costBatch = 1000

// costMinDuration is how long each per-record measurement runs at least.
const costMinDuration = time.Second

// pluginCost is the measured cost of one plugin call per record.
type pluginCost struct {
	hook, plugin string
	batches      int
	perRecord    time.Duration
	cpuPerRecord time.Duration // the median call's thread CPU time per record
	target       int64         // ns/record; 0: none
}

func (c pluginCost) line() string {
	line := fmt.Sprintf("%s %s: %d ns/record (in-process wazero, %s records in batches of %d; median call %d CPU ns/record)",
		c.hook, c.plugin, c.perRecord.Nanoseconds(), groupDigits(int64(c.batches*costBatch)), costBatch, c.cpuPerRecord.Nanoseconds())
	if c.target > 0 {
		line += fmt.Sprintf(" [target <= %d ns: %s]", c.target, passOrMiss(c.perRecord.Nanoseconds() <= c.target))
	}
	return line
}

// measurePluginCosts loads the example plugins into a wasm engine in this
// process, as the broker does, and times their calls: the mask-pii
// transform on the scenario's log lines and the page-view partitioner on
// JSON events. No broker or network is involved, so this is the plugin
// runtime's cost alone.
func measurePluginCosts(ctx context.Context, modules map[string][]byte, lines *logLines) ([]pluginCost, error) {
	engine, err := wasm.NewEngine(wasm.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
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
	transform, err := timePlugin(ctx, engine, maskPlugin, wasm.HookTransform, modules[maskPlugin], func(m *wasm.Module) error {
		_, _, err := m.Transform(ctx, "logs", 0, logRecs)
		return err
	})
	if err != nil {
		return nil, err
	}
	transform.target = targetMaskNanos
	costs := []pluginCost{transform}
	for _, p := range []struct {
		name   string
		target int64
	}{{watPlugin, targetWATNanos}, {keyhashPlugin, targetKeyhashNanos}, {partitionerPlugin, 0}} {
		c, err := timePlugin(ctx, engine, p.name, wasm.HookPartitioner, modules[p.name], func(m *wasm.Module) error {
			_, err := m.Partition(ctx, "pageviews", events, 12)
			return err
		})
		if err != nil {
			return nil, err
		}
		c.target = p.target
		costs = append(costs, c)
	}
	return costs, nil
}

// timePlugin loads a module and calls it, one batch per call, for at
// least costMinDuration after a warm-up call (the first call pays for
// instantiation).
func timePlugin(ctx context.Context, engine *wasm.Engine, name string, hook wasm.Hook, code []byte, call func(*wasm.Module) error) (pluginCost, error) {
	m, err := engine.Load(ctx, wasm.Spec{Name: name, Hook: hook, Wasm: code})
	if err != nil {
		return pluginCost{}, fmt.Errorf("load %s: %w", name, err)
	}
	defer m.Close()
	if err := call(m); err != nil {
		return pluginCost{}, fmt.Errorf("%s: %w", name, err)
	}
	c := pluginCost{hook: string(hook), plugin: name}
	// Each call also by its thread's CPU time (the call runs on the
	// calling goroutine's thread): on a loaded machine the wall time also
	// counts the time other processes held the core.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu []time.Duration
	start := time.Now()
	for time.Since(start) < costMinDuration {
		t0 := threadCPU()
		if err := call(m); err != nil {
			return pluginCost{}, fmt.Errorf("%s: %w", name, err)
		}
		cpu = append(cpu, threadCPU()-t0)
		c.batches++
	}
	c.perRecord = time.Since(start) / time.Duration(c.batches*costBatch)
	slices.Sort(cpu)
	c.cpuPerRecord = cpu[len(cpu)/2] / costBatch
	return c, nil
}
