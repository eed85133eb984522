import { config_get } from "./host";

// config returns the deploy-time configuration value for key
// (`sluice plugin deploy --config key=value`), or null when it is not set.
export function config(key: string): string | null {
  const k = String.UTF8.encode(key);
  let cap: i32 = 256;
  let n: i32 = 0;
  let buf: ArrayBuffer;
  do {
    if (n > cap) cap = n; // too small: the value's length, call again
    buf = new ArrayBuffer(cap);
    n = config_get(changetype<usize>(k), <u32>k.byteLength, changetype<usize>(buf), <u32>cap);
    if (n < 0) return null;
  } while (n > cap);
  return String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>n);
}

// configOr returns the configuration value for key, or def when unset.
export function configOr(key: string, def: string): string {
  const v = config(key);
  return v !== null ? v : def;
}
