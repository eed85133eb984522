//! mask-email: a Sluice produce transform masking e-mail addresses in
//! record values before they are stored, keeping the domain:
//! `jane@example.com` -> `***@example.com` (the same rule as the Go
//! example mask-pii, without its card numbers). Records with nothing to
//! mask are kept by index (nothing copied); masked ones are built in one
//! reused buffer, so a long run allocates nothing per record.
use sluice_plugin::{Error, Record, Writer};
use std::cell::RefCell;

thread_local! {
    // The masked value of the record being handled (a module instance has
    // one thread).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

fn transform(r: &Record, w: &mut Writer) -> Result<(), Error> {
    SCRATCH.with(|s| {
        let scratch = &mut *s.borrow_mut();
        match r.value {
            Some(v) if mask(scratch, v) => w.write(&Record { value: Some(scratch), ..*r }),
            _ => w.keep(),
        }
    });
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
    while let Some(at) = find_at(value, i) {
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

/// The index of the first '@' in value[from..], eight bytes at a time (a
/// byte-by-byte search compiles to a loop of a compare and a branch per
/// byte; most log lines have one '@' or none).
fn find_at(value: &[u8], from: usize) -> Option<usize> {
    const LANES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= value.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&value[i..i + 8]);
        let x = u64::from_le_bytes(word) ^ (LANES * b'@' as u64); // '@' lanes become 0
        let zero = x.wrapping_sub(LANES) & !x & HIGHS; // exact for the lowest zero lane
        if zero != 0 {
            return Some(i + zero.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    value[i..].iter().position(|&c| c == b'@').map(|p| i + p)
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
    use super::{find_at, mask};

    #[test]
    fn find_at_matches_position() {
        let alphabet = b"@a\x00\x7f\x80\xc0\xff?A";
        let mut v = Vec::new();
        let mut seed = 7u32;
        for n in 0..200 {
            v.clear();
            for _ in 0..n % 37 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push(alphabet[(seed >> 16) as usize % alphabet.len()]);
            }
            for from in 0..=v.len() {
                let want = v[from..].iter().position(|&c| c == b'@').map(|p| from + p);
                assert_eq!(find_at(&v, from), want, "{:?} from {}", v, from);
            }
        }
    }

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
            ("0123456789abcdef xyz@example.com 0123456789abcdef", "0123456789abcdef ***@example.com 0123456789abcdef"),
            ("\u{80}\u{c0}@@a@b.io A@ b@c.de", "\u{80}\u{c0}@@***@b.io A@ ***@c.de"),
        ] {
            assert_eq!(masked(in_), want);
        }
    }
}
