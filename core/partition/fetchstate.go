package partition

// FetchState is what an incremental fetch session asks of each of its
// partitions on every fetch to tell whether it has anything new for the
// consumer, under one lock (a consumer of 1,000 partitions asks 1,000 of
// them per fetch): whether this replica leads, the leader epoch, the high
// watermark and the channel closed when it next advances. Take notify
// before deciding from hw, as with Wait, so no advance is missed.
func (p *Partition) FetchState() (leader bool, epoch int32, hw int64, notify <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.repl.leader, p.leaderEpoch, p.hw, p.notify
}
