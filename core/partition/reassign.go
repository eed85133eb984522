package partition

import "slices"

// SetReplicas applies a new replica set at the same leader epoch (a
// partition reassignment grew or shrank it). A leader starts tracking
// added followers, which join the ISR once caught up, and forgets removed
// ones, whose fetches are refused from then on.
func (p *Partition) SetReplicas(replicas []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repl.replicas = slices.Clone(replicas)
	if !p.repl.leader {
		return
	}
	if p.repl.followers == nil {
		p.repl.followers = map[int32]*follower{}
	}
	now := p.now()
	for _, id := range replicas {
		if id != p.repl.self && p.repl.followers[id] == nil {
			p.repl.followers[id] = &follower{leo: -1, caughtUp: now, lastFetchEnd: -1}
		}
	}
	for id := range p.repl.followers {
		if !slices.Contains(replicas, id) {
			delete(p.repl.followers, id)
		}
	}
	p.recomputeHWLocked()
}

// Replicas is the replica set this replica last applied.
func (p *Partition) Replicas() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.repl.replicas)
}
