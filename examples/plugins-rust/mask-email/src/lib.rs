//! mask-email: a Sluice produce transform masking e-mail addresses in
//! record values before they are stored, keeping the domain:
//! `jane@example.com` -> `***@example.com` (the same rule as the Go
//! example mask-pii, without its card numbers). Records with nothing to
//! mask are kept by index (nothing copied); masked ones are built in one
//! reused buffer, so a long run allocates nothing per record.
use sluice_plugin::{Error, Record, Writer};

static mut SCRATCH: Vec<u8> = Vec::new();

fn transform(r: &Record, w: &mut Writer) -> Result<(), Error> {
    // One instance runs one call at a time; nothing else touches SCRATCH.
    let scratch = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) };
    match r.value {
        Some(v) if mask(scratch, v) => w.write(&Record { value: Some(scratch), ..*r }),
        _ => w.keep(),
    }
    Ok(())
}

sluice_plugin::transform!(transform);

/// Writes value with its e-mail addresses masked into out and reports
/// whether there was any (out is left unspecified otherwise).
pub fn mask(out: &mut Vec<u8>, value: &[u8]) -> bool {
    out.clear();
    let mut found = false;
    let mut last = 0; // value[last..] is not copied to out yet
    let mut i = 0;
    while let Some(p) = value[i..].iter().position(|&c| c == b'@') {
        let at = i + p;
        match email_at(value, at) {
            Some((start, end)) => {
                // The local part never reaches back into the previous
                // address.
                let start = start.max(last);
                out.extend_from_slice(&value[last..start]);
                out.extend_from_slice(b"***");
                out.extend_from_slice(&value[at..end]);
                found = true;
                last = end;
                i = end;
            }
            None => i = at + 1,
        }
    }
    if found {
        out.extend_from_slice(&value[last..]);
    }
    found
}

/// The address around the '@' at `at`: the start of its local part and the
/// end of its domain, or None when it is not an address (no local part, or
/// no top-level domain of two letters or more).
fn email_at(v: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && is_local(v[start - 1]) {
        start -= 1;
    }
    if start == at {
        return None;
    }
    let mut end = at + 1;
    while end < v.len() && is_domain(v[end]) {
        end += 1;
    }
    while end > at + 1 && (v[end - 1] == b'.' || v[end - 1] == b'-') {
        end -= 1; // sentence punctuation
    }
    let dot = at + 1 + v[at + 1..end].iter().rposition(|&c| c == b'.')?;
    let tld = &v[dot + 1..end];
    if tld.len() < 2 || !tld.iter().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((start, end))
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

#[cfg(test)]
mod tests {
    use super::mask;

    fn masked(v: &str) -> String {
        let mut out = Vec::new();
        if mask(&mut out, v.as_bytes()) {
            String::from_utf8(out).unwrap()
        } else {
            v.to_string()
        }
    }

    #[test]
    fn masks_addresses() {
        for (in_, want) in [
            ("login ok for jane.doe@example.com from 10.0.0.1", "login ok for ***@example.com from 10.0.0.1"),
            ("mail bob@example.org.", "mail ***@example.org."),
            ("a@b.io,c@d.io", "***@b.io,***@d.io"),
            ("at @home, x@localhost, y@h.c, z@h.c0m", "at @home, x@localhost, y@h.c, z@h.c0m"),
        ] {
            assert_eq!(masked(in_), want);
        }
    }
}
