// Shared by the targets: report every state for every vendor, and touch the output the
// way the command does (formatting every finding).
use segstate::check::report::{Context, Report, Vendors};
use segstate::ingest::foreign::{ForeignVcpu, IngestError};
use segstate::ingest::qemu_dump;
use segstate::ingest::{Input, foreign_inputs};

pub const VENDORS: [Vendors; 3] = [Vendors::Intel, Vendors::Amd, Vendors::Both];

pub fn consume(r: &Report) {
    for (_, list) in r.by_segment() {
        for e in list {
            std::hint::black_box(e.finding.to_string());
        }
    }
}

#[allow(dead_code)]
pub fn check_all(inputs: &[Input]) {
    for input in inputs {
        for vendor in VENDORS {
            let r = match &input.dump {
                Some(d) => qemu_dump::report(d, vendor),
                None => segstate::verify::paths::diagnose(
                    &input.state,
                    vendor,
                    Context {
                        source: input.source,
                        vmcb_cpl_byte: input.vmcb_cpl_byte,
                    },
                ),
            };
            consume(&r);
        }
    }
}

/// What the foreign-snapshot targets do with a reader's answer: every vCPU imported
/// (encoded as a segstate snapshot), converted as `check` converts it and reported; a
/// refusal must say something.
#[allow(dead_code)]
pub fn foreign_read(read: Result<Vec<ForeignVcpu>, IngestError>) {
    match read {
        Ok(vcpus) => {
            for v in &vcpus {
                let _ = v.cpl_disagreement();
                std::hint::black_box(v.to_snapshot(0).encode());
                if let Ok(inputs) = foreign_inputs(std::slice::from_ref(v)) {
                    check_all(&inputs);
                }
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
}
