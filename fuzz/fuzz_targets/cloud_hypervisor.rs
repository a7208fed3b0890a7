//! Fuzz the Cloud Hypervisor snapshot reader: arbitrary text as `state.json`, and as
//! the inner `CpuState` document of one vCPU in an otherwise valid snapshot tree (the
//! JSON-in-a-string layer). Whatever is read goes through `segstate check`'s conversion
//! and every report. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstate::ingest::cloud_hypervisor;

#[path = "common.rs"]
mod common;

fn read(text: &str) {
    common::foreign_read(cloud_hypervisor::read(text, "fuzz"));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    read(text);
    let tree = serde_json::json!({
        "snapshots": {"cpu-manager": {"snapshots": {"0": {"snapshots": {},
            "snapshot_data": {"state": text}}}, "snapshot_data": null}},
        "snapshot_data": null
    });
    read(&tree.to_string());
});
