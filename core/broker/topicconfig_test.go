package broker

import (
	"maps"
	"reflect"
	"testing"
)

func TestValidateTopicConfig(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		reason      string // "" valid
	}{
		{"retention.ms", "-1", ""},
		{"retention.ms", " 1000 ", ""},
		{"retention.ms", "-2", "must be at least -1"},
		{"retention.ms", "1e3", "not a number"},
		{"retention.ms", "", "not a number"},
		{"segment.bytes", "14", ""},
		{"segment.bytes", "13", "must be at least 14"},
		{"segment.bytes", "2147483647", ""},
		{"segment.bytes", "2147483648", "not a number"}, // an int config: 32 bits
		{"segment.ms", "0", "must be at least 1"},
		{"flush.messages", "0", "must be at least 1"},
		{"min.insync.replicas", "0", "must be at least 1"},
		{"min.insync.replicas", "2", ""},
		{"min.cleanable.dirty.ratio", "0.5", ""},
		{"min.cleanable.dirty.ratio", "1.5", "must be a number between 0 and 1"},
		{"min.cleanable.dirty.ratio", "-0.1", "must be a number between 0 and 1"},
		{"unclean.leader.election.enable", "true", ""},
		{"unclean.leader.election.enable", "yes", "must be true or false"},
		{"message.timestamp.type", "LogAppendTime", ""},
		{"message.timestamp.type", "logappendtime", "must be one of CreateTime, LogAppendTime"},
		{"compression.type", "zstd", ""},
		{"compression.type", "brotli", "must be one of producer, uncompressed, gzip, snappy, lz4, zstd"},
		{"cleanup.policy", "compact", ""},
		{"cleanup.policy", "delete, compact", ""},
		{"cleanup.policy", "delete,archive", "must be a list of delete, compact"},
		{"cleanup.policy", "", "must be a list of delete, compact"},
		{"no.such.config", "1", "unknown topic config"},
	} {
		var want error
		if tc.reason != "" {
			want = &ConfigError{Name: tc.name, Value: tc.value, Reason: tc.reason}
		}
		wantErr(t, tc.name+"="+tc.value, ValidateTopicConfig(tc.name, tc.value), want)
	}
}

// TestSetTopicConfigs: AlterConfigs replaces the whole override set (what
// it does not name goes back to the default), applies it to the open
// partitions, and refuses invalid values, unknown topics and
// validate-only requests without changing anything.
func TestSetTopicConfigs(t *testing.T) {
	b := openTestBroker(t, Config{RetentionMs: 5000}, nil)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}, false); err != nil {
		t.Fatal(err)
	}
	p, err := b.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	configs := func() map[string]string { mt, _ := b.Topic("t"); return mt.Configs }

	wantErr(t, "invalid value", b.SetTopicConfigs("t", map[string]string{"segment.bytes": "1"}, false),
		&ConfigError{Name: "segment.bytes", Value: "1", Reason: "must be at least 14"})
	wantErr(t, "unknown topic", b.SetTopicConfigs("nope", map[string]string{"segment.ms": "10"}, false), ErrUnknownTopic)
	if err := b.SetTopicConfigs("t", map[string]string{"segment.ms": "10"}, true); err != nil {
		t.Fatal(err)
	}
	if got := configs(); !maps.Equal(got, map[string]string{"retention.ms": "1000"}) {
		t.Fatalf("configs %v after refused and validate-only changes", got)
	}

	if err := b.SetTopicConfigs("t", map[string]string{"segment.ms": "10", "message.timestamp.type": "LogAppendTime", "min.insync.replicas": "2"}, false); err != nil {
		t.Fatal(err)
	}
	if got := configs(); !maps.Equal(got, map[string]string{"segment.ms": "10", "message.timestamp.type": "LogAppendTime", "min.insync.replicas": "2"}) {
		t.Fatalf("configs %v", got)
	}
	pc := p.Config()
	if pc.Log.RetentionMs != 5000 || pc.Log.SegmentMs != 10 || !pc.LogAppendTime || pc.MinInsyncReplicas != 2 {
		t.Fatalf("partition config not applied: retention.ms %d (want the default 5000), segment.ms %d, LogAppendTime %v, min.insync %d",
			pc.Log.RetentionMs, pc.Log.SegmentMs, pc.LogAppendTime, pc.MinInsyncReplicas)
	}
	if err := b.SetTopicConfigs("t", nil, false); err != nil {
		t.Fatal(err)
	}
	if got := configs(); len(got) != 0 {
		t.Fatalf("configs %v after clearing", got)
	}
	if p.Config().LogAppendTime || p.Config().MinInsyncReplicas != 1 {
		t.Fatal("cleared configs still applied to the partition")
	}
}

func strp(s string) *string { return &s }

// TestAlterTopicConfigs: IncrementalAlterConfigs' operations, one after
// the other on one topic; a refused step changes nothing.
func TestAlterTopicConfigs(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	const (
		set, del, appendOp, subtract = 0, 1, 2, 3
	)
	steps := []struct {
		desc string
		ops  []ConfigOp
		want map[string]string // after the step
		err  error
	}{
		{"set", []ConfigOp{{Name: "retention.ms", Op: set, Value: strp("1000")}},
			map[string]string{"retention.ms": "1000"}, nil},
		{"append to the default list", []ConfigOp{{Name: "cleanup.policy", Op: appendOp, Value: strp("compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "delete,compact"}, nil},
		{"append what is there", []ConfigOp{{Name: "cleanup.policy", Op: appendOp, Value: strp("compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "delete,compact"}, nil},
		{"subtract", []ConfigOp{{Name: "cleanup.policy", Op: subtract, Value: strp("delete")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, nil},
		{"subtract what is not there", []ConfigOp{{Name: "cleanup.policy", Op: subtract, Value: strp("delete")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, nil},
		// Kafka splits APPEND/SUBTRACT values as lists.
		{"append a list", []ConfigOp{{Name: "cleanup.policy", Op: appendOp, Value: strp("delete,compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}, nil},
		{"subtract a list", []ConfigOp{{Name: "cleanup.policy", Op: subtract, Value: strp("compact, delete")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"},
			&ConfigError{Name: "cleanup.policy", Value: "", Reason: "must be a list of delete, compact"}},
		{"delete", []ConfigOp{{Name: "retention.ms", Op: del}},
			map[string]string{"cleanup.policy": "compact,delete"}, nil},
		{"delete what is not set", []ConfigOp{{Name: "segment.ms", Op: del}},
			map[string]string{"cleanup.policy": "compact,delete"}, nil},
		{"several ops at once", []ConfigOp{
			{Name: "segment.ms", Op: set, Value: strp("60000")},
			{Name: "cleanup.policy", Op: subtract, Value: strp("delete")},
			{Name: "segment.ms", Op: set, Value: strp("70000")},
		}, map[string]string{"cleanup.policy": "compact", "segment.ms": "70000"}, nil},
		{"append to a non-list", []ConfigOp{{Name: "segment.ms", Op: appendOp, Value: strp("1")}},
			map[string]string{"cleanup.policy": "compact", "segment.ms": "70000"},
			errf(ErrInvalidConfig, "config segment.ms is not a list: APPEND/SUBTRACT do not apply")},
		{"unknown operation", []ConfigOp{{Name: "segment.ms", Op: 4, Value: strp("1")}},
			map[string]string{"cleanup.policy": "compact", "segment.ms": "70000"},
			errf(ErrUnknownConfigOp, "unknown config operation 4")},
		{"unknown config", []ConfigOp{{Name: "no.such", Op: set, Value: strp("1")}},
			map[string]string{"cleanup.policy": "compact", "segment.ms": "70000"},
			&ConfigError{Name: "no.such", Reason: "unknown topic config"}},
		{"invalid value after a valid op", []ConfigOp{
			{Name: "retention.ms", Op: set, Value: strp("5")},
			{Name: "segment.bytes", Op: set, Value: strp("1")},
		}, map[string]string{"cleanup.policy": "compact", "segment.ms": "70000"},
			&ConfigError{Name: "segment.bytes", Value: "1", Reason: "must be at least 14"}},
		{"set without a value", []ConfigOp{{Name: "retention.ms", Op: set}},
			map[string]string{"cleanup.policy": "compact", "segment.ms": "70000"},
			&ConfigError{Name: "retention.ms", Value: "", Reason: "not a number"}},
	}
	for _, st := range steps {
		wantErr(t, st.desc, b.AlterTopicConfigs("t", st.ops, false), st.err)
		mt, _ := b.Topic("t")
		if !maps.Equal(mt.Configs, st.want) {
			t.Fatalf("%s: configs %v, want %v", st.desc, mt.Configs, st.want)
		}
	}
	// Validate-only and unknown topics change nothing.
	if err := b.AlterTopicConfigs("t", []ConfigOp{{Name: "segment.ms", Op: del}}, true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "unknown topic", b.AlterTopicConfigs("nope", []ConfigOp{{Name: "segment.ms", Op: del}}, false), ErrUnknownTopic)
	if mt, _ := b.Topic("t"); mt.Configs["segment.ms"] != "70000" {
		t.Fatalf("validate-only deleted segment.ms: %v", mt.Configs)
	}
	p, _ := b.Partition("t", 0)
	if !p.Config().Compacted || p.Config().Log.SegmentMs != 70000 {
		t.Fatalf("partition config %+v", p.Config())
	}
}

func TestDescribeTopicConfigs(t *testing.T) {
	b := openTestBroker(t, Config{RetentionMs: 1234, MaxMessageBytes: 2048}, nil)
	entries := b.DescribeTopicConfigs(map[string]string{"retention.ms": "99"})
	if len(entries) != len(topicConfigDefs) {
		t.Fatalf("%d entries, want %d", len(entries), len(topicConfigDefs))
	}
	byName := map[string]ConfigEntry{}
	for i, e := range entries {
		if i > 0 && entries[i-1].Name >= e.Name {
			t.Fatalf("entries not sorted: %q before %q", entries[i-1].Name, e.Name)
		}
		byName[e.Name] = e
	}
	for name, want := range map[string]ConfigEntry{
		"retention.ms":                   {Name: "retention.ms", Value: "99", Default: false, Type: 5},
		"max.message.bytes":              {Name: "max.message.bytes", Value: "2048", Default: true, Type: 3},
		"cleanup.policy":                 {Name: "cleanup.policy", Value: "delete", Default: true, Type: 7},
		"flush.messages":                 {Name: "flush.messages", Value: "1", Default: true, Type: 5}, // fsync durability on a single node
		"unclean.leader.election.enable": {Name: "unclean.leader.election.enable", Value: "false", Default: true, Type: 1},
	} {
		got := byName[name]
		got.Doc = ""
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %+v, want %+v", name, got, want)
		}
	}
}

// TestSpacedNumbersReadAsValidated: a numeric value validation accepts
// with surrounding spaces (as Kafka, which trims) means the same number
// to the partitions and the cleaner. Read untrimmed it was 0:
// min.insync.replicas " 2" let acks=all writes through on no replica and
// retention.ms " 604800000" kept nothing.
func TestSpacedNumbersReadAsValidated(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	overrides := map[string]string{
		"min.insync.replicas":       " 2",
		"retention.ms":              " 604800000 ",
		"retention.bytes":           "\t1048576",
		"segment.bytes":             "1048576 ",
		"segment.ms":                " 3600000",
		"max.message.bytes":         " 4096",
		"index.interval.bytes":      " 8192",
		"flush.messages":            " 10",
		"flush.ms":                  " 500",
		"delete.retention.ms":       " 7",
		"min.compaction.lag.ms":     " 9",
		"min.cleanable.dirty.ratio": " 0.25 ",
	}
	for name, v := range overrides {
		if err := ValidateTopicConfig(name, v); err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
	}
	got := b.partitionConfig(overrides)
	if got.MinInsyncReplicas != 2 || got.Log.RetentionMs != 604800000 || got.Log.RetentionBytes != 1048576 ||
		got.Log.SegmentBytes != 1048576 || got.Log.SegmentMs != 3600000 || got.MaxMessageBytes != 4096 ||
		got.Log.IndexIntervalBytes != 8192 || got.Log.FlushMessages != 10 || got.Log.FlushMs != 500 {
		t.Fatalf("partition config %+v", got)
	}
	if d, l := b.topicInt(overrides, "delete.retention.ms"), b.topicInt(overrides, "min.compaction.lag.ms"); d != 7 || l != 9 {
		t.Fatalf("cleaner: delete.retention.ms %d, min.compaction.lag.ms %d", d, l)
	}
	if r := b.topicFloat(overrides, "min.cleanable.dirty.ratio"); r != 0.25 {
		t.Fatalf("min.cleanable.dirty.ratio %v", r)
	}
}
