package group

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

// racksOf builds rack info: members' racks ("" none) and, per topic, each
// partition's replica racks.
func racksOf(members map[string]string, parts map[string][][]string) *rackInfo {
	ri := &rackInfo{member: map[string]string{}, part: map[TopicPartition][]string{}}
	for id, r := range members {
		if r != "" {
			ri.member[id] = r
		}
	}
	for t, ps := range parts {
		for p, rs := range ps {
			if len(rs) > 0 {
				ri.part[TopicPartition{t, int32(p)}] = rs
			}
		}
	}
	return ri
}

func subsOf(ids ...string) []memberSub {
	var out []memberSub
	for _, id := range ids {
		out = append(out, memberSub{id, map[string]bool{"t": true}})
	}
	return out
}

func rs(r ...string) []string { return r }

// interleaved: t's partitions alternate between racks r2 and r1 (p0 on
// r2), so rack-less ranges are all wrong for members a(r1), b(r2).
var interleaved = map[string][][]string{"t": {rs("r2"), rs("r1"), rs("r2"), rs("r1")}}

func TestRackAwareAssignors(t *testing.T) {
	cases := []struct {
		name     string
		assignor string
		subs     []memberSub
		parts    map[string]int32
		prev     map[string]assignment
		ri       *rackInfo
		want     map[string]assignment
	}{
		{"uniform: in rack", AssignorUniform, subsOf("a", "b"), map[string]int32{"t": 4}, nil,
			racksOf(map[string]string{"a": "r1", "b": "r2"}, interleaved),
			map[string]assignment{"a": {"t": parts(1, 3)}, "b": {"t": parts(0, 2)}}},
		{"uniform: no racks is rack-less", AssignorUniform, subsOf("a", "b"), map[string]int32{"t": 4}, nil,
			nil, map[string]assignment{"a": {"t": parts(0, 2)}, "b": {"t": parts(1, 3)}}},
		{"uniform: member racks match no replica", AssignorUniform, subsOf("a", "b"), map[string]int32{"t": 4}, nil,
			racksOf(map[string]string{"a": "r8", "b": "r9"}, interleaved),
			map[string]assignment{"a": {"t": parts(0, 2)}, "b": {"t": parts(1, 3)}}},
		{"uniform: balance before racks", AssignorUniform, subsOf("a", "b"), map[string]int32{"t": 3}, nil,
			racksOf(map[string]string{"a": "r1", "b": "r2"}, map[string][][]string{"t": {rs("r1"), rs("r1"), rs("r1")}}),
			map[string]assignment{"a": {"t": parts(0, 1)}, "b": {"t": parts(2)}}},
		{"uniform: racks beat stickiness", AssignorUniform, subsOf("a", "b"), map[string]int32{"t": 4},
			map[string]assignment{"a": {"t": parts(0, 2)}, "b": {"t": parts(1, 3)}},
			racksOf(map[string]string{"a": "r1", "b": "r2"}, interleaved),
			map[string]assignment{"a": {"t": parts(1, 3)}, "b": {"t": parts(0, 2)}}},
		{"uniform: sticky within the rack", AssignorUniform, subsOf("a", "b", "c"), map[string]int32{"t": 6},
			map[string]assignment{"a": {"t": parts(1, 3)}, "b": {"t": parts(5, 0)}, "c": {"t": parts(2, 4)}},
			racksOf(map[string]string{"a": "r1", "b": "r1", "c": "r2"}, map[string][][]string{"t": {rs("r2"), rs("r1"), rs("r2"), rs("r1"), rs("r2"), rs("r1")}}),
			map[string]assignment{"a": {"t": parts(1, 3)}, "b": {"t": parts(0, 5)}, "c": {"t": parts(2, 4)}}},
		{"uniform: a member without a rack takes what is left", AssignorUniform, subsOf("a", "b", "c"), map[string]int32{"t": 6}, nil,
			racksOf(map[string]string{"a": "r1", "c": "r2"}, map[string][][]string{"t": {rs("r2"), rs("r1"), rs("r2"), rs("r1"), rs("r2"), rs("r1")}}),
			map[string]assignment{"a": {"t": parts(1, 3)}, "b": {"t": parts(4, 5)}, "c": {"t": parts(0, 2)}}},
		{"uniform: replicas in two racks", AssignorUniform, subsOf("a", "b"), map[string]int32{"t": 4}, nil,
			racksOf(map[string]string{"a": "r1", "b": "r2"}, map[string][][]string{"t": {rs("r1", "r2"), rs("r1", "r2"), rs("r2", "r3"), rs("r2", "r3")}}),
			map[string]assignment{"a": {"t": parts(0, 1)}, "b": {"t": parts(2, 3)}}},
		{"range: in rack", AssignorRange, subsOf("a", "b"), map[string]int32{"t": 4}, nil,
			racksOf(map[string]string{"a": "r1", "b": "r2"}, interleaved),
			map[string]assignment{"a": {"t": parts(1, 3)}, "b": {"t": parts(0, 2)}}},
		{"range: quotas kept", AssignorRange, subsOf("a", "b"), map[string]int32{"t": 5}, nil,
			racksOf(map[string]string{"a": "r1", "b": "r2"}, map[string][][]string{"t": {rs("r2"), rs("r2"), rs("r2"), rs("r2"), rs("r1")}}),
			map[string]assignment{"a": {"t": parts(2, 3, 4)}, "b": {"t": parts(0, 1)}}},
		{"range: no member racks is contiguous", AssignorRange, subsOf("a", "b"), map[string]int32{"t": 4}, nil,
			racksOf(nil, interleaved),
			map[string]assignment{"a": {"t": parts(0, 1)}, "b": {"t": parts(2, 3)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]assignment
			if tc.assignor == AssignorRange {
				got = assignRangeWithRacks(tc.subs, tc.parts, tc.ri)
			} else {
				got = assignUniformRacks(tc.subs, tc.parts, tc.prev, tc.ri)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRackAwareUniformRandom: over random layouts the rack-aware uniform
// assignment gives every partition to one subscribed member, is as
// balanced as the rack-less one, and has at least as many partitions in
// their member's rack.
func TestRackAwareUniformRandom(t *testing.T) {
	rnd := rand.New(rand.NewSource(848))
	racks := []string{"r1", "r2", "r3"}
	for i := 0; i < 1000; i++ {
		nm := 1 + rnd.Intn(6)
		var subs []memberSub
		mr := map[string]string{}
		for j := 0; j < nm; j++ {
			id := fmt.Sprintf("m%d", j)
			s := memberSub{id, map[string]bool{"t": true}}
			if rnd.Intn(3) == 0 {
				s.topics["u"] = true
			}
			subs = append(subs, s)
			if rnd.Intn(4) > 0 {
				mr[id] = racks[rnd.Intn(len(racks))]
			}
		}
		np := map[string]int32{"t": int32(1 + rnd.Intn(12)), "u": int32(rnd.Intn(5))}
		pr := map[string][][]string{}
		for tn, n := range np {
			for p := int32(0); p < n; p++ {
				var x []string
				for _, r := range racks {
					if rnd.Intn(3) == 0 {
						x = append(x, r)
					}
				}
				pr[tn] = append(pr[tn], x)
			}
		}
		ri := racksOf(mr, pr)
		plain := assignUniform(subs, np, nil)
		aware := assignUniformRacks(subs, np, nil, ri)
		spread := func(a map[string]assignment) (int, int) {
			lo, hi := 1<<30, 0
			for _, s := range subs {
				n := a[s.id].size()
				lo, hi = min(lo, n), max(hi, n)
			}
			return lo, hi
		}
		inRack := func(a map[string]assignment) int {
			n := 0
			for id, as := range a {
				for _, tp := range as.list() {
					if ri.ok(id, tp) {
						n++
					}
				}
			}
			return n
		}
		seen := map[TopicPartition]string{}
		for id, as := range aware {
			for _, tp := range as.list() {
				if o, dup := seen[tp]; dup {
					t.Fatalf("case %d: %v to %s and %s", i, tp, o, id)
				}
				seen[tp] = id
			}
		}
		for tn, n := range np {
			for p := int32(0); p < n; p++ {
				if _, ok := seen[TopicPartition{tn, p}]; !ok && tn == "t" {
					t.Fatalf("case %d: %s/%d unassigned", i, tn, p)
				}
			}
		}
		plo, phi := spread(plain)
		alo, ahi := spread(aware)
		if ahi-alo > max(phi-plo, 1) {
			t.Fatalf("case %d: rack-aware spread %d..%d, rack-less %d..%d\n%v", i, alo, ahi, plo, phi, aware)
		}
		if inRack(aware) < inRack(plain) {
			t.Fatalf("case %d: %d in rack, rack-less %d", i, inRack(aware), inRack(plain))
		}
	}
}

// TestConsumerGroupRackAware: members heartbeating with a RackID get the
// partitions with replicas in their rack; the racks are part of the
// subscribed metadata (a rack change bumps the group epoch) and are
// written with it (a restart does not bump it).
func TestConsumerGroupRackAware(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 4})
	layout := [][]string{rs("r2"), rs("r1"), rs("r2"), rs("r1")}
	cf.c.cfg.PartitionRacks = func(topic string) [][]string {
		cf.mu.Lock()
		defer cf.mu.Unlock()
		if topic != "t" {
			return nil
		}
		out := make([][]string, len(layout))
		copy(out, layout)
		return out
	}
	cf.f().cfg.PartitionRacks = cf.c.cfg.PartitionRacks
	cf.want("a", cf.hb("a", hbOpts{rack: str("r1")}), nil, 1, map[string][]int32{"t": parts(0, 1, 2, 3)})
	cf.want("b", cf.hb("b", hbOpts{rack: str("r2")}), nil, 2, map[string][]int32{})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(1, 3)})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, map[string][]int32{"t": parts(1, 3)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(0, 2)})
	d := describeMembers(t, cf.c)
	if d.Epoch != 2 || *d.Members[0].RackID != "r1" || *d.Members[1].RackID != "r2" {
		t.Fatalf("describe: %s", describeString(d))
	}
	// A restart loads the racks with the metadata: no new epoch.
	runSteps(cf.fixture, restart())
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, nil)
	if d := describeMembers(t, cf.c); d.Epoch != 2 {
		t.Fatalf("epoch %d after a restart, want 2", d.Epoch)
	}
	// Partitions 0 and 1 swap racks (reassigned replicas): epoch 3, and
	// they swap members through revocation.
	cf.mu.Lock()
	layout = [][]string{rs("r1"), rs("r2"), rs("r2"), rs("r1")}
	cf.mu.Unlock()
	res := cf.hb("a", hbOpts{})
	cf.want("a", res, nil, 2, map[string][]int32{"t": parts(3)})
	if d := describeMembers(t, cf.c); d.Epoch != 3 {
		t.Fatalf("epoch %d after a rack change, want 3", d.Epoch)
	}
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(2)})
	// a gave 1 up; 0 is still b's until b says it gave it up.
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, map[string][]int32{"t": parts(3)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 3, map[string][]int32{"t": parts(1, 2)})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, map[string][]int32{"t": parts(0, 3)})
}
