package group

import "sort"

// Rack awareness of the server-side assignors (KIP-881 for the new
// protocol): members that declare a RackID in their heartbeats are
// preferably given partitions with a replica on a broker of their rack
// (consuming from it, KIP-392, keeps fetch traffic in the rack), as long
// as the assignment stays as balanced as without racks: the uniform
// assignor's counts still differ by at most one, the range assignor's
// per-topic counts are exactly its usual quotas. Without member racks or
// partition racks, or when no member shares a rack with a replica, the
// assignments are exactly the rack-less ones.

// rackInfo is what the assignors know of racks: each member's rack ("" or
// absent: none) and the racks of each partition's replicas.
type rackInfo struct {
	member map[string]string
	part   map[TopicPartition][]string
}

// ok reports whether member id has a replica of tp in its rack.
func (ri *rackInfo) ok(id string, tp TopicPartition) bool {
	if ri == nil {
		return false
	}
	r := ri.member[id]
	if r == "" {
		return false
	}
	for _, x := range ri.part[tp] {
		if x == r {
			return true
		}
	}
	return false
}

// useful reports whether racks can matter for these members and
// partitions: some member shares a rack with some partition's replica.
func (ri *rackInfo) useful(members []memberSub, parts map[string]int32) bool {
	if ri == nil || len(ri.member) == 0 || len(ri.part) == 0 {
		return false
	}
	racks := map[string]bool{}
	for _, m := range members {
		if r := ri.member[m.id]; r != "" {
			racks[r] = true
		}
	}
	for tp, rs := range ri.part {
		if tp.Partition >= parts[tp.Topic] {
			continue
		}
		for _, r := range rs {
			if racks[r] {
				return true
			}
		}
	}
	return false
}

// usefulFor reports whether one of members subs has a replica of one of
// topic t's n partitions in its rack.
func (ri *rackInfo) usefulFor(subs []string, t string, n int) bool {
	if ri == nil {
		return false
	}
	for _, id := range subs {
		for p := 0; p < n; p++ {
			if ri.ok(id, TopicPartition{t, int32(p)}) {
				return true
			}
		}
	}
	return false
}

// rackInfo gathers the members' racks and the partitions' replica
// racks of cg's metadata (nil when there are none of either).
func (cg *cgroup) rackInfo() *rackInfo {
	ri := &rackInfo{member: map[string]string{}, part: map[TopicPartition][]string{}}
	for id, m := range cg.members {
		if m.rackID != nil && *m.rackID != "" {
			ri.member[id] = *m.rackID
		}
	}
	if len(ri.member) == 0 {
		return nil
	}
	for t, tm := range cg.meta {
		for p, rs := range tm.Racks {
			if len(rs) > 0 && int32(p) < tm.Partitions {
				ri.part[TopicPartition{t, int32(p)}] = rs
			}
		}
	}
	if len(ri.part) == 0 {
		return nil
	}
	return ri
}

// improveRacks raises the number of partitions assigned in their
// member's rack without changing how many each member has, beyond
// moving one from a member to an eligible one holding one fewer (the
// counts stay within one of each other if they were): a partition out of
// rack moves to such a member in its rack, or is swapped with a
// partition of a member in its rack when that gains. Every change raises
// the count of in-rack partitions, so this ends; sweeps are bounded too.
func improveRacks(out map[string]assignment, count map[string]int, members []memberSub, ri *rackInfo) {
	owner := map[TopicPartition]string{}
	for id, a := range out {
		for _, tp := range a.list() {
			owner[tp] = id
		}
	}
	eligible := func(id string, tp TopicPartition) bool {
		for _, m := range members {
			if m.id == id {
				return m.topics[tp.Topic]
			}
		}
		return false
	}
	move := func(tp TopicPartition, from, to string) {
		out[from] = removeTP(out[from], tp)
		out[to].add(tp)
		owner[tp] = to
		count[from]--
		count[to]++
	}
	for sweep := 0; sweep < 4; sweep++ {
		changed := false
		tps := make([]TopicPartition, 0, len(owner))
		for tp := range owner {
			tps = append(tps, tp)
		}
		sortTPs(tps)
		for _, tp := range tps {
			x := owner[tp]
			if ri.ok(x, tp) {
				continue
			}
			done := false
			// Candidates in tp's racks, fewest partitions first.
			var cands []string
			for _, m := range members {
				if m.id != x && m.topics[tp.Topic] && ri.ok(m.id, tp) {
					cands = append(cands, m.id)
				}
			}
			sort.SliceStable(cands, func(i, j int) bool { return count[cands[i]] < count[cands[j]] })
			for _, y := range cands {
				if count[y] < count[x] {
					move(tp, x, y)
					done = true
					break
				}
			}
			for _, y := range cands {
				if done {
					break
				}
				for _, tp2 := range out[y].list() {
					if !eligible(x, tp2) {
						continue
					}
					if ri.ok(x, tp2) || !ri.ok(y, tp2) {
						move(tp, x, y)
						move(tp2, y, x)
						done = true
						break
					}
				}
			}
			changed = changed || done
		}
		if !changed {
			break
		}
	}
}

// assignRangeRacks is assignRange for one topic's partitions when racks
// matter: members keep their range quotas (sorted by id, the first
// partitions-mod-members one more) and fill them first with partitions
// in their rack (lowest first), then with what is left, in order.
func assignRangeRacks(subs []string, t string, n int, out map[string]assignment, ri *rackInfo) {
	per, extra := n/len(subs), n%len(subs)
	quota := map[string]int{}
	for i, id := range subs {
		quota[id] = per
		if i < extra {
			quota[id]++
		}
	}
	taken := make([]bool, n)
	for _, id := range subs {
		for p := 0; p < n && quota[id] > 0; p++ {
			tp := TopicPartition{t, int32(p)}
			if !taken[p] && ri.ok(id, tp) {
				taken[p] = true
				out[id].add(tp)
				quota[id]--
			}
		}
	}
	p := 0
	for _, id := range subs {
		for ; quota[id] > 0; p++ {
			if !taken[p] {
				taken[p] = true
				out[id].add(TopicPartition{t, int32(p)})
				quota[id]--
			}
		}
	}
}
