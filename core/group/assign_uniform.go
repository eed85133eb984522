package group

import "sort"

// assignUniform is the "uniform" server-side assignor (Kafka's default):
// every partition of a subscribed topic goes to one subscribed member, the
// members' partition counts differ by at most one where their
// subscriptions allow it, and partitions stay with their previous owner
// (prev, the last target) whenever balance permits, so a rebalance moves
// as few partitions as it can.
func assignUniform(members []memberSub, parts map[string]int32, prev map[string]assignment) map[string]assignment {
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
			for _, tp := range out[from.id].list() {
				best := ""
				for _, m := range eligible(tp) {
					if count[m.id] <= count[from.id]-2 && (best == "" || count[m.id] < count[best]) {
						best = m.id
					}
				}
				if best == "" {
					continue
				}
				out[from.id] = removeTP(out[from.id], tp)
				count[from.id]--
				give(tp, best)
				moved = true
				break
			}
			if moved {
				break
			}
		}
	}
	for id, a := range out {
		out[id] = a.normalize()
	}
	return out
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
