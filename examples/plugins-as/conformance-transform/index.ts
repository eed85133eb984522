// ABI conformance transform (wasm/conformance): drop, duplicate, rewrite,
// emit and refuse by key; everything else is kept unchanged.
import { Header, Record, RefusalError, Writer, runTransform, configOr, equals, utf8, Reject, Policy } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
// The other hooks answer "no ... registered": the broker's deploy check
// then names the hook this module implements.
export { noPartitioner as sluice_partition, noFilter as sluice_filter } from "@sluicemq/plugin-sdk";

// Read once per instance, on first use (config never changes for an
// instance).
let emitTopic: string | null = null;

function transform(r: Record, w: Writer): RefusalError | null {
  const key = r.key;
  if (equals(key, "drop")) return null;
  if (equals(key, "dup")) {
    w.keep();
    const c = r.clone();
    c.key = utf8("dup-copy");
    w.write(c);
    return null;
  }
  if (equals(key, "upper")) {
    const c = r.clone();
    const v = r.value;
    if (v !== null) {
      const u = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const b = unchecked(v[i]);
        unchecked((u[i] = b >= 0x61 && b <= 0x7a ? b - 32 : b));
      }
      c.value = u;
    }
    c.headers.push(Header.text("x-upper", "1"));
    w.write(c);
    return null;
  }
  if (equals(key, "emit")) {
    w.keep();
    let t = emitTopic;
    if (t === null) {
      t = configOr("emit_topic", "conformance-emits");
      emitTopic = t;
    }
    w.emit(t, r);
    return null;
  }
  if (equals(key, "reject")) return Reject("reject");
  if (equals(key, "policy")) return Policy("policy");
  if (equals(key, "panic")) throw new Error("panic");
  w.keep();
  return null;
}

export function sluice_transform(ptr: usize, len: u32): u64 {
  return runTransform(ptr, len, transform);
}
