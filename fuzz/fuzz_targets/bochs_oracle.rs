//! bochs-oracle's two readers: Bochs's output (port 0xe9 results interleaved with its
//! log) and the conformance table of docs/conformance/bochs.md. Neither may panic;
//! a parsed run never holds more results than the input has bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(outcomes) = bochs_oracle::bochs::parse(data) {
        assert!(outcomes.len() <= data.len());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = bochs_oracle::conformance::parse(std::path::Path::new("fuzz.md"), text);
    }
});
