// @sluicemq/plugin-sdk: the AssemblyScript SDK for Sluice plugins. See
// README.md; the ABI is docs/plugin-abi.md of the Sluice repository.
//
// A plugin's entry file re-exports sluice_alloc and exports the hook it
// implements by calling the SDK with its function:
//
//   import { Record, runPartitioner } from "@sluicemq/plugin-sdk";
//   export { sluice_alloc } from "@sluicemq/plugin-sdk";
//   // The other hooks answer "no ... registered" (the broker's deploy
//   // check then names the hook this module implements):
//   export { noTransform as sluice_transform, noFilter as sluice_filter } from "@sluicemq/plugin-sdk";
//
//   export function sluice_partition(ptr: usize, len: u32): u64 {
//     return runPartitioner(ptr, len, (r: Record, partitions: i32): i32 =>
//       r.key === null ? 0 : r.key!.byteLength % partitions);
//   }

export { Header, Reader, Record, RefusalError, Reject, Policy, utf8, text, equals } from "./record";
export { sluice_alloc, runPartitioner, runTransform, runFilter, runFilterMap, Writer, refuse, topic, partition, noPartitioner, noTransform, noFilter } from "./abi";
export { config, configOr } from "./config";
export { log, sluiceAbort, sluiceTrace, sluiceSeed } from "./host";
export { murmur2, kafkaPartition } from "./murmur2";
