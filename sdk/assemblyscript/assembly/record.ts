// The record model, the same as the Go SDK's (sdk/record.go): key, value,
// headers, timestamp and offset; Reader for filters; Reject and Policy
// refusals.

// A record header. value null: a header with a null value.
export class Header {
  constructor(public key: string, public value: Uint8Array | null) {}

  // Header.text("x-upper", "1"): a header with a UTF-8 string value.
  static text(key: string, value: string): Header {
    return new Header(key, utf8(value));
  }
}

// A record as a plugin sees it. Records handed to your function are read
// in place from the batch the broker wrote into guest memory: their key,
// value and header bytes are views of it, valid only while your function
// runs for that record (the next record reuses the same views), so copy
// what you keep (slice()). Never modify those bytes in place: assign a new
// array instead (r.value = ...), which the SDK sees as a change.
export class Record {
  // null: no key.
  key: Uint8Array | null = null;
  // null: a tombstone.
  value: Uint8Array | null = null;
  // Milliseconds since the epoch.
  timestamp: i64 = 0;
  // The record's offset in filters; -1 in partitioners and transforms (not
  // assigned yet).
  offset: i64 = -1;

  // Headers still in the input batch (decoded on first use of headers).
  _hdrPtr: usize = 0;
  _hdrEnd: usize = 0;
  _hdrCount: u32 = 0;
  _headers: Array<Header> | null = null;

  // The record's headers, in order. Decoded from the batch on first use;
  // assigning (or changing) them makes the record a changed one.
  get headers(): Array<Header> {
    let h = this._headers;
    if (h === null) {
      h = decodeHeaders(this._hdrPtr, this._hdrCount);
      this._headers = h;
    }
    return h;
  }

  set headers(h: Array<Header>) {
    this._headers = h;
  }

  // header returns the value of the first header named key, or null when
  // there is none or its value is null (hasHeader tells them apart).
  // Nothing is decoded when the headers were not used otherwise.
  header(key: string): Uint8Array | null {
    const hs = this._headers;
    if (hs !== null) {
      for (let i = 0; i < hs.length; i++) {
        const h = unchecked(hs[i]);
        if (h.key == key) return h.value;
      }
      return null;
    }
    let p = this._hdrPtr;
    for (let i: u32 = 0; i < this._hdrCount; i++) {
      const kl = load<u32>(p);
      const match = utf8Equals(p + 4, kl, key);
      p += 4 + kl;
      const vl = load<i32>(p);
      p += 4;
      if (match) return vl < 0 ? null : view(p, vl);
      if (vl > 0) p += <usize>vl;
    }
    return null;
  }

  // hasHeader tells whether the record has a header named key.
  hasHeader(key: string): bool {
    const hs = this._headers;
    if (hs !== null) {
      for (let i = 0; i < hs.length; i++) {
        if (unchecked(hs[i]).key == key) return true;
      }
      return false;
    }
    let p = this._hdrPtr;
    for (let i: u32 = 0; i < this._hdrCount; i++) {
      const kl = load<u32>(p);
      if (utf8Equals(p + 4, kl, key)) return true;
      p += 4 + kl;
      const vl = load<i32>(p);
      p += 4;
      if (vl > 0) p += <usize>vl;
    }
    return false;
  }

  // clone returns a new record with the same fields and its own header
  // array; its bytes are still views of the batch (valid during the call).
  clone(): Record {
    const r = new Record();
    r.key = rewrap(this.key);
    r.value = rewrap(this.value);
    r.timestamp = this.timestamp;
    r.offset = this.offset;
    const hs = this._headers;
    if (hs !== null) {
      r._headers = hs.slice(0);
    } else {
      r._hdrPtr = this._hdrPtr;
      r._hdrEnd = this._hdrEnd;
      r._hdrCount = this._hdrCount;
    }
    return r;
  }
}

// Who is fetching, for filters.
export class Reader {
  // Empty for consumers outside a group.
  groupId: string = "";
  // The client's own claim: never an identity.
  clientId: string = "";
  // Who authenticated: "User:alice", or "User:ANONYMOUS".
  principal: string = "";
}

// A refusal of the batch by a hook: the produce fails with INVALID_RECORD
// (Reject) or POLICY_VIOLATION (Policy) and message as its error message.
// Nothing of the batch is appended.
export class RefusalError {
  constructor(public policy: bool, public message: string) {}
}

// Reject makes a refusal that fails the produce with INVALID_RECORD.
export function Reject(message: string): RefusalError {
  return new RefusalError(false, message);
}

// Policy makes a refusal that fails the produce with POLICY_VIOLATION.
export function Policy(message: string): RefusalError {
  return new RefusalError(true, message);
}

// utf8 encodes s as UTF-8 bytes (for keys, values and headers).
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

// text decodes UTF-8 bytes into a string ("" for null).
export function text(b: Uint8Array | null): string {
  if (b === null) return "";
  return String.UTF8.decodeUnsafe(b.dataStart, <usize>b.byteLength);
}

// equals tells whether the bytes b are the UTF-8 encoding of s (false for
// null), without allocating.
export function equals(b: Uint8Array | null, s: string): bool {
  if (b === null) return false;
  return utf8Equals(b.dataStart, <u32>b.byteLength, s);
}

// utf8Equals compares n bytes at p with the UTF-8 encoding of s, encoding
// on the fly.
export function utf8Equals(p: usize, n: u32, s: string): bool {
  const len = s.length;
  const end = p + <usize>n;
  for (let i = 0; i < len; i++) {
    let c = <u32>s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < len) {
      const d = <u32>s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) {
      if (p >= end || <u32>load<u8>(p) != c) return false;
      p++;
    } else if (c < 0x800) {
      if (p + 2 > end || <u32>load<u8>(p) != (0xc0 | (c >> 6)) || <u32>load<u8>(p, 1) != (0x80 | (c & 63))) return false;
      p += 2;
    } else if (c < 0x10000) {
      if (p + 3 > end || <u32>load<u8>(p) != (0xe0 | (c >> 12)) || <u32>load<u8>(p, 1) != (0x80 | ((c >> 6) & 63)) ||
        <u32>load<u8>(p, 2) != (0x80 | (c & 63))) return false;
      p += 3;
    } else {
      if (p + 4 > end || <u32>load<u8>(p) != (0xf0 | (c >> 18)) || <u32>load<u8>(p, 1) != (0x80 | ((c >> 12) & 63)) ||
        <u32>load<u8>(p, 2) != (0x80 | ((c >> 6) & 63)) || <u32>load<u8>(p, 3) != (0x80 | (c & 63))) return false;
      p += 4;
    }
  }
  return p == end;
}

// The batch's buffer, for views of it (set by the ABI code).
let viewBuffer: ArrayBuffer | null = null;

export function setViewBuffer(b: ArrayBuffer): void {
  viewBuffer = b;
}

// view makes a view of n bytes at p inside the batch buffer.
export function view(p: usize, n: i32): Uint8Array {
  const b = viewBuffer!;
  return Uint8Array.wrap(b, <i32>(p - changetype<usize>(b)), n);
}

// rewrap gives a view of the batch its own view object (the SDK patches its
// per-record views in place); other arrays are returned as they are.
function rewrap(a: Uint8Array | null): Uint8Array | null {
  if (a === null) return null;
  const b = viewBuffer;
  if (b !== null && a.buffer === b) return view(a.dataStart, a.byteLength);
  return a;
}

function decodeHeaders(p: usize, count: u32): Array<Header> {
  const hs = new Array<Header>(0);
  for (let i: u32 = 0; i < count; i++) {
    const kl = load<u32>(p);
    const key = String.UTF8.decodeUnsafe(p + 4, <usize>kl);
    p += 4 + kl;
    const vl = load<i32>(p);
    p += 4;
    let value: Uint8Array | null = null;
    if (vl >= 0) {
      value = view(p, vl);
      p += <usize>vl;
    }
    hs.push(new Header(key, value));
  }
  return hs;
}
