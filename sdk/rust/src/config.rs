//! Deploy-time configuration (`sluice plugin deploy --config key=value`),
//! read through the host's `sluice.config_get`.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "sluice")]
extern "C" {
    /// Copies the value of key into buf and returns its length, or -1 when
    /// the key is not set; when the length is above buf_cap nothing is
    /// copied.
    #[link_name = "config_get"]
    fn host_config_get(key_ptr: *const u8, key_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
}

#[cfg(target_arch = "wasm32")]
fn config_get(key: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = unsafe { host_config_get(key.as_ptr(), key.len() as u32, buf.as_mut_ptr(), buf.len() as u32) };
        if n < 0 {
            return None;
        }
        let n = n as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return Some(buf);
        }
        buf = vec![0u8; n];
    }
}

// Outside WebAssembly (unit tests of a plugin's own logic) nothing is
// configured.
#[cfg(not(target_arch = "wasm32"))]
fn config_get(_key: &str) -> Option<Vec<u8>> {
    None
}

/// The configuration value for key, or None when it is not set. A value
/// that is not UTF-8 is converted lossily.
pub fn config(key: &str) -> Option<String> {
    config_get(key).map(|v| match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The configuration value for key, or def when it is not set.
pub fn config_or(key: &str, def: &str) -> String {
    config(key).unwrap_or_else(|| def.to_string())
}
