// keyhash-partitioner places each record where Kafka's default partitioner
// (the Java client's, and franz-go's) places a keyed record:
// murmur2(key) & 0x7fffffff mod partitions. An unkeyed record is hashed as
// an empty key, so it always lands on the same partition (Kafka clients
// spread unkeyed records instead; the broker calls a partitioner only for
// records without a partition, such as HTTP bridge records).
//
// Build: npm run build (see ../README.md), deploy:
//   sluice plugin deploy --name keyhash --hook partitioner --topic T keyhash-partitioner.wasm
import { Record, runPartitioner, kafkaPartition } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
// The other hooks answer "no ... registered": the broker's deploy check
// then names the hook this module implements.
export { noTransform as sluice_transform, noFilter as sluice_filter } from "@sluicemq/plugin-sdk";

const empty = new Uint8Array(0);

function part(r: Record, partitions: i32): i32 {
  const key = r.key;
  return kafkaPartition(key !== null ? key : empty, partitions);
}

export function sluice_partition(ptr: usize, len: u32): u64 {
  return runPartitioner(ptr, len, part);
}
