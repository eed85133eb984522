//! keyhash-partitioner: a Sluice partitioner placing each record by a hash
//! of its key, by default exactly where Kafka's default partitioner (the
//! Java client's, franz-go's) puts keyed records:
//! `(murmur2(key) & 0x7fffffff) % partitions`.
//!
//! Configuration (`--config hash=fnv1a`): `hash=fnv1a` uses
//! `fnv1a32(key) % partitions` instead, the hash of the Go SDK's keyhash
//! test partitioner and the WAT example. A record without a key is hashed
//! as an empty key (one fixed partition, so a client-side copy of this
//! partitioner agrees with the broker).
use sluice_plugin::{config_or, hash, Record};

thread_local! {
    // Read once per instance (on first use): the configuration never
    // changes. A module instance has one thread.
    static FNV: bool = config_or("hash", "murmur2") == "fnv1a";
}

fn fnv1a32(key: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &c in key {
        h = (h ^ c as u32).wrapping_mul(16_777_619);
    }
    h
}

fn partition(r: &Record, partitions: u32) -> u32 {
    let key = r.key.unwrap_or(&[]);
    if FNV.with(|f| *f) {
        fnv1a32(key) % partitions
    } else {
        hash::kafka_partition(key, partitions)
    }
}

sluice_plugin::partitioner!(partition);
