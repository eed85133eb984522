//! Sluice plugin SDK for Rust: the guest side of Sluice's plugin batch ABI
//! (version 2, docs/plugin-abi.md), with the same record model, errors and
//! configuration as the Go SDK (package `sdk`).
//!
//! A plugin is a `cdylib` built for `wasm32-wasi` (`wasm32-wasip1` on newer
//! rustc) that registers one hook with a macro:
//!
//! ```ignore
//! use sluice_plugin::{Record, Writer, Error};
//!
//! fn mask(r: &Record, w: &mut Writer) -> Result<(), Error> {
//!     match r.value {
//!         Some(v) if v.is_empty() => Err(sluice_plugin::reject("empty value")),
//!         _ => { w.keep(); Ok(()) }
//!     }
//! }
//! sluice_plugin::transform!(mask);
//! ```
//!
//! The macro defines the module's exports (`sluice_partition`,
//! `sluice_transform`, `sluice_filter`, the unregistered ones answering
//! "sdk: no ... registered" so the broker's deploy check names the hook the
//! module does register); the SDK itself exports `sluice_alloc` and
//! `_initialize` (a WASI reactor: there is no `_start`). Records are read in
//! place from the batch the host wrote: nothing is copied per record unless
//! the plugin writes a changed record.

#![warn(missing_docs)]

mod abi;
mod config;
pub mod hash;
mod runtime;

pub use config::{config, config_or};
pub use runtime::{partition, topic};

#[doc(hidden)]
pub mod __rt {
    pub use crate::runtime::{run_filter, run_partition, run_transform, unregistered};
}

/// A record header. `value` is `None` for a null header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's key (Kafka header keys are strings; compared as bytes).
    pub key: &'a [u8],
    /// The header's value; `None` is a null value.
    pub value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// A header with a string key.
    pub const fn new(key: &'a str, value: Option<&'a [u8]>) -> Header<'a> {
        Header { key: key.as_bytes(), value }
    }
}

/// The headers of a record: either those of an input record (read in place
/// from the batch) or a list the plugin built.
#[derive(Clone, Copy, Debug)]
pub struct Headers<'a>(HeadersRepr<'a>);

#[derive(Clone, Copy, Debug)]
enum HeadersRepr<'a> {
    /// count headers encoded as in the ABI (validated when decoded).
    Encoded { count: u32, bytes: &'a [u8] },
    List(&'a [Header<'a>]),
}

impl<'a> Headers<'a> {
    /// No headers.
    pub const EMPTY: Headers<'static> = Headers(HeadersRepr::List(&[]));

    /// The headers in list.
    pub const fn from_slice(list: &'a [Header<'a>]) -> Headers<'a> {
        Headers(HeadersRepr::List(list))
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        match self.0 {
            HeadersRepr::Encoded { count, .. } => count as usize,
            HeadersRepr::List(l) => l.len(),
        }
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers in order.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter(match self.0 {
            HeadersRepr::Encoded { count, bytes } => IterRepr::Encoded { left: count, bytes },
            HeadersRepr::List(l) => IterRepr::List(l.iter()),
        })
    }

    /// The first header named key.
    pub fn get(&self, key: &str) -> Option<Header<'a>> {
        self.iter().find(|h| h.key == key.as_bytes())
    }
}

impl<'a> From<&'a [Header<'a>]> for Headers<'a> {
    fn from(list: &'a [Header<'a>]) -> Self {
        Headers::from_slice(list)
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Headers`].
pub struct HeaderIter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Encoded { left: u32, bytes: &'a [u8] },
    List(core::slice::Iter<'a, Header<'a>>),
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;
    fn next(&mut self) -> Option<Header<'a>> {
        match &mut self.0 {
            IterRepr::List(it) => it.next().copied(),
            IterRepr::Encoded { left, bytes } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // The batch was validated when decoded: this cannot fail.
                let mut r = abi::Cursor::new(bytes);
                let key = r.str_bytes()?;
                let value = r.nullable()?;
                *bytes = r.rest();
                Some(Header { key, value })
            }
        }
    }
}

/// A record as a plugin sees it. Input records borrow the batch and are
/// valid only during the call; a plugin builds changed records from its own
/// buffers (`Record { value: Some(&buf), ..*r }`).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The key; `None` when the record has no key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: Headers<'a>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The record's offset in filters; -1 in partitioners and transforms
    /// (not assigned yet).
    pub offset: i64,
}

impl<'a> Record<'a> {
    /// The first header named key.
    pub fn header(&self, key: &str) -> Option<Header<'a>> {
        self.headers.get(key)
    }
}

/// Who is fetching, for filters.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    /// Empty for consumers outside a group.
    pub group_id: &'a str,
    /// The client's own claim: never an identity.
    pub client_id: &'a str,
    /// Who authenticated: `User:alice`, or `User:ANONYMOUS`.
    pub principal: &'a str,
}

/// A transform's refusal of a batch: the produce fails and nothing of the
/// batch is appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// INVALID_RECORD with this message (status 1).
    Reject(String),
    /// POLICY_VIOLATION with this message (status 2).
    Policy(String),
}

/// A refusal failing the produce with INVALID_RECORD.
pub fn reject(msg: impl Into<String>) -> Error {
    Error::Reject(msg.into())
}

/// A refusal failing the produce with POLICY_VIOLATION.
pub fn policy(msg: impl Into<String>) -> Error {
    Error::Policy(msg.into())
}

/// Any other error message is a rejection, as in the Go SDK.
impl From<String> for Error {
    fn from(msg: String) -> Error {
        Error::Reject(msg)
    }
}

impl From<&str> for Error {
    fn from(msg: &str) -> Error {
        Error::Reject(msg.to_string())
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Reject(m) | Error::Policy(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// Receives a transform's output for the current record. Calling nothing
/// drops the record; calling `keep` or `write` more than once appends
/// several records.
pub struct Writer {
    pub(crate) index: u32,
    pub(crate) out: Vec<u8>,
    pub(crate) count: u32,
    pub(crate) emits: Vec<u8>,
    pub(crate) n_emits: u32,
}

impl Writer {
    /// Appends the input record unchanged (cheapest: the answer names it by
    /// index, nothing is copied).
    pub fn keep(&mut self) {
        self.out.push(abi::TAG_KEEP);
        abi::put_u32(&mut self.out, self.index);
        self.count += 1;
    }

    /// Appends r in place of the input record (its offset is ignored). r
    /// is copied before `write` returns, so its buffers may be reused.
    pub fn write(&mut self, r: &Record) {
        self.out.push(abi::TAG_RECORD);
        abi::put_record(&mut self.out, r);
        self.count += 1;
    }

    /// Sends r to another topic (e.g. a dead-letter topic); the broker
    /// partitions it with that topic's partitioner or key hash. r is
    /// copied before `emit` returns.
    pub fn emit(&mut self, topic: &str, r: &Record) {
        abi::put_str(&mut self.emits, topic.as_bytes());
        abi::put_record(&mut self.emits, r);
        self.n_emits += 1;
    }
}

/// Receives a rewriting filter's decision for the current record: `show`
/// shows it unchanged, `show_as` shows another record in its place (its
/// offset stays the input's), calling nothing hides it. The last call wins.
pub struct Shown {
    pub(crate) index: u32,
    pub(crate) mark: usize,
    pub(crate) out: Vec<u8>,
}

impl Shown {
    /// Shows the input record unchanged.
    pub fn show(&mut self) {
        self.out.truncate(self.mark);
        self.out.push(abi::TAG_KEEP);
        abi::put_u32(&mut self.out, self.index);
    }

    /// Shows r instead of the input record; r is copied before `show_as`
    /// returns.
    pub fn show_as(&mut self, r: &Record) {
        self.out.truncate(self.mark);
        self.out.push(abi::TAG_REPLACE);
        abi::put_u32(&mut self.out, self.index);
        abi::put_record(&mut self.out, r);
    }

    /// Hides the record (undoes an earlier `show` or `show_as`).
    pub fn hide(&mut self) {
        self.out.truncate(self.mark);
    }
}

/// Registers `f: fn(&Record, partitions: u32) -> u32` as the module's
/// partitioner; it returns a partition in `[0, partitions)` per record.
#[macro_export]
macro_rules! partitioner {
    ($f:expr) => {
        #[no_mangle]
        pub extern "C" fn sluice_partition(ptr: u32, len: u32) -> u64 {
            $crate::__rt::run_partition(ptr, len, $f)
        }
        $crate::__unregistered!(sluice_transform, "transform");
        $crate::__unregistered!(sluice_filter, "filter");
    };
}

/// Registers `f: fn(&Record, &mut Writer) -> Result<(), Error>` as the
/// module's produce transform, called per record; an error refuses the
/// whole batch.
#[macro_export]
macro_rules! transform {
    ($f:expr) => {
        #[no_mangle]
        pub extern "C" fn sluice_transform(ptr: u32, len: u32) -> u64 {
            $crate::__rt::run_transform(ptr, len, $f)
        }
        $crate::__unregistered!(sluice_partition, "partitioner");
        $crate::__unregistered!(sluice_filter, "filter");
    };
}

/// Registers `f: fn(&Record, &Reader) -> bool` as the module's consume
/// filter: a record is shown to the reader when f returns true. Offsets are
/// kept.
#[macro_export]
macro_rules! filter {
    ($f:expr) => {
        #[no_mangle]
        pub extern "C" fn sluice_filter(ptr: u32, len: u32) -> u64 {
            let f: fn(&$crate::Record, &$crate::Reader) -> bool = $f;
            $crate::__rt::run_filter(ptr, len, |r, rd, s| {
                if f(r, rd) {
                    s.show()
                }
            })
        }
        $crate::__unregistered!(sluice_partition, "partitioner");
        $crate::__unregistered!(sluice_transform, "transform");
    };
}

/// Registers `f: fn(&Record, &Reader, &mut Shown)` as a consume filter that
/// may also rewrite what the reader sees (`Shown::show_as`).
#[macro_export]
macro_rules! filter_map {
    ($f:expr) => {
        #[no_mangle]
        pub extern "C" fn sluice_filter(ptr: u32, len: u32) -> u64 {
            $crate::__rt::run_filter(ptr, len, $f)
        }
        $crate::__unregistered!(sluice_partition, "partitioner");
        $crate::__unregistered!(sluice_transform, "transform");
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __unregistered {
    ($name:ident, $hook:literal) => {
        #[no_mangle]
        pub extern "C" fn $name(ptr: u32, len: u32) -> u64 {
            $crate::__rt::unregistered(ptr, len, $hook)
        }
    };
}
