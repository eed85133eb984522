//go:build !wasip1

// Package sdktest runs a plugin's registered hook natively, in `go test`,
// without a broker or a WebAssembly runtime. The plugin's init registers
// its hook as usual (sdk.Partitioner, sdk.Transform, sdk.Filter); a test in
// the same package feeds it records and checks what it did:
//
//	parts, err := sdktest.Partition(4, sdktest.Rec("tenant-a", "hello"))
//	res, err := sdktest.Transform(sdktest.Rec("k", "  padded  "))
//	// res.Outcomes[0] == sdktest.Changed, string(res.Records[0].Value) == "padded"
//
// Every call goes through the SDK's real dispatch: records are encoded as
// the broker's batch (docs/plugin-abi.md) and the answer is decoded, so
// refusals, emits and partitions come back exactly as the broker would
// see them. The same module built for wasip1 runs under the broker's own
// runtime with `sluice plugin test FILE.wasm --records FILE.jsonl`.
//
// The registered hook and the configuration are process-wide, as in a
// module: do not call sdktest from parallel tests.
package sdktest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sluicemq/sluice/sdk"
	"github.com/sluicemq/sluice/wasm/abi"
)

// Outcome is what a transform or filter did with one input record.
type Outcome string

// Outcomes, named as in `sluice plugin test` summaries. A record written
// back with the same content counts as kept.
const (
	Kept    Outcome = "kept"
	Changed Outcome = "changed"
	Dropped Outcome = "dropped"
)

// Harness holds what the broker would pass with a batch. The zero value
// is usable: topic "test", partition 0, no configuration.
type Harness struct {
	Topic          string            // sdk.Topic() during calls; default "test"
	BatchPartition int32             // sdk.Partition() for transforms and filters
	Config         map[string]string // sdk.Config during calls
}

// Emit is a record a transform sent to another topic.
type Emit struct {
	Topic  string
	Record sdk.Record
}

// TransformResult is what a transform did with a batch.
type TransformResult struct {
	// Records is what the broker would append, in order.
	Records []sdk.Record
	// Emits are the records sent to other topics, in order.
	Emits []Emit
	// Outcomes has one entry per input: kept (exactly one output equal to
	// the input), changed (at least one output, the first one differing)
	// or dropped (no output).
	Outcomes []Outcome
	// Outputs is the number of records appended for each input.
	Outputs []int
	// Summary counts; Added are outputs beyond the first per input.
	Kept, Changed, Dropped, Added int
}

// FilterResult is what a filter showed a reader.
type FilterResult struct {
	// Records is what the reader sees, in order, offsets kept.
	Records                []sdk.Record
	Outcomes               []Outcome // one per input
	Kept, Changed, Dropped int
}

// Rec makes a record with key and value; an empty key means no key (nil).
// Headers are given as name, value pairs.
func Rec(key, value string, headers ...string) sdk.Record {
	r := sdk.Record{Value: []byte(value), Offset: -1}
	if key != "" {
		r.Key = []byte(key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, sdk.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	if len(headers)%2 == 1 {
		panic("sdktest.Rec: headers must be name, value pairs")
	}
	return r
}

// Partition runs the registered partitioner with the zero Harness.
func Partition(partitions int, recs ...sdk.Record) ([]int, error) {
	return Harness{}.Partition(partitions, recs...)
}

// Transform runs the registered transform with the zero Harness.
func Transform(recs ...sdk.Record) (*TransformResult, error) { return Harness{}.Transform(recs...) }

// Filter runs the registered filter with the zero Harness.
func Filter(reader sdk.Reader, recs ...sdk.Record) (*FilterResult, error) {
	return Harness{}.Filter(reader, recs...)
}

func (h Harness) topic() string {
	if h.Topic == "" {
		return "test"
	}
	return h.Topic
}

// encode makes the broker's batch of recs; offsets false sets every
// offset to -1 (partitioners and transforms run before offsets exist).
func encode(meta abi.Meta, recs []sdk.Record, offsets bool) []byte {
	b := abi.AppendInputHeader(nil, &meta, len(recs))
	for i := range recs {
		r := &recs[i]
		off := int64(-1)
		if offsets {
			off = r.Offset
		}
		var start int
		b, start = abi.BeginRecord(b, r.Timestamp, off, r.Key, r.Value, len(r.Headers))
		for _, hd := range r.Headers {
			b = abi.AppendHeader(b, hd.Key, hd.Value)
		}
		b = abi.FinishRecord(b, start)
	}
	return b
}

// call runs hook over one batch with h's configuration and returns a
// reader positioned after the answer's status and input count, or the
// plugin's refusal as an *sdk.RefusalError.
func (h Harness) call(hook string, batch []byte, count int) (*abi.Reader, error) {
	restore := sdk.SetHostConfig(h.Config)
	out := sdk.HostCall(hook, batch)
	restore()
	rd := abi.NewReader(out)
	status := rd.Uint32()
	if rd.Err() != nil {
		return nil, fmt.Errorf("sdktest: empty answer from the %s", hook)
	}
	switch status {
	case abi.StatusOK:
		if n := int(rd.Uint32()); n != count || rd.Err() != nil {
			return nil, fmt.Errorf("sdktest: the %s answered for %d records of %d", hook, n, count)
		}
		return rd, nil
	case abi.StatusRejected, abi.StatusPolicy:
		return nil, &sdk.RefusalError{Policy: status == abi.StatusPolicy, Message: rd.String()}
	}
	return nil, fmt.Errorf("sdktest: unknown answer status %d from the %s", status, hook)
}

// Partition runs the registered partitioner over recs as one batch for a
// topic of the given partition count and returns each record's partition.
// A partition outside [0, partitions) is an error, as in the broker.
func (h Harness) Partition(partitions int, recs ...sdk.Record) ([]int, error) {
	if partitions <= 0 {
		return nil, fmt.Errorf("sdktest: %d partitions", partitions)
	}
	meta := abi.Meta{Partition: -1, NumPartitions: int32(partitions), Topic: h.topic()}
	rd, err := h.call("partitioner", encode(meta, recs, false), len(recs))
	if err != nil {
		return nil, err
	}
	parts := make([]int, len(recs))
	for i := range parts {
		parts[i] = int(int32(rd.Uint32()))
		if rd.Err() != nil {
			return nil, fmt.Errorf("sdktest: malformed partitioner answer: %w", rd.Err())
		}
		if parts[i] < 0 || parts[i] >= partitions {
			return nil, fmt.Errorf("sdktest: record %d: partition %d of %d", i, parts[i], partitions)
		}
	}
	return parts, nil
}

// Transform runs the registered transform over recs as a produce batch
// would (offsets -1, partition h.BatchPartition). Each record is passed in a
// batch of its own, so every output is attributed to its input exactly;
// the SDK calls the plugin's function once per record either way. A
// refusal of any record refuses the whole batch: the error is the
// *sdk.RefusalError the broker would report ("record 2: ..."), and
// nothing is returned.
func (h Harness) Transform(recs ...sdk.Record) (*TransformResult, error) {
	res := &TransformResult{Outcomes: make([]Outcome, len(recs)), Outputs: make([]int, len(recs))}
	meta := abi.Meta{Partition: h.BatchPartition, Topic: h.topic()}
	for i := range recs {
		in := recs[i : i+1]
		rd, err := h.call("transform", encode(meta, in, false), 1)
		if err != nil {
			if re, ok := err.(*sdk.RefusalError); ok {
				// The SDK numbers records within the batch it was given.
				msg := strings.TrimPrefix(re.Message, "record 0: ")
				return nil, &sdk.RefusalError{Policy: re.Policy, Message: fmt.Sprintf("record %d: %s", i, msg)}
			}
			return nil, err
		}
		n := int(rd.Uint32())
		for j := 0; j < n && rd.Err() == nil; j++ {
			switch tag := rd.Uint8(); tag {
			case abi.TagKeep:
				if idx := rd.Uint32(); idx != 0 {
					return nil, fmt.Errorf("sdktest: transform kept input %d of 1", idx)
				}
				res.Records = append(res.Records, clone(recs[i], -1))
			case abi.TagRecord:
				res.Records = append(res.Records, readRecord(rd))
			default:
				return nil, fmt.Errorf("sdktest: transform answer tag %d", tag)
			}
		}
		ne := int(rd.Uint32())
		for j := 0; j < ne && rd.Err() == nil; j++ {
			topic := rd.String()
			res.Emits = append(res.Emits, Emit{Topic: topic, Record: readRecord(rd)})
		}
		if rd.Err() != nil || rd.Remaining() != 0 {
			return nil, fmt.Errorf("sdktest: malformed transform answer")
		}
		res.Outputs[i] = n
		switch {
		case n == 0:
			res.Outcomes[i] = Dropped
			res.Dropped++
		case n == 1 && same(recs[i], res.Records[len(res.Records)-1]):
			res.Outcomes[i] = Kept
			res.Kept++
		default:
			res.Outcomes[i] = Changed
			res.Changed++
			res.Added += n - 1
		}
	}
	return res, nil
}

// Filter runs the registered filter over recs as a fetch would for
// reader (offsets as given in recs, partition h.BatchPartition) and returns
// what the reader sees. An empty reader.Principal is "User:ANONYMOUS", as
// for an unauthenticated client.
func (h Harness) Filter(reader sdk.Reader, recs ...sdk.Record) (*FilterResult, error) {
	meta := abi.Meta{Partition: h.BatchPartition, Topic: h.topic(), GroupID: reader.GroupID,
		ClientID: reader.ClientID, Principal: reader.Principal}
	if meta.Principal == "" {
		meta.Principal = "User:ANONYMOUS"
	}
	rd, err := h.call("filter", encode(meta, recs, true), len(recs))
	if err != nil {
		return nil, err
	}
	res := &FilterResult{Outcomes: make([]Outcome, len(recs))}
	for i := range res.Outcomes {
		res.Outcomes[i] = Dropped
	}
	n := int(rd.Uint32())
	last := -1
	for j := 0; j < n && rd.Err() == nil; j++ {
		tag := rd.Uint8()
		idx := int(rd.Uint32())
		if rd.Err() != nil || idx <= last || idx >= len(recs) {
			return nil, fmt.Errorf("sdktest: filter answer names input %d (of %d, after %d)", idx, len(recs), last)
		}
		last = idx
		out := clone(recs[idx], recs[idx].Offset)
		if tag == abi.TagReplace {
			out = readRecord(rd)
			out.Offset = recs[idx].Offset // a filter keeps offsets
		} else if tag != abi.TagKeep {
			return nil, fmt.Errorf("sdktest: filter answer tag %d", tag)
		}
		res.Records = append(res.Records, out)
		if same(recs[idx], out) {
			res.Outcomes[idx] = Kept
		} else {
			res.Outcomes[idx] = Changed
		}
	}
	if rd.Err() != nil || rd.Remaining() != 0 {
		return nil, fmt.Errorf("sdktest: malformed filter answer")
	}
	for _, o := range res.Outcomes {
		switch o {
		case Kept:
			res.Kept++
		case Changed:
			res.Changed++
		case Dropped:
			res.Dropped++
		}
	}
	return res, nil
}

// readRecord decodes one answer record into memory of its own.
func readRecord(rd *abi.Reader) sdk.Record {
	var r abi.Record
	rd.Record(&r)
	out := sdk.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Timestamp: r.Timestamp, Offset: r.Offset}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, sdk.Header{Key: string(h.Key), Value: bytes.Clone(h.Value)})
	}
	return out
}

func clone(r sdk.Record, offset int64) sdk.Record {
	out := sdk.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Timestamp: r.Timestamp, Offset: offset}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, sdk.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
	}
	return out
}

// same compares content (not offsets), null and empty apart.
func same(a, b sdk.Record) bool {
	if !bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil) || !bytes.Equal(a.Value, b.Value) ||
		(a.Value == nil) != (b.Value == nil) || a.Timestamp != b.Timestamp || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) ||
			(a.Headers[i].Value == nil) != (b.Headers[i].Value == nil) {
			return false
		}
	}
	return true
}
