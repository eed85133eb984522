// mask-email is a produce transform that masks e-mail addresses in record
// values before they are stored, keeping the domain (as
// examples/plugins/mask-pii does): "login ok for jane.doe@example.com" ->
// "login ok for ***@example.com". An address is a local part of letters,
// digits and . _ % + -, an "@", and a domain of letters, digits, dots and
// dashes whose last label has at least two letters; trailing dots and
// dashes (sentence punctuation) are not part of it.
//
// Records without an address are kept by index (nothing copied); masked
// values are built in one reused buffer, which Writer.write copies.
//
// Build: npm run build (see ../README.md), deploy:
//   sluice plugin deploy --name mask-email --hook transform --topic logs mask-email.wasm
import { Record, RefusalError, Writer, runTransform } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
// The other hooks answer "no ... registered": the broker's deploy check
// then names the hook this module implements.
export { noPartitioner as sluice_partition, noFilter as sluice_filter } from "@sluicemq/plugin-sdk";

// The masked value of the current record; grown as needed, reused.
let scratch = new Uint8Array(256);
let n: i32 = 0;

function put(src: usize, len: i32): void {
  if (n + len > scratch.length) {
    const next = new Uint8Array(max<i32>(scratch.length * 2, n + len));
    memory.copy(next.dataStart, scratch.dataStart, <usize>n);
    scratch = next;
  }
  memory.copy(scratch.dataStart + <usize>n, src, <usize>len);
  n += len;
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}
@inline function isLetter(c: u32): bool {
  return (c | 0x20) - 0x61 < 26;
}
@inline function isLocal(c: u32): bool {
  return isDigit(c) || isLetter(c) || c == 0x2e || c == 0x5f || c == 0x25 || c == 0x2b || c == 0x2d;
}
@inline function isDomain(c: u32): bool {
  return isDigit(c) || isLetter(c) || c == 0x2e || c == 0x2d;
}

// "***", in static memory (no allocation per address).
const stars = memory.data<u8>([0x2a, 0x2a, 0x2a]);

// maskInto writes value with its addresses masked into scratch and
// returns true, or returns false when there is nothing to mask.
function maskInto(v: usize, len: i32): bool {
  n = 0;
  let found = false;
  let last = 0; // v[last:] is not copied yet
  for (let at = 0; at < len; ) {
    // Find the next '@' eight bytes at a time: the broker counts every
    // loop turn (its deadline checks), and most bytes are not '@'. The
    // lowest flagged byte of the zero-byte test is exact.
    if (at + 8 <= len) {
      const y = load<u64>(v + at) ^ 0x4040404040404040;
      const m = (y - 0x0101010101010101) & ~y & 0x8080808080808080;
      if (m == 0) {
        at += 8;
        continue;
      }
      at += <i32>(ctz(m) >> 3);
    } else if (load<u8>(v + at) != 0x40) {
      at++;
      continue;
    }
    let start = at;
    while (start > last && isLocal(load<u8>(v + start - 1))) start--;
    let end = at + 1;
    while (end < len && isDomain(load<u8>(v + end))) end++;
    while (end > at + 1 && (load<u8>(v + end - 1) == 0x2e || load<u8>(v + end - 1) == 0x2d)) end--;
    let dot = end - 1;
    while (dot > at && load<u8>(v + dot) != 0x2e) dot--;
    let ok = start < at && dot > at && end - dot - 1 >= 2;
    for (let i = dot + 1; ok && i < end; i++) ok = isLetter(load<u8>(v + i));
    if (!ok) {
      at++;
      continue;
    }
    found = true;
    put(v + last, start - last);
    put(stars, 3);
    put(v + at, end - at);
    last = end;
    at = end;
  }
  if (!found) return false;
  put(v + last, len - last);
  return true;
}

function transform(r: Record, w: Writer): RefusalError | null {
  const v = r.value;
  if (v === null || !maskInto(v.dataStart, v.byteLength)) {
    w.keep();
    return null;
  }
  r.value = Uint8Array.wrap(scratch.buffer, 0, n);
  w.write(r);
  return null;
}

export function sluice_transform(ptr: usize, len: u32): u64 {
  return runTransform(ptr, len, transform);
}
