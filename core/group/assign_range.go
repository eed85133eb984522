package group

import "sort"

// assignRange is the "range" server-side assignor: for each topic, the
// members subscribed to it (sorted by member id) get contiguous ranges of
// its partitions, the first (partitions mod members) of them one more.
// Topics with equal partition counts and subscribers are so
// co-partitioned: partition i of each goes to the same member.
//
// With racks (assign_rack.go), a topic whose partitions have replicas in
// some member's rack is assigned with the same per-member counts, each
// member's share filled first from its rack (assignRangeRacks): the
// ranges are then no longer contiguous.
func assignRange(members []memberSub, parts map[string]int32) map[string]assignment {
	return assignRangeWithRacks(members, parts, nil)
}

func assignRangeWithRacks(members []memberSub, parts map[string]int32, ri *rackInfo) map[string]assignment {
	out := make(map[string]assignment, len(members))
	for _, m := range members {
		out[m.id] = assignment{}
	}
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		var subs []string
		for _, m := range members {
			if m.topics[t] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		sort.Strings(subs)
		n := int(parts[t])
		if ri.usefulFor(subs, t, n) {
			assignRangeRacks(subs, t, n, out, ri)
			continue
		}
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for i, id := range subs {
			k := per
			if i < extra {
				k++
			}
			for j := 0; j < k; j++ {
				out[id].add(TopicPartition{t, int32(p)})
				p++
			}
		}
	}
	for id, a := range out {
		out[id] = a.normalize()
	}
	return out
}
