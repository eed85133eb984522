// The guest side of the batch ABI, version 2 (docs/plugin-abi.md): the
// host writes a batch into the buffer sluice_alloc returns, calls one hook
// with it and copies the answer out. Records are read in place; answers
// name unchanged records by index and carry bytes only for new or changed
// ones.

import { Header, Reader, Record, RefusalError, setViewBuffer, utf8Equals } from "./record";

const ABI_VERSION: u32 = 2;
const STATUS_OK: u32 = 0;
const STATUS_REJECTED: u32 = 1;
const STATUS_POLICY: u32 = 2;
const TAG_KEEP: u8 = 0;
const TAG_RECORD: u8 = 1;

// Buffers larger than this are dropped when a batch needs less than a
// quarter of them, so one huge batch does not pin guest memory for the
// plugin's lifetime (guest memory is never given back to the host).
const KEEP_BUFFER_BYTES: i32 = 4 << 20;

// ---- input ----

// The host writes each batch here. A managed buffer, so key and value views
// (Uint8Array) can point into it without copying.
let inBuf: ArrayBuffer = new ArrayBuffer(0);

// sluice_alloc returns space for the host's next batch of size bytes.
export function sluice_alloc(size: u32): usize {
  const cap = inBuf.byteLength;
  if (<i64>size > <i64>cap || (cap > KEEP_BUFFER_BYTES && <i64>size < <i64>(cap / 4))) {
    let n = max<i32>(<i32>size, 4096);
    if (<i64>size > <i64>cap) n = max<i32>(n, min<i32>(cap * 2, KEEP_BUFFER_BYTES));
    inBuf = new ArrayBuffer(n);
    keyView = Uint8Array.wrap(inBuf, 0, 0);
    valueView = Uint8Array.wrap(inBuf, 0, 0);
    setViewBuffer(inBuf);
  }
  return changetype<usize>(inBuf);
}

// Per-record views of the key and value, patched in place for each record
// so reading a record allocates nothing.
let keyView: Uint8Array = Uint8Array.wrap(inBuf, 0, 0);
let valueView: Uint8Array = Uint8Array.wrap(inBuf, 0, 0);
// The record handed to the plugin's function, reused.
const cur = new Record();

function patch(v: Uint8Array, p: usize, n: i32): void {
  store<usize>(changetype<usize>(v), p, offsetof<Uint8Array>("dataStart"));
  store<i32>(changetype<usize>(v), n, offsetof<Uint8Array>("byteLength"));
}

// The batch being processed.
let metaPartition: i32 = -1;
let metaPartitions: i32 = 0;
let topicPtr: usize = 0;
let topicLen: u32 = 0;
let topicStr: string | null = null;
let readerPtr: usize = 0; // group id, client id, principal
let groupLen: usize = 0;
let clientLen: usize = 0;
let principalLen: usize = 0;

// topic is the topic of the batch being processed.
export function topic(): string {
  let s = topicStr;
  if (s === null) {
    s = String.UTF8.decodeUnsafe(topicPtr, <usize>topicLen);
    topicStr = s;
  }
  return s;
}

// partition is the partition of the batch being processed (-1 in a
// partitioner).
export function partition(): i32 {
  return metaPartition;
}

// Parsing state: p is the next byte, end the end of the batch.
let p: usize = 0;
let end: usize = 0;
let count: u32 = 0;
let malformed: string | null = null;
// The raw body of the current record (after its length), for comparing.
let recStart: usize = 0;

// begin checks the batch at ptr/len and reads its header. It returns
// false (with malformed set) when the batch cannot be read.
function begin(ptr: usize, len: u32): bool {
  malformed = null;
  topicStr = null;
  const base = changetype<usize>(inBuf);
  if (ptr != base || <i64>len > <i64>inBuf.byteLength || len < 32) {
    // The same messages as the Go and Rust SDKs (wasm/conformance).
    malformed = "abi: malformed batch";
    return false;
  }
  end = base + len;
  const version = load<u32>(base);
  if (version != ABI_VERSION) {
    malformed = "abi: unsupported ABI version (rebuild the plugin with the broker's SDK)";
    return false;
  }
  metaPartition = load<i32>(base, 4);
  metaPartitions = load<i32>(base, 8);
  count = load<u32>(base, 12);
  const tl = load<u32>(base, 16), gl = load<u32>(base, 20), cl = load<u32>(base, 24), pl = load<u32>(base, 28);
  const strs = <u64>tl + <u64>gl + <u64>cl + <u64>pl;
  // Every record takes at least 32 bytes: a count beyond that is a lie.
  if (strs > <u64>(len - 32) || <u64>count * 32 > <u64>(len - 32) - strs) {
    malformed = "abi: malformed batch";
    return false;
  }
  topicPtr = base + 32;
  topicLen = tl;
  readerPtr = topicPtr + tl;
  groupLen = gl;
  clientLen = cl;
  principalLen = pl;
  p = readerPtr + gl + cl + pl;
  return true;
}

function reader(): Reader {
  const r = new Reader();
  const gl = groupLen, cl = clientLen, pl = principalLen;
  r.groupId = String.UTF8.decodeUnsafe(readerPtr, gl);
  r.clientId = String.UTF8.decodeUnsafe(readerPtr + gl, cl);
  r.principal = String.UTF8.decodeUnsafe(readerPtr + gl + cl, pl);
  return r;
}

function bad(): bool {
  malformed = "abi: malformed batch";
  return false;
}

// nullable reads a nullable-bytes length at p, checks the bytes fit before
// lim and returns the length (-1 null) or -2 when malformed.
function nullable(lim: usize): i32 {
  if (p + 4 > lim) return -2;
  const n = load<i32>(p);
  p += 4;
  if (n < -1 || (n > 0 && <u64>n > <u64>(lim - p))) return -2;
  if (n > 0) p += <usize>n;
  return n;
}

// next reads the next record into cur (views patched in place). It returns
// false (with malformed set) when the record is truncated or inconsistent.
function next(): bool {
  if (p + 4 > end) return bad();
  const body = load<u32>(p);
  if (<u64>body > <u64>(end - p - 4) || body < 28) return bad();
  recStart = p + 4;
  const lim = recStart + body;
  p = recStart;
  cur.timestamp = load<i64>(p);
  cur.offset = load<i64>(p, 8);
  p += 16;
  const kl = nullable(lim);
  if (kl == -2) return bad();
  if (kl < 0) {
    cur.key = null;
  } else {
    patch(keyView, p - <usize>kl, kl);
    cur.key = keyView;
  }
  const vl = nullable(lim);
  if (vl == -2) return bad();
  if (vl < 0) {
    cur.value = null;
  } else {
    patch(valueView, p - <usize>vl, vl);
    cur.value = valueView;
  }
  if (p + 4 > lim) return bad();
  const hc = load<u32>(p);
  p += 4;
  cur._hdrPtr = p;
  cur._hdrCount = hc;
  cur._headers = null;
  for (let i: u32 = 0; i < hc; i++) {
    if (p + 4 > lim) return bad();
    const kn = load<u32>(p);
    p += 4;
    if (<u64>kn > <u64>(lim - p)) return bad();
    p += kn;
    if (nullable(lim) == -2) return bad();
  }
  cur._hdrEnd = p;
  if (p != lim) return bad();
  return true;
}

// unchanged tells whether r is the current input record as read.
function unchanged(r: Record): bool {
  if (r !== cur) return false;
  const body = recStart;
  if (r.timestamp != load<i64>(body) || r.offset != load<i64>(body, 8)) return false;
  let q = body + 16;
  const kl = load<i32>(q);
  if (kl < 0 ? r.key !== null : r.key !== keyView) return false;
  q += 4 + (kl > 0 ? <usize>kl : 0);
  const vl = load<i32>(q);
  if (vl < 0 ? r.value !== null : r.value !== valueView) return false;
  const hs = r._headers;
  if (hs === null) return true;
  // The headers were decoded (and maybe edited): compare with the input.
  if (<u32>hs.length != r._hdrCount) return false;
  q = r._hdrPtr;
  for (let i = 0; i < hs.length; i++) {
    const h = unchecked(hs[i]);
    const kn = load<u32>(q);
    if (!utf8Equals(q + 4, kn, h.key)) return false;
    q += 4 + kn;
    const n = load<i32>(q);
    q += 4;
    const v = h.value;
    if (n < 0) {
      if (v !== null) return false;
      continue;
    }
    if (v === null || v.byteLength != n || memory.compare(v.dataStart, q, <usize>n) != 0) return false;
    q += <usize>n;
  }
  return true;
}

// ---- output ----

// A growable byte buffer outside the managed heap.
class Out {
  ptr: usize = 0;
  cap: usize = 0;
  len: usize = 0;

  reset(hint: usize): void {
    if (hint > this.cap || (this.cap > <usize>KEEP_BUFFER_BYTES && hint < this.cap / 4)) {
      const n = max<usize>(hint, 4096);
      if (this.ptr != 0) heap.free(this.ptr);
      this.ptr = heap.alloc(n);
      this.cap = n;
    }
    this.len = 0;
  }

  @inline grow(n: usize): usize {
    const at = this.len;
    if (at + n > this.cap) this.realloc(at + n);
    this.len = at + n;
    return this.ptr + at;
  }

  realloc(need: usize): void {
    const n = max<usize>(need, this.cap * 2);
    this.ptr = this.ptr == 0 ? heap.alloc(n) : heap.realloc(this.ptr, n);
    this.cap = n;
  }

  @inline u8(v: u8): void {
    store<u8>(this.grow(1), v);
  }

  @inline u32(v: u32): void {
    store<u32>(this.grow(4), v);
  }

  @inline i64(v: i64): void {
    store<i64>(this.grow(8), v);
  }

  bytes(src: usize, n: usize): void {
    memory.copy(this.grow(n), src, n);
  }

  nullable(b: Uint8Array | null): void {
    if (b === null) {
      this.u32(<u32>-1);
      return;
    }
    const n = b.byteLength;
    this.u32(<u32>n);
    this.bytes(b.dataStart, <usize>n);
  }

  str(s: string): void {
    const n = <u32>String.UTF8.byteLength(s);
    this.u32(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.grow(<usize>n));
  }

  record(r: Record): void {
    const at = this.len;
    this.u32(0); // body length, patched below
    this.i64(r.timestamp);
    this.i64(r.offset);
    this.nullable(r.key);
    this.nullable(r.value);
    const hs = r._headers;
    if (hs === null) {
      // Headers never decoded: copy them as they came.
      this.u32(r._hdrCount);
      if (r._hdrCount > 0) this.bytes(r._hdrPtr, r._hdrEnd - r._hdrPtr);
    } else {
      this.u32(<u32>hs.length);
      for (let i = 0; i < hs.length; i++) {
        const h = unchecked(hs[i]);
        this.str(h.key);
        this.nullable(h.value);
      }
    }
    store<u32>(this.ptr + at, <u32>(this.len - at - 4));
  }

  answer(): u64 {
    return (<u64>this.ptr << 32) | <u64>this.len;
  }
}

const out = new Out();
const emits = new Out();

// A refusal set by refuse() during the current record.
let pending: RefusalError | null = null;

// refuse refuses the whole batch from any hook (a partitioner or filter
// has no error result): the SDK answers with err once your function
// returns. It returns 0 so a partitioner can `return refuse(Reject("..."))`.
export function refuse(err: RefusalError): i32 {
  pending = err;
  return 0;
}

function refusal(err: RefusalError | null, index: u32): u64 {
  pending = null;
  const e = err!;
  out.reset(64);
  out.u32(e.policy ? STATUS_POLICY : STATUS_REJECTED);
  out.str("record " + index.toString() + ": " + e.message);
  return out.answer();
}

function malformedAnswer(): u64 {
  out.reset(64);
  out.u32(STATUS_REJECTED);
  out.str("sdk: " + malformed!);
  return out.answer();
}

// ---- hooks ----

// runPartitioner answers the batch at ptr/len with fn's partition for each
// record, in [0, partitions). Call it from your sluice_partition export.
export function runPartitioner(ptr: usize, len: u32, fn: (r: Record, partitions: i32) => i32): u64 {
  if (!begin(ptr, len)) return malformedAnswer();
  const n = count;
  out.reset(8 + 4 * <usize>n);
  out.u32(STATUS_OK);
  out.u32(n);
  const parts = metaPartitions;
  for (let i: u32 = 0; i < n; i++) {
    if (!next()) return malformedAnswer();
    const part = fn(cur, parts);
    if (pending !== null) return refusal(pending, i);
    out.u32(<u32>part);
  }
  if (p != end) return (bad(), malformedAnswer());
  return out.answer();
}

// Writer receives a transform's output for the current record. Calling
// nothing drops the record; calling keep or write more than once appends
// several records.
export class Writer {
  _index: u32 = 0;
  _count: u32 = 0;
  _emits: u32 = 0;

  // keep appends the input record unchanged (cheapest: no copy).
  keep(): void {
    out.u8(TAG_KEEP);
    out.u32(this._index);
    this._count++;
  }

  // write appends r to the produced partition in place of the input. r is
  // copied before write returns. Writing the input record unchanged is the
  // same as keep().
  write(r: Record): void {
    if (unchanged(r)) {
      this.keep();
      return;
    }
    out.u8(TAG_RECORD);
    out.record(r);
    this._count++;
  }

  // emit sends r to another topic (e.g. a dead-letter topic); the broker
  // partitions it with that topic's partitioner or key hash. r is copied
  // before emit returns.
  emit(topic: string, r: Record): void {
    emits.str(topic);
    emits.record(r);
    this._emits++;
  }
}

const writer = new Writer();

// runTransform answers the batch at ptr/len with what fn writes for each
// record; fn returns null, or a refusal (Reject, Policy) that fails the
// whole batch. Call it from your sluice_transform export.
export function runTransform(ptr: usize, len: u32, fn: (r: Record, w: Writer) => RefusalError | null): u64 {
  if (!begin(ptr, len)) return malformedAnswer();
  const n = count;
  out.reset(<usize>len);
  emits.reset(0);
  out.u32(STATUS_OK);
  out.u32(n);
  out.u32(0); // output count, patched below
  const w = writer;
  w._count = 0;
  w._emits = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!next()) return malformedAnswer();
    w._index = i;
    const err = fn(cur, w);
    if (err !== null) return refusal(err, i);
    if (pending !== null) return refusal(pending, i);
  }
  if (p != end) return (bad(), malformedAnswer());
  store<u32>(out.ptr + 8, w._count);
  out.u32(w._emits);
  if (emits.len > 0) out.bytes(emits.ptr, emits.len);
  return out.answer();
}

// runFilter answers the batch at ptr/len showing the records for which fn
// returns true (offsets are kept). Call it from your sluice_filter export.
export function runFilter(ptr: usize, len: u32, fn: (r: Record, reader: Reader) => bool): u64 {
  if (!begin(ptr, len)) return malformedAnswer();
  const n = count;
  const rd = reader();
  out.reset(12 + 5 * <usize>n);
  out.u32(STATUS_OK);
  out.u32(n);
  out.u32(0);
  let shown: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!next()) return malformedAnswer();
    const show = fn(cur, rd);
    if (pending !== null) return refusal(pending, i);
    if (!show) continue;
    out.u8(TAG_KEEP);
    out.u32(i);
    shown++;
  }
  if (p != end) return (bad(), malformedAnswer());
  store<u32>(out.ptr + 8, shown);
  return out.answer();
}

// runFilterMap is runFilter for a filter that may rewrite what a reader
// sees: fn returns the record to show (its offset stays the input's), the
// input record itself to show it unchanged, or null to hide it.
export function runFilterMap(ptr: usize, len: u32, fn: (r: Record, reader: Reader) => Record | null): u64 {
  if (!begin(ptr, len)) return malformedAnswer();
  const n = count;
  const rd = reader();
  out.reset(12 + 5 * <usize>n);
  out.u32(STATUS_OK);
  out.u32(n);
  out.u32(0);
  let shown: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!next()) return malformedAnswer();
    const offset = cur.offset;
    const r = fn(cur, rd);
    if (pending !== null) return refusal(pending, i);
    if (r === null) continue;
    shown++;
    if (unchanged(r)) {
      out.u8(TAG_KEEP);
      out.u32(i);
      continue;
    }
    out.u8(TAG_RECORD);
    out.u32(i);
    const keep = r.offset;
    r.offset = offset;
    out.record(r);
    r.offset = keep;
  }
  if (p != end) return (bad(), malformedAnswer());
  store<u32>(out.ptr + 8, shown);
  return out.answer();
}

// ---- hooks a module does not implement ----

// An entry file exports only what it defines, so a module written for one
// hook lacks the other two exports, and the broker would refuse it
// deployed as another hook with a bare "missing export". Re-exported under
// the other hooks' names, these answer "sdk: no HOOK registered", as the
// Go and Rust SDKs do, and the broker's deploy check then names the hook
// the module does implement:
//
//   export { noPartitioner as sluice_partition, noFilter as sluice_filter } from "@sluicemq/plugin-sdk";
function unregistered(ptr: usize, len: u32, hook: string): u64 {
  if (!begin(ptr, len)) return malformedAnswer();
  out.reset(64);
  out.u32(STATUS_REJECTED);
  out.str("sdk: no " + hook + " registered");
  return out.answer();
}

// noPartitioner: re-export it as sluice_partition from a transform or a
// filter.
export function noPartitioner(ptr: usize, len: u32): u64 {
  return unregistered(ptr, len, "partitioner");
}

// noTransform: re-export it as sluice_transform from a partitioner or a
// filter.
export function noTransform(ptr: usize, len: u32): u64 {
  return unregistered(ptr, len, "transform");
}

// noFilter: re-export it as sluice_filter from a partitioner or a
// transform.
export function noFilter(ptr: usize, len: u32): u64 {
  return unregistered(ptr, len, "filter");
}
