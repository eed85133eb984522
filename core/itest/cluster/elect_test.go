package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/internal/testkit"
)

// TestElectLeadersPreferred: after a controlled shutdown moved leadership
// off a partition's preferred replica (and the automatic preferred
// election is off), ElectLeaders through the controller moves it back,
// with `sluice topic elect-leaders` and with kadm; a second request needs
// no election, an unknown partition is reported, and an unclean election
// for a partition that has a live leader is not needed.
func TestElectLeadersPreferred(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "elect"
	createTopic(ctx, t, adm, topic, 2, 3, nil)
	ids := []int32{1, 2, 3}
	waitFor(ctx, t, "every broker in every ISR", func() bool { return inEveryISR(ctx, t, adm, topic, ids) })
	p0 := partitionInfo(ctx, t, adm, topic, 0)
	pref := p0.Replicas[0]
	if p0.Leader != pref {
		t.Fatalf("partition 0 led by %d, want its preferred replica %d", p0.Leader, pref)
	}
	// Stop the preferred replica: controlled shutdown moves leadership.
	nd := c.node(pref)
	nd.proc.Stop()
	moved := partitionInfo(ctx, t, adm, topic, 0)
	waitFor(ctx, t, fmt.Sprintf("metadata naming a leader other than %d", pref), func() bool {
		moved = partitionInfo(ctx, t, adm, topic, 0)
		return moved.Leader != pref
	})
	if moved.Leader == pref || moved.LeaderEpoch <= p0.LeaderEpoch {
		t.Fatalf("after broker %d stopped: leader %d epoch %d", pref, moved.Leader, moved.LeaderEpoch)
	}
	nd.start()
	waitFor(ctx, t, fmt.Sprintf("broker %d back in every ISR", pref), func() bool { return inEveryISR(ctx, t, adm, topic, ids) })
	if got := partitionInfo(ctx, t, adm, topic, 0).Leader; got == pref {
		t.Fatalf("leadership went back to %d by itself (automatic preferred election is off)", pref)
	}

	// The CLI, for partition 0 only.
	bin, err := testkit.SluiceBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "topic", "elect-leaders", "--brokers", strings.Join(c.seeds(), ","),
		"--topic", topic, "--partitions", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("sluice topic elect-leaders: %v\n%s", err, out)
	}
	if want := topic + "-0\telected\n"; string(out) != want {
		t.Fatalf("sluice topic elect-leaders printed %q, want %q", out, want)
	}
	// The controller has written the new state when ElectLeaders answers;
	// the broker answering Metadata may learn it a moment later.
	back := partitionInfo(ctx, t, adm, topic, 0)
	waitFor(ctx, t, fmt.Sprintf("metadata naming %d leader of partition 0", pref), func() bool {
		back = partitionInfo(ctx, t, adm, topic, 0)
		return back.Leader == pref
	})
	if back.Leader != pref || back.LeaderEpoch <= moved.LeaderEpoch {
		t.Fatalf("after the election: leader %d epoch %d, want %d with an epoch above %d", back.Leader, back.LeaderEpoch, pref, moved.LeaderEpoch)
	}

	// kadm: partition 1 (moved too if broker pref led it), 0 again, and
	// one that does not exist.
	set := kadm.TopicsSet{}
	set.Add(topic, 0, 1, 7)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("partition 0 again: %v, want ELECTION_NOT_NEEDED", err)
	}
	if err := res[topic][7].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("partition 7: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	p1 := partitionInfo(ctx, t, adm, topic, 1)
	if err := res[topic][1].Err; err != nil && !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("partition 1: %v", err)
	}
	if p1.Leader != p1.Replicas[0] {
		t.Fatalf("partition 1 led by %d, want its preferred replica %d", p1.Leader, p1.Replicas[0])
	}
	// Unclean election for partitions that have a live leader: nothing.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tp, ps := range res {
		for p, r := range ps {
			t.Errorf("unclean election for all partitions answered %s-%d: %v (want it left out: not needed)", tp, p, r.Err)
		}
	}
	if l := partitionInfo(ctx, t, adm, topic, 0).Leader; !slices.Contains(ids, l) || l != pref {
		t.Fatalf("leader %d after an unneeded unclean election, want %d", l, pref)
	}
}
