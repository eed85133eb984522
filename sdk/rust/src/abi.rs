//! The byte layout of the batch ABI, version 2 (docs/plugin-abi.md). All
//! integers are little-endian.

use crate::{Header, Headers, HeadersRepr, Record};

pub const VERSION: u32 = 2;
pub const STATUS_OK: u32 = 0;
pub const STATUS_REJECTED: u32 = 1;
pub const STATUS_POLICY: u32 = 2;
pub const TAG_KEEP: u8 = 0;
pub const TAG_RECORD: u8 = 1;
pub const TAG_REPLACE: u8 = 1;

/// Reads the layout from a byte slice; every read is bounds-checked and
/// answers None past the end.
pub struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b }
    }

    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Some(head)
    }

    pub fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self) -> Option<i64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(i64::from_le_bytes(a))
    }

    /// str: u32 length + bytes.
    pub fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }

    /// nullable bytes: i32 length (-1 = null) + bytes. Other negative
    /// lengths are malformed.
    pub fn nullable(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.u32()? as i32;
        if n == -1 {
            return Some(None);
        }
        if n < 0 {
            return None;
        }
        Some(Some(self.bytes(n as usize)?))
    }
}

/// The per-batch header of an Input.
pub struct Meta<'a> {
    pub partition: i32,
    pub partitions: i32,
    pub count: u32,
    pub topic: &'a [u8],
    pub group_id: &'a [u8],
    pub client_id: &'a [u8],
    pub principal: &'a [u8],
}

/// Why an Input could not be read.
pub enum InputError {
    Version,
    Malformed,
}

impl InputError {
    pub fn message(&self) -> String {
        match self {
            // The Go SDK's words exactly: the broker's deploy check and
            // the conformance suite read them.
            InputError::Version => "sdk: abi: unsupported ABI version (rebuild the plugin with the broker's SDK)".to_string(),
            InputError::Malformed => "sdk: abi: malformed batch".to_string(),
        }
    }
}

/// Reads the Input header; the cursor is left at the first record.
pub fn read_header<'a>(c: &mut Cursor<'a>) -> Result<Meta<'a>, InputError> {
    let version = c.u32().ok_or(InputError::Malformed)?;
    if version != VERSION {
        return Err(InputError::Version);
    }
    let mut f = || c.u32().ok_or(InputError::Malformed);
    let partition = f()? as i32;
    let partitions = f()? as i32;
    let count = f()?;
    let (tl, gl, cl, pl) = (f()?, f()?, f()?, f()?);
    let mut s = |n: u32| c.bytes(n as usize).ok_or(InputError::Malformed);
    Ok(Meta {
        partition,
        partitions,
        count,
        topic: s(tl)?,
        group_id: s(gl)?,
        client_id: s(cl)?,
        principal: s(pl)?,
    })
}

/// Reads one record in place, validating its headers so that iterating
/// them later cannot fail. A record whose body length disagrees with its
/// fields is malformed.
pub fn read_record<'a>(c: &mut Cursor<'a>) -> Option<Record<'a>> {
    let len = c.u32()? as usize;
    let mut body = Cursor::new(c.bytes(len)?);
    let timestamp = body.i64()?;
    let offset = body.i64()?;
    let key = body.nullable()?;
    let value = body.nullable()?;
    let count = body.u32()?;
    // Each header takes at least 8 bytes: bound the count before looping.
    if count as usize > body.rest().len() / 8 {
        return None;
    }
    let start = body.rest();
    for _ in 0..count {
        body.str_bytes()?;
        body.nullable()?;
    }
    if !body.rest().is_empty() {
        return None;
    }
    Some(Record {
        key,
        value,
        headers: Headers(HeadersRepr::Encoded { count, bytes: start }),
        timestamp,
        offset,
    })
}

pub fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

pub fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    put_u32(b, s.len() as u32);
    b.extend_from_slice(s);
}

fn put_nullable(b: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => put_u32(b, u32::MAX), // -1
        Some(v) => put_str(b, v),
    }
}

/// Appends a length-prefixed record.
pub fn put_record(b: &mut Vec<u8>, r: &Record) {
    let at = b.len();
    put_u32(b, 0); // body length, patched below
    b.extend_from_slice(&r.timestamp.to_le_bytes());
    b.extend_from_slice(&r.offset.to_le_bytes());
    put_nullable(b, r.key);
    put_nullable(b, r.value);
    match r.headers.0 {
        // Input headers go back as they came, in one copy.
        HeadersRepr::Encoded { count, bytes } => {
            put_u32(b, count);
            b.extend_from_slice(bytes);
        }
        HeadersRepr::List(list) => {
            put_u32(b, list.len() as u32);
            for h in list {
                put_header(b, h);
            }
        }
    }
    let body = (b.len() - at - 4) as u32;
    b[at..at + 4].copy_from_slice(&body.to_le_bytes());
}

fn put_header(b: &mut Vec<u8>, h: &Header) {
    put_str(b, h.key);
    put_nullable(b, h.value);
}
