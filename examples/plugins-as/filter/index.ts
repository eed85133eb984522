// filter is a consume filter showing a reader only the records whose
// "tenant" header equals the name of its authenticated principal
// (User:acme sees tenant "acme"), as examples/plugins/tenant-filter does.
// The client id is never consulted (any client can claim any client id);
// anonymous readers see no tagged record; untagged records are hidden
// unless show_untagged=true.
//
// Config: header (default "tenant"), show_untagged (default false).
// Build: npm run build (see ../README.md), deploy:
//   sluice plugin deploy --name tenants --hook filter --topic events filter.wasm
import { Reader, Record, runFilter, configOr, equals } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
// The other hooks answer "no ... registered": the broker's deploy check
// then names the hook this module implements.
export { noPartitioner as sluice_partition, noTransform as sluice_transform } from "@sluicemq/plugin-sdk";

// Configuration is fixed for an instance: read it once, at start.
const header = configOr("header", "tenant");
const showUntagged = configOr("show_untagged", "false") == "true";

let lastPrincipal = "";
let name = "";

function show(r: Record, reader: Reader): bool {
  if (!r.hasHeader(header)) return showUntagged;
  const p = reader.principal;
  if (p.length == 0 || p == "User:ANONYMOUS") return false;
  if (p != lastPrincipal) {
    // "User:acme" -> "acme", once per reader rather than per record.
    const colon = p.indexOf(":");
    name = colon >= 0 ? p.substring(colon + 1) : p;
    lastPrincipal = p;
  }
  return equals(r.header(header), name);
}

export function sluice_filter(ptr: usize, len: u32): u64 {
  return runFilter(ptr, len, show);
}
