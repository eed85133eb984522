package group

import "sort"

// assignUniform is the "uniform" server-side assignor (Kafka's default):
// every partition of a subscribed topic goes to one subscribed member, the
// members' partition counts differ by at most one where their
// subscriptions allow it, and partitions stay with their previous owner
// (prev, the last target) whenever balance permits, so a rebalance moves
// as few partitions as it can. With racks (assign_rack.go) members
// prefer partitions with a replica in their rack: a partition is kept
// out of rack only if no eligible member is in one of its racks.
func assignUniform(members []memberSub, parts map[string]int32, prev map[string]assignment) map[string]assignment {
	return assignUniformRacks(members, parts, prev, nil)
}

func assignUniformRacks(members []memberSub, parts map[string]int32, prev map[string]assignment, ri *rackInfo) map[string]assignment {
	if !ri.useful(members, parts) {
		ri = nil
	}
	out := make(map[string]assignment, len(members))
	count := map[string]int{}
	index := map[string]int{}
	for i, m := range members {
		out[m.id] = assignment{}
		index[m.id] = i
	}
	if len(members) == 0 {
		return out
	}
	all := allPartitions(parts)
	byTopic := map[string][]memberSub{}
	for t := range parts {
		for _, m := range members {
			if m.topics[t] {
				byTopic[t] = append(byTopic[t], m)
			}
		}
	}
	eligible := func(tp TopicPartition) []memberSub { return byTopic[tp.Topic] }
	// inRackElsewhere: some eligible member other than id has a replica
	// of tp in its rack.
	inRackElsewhere := func(tp TopicPartition, id string) bool {
		for _, m := range byTopic[tp.Topic] {
			if m.id != id && ri.ok(m.id, tp) {
				return true
			}
		}
		return false
	}
	owner := map[TopicPartition]string{}
	give := func(tp TopicPartition, id string) {
		owner[tp] = id
		out[id].add(tp)
		count[id]++
	}
	// Stickiness: keep what each member had, as long as it still
	// subscribes, and no more than its fair share of the partitions it
	// could get (so a joining member is not starved).
	total := len(all)
	fair := (total + len(members) - 1) / len(members)
	for _, m := range members {
		kept := 0
		for _, tp := range prev[m.id].list() {
			if kept >= fair {
				break
			}
			if _, taken := owner[tp]; taken || !m.topics[tp.Topic] || tp.Partition >= parts[tp.Topic] {
				continue
			}
			if ri != nil && !ri.ok(m.id, tp) && inRackElsewhere(tp, m.id) {
				continue // goes to a member in its rack
			}
			give(tp, m.id)
			kept++
		}
	}
	// The rest goes to the least loaded eligible member.
	for _, tp := range all {
		if _, ok := owner[tp]; ok {
			continue
		}
		e := eligible(tp)
		if len(e) == 0 {
			continue
		}
		best := e[0].id
		for _, m := range e[1:] {
			if count[m.id] < count[best] {
				best = m.id
			}
		}
		if ri != nil && !ri.ok(best, tp) {
			// The least loaded member in tp's rack, if under its fair
			// share.
			inRack := ""
			for _, m := range e {
				if ri.ok(m.id, tp) && count[m.id] < fair && (inRack == "" || count[m.id] < count[inRack]) {
					inRack = m.id
				}
			}
			if inRack != "" {
				best = inRack
			}
		}
		give(tp, best)
	}
	// Balance: move partitions from a member to an eligible one holding
	// at least two fewer, until no such move exists. Each move lowers the
	// sum of squared counts, so this ends.
	for moved := true; moved; {
		moved = false
		lo, hi := count[members[0].id], count[members[0].id]
		for _, m := range members {
			lo, hi = min(lo, count[m.id]), max(hi, count[m.id])
		}
		if hi-lo <= 1 {
			break // no member can give one to another holding two fewer
		}
		order := append([]memberSub(nil), members...)
		sort.SliceStable(order, func(i, j int) bool { return count[order[i].id] > count[order[j].id] })
		for _, from := range order {
			// With racks, the move that best keeps partitions in
			// their members' racks: one out of rack at from, to a
			// member in its rack.
			var mtp TopicPartition
			mto, mscore := "", -1
			for _, tp := range out[from.id].list() {
				best := ""
				for _, m := range eligible(tp) {
					if count[m.id] <= count[from.id]-2 && (best == "" || count[m.id] < count[best] ||
						(count[m.id] == count[best] && ri.ok(m.id, tp) && !ri.ok(best, tp))) {
						best = m.id
					}
				}
				if best == "" {
					continue
				}
				score := 0
				if ri.ok(best, tp) {
					score += 2
				}
				if !ri.ok(from.id, tp) {
					score++
				}
				if score > mscore {
					mtp, mto, mscore = tp, best, score
				}
				if ri == nil || score == 3 {
					break
				}
			}
			if mto == "" {
				continue
			}
			out[from.id] = removeTP(out[from.id], mtp)
			count[from.id]--
			give(mtp, mto)
			moved = true
			break
		}
	}
	balanceChains(out, count, members, eligible)
	if ri != nil {
		improveRacks(out, count, members, ri)
	}
	for id, a := range out {
		out[id] = a.normalize()
	}
	return out
}

// balanceChains finishes balancing where subscriptions differ: when a
// member holds two more than another it can't give to directly, a chain
// of members, each giving one partition to the next that subscribes to
// it, moves one partition's worth from the first to the last (the others
// keep their counts). Each chain lowers the sum of squared counts, so
// this ends.
func balanceChains(out map[string]assignment, count map[string]int, members []memberSub, eligible func(TopicPartition) []memberSub) {
	type hop struct {
		from string
		tp   TopicPartition
	}
	for {
		order := append([]memberSub(nil), members...)
		sort.SliceStable(order, func(i, j int) bool { return count[order[i].id] > count[order[j].id] })
		applied := false
		for _, src := range order {
			parent := map[string]hop{src.id: {}}
			queue := []string{src.id}
			to := ""
			for len(queue) > 0 && to == "" {
				x := queue[0]
				queue = queue[1:]
				for _, tp := range out[x].list() {
					for _, m := range eligible(tp) {
						if _, seen := parent[m.id]; seen {
							continue
						}
						parent[m.id] = hop{x, tp}
						if count[m.id] <= count[src.id]-2 {
							to = m.id
							break
						}
						queue = append(queue, m.id)
					}
					if to != "" {
						break
					}
				}
			}
			if to == "" {
				continue
			}
			for v := to; v != src.id; {
				h := parent[v]
				out[h.from] = removeTP(out[h.from], h.tp)
				out[v].add(h.tp)
				count[h.from]--
				count[v]++
				v = h.from
			}
			applied = true
			break
		}
		if !applied {
			return
		}
	}
}

func removeTP(a assignment, tp TopicPartition) assignment {
	ps := a[tp.Topic]
	for i, p := range ps {
		if p == tp.Partition {
			a[tp.Topic] = append(ps[:i:i], ps[i+1:]...)
			break
		}
	}
	if len(a[tp.Topic]) == 0 {
		delete(a, tp.Topic)
	}
	return a
}

// allPartitions lists every partition of parts in topic, partition order.
func allPartitions(parts map[string]int32) []TopicPartition {
	var out []TopicPartition
	for t, n := range parts {
		for p := int32(0); p < n; p++ {
			out = append(out, TopicPartition{t, p})
		}
	}
	sortTPs(out)
	return out
}
