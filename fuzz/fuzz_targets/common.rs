// Shared by the targets: report every state for every vendor, and touch the output the
// way the command does (formatting every finding).
use segstate::check::report::{self, Report, Vendor};
use segstate_cli::input::Input;

pub const VENDORS: [Vendor; 3] = [Vendor::Intel, Vendor::Amd, Vendor::Both];

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
                Some(d) => report::report_dump(d, vendor),
                None => report::report_with(
                    &input.state,
                    vendor,
                    report::Context {
                        source: input.source,
                        vmcb_cpl_byte: input.vmcb_cpl_byte,
                    },
                ),
            };
            consume(&r);
        }
    }
}
