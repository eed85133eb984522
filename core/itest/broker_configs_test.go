package itest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigs: the replication throttle rates are dynamic
// broker configs. DescribeConfigs shows the flag (static) or Kafka's
// unlimited default, a per-broker value overrides the cluster-wide
// default, both apply live (the broker logs the new rate), survive a
// restart, and unknown, static or malformed configs are refused with
// Kafka's codes while the static configs stay described.
func TestDynamicBrokerConfigs(t *testing.T) {
	t.Parallel()
	const (
		leader   = "leader.replication.throttled.rate"
		follower = "follower.replication.throttled.rate"
		unlimit  = "9223372036854775807"
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{"--follower-replication-throttled-rate", "5000"}})
	adm := newAdmin(t, b)

	check := func(what string, want map[string]wantConfig) {
		t.Helper()
		rcs, err := adm.DescribeBrokerConfigs(ctx, 0)
		if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
			t.Fatalf("%s: DescribeBrokerConfigs = %+v, %v", what, rcs, err)
		}
		got := map[string]kadm.Config{}
		for _, c := range rcs[0].Configs {
			got[c.Key] = c
		}
		for name, w := range want {
			c, ok := got[name]
			if !ok || c.Value == nil || *c.Value != w.value || c.Source != w.source {
				t.Fatalf("%s: %s = %+v, want %q from %v", what, name, c, w.value, w.source)
			}
		}
		// The static settings are still there.
		if c, ok := got["log.dirs"]; !ok || c.Value == nil || *c.Value != b.opts.DataDir || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Fatalf("%s: log.dirs = %+v", what, c)
		}
	}
	check("at start", map[string]wantConfig{
		leader:   {unlimit, kmsg.ConfigSourceDefaultConfig},
		follower: {"5000", kmsg.ConfigSourceStaticBrokerConfig},
	})

	alterOK := func(what string, cfgs []kadm.AlterConfig, brokers ...int32) {
		t.Helper()
		resps, err := adm.AlterBrokerConfigs(ctx, cfgs, brokers...)
		if err != nil || len(resps) != 1 || resps[0].Err != nil {
			t.Fatalf("%s: AlterBrokerConfigs = %+v, %v", what, resps, err)
		}
	}
	// The cluster-wide default (no broker named: resource name "").
	alterOK("set default", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: follower, Value: kadm.StringPtr("7000")}})
	// This broker's own value overrides it.
	alterOK("set own", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: leader, Value: kadm.StringPtr("1048576")}}, 0)
	want := map[string]wantConfig{
		leader:   {"1048576", kmsg.ConfigSourceDynamicBrokerConfig},
		follower: {"7000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
	}
	check("after altering", want)
	def, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(def) != 1 || len(def[0].Configs) != 1 || def[0].Configs[0].Key != follower ||
		*def[0].Configs[0].Value != "7000" || def[0].Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("DescribeBrokerConfigs of the default = %+v, %v", def, err)
	}
	// Applied live.
	for _, line := range []string{"bytes_per_sec=1048576", "bytes_per_sec=7000"} {
		deadline := time.Now().Add(10 * time.Second)
		for !(strings.Contains(b.stderr.String(), "replication throttle rate changed") && strings.Contains(b.stderr.String(), line)) {
			if time.Now().After(deadline) {
				t.Fatalf("the broker did not log the new rate (%s):\n%s", line, b.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Refusals, each changing nothing.
	for _, tc := range []struct {
		cfg  kadm.AlterConfig
		code *kerr.Error
	}{
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "foo.bar", Value: kadm.StringPtr("1")}, kerr.InvalidRequest},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: "log.dirs", Value: kadm.StringPtr("/tmp")}, kerr.InvalidRequest},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: leader, Value: kadm.StringPtr("abc")}, kerr.InvalidConfig},
		{kadm.AlterConfig{Op: kadm.SetConfig, Name: leader, Value: kadm.StringPtr("0")}, kerr.InvalidConfig},
		{kadm.AlterConfig{Op: kadm.AppendConfig, Name: leader, Value: kadm.StringPtr("1")}, kerr.InvalidRequest},
	} {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{tc.cfg}, 0)
		if err != nil || len(resps) != 1 || !errors.Is(resps[0].Err, tc.code) {
			t.Fatalf("alter %+v = %+v, %v; want %v", tc.cfg, resps, err, tc.code)
		}
	}
	// Another broker's id is not this broker's to answer for.
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "5"
	req.Resources = append(req.Resources, rr)
	// Sent to this broker (a client would route it to broker 5).
	kresp, err := newClient(t, b).Broker(0).Request(ctx, req)
	resp, _ := kresp.(*kmsg.DescribeConfigsResponse)
	if err != nil || resp == nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe broker 5 = %+v, %v", resp, err)
	}
	check("after refusals", want)

	b.Restart()
	adm = newAdmin(t, b)
	check("after restart", want)

	// AlterConfigs (the legacy API) replaces the whole set: the leader
	// rate goes, the follower rate is set on this broker.
	if _, err := adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: follower, Value: kadm.StringPtr("9000")}}, 0); err != nil {
		t.Fatal(err)
	}
	check("after replacing", map[string]wantConfig{
		leader:   {unlimit, kmsg.ConfigSourceDefaultConfig},
		follower: {"9000", kmsg.ConfigSourceDynamicBrokerConfig},
	})
	// Deleting falls back to the default, then to the flag.
	alterOK("delete own", []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: follower}}, 0)
	alterOK("delete default", []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: follower}})
	check("after deleting", map[string]wantConfig{follower: {"5000", kmsg.ConfigSourceStaticBrokerConfig}})
}
