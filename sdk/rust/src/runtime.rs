//! The module's side of a call: the buffers the host writes batches into
//! and reads answers from, and the loops that run a registered hook over a
//! batch.
//!
//! A module instance is single-threaded and the host calls one export at a
//! time, so the state lives in `static mut`s, each touched only by the SDK
//! functions below and never while a plugin function holds a reference to
//! it (the answer buffers are moved into the Writer for the call).

use crate::abi::{self, Cursor, InputError, Meta};
use crate::{Reader, Record, Shown, Writer};
use core::ptr::addr_of_mut;

/// Buffers larger than this are dropped once a batch needs less than a
/// quarter of them, so one huge batch does not pin guest memory for the
/// instance's lifetime (as in the Go SDK).
const KEEP_BUFFER_BYTES: usize = 4 << 20;

/// The host writes each batch here (`sluice_alloc`); its length is its
/// capacity, zeroed once when allocated.
static mut INPUT: Vec<u8> = Vec::new();
/// The answer; it stays here until the next call (the host copies it out).
static mut OUTPUT: Vec<u8> = Vec::new();
/// A transform's emits, appended to the answer after its entries.
static mut EMITS: Vec<u8> = Vec::new();
static mut TOPIC: String = String::new();
static mut PARTITION: i32 = -1;

/// The topic of the batch being processed.
pub fn topic() -> String {
    unsafe { (*addr_of_mut!(TOPIC)).clone() }
}

/// The partition of the batch being processed (-1 in a partitioner).
pub fn partition() -> i32 {
    unsafe { PARTITION }
}

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// The module's static constructors, synthesized by the linker.
    fn __wasm_call_ctors();
}

/// The WASI reactor initializer the host runs once per instance: runs the
/// static constructors (of wasi-libc) as crt1-reactor.o does for C. rustc
/// links no crt object into a cdylib, so the SDK provides it; it also tells
/// the broker's deploy check that this is an SDK module it may probe.
///
/// It also makes panics print as Go's do: the broker puts the first stderr
/// line starting with "panic: " at the head of the failed call's error, so
/// Kafka and HTTP clients read the plugin's own reason (the location
/// follows on the next line, which only the broker log gets).
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn _initialize() {
    unsafe { __wasm_call_ctors() }
    std::panic::set_hook(Box::new(|info| {
        let p = info.payload();
        let msg = match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
            (Some(s), _) => s,
            (_, Some(s)) => s.as_str(),
            _ => "Box<dyn Any>",
        };
        let at = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
        // One write per line: the message is never interleaved.
        let first = format!("panic: {}\n", msg.replace('\n', " "));
        let _ = std::io::Write::write_all(&mut std::io::stderr(), first.as_bytes());
        let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("    at {}\n", at).as_bytes());
    }));
}

/// Returns guest memory for the host to write a batch of `size` bytes
/// into, valid until the next call; 0 when the memory cannot be had (the
/// host then fails the call).
#[no_mangle]
pub extern "C" fn sluice_alloc(size: u32) -> u32 {
    let input = unsafe { &mut *addr_of_mut!(INPUT) };
    let n = size as usize;
    let have = input.len();
    if n > have || (have > KEEP_BUFFER_BYTES && n < have / 4) {
        // Grow geometrically (a stream of slowly growing batches must not
        // leave a trail of dead buffers behind), up to the keep bound.
        let mut want = n.max(4096);
        if n > have {
            want = want.max((2 * have).min(KEEP_BUFFER_BYTES));
        }
        *input = Vec::new();
        let mut next = Vec::new();
        if next.try_reserve_exact(want).is_err() {
            return 0;
        }
        next.resize(want, 0);
        *input = next;
    }
    input.as_ptr() as usize as u32
}

/// The batch the host wrote at the address sluice_alloc returned; anything
/// else is malformed.
fn input<'a>(ptr: u32, len: u32) -> Result<&'a [u8], InputError> {
    let input = unsafe { &*addr_of_mut!(INPUT) };
    if input.is_empty() || ptr != input.as_ptr() as usize as u32 || len as usize > input.len() {
        return Err(InputError::Malformed);
    }
    Ok(&input[..len as usize])
}

/// Reads the batch header and bounds its record count by the bytes that
/// follow (a record takes at least 32), before anything is sized from it.
fn begin<'a>(ptr: u32, len: u32) -> Result<(Meta<'a>, Cursor<'a>), InputError> {
    let mut c = Cursor::new(input(ptr, len)?);
    let meta = abi::read_header(&mut c)?;
    if meta.count as usize > c.rest().len() / 32 {
        return Err(InputError::Malformed);
    }
    unsafe {
        let t = &mut *addr_of_mut!(TOPIC);
        t.clear();
        t.push_str(&String::from_utf8_lossy(meta.topic));
        PARTITION = meta.partition;
    }
    Ok((meta, c))
}

// addr_of_mut! of a static mut needs unsafe before rustc 1.80 and not
// after; these keep both quiet.
#[allow(unused_unsafe)]
fn output() -> *mut Vec<u8> {
    unsafe { addr_of_mut!(OUTPUT) }
}

#[allow(unused_unsafe)]
fn emits() -> *mut Vec<u8> {
    unsafe { addr_of_mut!(EMITS) }
}

fn take(buf: *mut Vec<u8>) -> Vec<u8> {
    let mut b = core::mem::take(unsafe { &mut *buf });
    // Drop a buffer far larger than recent answers needed.
    if b.capacity() > KEEP_BUFFER_BYTES && b.len() < b.capacity() / 4 {
        b = Vec::new();
    }
    b.clear();
    b
}

/// Keeps out as the answer and returns its location as ptr << 32 | len.
fn answer(out: Vec<u8>) -> u64 {
    let packed = if out.is_empty() { 0 } else { (out.as_ptr() as usize as u64) << 32 | out.len() as u64 };
    unsafe { *addr_of_mut!(OUTPUT) = out };
    packed
}

fn refuse(mut out: Vec<u8>, status: u32, msg: &str) -> u64 {
    out.clear();
    abi::put_u32(&mut out, status);
    abi::put_str(&mut out, msg.as_bytes());
    answer(out)
}

fn malformed(out: Vec<u8>, e: InputError) -> u64 {
    refuse(out, abi::STATUS_REJECTED, &e.message())
}

#[doc(hidden)]
pub fn run_partition<F: Fn(&Record, u32) -> u32>(ptr: u32, len: u32, f: F) -> u64 {
    let mut out = take(output());
    let (meta, mut c) = match begin(ptr, len) {
        Ok(b) => b,
        Err(e) => return malformed(out, e),
    };
    out.reserve(8 + 4 * meta.count as usize);
    abi::put_u32(&mut out, abi::STATUS_OK);
    abi::put_u32(&mut out, meta.count);
    let partitions = meta.partitions.max(0) as u32;
    for _ in 0..meta.count {
        let r = match abi::read_record(&mut c) {
            Some(r) => r,
            None => return malformed(out, InputError::Malformed),
        };
        abi::put_u32(&mut out, f(&r, partitions));
    }
    answer(out)
}

#[doc(hidden)]
pub fn run_transform<F: Fn(&Record, &mut Writer) -> Result<(), crate::Error>>(ptr: u32, len: u32, f: F) -> u64 {
    let out = take(output());
    let (meta, mut c) = match begin(ptr, len) {
        Ok(b) => b,
        Err(e) => return malformed(out, e),
    };
    let mut w = Writer { index: 0, out, count: 0, emits: take(emits()), n_emits: 0 };
    // Most transforms answer about as much as they were given.
    w.out.reserve(len as usize);
    abi::put_u32(&mut w.out, abi::STATUS_OK);
    abi::put_u32(&mut w.out, meta.count);
    abi::put_u32(&mut w.out, 0); // output count, patched below
    for i in 0..meta.count {
        let r = match abi::read_record(&mut c) {
            Some(r) => r,
            None => {
                unsafe { *addr_of_mut!(EMITS) = w.emits };
                return malformed(w.out, InputError::Malformed);
            }
        };
        w.index = i;
        if let Err(e) = f(&r, &mut w) {
            unsafe { *addr_of_mut!(EMITS) = w.emits };
            let (status, msg) = match &e {
                crate::Error::Reject(m) => (abi::STATUS_REJECTED, m),
                crate::Error::Policy(m) => (abi::STATUS_POLICY, m),
            };
            return refuse(w.out, status, &format!("record {}: {}", i, msg));
        }
    }
    let Writer { mut out, count, emits, n_emits, .. } = w;
    out[8..12].copy_from_slice(&count.to_le_bytes());
    abi::put_u32(&mut out, n_emits);
    out.extend_from_slice(&emits);
    unsafe { *addr_of_mut!(EMITS) = emits };
    answer(out)
}

#[doc(hidden)]
pub fn run_filter<F: Fn(&Record, &Reader, &mut Shown)>(ptr: u32, len: u32, f: F) -> u64 {
    let mut out = take(output());
    let (meta, mut c) = match begin(ptr, len) {
        Ok(b) => b,
        Err(e) => return malformed(out, e),
    };
    let s = |b| core::str::from_utf8(b).map_err(|_| InputError::Malformed);
    let reader = match (s(meta.group_id), s(meta.client_id), s(meta.principal)) {
        (Ok(group_id), Ok(client_id), Ok(principal)) => Reader { group_id, client_id, principal },
        _ => return malformed(out, InputError::Malformed),
    };
    out.reserve(12 + 5 * meta.count as usize);
    abi::put_u32(&mut out, abi::STATUS_OK);
    abi::put_u32(&mut out, meta.count);
    abi::put_u32(&mut out, 0); // output count, patched below
    let mut shown = Shown { index: 0, mark: 0, out };
    let mut count = 0u32;
    for i in 0..meta.count {
        let r = match abi::read_record(&mut c) {
            Some(r) => r,
            None => return malformed(shown.out, InputError::Malformed),
        };
        shown.index = i;
        shown.mark = shown.out.len();
        f(&r, &reader, &mut shown);
        if shown.out.len() > shown.mark {
            count += 1;
        }
    }
    let mut out = shown.out;
    out[8..12].copy_from_slice(&count.to_le_bytes());
    answer(out)
}

/// The answer of a hook the module does not register: the broker's deploy
/// check reads it to name the hook the module does register.
#[doc(hidden)]
pub fn unregistered(ptr: u32, len: u32, hook: &str) -> u64 {
    let out = take(output());
    if let Err(e) = begin(ptr, len) {
        return malformed(out, e);
    }
    refuse(out, abi::STATUS_REJECTED, &format!("sdk: no {} registered", hook))
}
