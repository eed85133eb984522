// ABI conformance filter (wasm/conformance): hide on a "hide" header, mask
// key "mask", hide other tenants' records from an authenticated reader.
import { Reader, Record, runFilterMap, equals, utf8 } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
// The other hooks answer "no ... registered": the broker's deploy check
// then names the hook this module implements.
export { noPartitioner as sluice_partition, noTransform as sluice_transform } from "@sluicemq/plugin-sdk";

function filter(r: Record, reader: Reader): Record | null {
  if (r.hasHeader("hide")) return null;
  if (equals(r.key, "mask")) {
    const c = r.clone();
    c.value = utf8("***");
    return c;
  }
  if (reader.principal.length > 0 && r.hasHeader("tenant") && !equals(r.header("tenant"), reader.principal)) return null;
  return r;
}

export function sluice_filter(ptr: usize, len: u32): u64 {
  return runFilterMap(ptr, len, filter);
}
