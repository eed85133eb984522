// ABI conformance partitioner (wasm/conformance): murmur2 of the key like
// Kafka, len(value) for unkeyed records, refusals on keys "reject" and
// "policy".
import { Record, runPartitioner, kafkaPartition, refuse, Reject, Policy, equals } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
// The other hooks answer "no ... registered": the broker's deploy check
// then names the hook this module implements.
export { noTransform as sluice_transform, noFilter as sluice_filter } from "@sluicemq/plugin-sdk";

function part(r: Record, partitions: i32): i32 {
  const key = r.key;
  if (key === null) {
    const v = r.value;
    return (v === null ? 0 : v.byteLength) % partitions;
  }
  if (equals(key, "reject")) return refuse(Reject("reject"));
  if (equals(key, "policy")) return refuse(Policy("policy"));
  return kafkaPartition(key, partitions);
}

export function sluice_partition(ptr: usize, len: u32): u64 {
  return runPartitioner(ptr, len, part);
}
