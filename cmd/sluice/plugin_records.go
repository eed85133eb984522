package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

// `sluice plugin test --records FILE.jsonl`: the dry run of a module over
// records from a file instead of a topic, in this process, under the
// broker's own runtime (package wasm) and without a broker. It prints the
// dry run's summary (plugins.FormatDryRun) and, with --show, the output
// records as JSON lines in the input's format (docs/plugin-authoring.md).

// Bounds of a local run: the file is read whole, so it is bounded.
const (
	maxRecordsFileBytes = 256 << 20
	maxRecordLineBytes  = 16 << 20
	defaultRecordsTopic = "test"
)

// withLocalRecords adds --records to `sluice plugin test`: with it the
// command runs locally; without it, it is the broker-side dry run as
// before.
func (c *cli) withLocalRecords(cmd *ffcli.Command) *ffcli.Command {
	fs := cmd.FlagSet
	records := fs.String("records", "", "run locally over the records in this JSON-lines file (no broker; --topic optional, --show N prints N output records, -1 all)")
	cmd.ShortHelp = "Dry-run a plugin over records already in a topic, or locally (no broker) over records from a file, and summarize what it would do."
	cmd.ShortUsage += "\n  sluice plugin test --records FILE.jsonl --hook transform|filter|partitioner [--partitions N] [--principal P] [--config k=v]... [--show N] FILE.wasm"
	brokerExec := cmd.Exec
	cmd.Exec = func(ctx context.Context, args []string) error {
		args, err := parseInterspersed(fs, args)
		if err != nil {
			return newUsageError(cmd, "%v", err)
		}
		if *records == "" {
			return brokerExec(ctx, args)
		}
		if len(args) != 1 {
			return newUsageError(cmd, "plugin test: want FILE.wasm")
		}
		opts, err := parseLocalTestFlags(fs, *records, args[0])
		if err != nil {
			return newUsageError(cmd, "plugin test: %v", err)
		}
		return c.runLocalTest(ctx, opts)
	}
	return cmd
}

type localTestOptions struct {
	hook        wasm.Hook
	wasmPath    string
	recordsPath string
	topic       string
	partitions  int32
	principal   string
	config      map[string]string
	show        int
	asJSON      bool
}

// parseLocalTestFlags reads the dry run's own flags (defined in
// pluginTestCommand) for the local mode.
func parseLocalTestFlags(fs *flag.FlagSet, records, wasmPath string) (*localTestOptions, error) {
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	hook, err := wasm.ParseHook(get("hook").(string))
	if err != nil {
		return nil, fmt.Errorf("--hook: %v", err)
	}
	o := &localTestOptions{hook: hook, wasmPath: wasmPath, recordsPath: records, topic: get("topic").(string),
		principal: get("principal").(string), show: get("show").(int), asJSON: get("json").(bool), config: map[string]string{}}
	if o.topic == "" {
		o.topic = defaultRecordsTopic
	}
	if o.principal == "" {
		o.principal = "User:ANONYMOUS"
	}
	n := get("partitions").(int)
	if n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("--partitions %d", n)
	}
	o.partitions = int32(n)
	if kv, ok := fs.Lookup("config").Value.(*keyValueList); ok {
		for _, p := range kv.pairs {
			o.config[p.key] = p.value
		}
	}
	return o, nil
}

func (c *cli) runLocalTest(ctx context.Context, o *localTestOptions) error {
	code, err := os.ReadFile(o.wasmPath)
	if err != nil {
		return err
	}
	recs, err := readRecordsFile(o.recordsPath)
	if err != nil {
		return err
	}
	// Plugin output (stdout, stderr) goes to stderr as the broker would
	// log it; the summary and records go to stdout.
	engine, err := wasm.NewEngine(wasm.Config{Logger: slog.New(slog.NewTextHandler(c.stderr, nil))})
	if err != nil {
		return err
	}
	defer engine.Close()
	mod, err := engine.Load(ctx, wasm.Spec{Name: filepath.Base(o.wasmPath), Hook: o.hook, Config: maps.Clone(o.config), Wasm: code})
	if err != nil {
		return fmt.Errorf("load %s: %w", o.wasmPath, err)
	}
	defer func() {
		mod.Close()
		mod.Forget()
	}()
	run := newLocalRun(o, mod, recs)
	run.all(ctx)
	if o.asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(run.res)
	}
	fmt.Fprint(c.stdout, plugins.FormatDryRun(run.res))
	w := bufio.NewWriter(c.stdout)
	for i, r := range run.out {
		if o.show >= 0 && i >= o.show {
			break
		}
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	return w.Flush()
}

// fileRecord is one line of a records file, and one output line.
type fileRecord struct {
	Topic     string          `json:"topic,omitempty"` // output only: a transform's emit
	Partition *int32          `json:"partition,omitempty"`
	Offset    *int64          `json:"offset,omitempty"`
	Timestamp json.RawMessage `json:"timestamp,omitempty"`
	Key       *string         `json:"key,omitempty"`
	KeyB64    *string         `json:"key_b64,omitempty"`
	Value     *string         `json:"value,omitempty"`
	ValueB64  *string         `json:"value_b64,omitempty"`
	Headers   json.RawMessage `json:"headers,omitempty"`
}

// fileHeader is a header in the array form of "headers".
type fileHeader struct {
	Key      string  `json:"key"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
}

// localRecord is a parsed input record.
type localRecord struct {
	partition int32
	rec       hooks.Record // Offset: the stored offset (from the file or counted)
}

// readRecordsFile parses a JSON-lines records file (blank lines and lines
// starting with # are skipped).
func readRecordsFile(name string) ([]localRecord, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxRecordsFileBytes+1))
	sc.Buffer(make([]byte, 64<<10), maxRecordLineBytes)
	next := map[int32]int64{} // next offset per partition
	var out []localRecord
	read := 0
	for line := 1; sc.Scan(); line++ {
		read += len(sc.Bytes()) + 1
		if read > maxRecordsFileBytes {
			return nil, fmt.Errorf("%s: over %d bytes", name, maxRecordsFileBytes)
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		lr, err := parseRecordLine(text, next)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, lr)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func parseRecordLine(text []byte, next map[int32]int64) (localRecord, error) {
	var fr fileRecord
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		return localRecord{}, err
	}
	if fr.Topic != "" {
		return localRecord{}, errors.New(`"topic" is for output records; --topic sets the input's`)
	}
	var lr localRecord
	var err error
	if lr.rec.Key, err = textOrBase64("key", fr.Key, fr.KeyB64); err != nil {
		return lr, err
	}
	if lr.rec.Value, err = textOrBase64("value", fr.Value, fr.ValueB64); err != nil {
		return lr, err
	}
	if lr.rec.Timestamp, err = parseTimestamp(fr.Timestamp); err != nil {
		return lr, err
	}
	if lr.rec.Headers, err = parseHeaders(fr.Headers); err != nil {
		return lr, err
	}
	if fr.Partition != nil {
		if *fr.Partition < 0 || *fr.Partition >= 1<<20 {
			return lr, fmt.Errorf("partition %d", *fr.Partition)
		}
		lr.partition = *fr.Partition
	}
	lr.rec.Offset = next[lr.partition]
	if fr.Offset != nil {
		if *fr.Offset < lr.rec.Offset {
			return lr, fmt.Errorf("offset %d: offsets must increase within a partition (next is %d)", *fr.Offset, lr.rec.Offset)
		}
		lr.rec.Offset = *fr.Offset
	}
	next[lr.partition] = lr.rec.Offset + 1
	return lr, nil
}

// textOrBase64 decodes a field given as UTF-8 text or as base64 (null or
// absent: nil).
func textOrBase64(field string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("both %q and %q", field, field+"_b64")
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%s_b64: %v", field, err)
		}
		return b, nil
	}
	return nil, nil
}

// parseTimestamp accepts milliseconds since the epoch or an RFC 3339
// time; absent is 0.
func parseTimestamp(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err == nil {
		return ms, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("timestamp %s: want milliseconds since the epoch or an RFC 3339 time", raw)
}

// parseHeaders accepts an object of name: value (text or null, in the
// order given) or an array of {"key", "value" | "value_b64"} (for
// repeated names and binary values).
func parseHeaders(raw json.RawMessage) ([]hooks.Header, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var out []hooks.Header
	if raw[0] == '[' {
		var list []fileHeader
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("headers: %v", err)
		}
		for _, h := range list {
			v, err := textOrBase64("value", h.Value, h.ValueB64)
			if err != nil {
				return nil, fmt.Errorf("header %q: %v", h.Key, err)
			}
			out = append(out, hooks.Header{Key: h.Key, Value: v})
		}
		return out, nil
	}
	// An object, walked token by token to keep the order of its names.
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("headers: want an object or an array")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("headers: %v", err)
		}
		var v *string
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("header %q: want a string or null", t)
		}
		h := hooks.Header{Key: t.(string)}
		if v != nil {
			h.Value = []byte(*v)
		}
		out = append(out, h)
	}
	return out, nil
}

// outputRecord renders a record in the records file's format: text where
// it is UTF-8, base64 otherwise.
func outputRecord(r hooks.Record, partition int32, offset bool) fileRecord {
	fr := fileRecord{Partition: &partition}
	if offset {
		o := r.Offset
		fr.Offset = &o
	}
	if r.Timestamp != 0 {
		fr.Timestamp = json.RawMessage(fmt.Sprint(r.Timestamp))
	}
	fr.Key, fr.KeyB64 = textOrB64(r.Key)
	fr.Value, fr.ValueB64 = textOrB64(r.Value)
	if len(r.Headers) == 0 {
		return fr
	}
	// The object form when it says everything (unique names, text values).
	seen := map[string]bool{}
	simple := true
	for _, h := range r.Headers {
		simple = simple && !seen[h.Key] && (h.Value == nil || utf8.Valid(h.Value))
		seen[h.Key] = true
	}
	var b bytes.Buffer
	if simple {
		b.WriteByte('{')
		for i, h := range r.Headers {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(h.Key)
			b.Write(k)
			b.WriteByte(':')
			if h.Value == nil {
				b.WriteString("null")
			} else {
				v, _ := json.Marshal(string(h.Value))
				b.Write(v)
			}
		}
		b.WriteByte('}')
	} else {
		list := make([]fileHeader, len(r.Headers))
		for i, h := range r.Headers {
			list[i].Key = h.Key
			list[i].Value, list[i].ValueB64 = textOrB64(h.Value)
		}
		data, _ := json.Marshal(list)
		b.Write(data)
	}
	fr.Headers = b.Bytes()
	return fr
}

func textOrB64(b []byte) (*string, *string) {
	if b == nil {
		return nil, nil
	}
	s := string(b)
	if utf8.ValidString(s) {
		return &s, nil
	}
	e := base64.StdEncoding.EncodeToString(b)
	return nil, &e
}

// localRun is one local dry run; it counts with the broker-side dry run's
// runner (plugins.DryRunner) so both print the same summary for the same
// records, and collects the output records.
type localRun struct {
	recs []localRecord
	run  *plugins.DryRunner
	res  *plugins.DryRunResult
	out  []fileRecord // output records, in order
}

func newLocalRun(o *localTestOptions, mod *wasm.Module, recs []localRecord) *localRun {
	parts := o.partitions
	for _, r := range recs {
		if o.partitions == 0 {
			parts = max(parts, r.partition+1)
		}
	}
	parts = max(parts, 1)
	res := &plugins.DryRunResult{Hook: o.hook, Topic: o.topic, From: filepath.Base(o.recordsPath), Partitions: parts}
	if o.hook == wasm.HookPartitioner {
		res.PartitionHistogram = make([]int, parts)
	}
	l := &localRun{recs: recs, res: res}
	l.run = &plugins.DryRunner{Mod: mod, Topic: o.topic, Res: res,
		Reader:      hooks.Reader{ClientID: "sluice-plugin-test", Principal: o.principal},
		OnOutcome:   l.outcome,
		OnTransform: l.transformed,
	}
	return l
}

// all runs the records partition by partition (0 first, file order within
// one), in batches of up to plugins.DryRunBatch.
func (l *localRun) all(ctx context.Context) {
	byPart := map[int32][]hooks.Record{}
	for _, r := range l.recs {
		byPart[r.partition] = append(byPart[r.partition], r.rec)
	}
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		recs := byPart[p]
		for len(recs) > 0 {
			n := min(len(recs), plugins.DryRunBatch)
			l.run.Batch(ctx, p, recs[:n])
			recs = recs[n:]
		}
	}
	l.run.Finish()
}

// outcome collects a partitioner's records (with the partition chosen)
// and a filter's kept and changed records (with their offsets).
func (l *localRun) outcome(o plugins.DryRunOutcome) {
	switch {
	case o.Result == "partition":
		l.out = append(l.out, outputRecord(o.In, o.ToPartition, false))
	case l.res.Hook == wasm.HookFilter && o.Out != nil:
		l.out = append(l.out, outputRecord(*o.Out, o.Partition, true))
	}
}

// transformed collects a transform's outputs, then its emits.
func (l *localRun) transformed(p int32, out []hooks.Record, emits []hooks.Emit) {
	for _, r := range out {
		l.out = append(l.out, outputRecord(r, p, false))
	}
	for _, e := range emits {
		fr := outputRecord(e.Record, 0, false)
		fr.Partition = nil // the target topic's partitioner decides
		fr.Topic = e.Topic
		l.out = append(l.out, fr)
	}
}
