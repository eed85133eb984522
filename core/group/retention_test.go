package group

import (
	"encoding/binary"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/txn"
)

// testRetention is the offsets retention of the scenarios below.
const testRetention = time.Hour

// commitAs commits offset off of topic-0 as alias in its generation; an
// empty alias is a simple (tool) commit.
func commitAs(alias, topic string, off int64) step {
	return step{fmt.Sprintf("commit %s-0 = %d as %q", topic, off, alias), func(f *fixture) {
		tp := TopicPartition{Topic: topic, Partition: 0}
		req := CommitRequest{GroupID: testGroup, Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: -1}}}
		if alias != "" {
			req.Generation, req.MemberID = f.gen[alias], f.id[alias]
		}
		if codes := f.c.Commit(req); codes[tp] != 0 {
			f.t.Fatalf("code %v", kerr.ErrorForCode(codes[tp]))
		}
	}}
}

// txnCommit commits offset off of topic-0 in producer pid's transaction.
func txnCommit(pid int64, topic string, off int64) step {
	return step{fmt.Sprintf("txn %d commits %s-0 = %d", pid, topic, off), func(f *fixture) {
		tp := TopicPartition{Topic: topic, Partition: 0}
		codes := f.c.TxnCommit(TxnCommitRequest{GroupID: testGroup, ProducerID: pid, Generation: -1,
			Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: -1}}})
		if codes[tp] != 0 {
			f.t.Fatalf("code %v", kerr.ErrorForCode(codes[tp]))
		}
	}}
}

// txnEnd lands producer pid's commit or abort marker.
func txnEnd(pid int64, commit bool) step {
	return step{fmt.Sprintf("txn %d ends (commit %v)", pid, commit), func(f *fixture) {
		f.c.TxnMarker(txn.Marker{Topic: OffsetsTopic, Partition: 0, ProducerID: pid, Commit: commit})
	}}
}

// expire runs a retention pass and checks what it removed.
func expire(offsets, groups int) step {
	return step{fmt.Sprintf("expire: want %d offsets, %d groups", offsets, groups), func(f *fixture) {
		if o, g := f.c.ExpireOffsets(); o != offsets || g != groups {
			f.t.Fatalf("expired %d offsets, %d groups", o, g)
		}
	}}
}

// wantOffsets checks every committed offset of the group (topic-0 ->
// offset), as OffsetFetch for all partitions sees them.
func wantOffsets(want map[string]int64) step {
	return step{fmt.Sprintf("want offsets %v", want), func(f *fixture) {
		offs, code := f.c.FetchOffsets(testGroup, nil)
		got := map[string]int64{}
		for tp, o := range offs {
			got[fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)] = o.Offset
		}
		if code != 0 || !maps.Equal(got, want) {
			f.t.Fatalf("offsets %v (code %d)", got, code)
		}
	}}
}

// wantListed checks whether ListGroups and DescribeGroups know the group.
func wantListed(listed bool) step {
	return step{fmt.Sprintf("want group listed: %v", listed), func(f *fixture) {
		found := false
		for _, l := range f.c.List() {
			found = found || l.GroupID == testGroup
		}
		d := f.c.Describe(testGroup)
		if found != listed || d.Found != listed || (!listed && d.State != "Dead") {
			f.t.Fatalf("listed %v, described %+v", found, d)
		}
	}}
}

// keepAlive moves the clock by d while alias heartbeats every 9 s (its
// session is 10 s), so the group stays Stable.
func keepAlive(alias string, d time.Duration) step {
	return step{fmt.Sprintf("%s stays for %v", alias, d), func(f *fixture) {
		for left := d; left > 0; left -= 9 * time.Second {
			f.clk.Advance(min(left, 9*time.Second))
			if code := f.c.Heartbeat(testGroup, f.id[alias], nil, f.gen[alias]); code != 0 {
				f.t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
			}
		}
	}}
}

// restart replaces the coordinator with one loaded from the log.
func restart() step {
	return step{"restart", func(f *fixture) {
		f.c.Close()
		c, err := New(f.cfg, NewStore(1, func(int32) (*partition.Partition, error) { return f.p, nil }))
		if err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(c.Close)
		f.c = c
	}}
}

// wantTombstones counts the tombstones in __consumer_offsets: for offset
// keys and for group metadata keys.
func wantTombstones(offsets, groups int) step {
	return step{fmt.Sprintf("want %d offset and %d group tombstones", offsets, groups), func(f *fixture) {
		o, g := 0, 0
		err := f.p.Scan(func(batch []byte) error {
			b, err := records.Decode(batch)
			if err != nil {
				return err
			}
			for _, r := range b.Records {
				if r.Value != nil || len(r.Key) < 2 {
					continue
				}
				switch binary.BigEndian.Uint16(r.Key) {
				case 0, 1:
					var k kmsg.OffsetCommitKey
					if k.ReadFrom(r.Key) != nil || k.Group != testGroup {
						f.t.Fatalf("bad offset tombstone key %x", r.Key)
					}
					o++
				case 2:
					g++
				}
			}
			return nil
		})
		if err != nil || o != offsets || g != groups {
			f.t.Fatalf("%d offset and %d group tombstones (err %v)", o, g, err)
		}
	}}
}

// TestOffsetsRetention drives KIP-211 offsets retention with a manual
// clock: offsets of a group expire testRetention after it became Empty,
// never while it has members (but for topics a consumer group no longer
// subscribes to), a simple group's offsets age from their commits, and an
// Empty group left with nothing is removed; every removal is a tombstone
// that a restart honours.
func TestOffsetsRetention(t *testing.T) {
	cfg := Config{InitialRebalanceDelay: -1, OffsetsRetention: testRetention}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"empty group expires retention after it emptied", cfg, steps(
			stable("a"), commit("a", 5, nil), leave("a", nil), want(Empty, 2),
			advance(testRetention-time.Millisecond, 0), expire(0, 0), wantOffsets(map[string]int64{"t-0": 5}), wantListed(true),
			advance(time.Millisecond, 0), expire(1, 1), wantOffsets(map[string]int64{}), wantListed(false),
			wantTombstones(1, 1),
			restart(), wantOffsets(map[string]int64{}), wantListed(false), expire(0, 0),
		)},
		{"offsets never expire while the group has members, then age from emptying", cfg, steps(
			stable("a"), commit("a", 5, nil),
			keepAlive("a", 2*testRetention), expire(0, 0), want(Stable, 1, "a"), wantOffsets(map[string]int64{"t-0": 5}),
			leave("a", nil), advance(testRetention-time.Second, 0), expire(0, 0), wantOffsets(map[string]int64{"t-0": 5}),
			advance(time.Second, 0), expire(1, 1), wantListed(false),
		)},
		{"a session timeout empties the group as a leave does", cfg, steps(
			stable("a"), commit("a", 5, nil),
			advance(testSession, 1), want(Empty, 2),
			advance(testRetention-time.Millisecond, 0), expire(0, 0),
			advance(time.Millisecond, 0), expire(1, 1),
		)},
		{"a stable consumer group's offsets of unsubscribed topics age from their commit", cfg, steps(
			stable("a"), commit("a", 5, nil), commitAs("a", "old", 3),
			keepAlive("a", testRetention), expire(1, 0), wantOffsets(map[string]int64{"t-0": 5}), wantListed(true),
			wantTombstones(1, 0),
		)},
		{"a simple group's offsets expire one by one from their commits", cfg, steps(
			commitAs("", "t", 5), advance(testRetention/2, 0), commitAs("", "u", 6),
			advance(testRetention/2, 0), expire(1, 0), wantOffsets(map[string]int64{"u-0": 6}), wantListed(true),
			restart(), wantOffsets(map[string]int64{"u-0": 6}),
			advance(testRetention/2-time.Millisecond, 0), expire(0, 0),
			advance(time.Millisecond, 0), expire(1, 1), wantListed(false), wantTombstones(2, 1),
			restart(), wantOffsets(map[string]int64{}), wantListed(false),
		)},
		{"a commit after the group emptied ages from the commit", cfg, steps(
			stable("a"), commit("a", 5, nil), commitAs("a", "u", 1), leave("a", nil),
			advance(testRetention/2, 0), commitAs("", "t", 7),
			advance(testRetention/2, 0), expire(1, 0), wantOffsets(map[string]int64{"t-0": 7}),
			advance(testRetention/2, 0), expire(1, 1), wantListed(false),
		)},
		{"an empty group restored by a restart keeps its emptying time", cfg, steps(
			stable("a"), commit("a", 5, nil), leave("a", nil),
			advance(testRetention/2, 0), restart(), wantOffsets(map[string]int64{"t-0": 5}),
			advance(testRetention/2-time.Millisecond, 0), expire(0, 0),
			advance(time.Millisecond, 0), expire(1, 1), wantListed(false),
		)},
		{"a group that had members at a restart empties at the restart", cfg, steps(
			stable("a"), commit("a", 5, nil), advance(time.Second, 0), restart(),
			advance(testRetention-time.Millisecond, 0), expire(0, 0),
			advance(time.Millisecond, 0), expire(1, 1), wantListed(false),
		)},
		{"an empty group without offsets is removed at the next pass", cfg, steps(
			stable("a"), leave("a", nil), want(Empty, 2), wantListed(true), expire(0, 1), wantListed(false),
			wantTombstones(0, 1), restart(), wantListed(false),
		)},
		{"pending transactional offsets keep their partition until the marker", cfg, steps(
			commitAs("", "t", 5), txnCommit(7, "t", 9), txnCommit(8, "u", 1),
			advance(2*testRetention, 0), expire(0, 0), wantOffsets(map[string]int64{"t-0": 5}),
			txnEnd(7, false), expire(1, 0), wantListed(true), // u-0 still pending
			txnEnd(8, true), wantOffsets(map[string]int64{"u-0": 1}), expire(1, 1), wantListed(false),
		)},
		{"the check interval drives the passes", Config{InitialRebalanceDelay: -1, OffsetsRetention: testRetention, OffsetsRetentionCheckInterval: 10 * time.Minute}, steps(
			commitAs("", "t", 5), advance(testRetention-time.Minute, 5), wantListed(true),
			advance(time.Minute, 1), wantListed(false), wantTombstones(1, 1),
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			for i, s := range tc.steps {
				f.t = t
				t.Logf("step %d: %s", i, s.desc)
				s.do(f)
			}
		})
	}
}

// TestRetentionKeepsInflightCommit: an offset whose commit is still being
// replicated is not expired by a pass running meanwhile (its tombstone
// would land after the new commit and delete it).
func TestRetentionKeepsInflightCommit(t *testing.T) {
	p, release := heldOffsetsPartition(t)
	clk := NewManualClock(time.Unix(1_700_000_000, 0))
	c, err := New(Config{Clock: clk, OffsetsRetention: testRetention, OffsetsRetentionCheckInterval: -1},
		NewStore(1, func(int32) (*partition.Partition, error) { return p, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tp := TopicPartition{Topic: "t", Partition: 0}
	done := make(chan map[TopicPartition]int16, 1)
	c.CommitAsync(CommitRequest{GroupID: "g", Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: 1}}},
		func(codes map[TopicPartition]int16) { done <- codes })
	release()
	if codes := <-done; codes[tp] != 0 {
		t.Fatalf("commit: %v", codes)
	}
	clk.Advance(2 * testRetention)
	// The second commit is held (not replicated) while the pass runs.
	c.CommitAsync(CommitRequest{GroupID: "g", Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: 2}}},
		func(codes map[TopicPartition]int16) { done <- codes })
	if o, g := c.ExpireOffsets(); o != 0 || g != 0 {
		t.Fatalf("expired %d offsets, %d groups while a commit was in flight", o, g)
	}
	release()
	if codes := <-done; codes[tp] != 0 {
		t.Fatalf("commit: %v", codes)
	}
	if got := offsetOf(t, c, "g", tp); got != 2 {
		t.Fatalf("offset %d, want 2", got)
	}
}
