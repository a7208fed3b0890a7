//! Fuzz the Cloud Hypervisor snapshot reader: arbitrary text as `state.json` (or a
//! v15–v21 `vm.json`), and as the inner document of one vCPU in an otherwise valid
//! snapshot tree, in each layout that holds one: the JSON-in-a-string of v39 on, the
//! byte array of v29–v38 and the `vcpu-section` of v15–v28 (a bare `VcpuKvmState` or a
//! tagged `CpuState`, the fork's field-named kvm structs). Whatever is read goes through
//! `segstate check`'s conversion and every report. Never a panic.
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
    let bytes = text.as_bytes();
    for snapshot_data in [
        serde_json::json!({"state": text}),
        serde_json::json!(bytes),
        serde_json::json!({"vcpu-section": {"id": "vcpu-section", "snapshot": bytes}}),
    ] {
        let tree = serde_json::json!({
            "snapshots": {"cpu-manager": {"snapshots": {"0": {"snapshots": {},
                "snapshot_data": snapshot_data}}, "snapshot_data": null}},
            "snapshot_data": null
        });
        read(&tree.to_string());
    }
});
