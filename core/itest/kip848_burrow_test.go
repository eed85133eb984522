package itest

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/needs"
)

// TestKIP848Burrow: a KIP-848 group's records (key versions 3–8: group,
// subscription metadata, members, target and current assignments) sit in
// __consumer_offsets before its offset commits. Burrow, which decodes
// only key versions 0–2 as Kafka's old readers do, must skip them and
// still report the group's lag from the commits that follow.
func TestKIP848Burrow(t *testing.T) {
	bin := needs.Burrow(t)
	zk := zktest.Start(t)
	b := startBroker(t, brokerOptions{ExtraArgs: kip848RestartFlags})
	ctx := testContext(t, 3*time.Minute)
	const topic, group = "burrow848", "burrow848-group"
	member := seedBurrowTopic(ctx, t, b, topic, kgo.ConsumerGroup(group),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	adm := newAdmin(t, b)
	if d := describeConsumerGroup(ctx, t, adm, group); len(d.Members) != 1 {
		t.Fatalf("consumer group: %+v", d)
	}
	commitBurrowOffsets(ctx, t, member, topic)

	url, out := startBurrow(t, bin, zk.Addr, b.Addr())
	waitBurrowLag(ctx, t, url, topic, group, false)
	if o := out.String(); strings.Contains(o, "panic") {
		t.Fatalf("Burrow panicked:\n%s", o)
	}
	// It did read the new records, and skipped them.
	skipped := burrowKeyLines(out.String())
	if len(skipped) == 0 {
		t.Fatalf("Burrow logged no skipped key versions:\n%s", out.String())
	}
	t.Logf("Burrow reported the KIP-848 group's lag, skipping e.g. %s", skipped[0])
}

// burrowKeyLines are Burrow's warnings about records it skipped for their
// key version ("failed to decode", reason "key version").
func burrowKeyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"reason":"key version"`) {
			out = append(out, l)
		}
	}
	return out
}
