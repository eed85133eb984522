package meta

import (
	"encoding/json"
	"errors"
	"maps"
	"testing"
)

// conformBrokerConfigs: dynamic broker configs by entity, replaced whole,
// announced, removed by an empty set and kept across a reopen.
func conformBrokerConfigs(t *testing.T, kit storeKit) {
	s := kit.open(t)
	bs, ok := s.(BrokerConfigStore)
	if !ok {
		t.Fatal("not a BrokerConfigStore")
	}
	for _, e := range []string{"1", "2", DefaultBrokerEntity} {
		if got, err := bs.BrokerConfigs(e); err != nil || len(got) != 0 {
			t.Fatalf("BrokerConfigs(%q) on a new store = %v, %v", e, got, err)
		}
	}
	for _, bad := range []string{"", "-1", "01", "x", "../topics"} {
		if err := bs.SetBrokerConfigs(bad, map[string]string{"a": "1"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("SetBrokerConfigs(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	own := map[string]string{"leader.replication.throttled.rate": "1000", "follower.replication.throttled.rate": "2000"}
	announced(t, s, "set own", func() (struct{}, error) { return struct{}{}, bs.SetBrokerConfigs("1", own) })
	def := map[string]string{"follower.replication.throttled.rate": "300"}
	announced(t, s, "set default", func() (struct{}, error) { return struct{}{}, bs.SetBrokerConfigs(DefaultBrokerEntity, def) })
	if err := bs.SetBrokerConfigs("7", map[string]string{"leader.replication.throttled.rate": "7"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{"1": own, DefaultBrokerEntity: def, "7": {"leader.replication.throttled.rate": "7"}, "2": {}}
	check := func(what string, bs BrokerConfigStore) {
		t.Helper()
		for e, w := range want {
			got, err := bs.BrokerConfigs(e)
			if err != nil || !maps.Equal(got, w) {
				t.Fatalf("%s: BrokerConfigs(%q) = %v, %v; want %v", what, e, got, err, w)
			}
		}
	}
	check("after setting", bs)
	// Replaced whole, not merged.
	own = map[string]string{"leader.replication.throttled.rate": "5000"}
	want["1"] = own
	announced(t, s, "replace own", func() (struct{}, error) { return struct{}{}, bs.SetBrokerConfigs("1", own) })
	// The caller's map is not the store's.
	got, _ := bs.BrokerConfigs("1")
	got["x"] = "y"
	check("after replacing", bs)
	r := kit.reopen(t, s)
	check("after reopening", r.(BrokerConfigStore))
	announced(t, r, "clear default", func() (struct{}, error) {
		return struct{}{}, r.(BrokerConfigStore).SetBrokerConfigs(DefaultBrokerEntity, nil)
	})
	want[DefaultBrokerEntity] = map[string]string{}
	check("after clearing", r.(BrokerConfigStore))
}

// TestZKBrokerConfigsAcrossBrokers: a config written through one broker's
// store reaches the broker it names (announced on its Changes) and the
// default reaches all, in Kafka's /config/brokers layout.
func TestZKBrokerConfigsAcrossBrokers(t *testing.T) {
	connect := testConnect(t)
	z1 := openTestZK(t, connect, 1, ZKOptions{})
	z2 := openTestZK(t, connect, 2, ZKOptions{})
	if got, err := z2.BrokerConfigs("2"); err != nil || len(got) != 0 {
		t.Fatalf("z2 own configs at start = %v, %v", got, err)
	}
	ch := z2.Changes()
	if err := z1.SetBrokerConfigs("2", map[string]string{"follower.replication.throttled.rate": "4096"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z2, "broker 2 sees its config", func() bool {
		got, _ := z2.BrokerConfigs("2")
		return got["follower.replication.throttled.rate"] == "4096"
	})
	select {
	case <-ch:
	default:
		t.Fatal("broker 2's store did not announce its new config")
	}
	if err := z1.SetBrokerConfigs(DefaultBrokerEntity, map[string]string{"leader.replication.throttled.rate": "8192"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z2, "broker 2 sees the default", func() bool {
		got, _ := z2.BrokerConfigs(DefaultBrokerEntity)
		return got["leader.replication.throttled.rate"] == "8192"
	})
	// Kafka's znodes and JSON.
	for path, want := range map[string]map[string]string{
		"/config/brokers/2":         {"follower.replication.throttled.rate": "4096"},
		"/config/brokers/<default>": {"leader.replication.throttled.rate": "8192"},
	} {
		data, _, err := z1.conn.Get(z1.abs(path))
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		var node struct {
			Version int               `json:"version"`
			Config  map[string]string `json:"config"`
		}
		if err := json.Unmarshal(data, &node); err != nil || node.Version != 1 || !maps.Equal(node.Config, want) {
			t.Fatalf("%s = %s (%v), want version 1 and %v", path, data, err, want)
		}
	}
	// A node another tool deletes reads as no configs, and is watched for
	// again.
	if err := z1.conn.Delete(z1.abs("/config/brokers/2"), -1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z2, "broker 2's config gone", func() bool {
		got, _ := z2.BrokerConfigs("2")
		return len(got) == 0
	})
	if err := z1.SetBrokerConfigs("2", map[string]string{"leader.replication.throttled.rate": "1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, z2, "broker 2's config back", func() bool {
		got, _ := z2.BrokerConfigs("2")
		return got["leader.replication.throttled.rate"] == "1"
	})
}
