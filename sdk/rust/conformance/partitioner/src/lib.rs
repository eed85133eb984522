//! Conformance partitioner (wasm/conformance/README.md): keyed records go
//! where Kafka's default partitioner puts them, unkeyed ones to
//! len(value) mod partitions.
use sluice_plugin::{hash, Record};

fn partition(r: &Record, partitions: u32) -> u32 {
    match r.key {
        Some(k) => hash::kafka_partition(k, partitions),
        None => r.value.map_or(0, |v| v.len() as u32) % partitions,
    }
}

sluice_plugin::partitioner!(partition);
