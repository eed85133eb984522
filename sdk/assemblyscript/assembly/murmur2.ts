// Kafka's murmur2 (the Java client's default partitioner for keyed
// records), so an AssemblyScript partitioner can place keys where Kafka
// clients would.

// murmur2 hashes n bytes at p as Kafka's Utils.murmur2 does (seed
// 0x9747b28c).
export function murmur2(b: Uint8Array): u32 {
  const n = <u32>b.byteLength;
  const data = b.dataStart;
  const m: u32 = 0x5bd1e995;
  let h: u32 = 0x9747b28c ^ n;
  const blocks = n & ~3;
  for (let i: u32 = 0; i < blocks; i += 4) {
    let k = load<u32>(data + i); // little-endian, as Kafka reads it
    k *= m;
    k ^= k >>> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (n & 3) {
    case 3:
      h ^= <u32>load<u8>(data + blocks + 2) << 16;
    case 2:
      h ^= <u32>load<u8>(data + blocks + 1) << 8;
    case 1:
      h ^= <u32>load<u8>(data + blocks);
      h *= m;
  }
  h ^= h >>> 13;
  h *= m;
  h ^= h >>> 15;
  return h;
}

// kafkaPartition is the partition Kafka's default partitioner gives a
// keyed record: murmur2(key) made positive, modulo partitions.
export function kafkaPartition(key: Uint8Array, partitions: i32): i32 {
  return <i32>((murmur2(key) & 0x7fffffff) % <u32>partitions);
}
