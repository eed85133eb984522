package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
)

// Dry-run bounds.
const (
	DefaultDryRunLimit = 1000
	MaxDryRunLimit     = 100_000
	MaxDryRunShow      = 100
	maxDryRunErrors    = 10 // first failing records listed
	// DryRunBatch is the batch size the module sees: a dry run reads
	// records that may have been produced in batches of any size, so it
	// calls the module per up to this many records of one partition.
	DryRunBatch = 200
	// dryRunIdle ends a partition's read when no record arrives for this
	// long before its end offset (a gap of control records, say).
	dryRunIdle = 5 * time.Second
	// dryRunTimeout bounds a whole dry run.
	dryRunTimeout = 2 * time.Minute
)

// ErrNoKafka: a dry run needs the registry's in-process Kafka access
// (StartSync), which a registry opened without a broker does not have.
var ErrNoKafka = errors.New("plugins: dry run needs the broker's Kafka access")

// DryRunRequest runs a module over records already in a topic without
// deploying it.
type DryRunRequest struct {
	Hook   wasm.Hook
	Topic  string
	Config map[string]string
	Wasm   []byte
	// From is "earliest" (default: each partition from its start),
	// "latest" (each partition's last Limit/partitions records), an
	// RFC 3339 time or milliseconds since the epoch (the first record at
	// or after that time).
	From string
	// Limit bounds the records read (default DefaultDryRunLimit, at most
	// MaxDryRunLimit); partitions are read in order, 0 first.
	Limit int
	// Show asks for before/after of the first Show records (at most
	// MaxDryRunShow).
	Show int
	// Principal is the reader a filter sees (default User:ANONYMOUS).
	Principal string
	// Partitions is the partition count a partitioner is asked for
	// (default: the topic's).
	Partitions int32
}

// DryRunResult is what a dry run found.
type DryRunResult struct {
	Hook       wasm.Hook `json:"hook"`
	Topic      string    `json:"topic"`
	From       string    `json:"from"`
	Partitions int32     `json:"partitions"`
	RecordsIn  int       `json:"records_in"`
	Calls      int       `json:"calls"`
	// Transform and filter: records passed unchanged, rewritten, dropped;
	// Added are transform outputs beyond the inputs they replace; Emitted
	// are records a transform sent to other topics.
	Kept    int `json:"kept"`
	Changed int `json:"changed"`
	Dropped int `json:"dropped"`
	Added   int `json:"added,omitempty"`
	Emitted int `json:"emitted,omitempty"`
	// Partitioner: records per partition chosen, and how many of them
	// differ from the partition the record is stored in.
	PartitionHistogram []int `json:"partition_histogram,omitempty"`
	Moved              int   `json:"moved,omitempty"`
	// Errors counts records whose call failed (a failed batch is run again
	// record by record to find them, except after a timeout).
	Errors      int           `json:"errors"`
	FirstErrors []DryRunError `json:"first_errors,omitempty"`
	NsPerRecord float64       `json:"ns_per_record"`
	// Incomplete: a partition stopped short of its end offset (no records
	// arrived for a while, or the dry run's time ran out).
	Incomplete bool           `json:"incomplete,omitempty"`
	Samples    []DryRunSample `json:"samples,omitempty"`
}

// DryRunError is one failing record.
type DryRunError struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Error     string `json:"error"`
}

// DryRunSample is one record before and after the module.
type DryRunSample struct {
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Before    SampleRecord `json:"before"`
	// Result: kept, changed, dropped, error (transform, filter) or
	// partition (partitioner, with ToPartition).
	Result      string        `json:"result"`
	After       *SampleRecord `json:"after,omitempty"`
	ToPartition *int32        `json:"to_partition,omitempty"`
}

// SampleRecord is a record in a sample (values as text; invalid UTF-8 is
// replaced by the JSON encoder).
type SampleRecord struct {
	Key     *string           `json:"key,omitempty"`
	Value   *string           `json:"value,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

func sampleOf(r hooks.Record) *SampleRecord {
	s := &SampleRecord{}
	if r.Key != nil {
		k := string(r.Key)
		s.Key = &k
	}
	if r.Value != nil {
		v := string(r.Value)
		s.Value = &v
	}
	if len(r.Headers) > 0 {
		s.Headers = map[string]string{}
		for _, h := range r.Headers {
			s.Headers[h.Key] = string(h.Value)
		}
	}
	return s
}

func (req *DryRunRequest) validate() error {
	d := DeployRequest{Name: "dry-run", Hook: req.Hook, Topic: req.Topic, Config: req.Config, Wasm: req.Wasm}
	if err := d.validate(); err != nil {
		return err
	}
	switch {
	case req.Limit == 0:
		req.Limit = DefaultDryRunLimit
	case req.Limit < 0 || req.Limit > MaxDryRunLimit:
		return fmt.Errorf("%w: limit %d (1 to %d)", ErrInvalid, req.Limit, MaxDryRunLimit)
	}
	if req.Show < 0 || req.Show > MaxDryRunShow {
		return fmt.Errorf("%w: show %d (0 to %d)", ErrInvalid, req.Show, MaxDryRunShow)
	}
	if req.Partitions < 0 {
		return fmt.Errorf("%w: partitions %d", ErrInvalid, req.Partitions)
	}
	if req.From == "" {
		req.From = "earliest"
	}
	if _, err := parseFrom(req.From); err != nil {
		return err
	}
	if req.Principal == "" {
		req.Principal = "User:ANONYMOUS"
	}
	return nil
}

// parseFrom returns -2 for earliest, -1 for latest, else milliseconds.
func parseFrom(s string) (int64, error) {
	switch s {
	case "earliest":
		return -2, nil
	case "latest":
		return -1, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	return 0, fmt.Errorf("%w: from %q (earliest, latest, RFC 3339 time or epoch milliseconds)", ErrInvalid, s)
}

// kafkaAccess is how the registry reaches its broker (set by StartSync).
func (r *Registry) kafkaAccess() ([]kgo.Opt, error) {
	s := r.syncing()
	if s == nil {
		return nil, ErrNoKafka
	}
	return append([]kgo.Opt{kgo.SeedBrokers(s.brokers...)}, s.extra...), nil
}

// DryRun loads req's module (under the same limits as a deploy, but
// bound to nothing), runs it over up to req.Limit records of req.Topic
// read unfiltered through the broker's in-process connection, and
// reports what it would have done.
func (r *Registry) DryRun(ctx context.Context, req DryRunRequest) (*DryRunResult, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	opts, err := r.kafkaAccess()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, dryRunTimeout)
	defer cancel()
	mod, err := r.engine.Load(ctx, wasm.Spec{Name: "dry-run", Hook: req.Hook, Config: maps.Clone(req.Config), Wasm: req.Wasm})
	if err != nil {
		return nil, err
	}
	defer func() {
		mod.Close()
		mod.Forget()
	}()

	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ranges, nparts, err := dryRunRanges(ctx, adm, req)
	if err != nil {
		return nil, err
	}
	res := &DryRunResult{Hook: req.Hook, Topic: req.Topic, From: req.From, Partitions: nparts}
	if req.Hook == wasm.HookPartitioner {
		if req.Partitions > 0 {
			res.Partitions = req.Partitions
		}
		res.PartitionHistogram = make([]int, res.Partitions)
	}
	run := &dryRunner{req: &req, run: &DryRunner{
		Mod: mod, Topic: req.Topic, Res: res,
		Reader:                       hooks.Reader{ClientID: "sluice-dry-run", Principal: req.Principal},
		PartitionerSeesStoredOffsets: true,
	}}
	run.run.OnOutcome = run.outcome
	remaining := req.Limit
	for p := int32(0); p < nparts && remaining > 0; p++ {
		rg := ranges[p]
		if rg[0] >= rg[1] {
			continue
		}
		n, complete, err := run.partition(ctx, opts, p, rg[0], rg[1], remaining)
		if err != nil {
			return nil, err
		}
		remaining -= n
		if !complete {
			res.Incomplete = true
		}
	}
	run.run.Finish()
	return res, nil
}

// dryRunRanges returns each partition's [from, end) offsets.
func dryRunRanges(ctx context.Context, adm *kadm.Client, req DryRunRequest) (map[int32][2]int64, int32, error) {
	topics, err := adm.ListTopics(ctx, req.Topic)
	if err != nil {
		return nil, 0, err
	}
	td, ok := topics[req.Topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return nil, 0, fmt.Errorf("%w: topic %q", ErrNotFound, req.Topic)
	}
	nparts := int32(len(td.Partitions))
	starts, err := adm.ListStartOffsets(ctx, req.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	ends, err := adm.ListEndOffsets(ctx, req.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	from, _ := parseFrom(req.From)
	var after kadm.ListedOffsets
	if from >= 0 {
		if after, err = adm.ListOffsetsAfterMilli(ctx, from, req.Topic); err == nil {
			err = after.Error()
		}
		if err != nil {
			return nil, 0, err
		}
	}
	perPartition := int64((req.Limit + int(nparts) - 1) / int(nparts))
	out := map[int32][2]int64{}
	for p := int32(0); p < nparts; p++ {
		s, _ := starts.Lookup(req.Topic, p)
		e, _ := ends.Lookup(req.Topic, p)
		lo := s.Offset
		switch {
		case from == -1:
			lo = max(lo, e.Offset-perPartition)
		case from >= 0:
			if a, ok := after.Lookup(req.Topic, p); ok && a.Offset >= 0 {
				lo = max(lo, a.Offset)
			} else {
				lo = e.Offset
			}
		}
		out[p] = [2]int64{lo, e.Offset}
	}
	return out, nparts, nil
}

// dryRunner reads a topic's records for a DryRunner and samples what it
// did.
type dryRunner struct {
	req *DryRunRequest
	run *DryRunner
}

// partition reads [from, end) of partition p (at most limit records) and
// runs the module over it in batches.
func (d *dryRunner) partition(ctx context.Context, opts []kgo.Opt, p int32, from, end int64, limit int) (n int, complete bool, err error) {
	cl, err := kgo.NewClient(append(opts[:len(opts):len(opts)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.req.Topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return 0, false, err
	}
	defer cl.Close()
	var batch []*kgo.Record
	flush := func() {
		if len(batch) > 0 {
			in := make([]hooks.Record, len(batch))
			for i, rec := range batch {
				in[i] = toHookRecord(rec, rec.Offset)
			}
			d.run.Batch(ctx, p, in)
			batch = batch[:0]
		}
	}
	next := from
	for next < end && n < limit {
		pctx, cancel := context.WithTimeout(ctx, dryRunIdle)
		fetches := cl.PollFetches(pctx)
		cancel()
		progressed := false
		fetches.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end || n >= limit {
				return
			}
			progressed = true
			batch = append(batch, rec)
			n++
			next = rec.Offset + 1
			if len(batch) == DryRunBatch {
				flush()
			}
		})
		if !progressed {
			if ctx.Err() != nil || pctx.Err() != nil {
				break // no progress for dryRunIdle, or out of time
			}
			if errs := fetches.Errors(); len(errs) > 0 && !errors.Is(errs[0].Err, context.DeadlineExceeded) {
				return n, false, fmt.Errorf("plugins: dry run reading %s[%d]: %w", d.req.Topic, p, errs[0].Err)
			}
		}
	}
	flush()
	return n, next >= end || n >= limit, nil
}

func toHookRecord(rec *kgo.Record, offset int64) hooks.Record {
	h := hooks.Record{Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp.UnixMilli(), Offset: offset}
	for _, kh := range rec.Headers {
		h.Headers = append(h.Headers, hooks.Header{Key: kh.Key, Value: kh.Value})
	}
	return h
}

// outcome samples the first req.Show records.
func (d *dryRunner) outcome(o DryRunOutcome) {
	if len(d.run.Res.Samples) >= d.req.Show {
		return
	}
	sample := DryRunSample{Partition: o.Partition, Offset: o.Offset, Before: *sampleOf(o.In), Result: o.Result}
	switch o.Result {
	case "changed":
		sample.After = sampleOf(*o.Out)
	case "partition":
		to := o.ToPartition
		sample.ToPartition = &to
	}
	d.run.Res.Samples = append(d.run.Res.Samples, sample)
}

// DryRunOutcome is what a module did with one input record.
type DryRunOutcome struct {
	Partition int32
	Offset    int64        // the stored offset
	In        hooks.Record // the record as the module saw it
	// Result: kept, changed, dropped (transform, filter), partition
	// (partitioner, with ToPartition) or error.
	Result      string
	Out         *hooks.Record // a filter's output (kept or changed), a transform's changed record
	ToPartition int32
}

// DryRunner runs a module over batches of records and counts into Res
// what it did: the broker-side dry run (Registry.DryRun) and `sluice plugin
// test --records` (the same over records from a file, no broker) share it,
// so both report alike.
type DryRunner struct {
	Mod    *wasm.Module
	Topic  string
	Reader hooks.Reader // the reader a filter sees
	// Res has Hook and Partitions set (and, for a partitioner, a
	// PartitionHistogram of Partitions entries); the runner adds to it.
	Res *DryRunResult
	// PartitionerSeesStoredOffsets shows a partitioner the records'
	// stored offsets (the broker-side dry run); false shows -1, as a
	// produce does (the local run). A transform always sees -1 and a
	// filter the stored offsets.
	PartitionerSeesStoredOffsets bool
	// OnOutcome, when set, is told what became of each input record, in
	// order (failing records included, as "error").
	OnOutcome func(DryRunOutcome)
	// OnTransform, when set, gets each successful transform call's output
	// records and emits.
	OnTransform func(p int32, out []hooks.Record, emits []hooks.Emit)

	nanos int64 // spent in module calls
}

// Batch runs the module over recs (one partition's, in offset order, with
// their stored offsets). A failed batch is run again record by record to
// find the failing records, except after a timeout: each retry could take
// the whole timeout again.
func (d *DryRunner) Batch(ctx context.Context, p int32, recs []hooks.Record) {
	d.Res.RecordsIn += len(recs)
	err := d.call(ctx, p, recs)
	if err == nil {
		return
	}
	if len(recs) == 1 || errors.Is(err, wasm.ErrTimeout) {
		for _, rec := range recs {
			d.fail(p, rec, err)
		}
		return
	}
	for i := range recs {
		if err := d.call(ctx, p, recs[i:i+1]); err != nil {
			d.fail(p, recs[i], err)
		}
	}
}

// Finish sets Res.NsPerRecord once every batch has run.
func (d *DryRunner) Finish() {
	if d.Res.RecordsIn > 0 {
		d.Res.NsPerRecord = float64(d.nanos) / float64(d.Res.RecordsIn)
	}
}

func (d *DryRunner) fail(p int32, rec hooks.Record, err error) {
	d.Res.Errors++
	if len(d.Res.FirstErrors) < maxDryRunErrors {
		d.Res.FirstErrors = append(d.Res.FirstErrors, DryRunError{Partition: p, Offset: rec.Offset, Error: err.Error()})
	}
	d.tell(DryRunOutcome{Partition: p, Offset: rec.Offset, In: rec, Result: "error"})
}

func (d *DryRunner) tell(o DryRunOutcome) {
	if d.OnOutcome != nil {
		d.OnOutcome(o)
	}
}

// call runs one batch and, when it succeeds, counts its outcome.
func (d *DryRunner) call(ctx context.Context, p int32, recs []hooks.Record) error {
	in := slices.Clone(recs)
	if d.Res.Hook == wasm.HookTransform || d.Res.Hook == wasm.HookPartitioner && !d.PartitionerSeesStoredOffsets {
		for i := range in {
			in[i].Offset = -1
		}
	}
	start := time.Now()
	switch d.Res.Hook {
	case wasm.HookPartitioner:
		parts, err := d.Mod.Partition(ctx, d.Topic, in, d.Res.Partitions)
		d.nanos += time.Since(start).Nanoseconds()
		if err == nil && len(parts) != len(in) {
			err = fmt.Errorf("%w: %d partitions for %d records", hooks.ErrPluginFailed, len(parts), len(in))
		}
		if err != nil {
			return err
		}
		d.Res.Calls++
		for i, part := range parts {
			if part < 0 || part >= d.Res.Partitions {
				d.fail(p, recs[i], fmt.Errorf("%w: partition %d of %d", hooks.ErrPluginFailed, part, d.Res.Partitions))
				continue
			}
			d.Res.PartitionHistogram[part]++
			if part != p {
				d.Res.Moved++
			}
			d.tell(DryRunOutcome{Partition: p, Offset: recs[i].Offset, In: in[i], Result: "partition", ToPartition: part})
		}
	case wasm.HookFilter:
		out, err := d.Mod.Filter(ctx, d.Topic, p, d.Reader, in)
		d.nanos += time.Since(start).Nanoseconds()
		if err != nil {
			return err
		}
		d.Res.Calls++
		// A filter keeps offsets: match outputs to inputs by offset.
		j := 0
		for i := range in {
			o := DryRunOutcome{Partition: p, Offset: recs[i].Offset, In: in[i], Result: "dropped"}
			if j < len(out) && out[j].Offset == in[i].Offset {
				o.Out = &out[j]
				if sameRecord(in[i], out[j]) {
					o.Result = "kept"
					d.Res.Kept++
				} else {
					o.Result = "changed"
					d.Res.Changed++
				}
				j++
			} else {
				d.Res.Dropped++
			}
			d.tell(o)
		}
	case wasm.HookTransform:
		out, emits, err := d.Mod.Transform(ctx, d.Topic, p, in)
		d.nanos += time.Since(start).Nanoseconds()
		if err != nil {
			return err
		}
		d.Res.Calls++
		d.Res.Emitted += len(emits)
		d.countTransform(p, recs, in, out)
		if d.OnTransform != nil {
			d.OnTransform(p, out, emits)
		}
	}
	return nil
}

// countTransform attributes a transform's outputs to its inputs. Outputs
// carry no input index, so an output equal to an input (in order) is
// that input kept; the unmatched outputs, paired in order with the
// unmatched inputs, are those inputs changed; unmatched inputs left over
// were dropped and unmatched outputs left over were added. This is exact
// for the one-in, at-most-one-out transforms (masking, dropping).
func (d *DryRunner) countTransform(p int32, recs, in, out []hooks.Record) {
	results := make([]DryRunOutcome, len(in))
	var unmatchedOut []int
	i := 0
	for j := range out {
		k := i
		for k < len(in) && !sameRecord(in[k], out[j]) {
			k++
		}
		if k == len(in) {
			unmatchedOut = append(unmatchedOut, j)
			continue
		}
		results[k].Result = "kept"
		i = k + 1
	}
	u := 0
	for k := range results {
		if results[k].Result != "" {
			continue
		}
		if u < len(unmatchedOut) {
			results[k] = DryRunOutcome{Result: "changed", Out: &out[unmatchedOut[u]]}
			u++
		} else {
			results[k].Result = "dropped"
		}
	}
	d.Res.Added += len(unmatchedOut) - u
	for k, r := range results {
		switch r.Result {
		case "kept":
			d.Res.Kept++
		case "changed":
			d.Res.Changed++
		case "dropped":
			d.Res.Dropped++
		}
		r.Partition, r.Offset, r.In = p, recs[k].Offset, in[k]
		d.tell(r)
	}
}

// sameRecord compares content (not offsets).
func sameRecord(a, b hooks.Record) bool {
	if !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.Value, b.Value) || (a.Key == nil) != (b.Key == nil) ||
		(a.Value == nil) != (b.Value == nil) || a.Timestamp != b.Timestamp || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

// FormatDryRun is the text summary `sluice plugin test` prints.
func FormatDryRun(res *DryRunResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Dry run of a %s over topic %q (%d partitions) from %s: %d records in %d calls, %.0f ns/record.\n",
		res.Hook, res.Topic, res.Partitions, res.From, res.RecordsIn, res.Calls, res.NsPerRecord)
	switch res.Hook {
	case wasm.HookTransform:
		fmt.Fprintf(&b, "kept %d, changed %d, dropped %d, added %d, emitted %d\n", res.Kept, res.Changed, res.Dropped, res.Added, res.Emitted)
	case wasm.HookFilter:
		fmt.Fprintf(&b, "kept %d, changed %d, dropped %d\n", res.Kept, res.Changed, res.Dropped)
	case wasm.HookPartitioner:
		parts := make([]string, len(res.PartitionHistogram))
		for i, n := range res.PartitionHistogram {
			parts[i] = fmt.Sprintf("%d:%d", i, n)
		}
		fmt.Fprintf(&b, "partitions %s; moved %d (records whose partition differs from where they are stored)\n", strings.Join(parts, " "), res.Moved)
	}
	fmt.Fprintf(&b, "errors %d\n", res.Errors)
	for _, e := range res.FirstErrors {
		fmt.Fprintf(&b, "  error at partition %d offset %d: %s\n", e.Partition, e.Offset, e.Error)
	}
	if res.Incomplete {
		b.WriteString("note: some partitions were not read to their end (no records arrived for a while, or time ran out)\n")
	}
	for _, s := range res.Samples {
		fmt.Fprintf(&b, "[%d@%d] %s\n", s.Partition, s.Offset, s.Result)
		fmt.Fprintf(&b, "  before: %s\n", formatSample(&s.Before))
		if s.After != nil {
			fmt.Fprintf(&b, "  after:  %s\n", formatSample(s.After))
		}
		if s.ToPartition != nil {
			fmt.Fprintf(&b, "  to partition %d\n", *s.ToPartition)
		}
	}
	return b.String()
}

func formatSample(s *SampleRecord) string {
	var parts []string
	if s.Key != nil {
		parts = append(parts, "key="+strconv.Quote(*s.Key))
	}
	if s.Value != nil {
		parts = append(parts, "value="+strconv.Quote(*s.Value))
	} else {
		parts = append(parts, "value=null")
	}
	keys := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, "header "+k+"="+strconv.Quote(s.Headers[k]))
	}
	return strings.Join(parts, " ")
}
