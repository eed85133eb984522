package broker

// PartitionCount is a topic's partition count as this broker applied it,
// or as the metadata store has it when not applied yet, without copying
// the topic's metadata as Topic does: the bridge's publish path asks once
// per request.
func (b *Broker) PartitionCount(name string) (int32, bool) {
	b.mu.RLock()
	t, ok := b.topics[name]
	n := 0
	if ok {
		n = len(t.parts) // reconcile replaces parts under b.mu
	}
	b.mu.RUnlock()
	if ok {
		return int32(n), true
	}
	mt, ok := b.store.Topic(name)
	return int32(len(mt.Partitions)), ok
}
