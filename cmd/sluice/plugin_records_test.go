package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

func TestRecordsFileParse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.jsonl")
	lines := []string{
		`# a comment, then a blank line`,
		``,
		`{"key": "a", "value": "v1", "timestamp": 1767225600000}`,
		`{"key_b64": "AP8=", "value_b64": "3q2+7w==", "partition": 2, "offset": 40}`,
		`{"value": null, "headers": {"z": "1", "a": null}, "timestamp": "2026-01-01T00:00:01Z"}`,
		`{"key": "", "partition": 2, "headers": [{"key": "h", "value": "x"}, {"key": "h", "value_b64": "/w=="}]}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readRecordsFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []localRecord{
		{0, hooks.Record{Key: []byte("a"), Value: []byte("v1"), Timestamp: 1767225600000, Offset: 0}},
		{2, hooks.Record{Key: []byte{0, 0xff}, Value: []byte{0xde, 0xad, 0xbe, 0xef}, Offset: 40}},
		{0, hooks.Record{Headers: []hooks.Header{{Key: "z", Value: []byte("1")}, {Key: "a"}}, Timestamp: 1767225601000, Offset: 1}},
		{2, hooks.Record{Key: []byte{}, Headers: []hooks.Header{{Key: "h", Value: []byte("x")}, {Key: "h", Value: []byte{0xff}}}, Offset: 41}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// Output records use the same format and read back the same.
	for _, lr := range want {
		line, err := json.Marshal(outputRecord(lr.rec, lr.partition, true))
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseRecordLine(line, map[int32]int64{})
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !reflect.DeepEqual(back, lr) {
			t.Fatalf("%s read back as %+v, want %+v", line, back, lr)
		}
	}
	line, _ := json.Marshal(outputRecord(want[1].rec, 2, true))
	if string(line) != `{"partition":2,"offset":40,"key_b64":"AP8=","value_b64":"3q2+7w=="}` {
		t.Fatalf("binary record as %s", line)
	}
}

func TestRecordsFileErrors(t *testing.T) {
	cases := map[string]string{
		`{"key": "a", "key_b64": "YQ=="}`:  `r.jsonl:1: both "key" and "key_b64"`,
		`{"value_b64": "!!"}`:              "r.jsonl:1: value_b64: illegal base64 data at input byte 0",
		`{"vale": "typo"}`:                 `r.jsonl:1: json: unknown field "vale"`,
		`{"timestamp": "yesterday"}`:       `r.jsonl:1: timestamp "yesterday": want milliseconds since the epoch or an RFC 3339 time`,
		`{"headers": "h=v"}`:               "r.jsonl:1: headers: want an object or an array",
		`{"headers": {"h": 1}}`:            `r.jsonl:1: header "h": want a string or null`,
		`{"partition": -1}`:                "r.jsonl:1: partition -1",
		`{"topic": "x"}`:                   `r.jsonl:1: "topic" is for output records; --topic sets the input's`,
		"{\"offset\": 5}\n{\"offset\": 3}": "r.jsonl:2: offset 3: offsets must increase within a partition (next is 6)",
		`not json`:                         "r.jsonl:1: invalid character 'o' in literal null (expecting 'u')",
	}
	for in, want := range cases {
		file := filepath.Join(t.TempDir(), "r.jsonl")
		if err := os.WriteFile(file, []byte(in+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readRecordsFile(file)
		if err == nil || strings.TrimPrefix(err.Error(), filepath.Dir(file)+"/") != want {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
}

func TestPluginTestRecordsUsage(t *testing.T) {
	r := runSluice("plugin", "test", "--records", "r.jsonl", "--hook", "router", "x.wasm")
	if first, _, _ := strings.Cut(r.stderr, "\n"); r.code != exitUsage ||
		first != `sluice: plugin test: --hook: unknown hook "router" (want partitioner, transform or filter)` {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	r = runSluice("plugin", "test", "--records", "r.jsonl", "--hook", "filter")
	if first, _, _ := strings.Cut(r.stderr, "\n"); r.code != exitUsage || first != "sluice: plugin test: want FILE.wasm" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}

// TestPluginTestRecordsWAT: the local dry run runs any module, not only
// the Go SDK's: the hand-written WAT partitioner hashes keys like the Go
// template and answers the same over the same records.
func TestPluginTestRecordsWAT(t *testing.T) {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mod := filepath.Join(dir, "wat.wasm")
	if err := wasmtest.WAT(filepath.Join(root, "examples", "plugins", "wat-partitioner", "partitioner.wat"), mod); err != nil {
		t.Fatal(err)
	}
	sample, err := fs.ReadFile(pluginTemplates, "templates/go/partitioner/testdata/records.jsonl.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	records := filepath.Join(dir, "records.jsonl")
	if err := os.WriteFile(records, sample, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustSluice(t, "plugin", "test", mod, "--hook", "partitioner", "--records", records, "--partitions", "4", "--show", "-1")
	first, rest, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, `Dry run of a partitioner over topic "test" (4 partitions) from records.jsonl: 6 records in 1 calls, `) {
		t.Fatalf("first line %q", first)
	}
	if rest != partitionerSampleOutput {
		t.Fatalf("got:\n%s\nwant:\n%s", rest, partitionerSampleOutput)
	}

	// --json prints the dry run's JSON, as the broker-side dry run does.
	out = mustSluice(t, "plugin", "test", mod, "--hook", "partitioner", "--records", records, "--partitions", "4", "--json")
	var res plugins.DryRunResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 6 || res.Calls != 1 || !reflect.DeepEqual(res.PartitionHistogram, []int{2, 1, 1, 2}) || res.Moved != 4 || res.From != "records.jsonl" {
		t.Fatalf("%+v", res)
	}
}
