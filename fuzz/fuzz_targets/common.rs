// Shared by the targets: report every state for every vendor, and touch the output the
// way the command does (formatting every finding).
use segstate::check::report::{Context, Report, Vendors};
use segstate::ingest::qemu_dump;
use segstate::ingest::Input;

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
