//! filter: a Sluice consume filter showing a reader only the records whose
//! `tenant` header equals the name of its authenticated principal
//! (`User:acme` sees tenant `acme`), the Rust twin of the Go example
//! tenant-filter. The client id is never consulted: any client can claim
//! any client id. Anonymous readers (`User:ANONYMOUS`, or none) see no
//! tagged record; records without the header are hidden unless
//! `show_untagged=true`.
//!
//! Configuration: `header` (default `tenant`), `show_untagged` (default
//! `false`), `principal_prefix=false` to compare the whole principal
//! (`User:acme`) with the header.
use sluice_plugin::{config_or, Reader, Record};

struct Settings {
    header: String,
    show_untagged: bool,
    strip_type: bool,
}

thread_local! {
    // Read once per instance (on first use): the configuration never
    // changes. A module instance has one thread.
    static SETTINGS: Settings = Settings {
        header: config_or("header", "tenant"),
        show_untagged: config_or("show_untagged", "false") == "true",
        strip_type: config_or("principal_prefix", "true") == "true",
    };
}

fn show(r: &Record, reader: &Reader) -> bool {
    SETTINGS.with(|s| show_with(s, r, reader))
}

fn show_with(s: &Settings, r: &Record, reader: &Reader) -> bool {
    let tenant = match r.header(&s.header) {
        Some(h) => h.value.unwrap_or(&[]),
        None => return s.show_untagged,
    };
    let mut p = reader.principal;
    if p.is_empty() || p == "User:ANONYMOUS" {
        return false;
    }
    if s.strip_type {
        // "User:acme" -> "acme"
        if let Some(i) = p.find(':') {
            p = &p[i + 1..];
        }
    }
    tenant == p.as_bytes()
}

sluice_plugin::filter!(show);
