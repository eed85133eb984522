//! Conformance filter (wasm/conformance/README.md): hides records with a
//! "hide" header or another reader's "tenant", masks key "mask".
use sluice_plugin::{Reader, Record, Shown};

fn filter(r: &Record, reader: &Reader, s: &mut Shown) {
    if r.header("hide").is_some() {
        return;
    }
    if !reader.principal.is_empty() {
        if let Some(t) = r.header("tenant") {
            if t.value != Some(reader.principal.as_bytes()) {
                return;
            }
        }
    }
    if r.key == Some(b"mask") {
        s.show_as(&Record { value: Some(b"***"), ..*r });
        return;
    }
    s.show();
}

sluice_plugin::filter_map!(filter);
