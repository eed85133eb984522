package sdk

// Murmur2 is Kafka's murmur2 hash (the Java client's Utils.murmur2, seed
// 0x9747b28c), the hash Kafka producers place keyed records with. The
// Rust SDK (hash::murmur2) and the AssemblyScript SDK (murmur2) offer the
// same function, so partitioners in every language agree.
func Murmur2(b []byte) uint32 {
	const m, r = 0x5bd1e995, 24
	h := uint32(0x9747b28c) ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// KafkaPartition is where Kafka's default partitioner puts a record with
// this key among partitions: (murmur2(key) & 0x7fffffff) % partitions. A
// nil key hashes as the empty key (Kafka clients spread unkeyed records
// instead; decide in the plugin what an unkeyed record should do).
func KafkaPartition(key []byte, partitions int) int {
	return int(int32(Murmur2(key)&0x7fffffff) % int32(partitions))
}
