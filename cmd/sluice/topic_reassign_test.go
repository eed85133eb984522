package main

import (
	"slices"
	"strings"
	"testing"
)

func TestGeneratePlan(t *testing.T) {
	b := func(id int32, rack string) planBroker { return planBroker{ID: id, Rack: rack} }
	for _, tc := range []struct {
		name       string
		partitions int
		replicas   int
		brokers    []planBroker
		want       [][]int32
		err        string
	}{
		{name: "three brokers, RF 3: leaders rotate",
			partitions: 3, replicas: 3, brokers: []planBroker{b(3, ""), b(1, ""), b(2, "")},
			want: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}},
		{name: "followers shift after every round of leaders",
			partitions: 6, replicas: 2, brokers: []planBroker{b(0, ""), b(1, ""), b(2, "")},
			want: [][]int32{{0, 1}, {1, 2}, {2, 0}, {0, 2}, {1, 0}, {2, 1}}},
		{name: "onto new brokers",
			partitions: 2, replicas: 3, brokers: []planBroker{b(1, ""), b(2, ""), b(3, ""), b(4, "")},
			want: [][]int32{{1, 2, 3}, {2, 3, 4}}},
		{name: "racks: every partition on both racks",
			partitions: 4, replicas: 2, brokers: []planBroker{b(1, "a"), b(2, "a"), b(3, "b"), b(4, "b")},
			// interleaved: 1(a) 3(b) 2(a) 4(b)
			want: [][]int32{{1, 3}, {3, 2}, {2, 4}, {4, 1}}},
		{name: "racks: RF 3 over 3 racks of unequal size",
			partitions: 3, replicas: 3, brokers: []planBroker{b(1, "a"), b(2, "a"), b(3, "b"), b(4, "c")},
			// interleaved: 1(a) 3(b) 4(c) 2(a)
			want: [][]int32{{1, 3, 4}, {3, 4, 2}, {4, 2, 3}}},
		{name: "racks: more replicas than racks spread again",
			partitions: 1, replicas: 4, brokers: []planBroker{b(1, "a"), b(2, "b"), b(3, "b"), b(4, "b")},
			want: [][]int32{{1, 2, 3, 4}}},
		{name: "only some brokers with racks", partitions: 1, replicas: 1,
			brokers: []planBroker{b(1, "a"), b(2, "")}, err: "1 of 2 brokers have a rack"},
		{name: "too few brokers", partitions: 1, replicas: 3,
			brokers: []planBroker{b(1, ""), b(2, "")}, err: "replication factor 3"},
		{name: "no brokers", partitions: 1, replicas: 1, err: "no brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := generatePlan(tc.partitions, tc.replicas, tc.brokers)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("plan %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGeneratePlanBalance: over many partitions every broker leads and
// holds the same number, and with racks no partition sits on one rack.
func TestGeneratePlanBalance(t *testing.T) {
	brokers := []planBroker{{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}, {5, "c"}, {6, "c"}}
	rack := map[int32]string{}
	for _, b := range brokers {
		rack[b.ID] = b.Rack
	}
	plan, err := generatePlan(60, 3, brokers)
	if err != nil {
		t.Fatal(err)
	}
	leads, holds := map[int32]int{}, map[int32]int{}
	for p, rs := range plan {
		leads[rs[0]]++
		racks := map[string]bool{}
		for _, id := range rs {
			holds[id]++
			racks[rack[id]] = true
		}
		if len(racks) != 3 || len(rs) != 3 {
			t.Fatalf("partition %d on %v: racks %v", p, rs, racks)
		}
	}
	for _, b := range brokers {
		if leads[b.ID] != 10 || holds[b.ID] != 30 {
			t.Fatalf("broker %d leads %d and holds %d, want 10 and 30 (%v)", b.ID, leads[b.ID], holds[b.ID], plan)
		}
	}
}
