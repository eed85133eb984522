// Imports from the broker. A plugin may import only `sluice.*` and
// `wasi_snapshot_preview1.*`; the build routes AssemblyScript's own
// `env.abort`, `env.trace` and `env.seed` to the functions below
// (asconfig.json: "use"), so a module never imports `env`.

@external("sluice", "config_get")
export declare function config_get(keyPtr: usize, keyLen: u32, bufPtr: usize, bufCap: u32): i32;

@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLen: u32, written: usize): u16;

@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u16;

// writeRaw writes len bytes at ptr to fd (1 stdout, 2 stderr: both go to
// the broker log, one line per record). Errors are ignored: there is
// nowhere else to report them.
function writeRaw(fd: u32, ptr: usize, len: usize): void {
  // One iovec (ptr, len) and the written count, in scratch memory that
  // is not managed (the collector never sees it).
  const iov = heap.alloc(12);
  store<u32>(iov, <u32>ptr);
  store<u32>(iov, <u32>len, 4);
  fd_write(fd, iov, 1, iov + 8);
  heap.free(iov);
}

// log writes s and a newline to stderr (the broker logs it as a warning
// line of this plugin).
export function log(s: string): void {
  const b = String.UTF8.encode(s + "\n");
  writeRaw(2, changetype<usize>(b), <usize>b.byteLength);
}

// sluiceAbort replaces `env.abort`: a failed assertion, an out-of-range
// index or any `throw` prints "panic: MESSAGE" and then "    at
// FILE:LINE:COL" to stderr and traps, as the Go and Rust SDKs print a
// panic: the broker starts the call's error with the panic line, so
// producers read the plugin's own reason, and the location stays in the
// broker log.
export function sluiceAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  log("panic: " + (message !== null ? message.replaceAll("\n", " ") : "abort"));
  if (fileName !== null) log("    at " + fileName + ":" + line.toString() + ":" + column.toString());
  unreachable();
}

// sluiceTrace replaces `env.trace`: the message and its numbers on stderr.
export function sluiceTrace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let s = "trace: " + message;
  if (n > 0) s += " " + a0.toString();
  if (n > 1) s += " " + a1.toString();
  if (n > 2) s += " " + a2.toString();
  if (n > 3) s += " " + a3.toString();
  if (n > 4) s += " " + a4.toString();
  log(s);
}

// sluiceSeed replaces `env.seed` (Math.random's seed) with WASI's random
// source.
export function sluiceSeed(): f64 {
  const p = heap.alloc(8);
  random_get(p, 8);
  const v = <f64>(load<u64>(p) >>> 11);
  heap.free(p);
  return v;
}
