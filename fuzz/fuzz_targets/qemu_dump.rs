#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::ingest::qemu_dump;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dumps) = qemu_dump::parse(text) else {
        return;
    };
    for d in &dumps {
        // What the parser accepted prints back into text it accepts again.
        let again = qemu_dump::parse(&d.to_text()).expect("to_text output parses");
        assert_eq!(again.len(), 1, "one dump prints as one dump");
        for vendor in common::VENDORS {
            common::consume(&segstate::ingest::qemu_dump::report(d, vendor));
        }
    }
});
