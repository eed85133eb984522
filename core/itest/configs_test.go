package itest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wantConfig is one expected DescribeConfigs entry.
type wantConfig struct {
	value  string
	source kmsg.ConfigSource
}

// TestTopicConfigs: incremental AlterConfigs sets topic configs that
// DescribeConfigs reports as dynamic topic configs next to the defaults of
// unset ones, rejects an invalid value without changing anything, and keeps
// the values across a clean restart; deleting a config restores its default.
func TestTopicConfigs(t *testing.T) {
	t.Parallel()
	const topic = "configs"
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, 1, nil)

	alter(ctx, t, newAdmin(t, b), topic, nil,
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("3600000")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2048")},
	)
	want := map[string]wantConfig{
		"retention.ms":      {"3600000", kmsg.ConfigSourceDynamicTopicConfig},
		"cleanup.policy":    {"compact", kmsg.ConfigSourceDynamicTopicConfig},
		"max.message.bytes": {"2048", kmsg.ConfigSourceDynamicTopicConfig},
		// Unset: Kafka's defaults, as no broker flag overrides them.
		"segment.bytes":   {"1073741824", kmsg.ConfigSourceDefaultConfig},
		"retention.bytes": {"-1", kmsg.ConfigSourceDefaultConfig},
	}
	checkConfigs(ctx, t, newAdmin(t, b), topic, want)

	// An invalid value is refused with INVALID_CONFIG and changes nothing
	// (incremental alters are all-or-nothing per resource).
	alter(ctx, t, newAdmin(t, b), topic, kerr.InvalidConfig,
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("abc")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("4096")},
	)
	checkConfigs(ctx, t, newAdmin(t, b), topic, want)

	b.Restart()
	checkConfigs(ctx, t, newAdmin(t, b), topic, want)

	alter(ctx, t, newAdmin(t, b), topic, nil,
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"},
	)
	want["retention.ms"] = wantConfig{"604800000", kmsg.ConfigSourceDefaultConfig}
	checkConfigs(ctx, t, newAdmin(t, b), topic, want)
}

// alter applies configs to topic with IncrementalAlterConfigs and checks
// the topic's result is wantErr (nil for success).
func alter(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, wantErr *kerr.Error, configs ...kadm.AlterConfig) {
	t.Helper()
	resps, err := adm.AlterTopicConfigs(ctx, configs, topic)
	if err != nil {
		t.Fatalf("AlterTopicConfigs: %v", err)
	}
	if len(resps) != 1 || resps[0].Name != topic {
		t.Fatalf("AlterTopicConfigs: %d responses %+v, want one for %s", len(resps), resps, topic)
	}
	if wantErr == nil && resps[0].Err != nil {
		t.Fatalf("AlterTopicConfigs: %v (%s)", resps[0].Err, resps[0].ErrMessage)
	}
	if wantErr != nil {
		wantKerr(t, "AlterTopicConfigs", resps[0].Err, wantErr)
	}
}

// checkConfigs describes topic and fails unless every key in want appears
// exactly once with the wanted value and source.
func checkConfigs(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, want map[string]wantConfig) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("DescribeTopicConfigs %s: %v / %v (%s)", topic, err, rc.Err, rc.ErrMessage)
	}
	seen := make(map[string]int)
	for _, c := range rc.Configs {
		seen[c.Key]++
		w, ok := want[c.Key]
		if !ok {
			continue
		}
		if c.Value == nil || *c.Value != w.value || c.Source != w.source {
			t.Errorf("config %s = %q source %v, want %q source %v", c.Key, c.MaybeValue(), c.Source, w.value, w.source)
		}
	}
	for key := range want {
		if seen[key] != 1 {
			t.Errorf("config %s appears %d times in DescribeConfigs, want once", key, seen[key])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
