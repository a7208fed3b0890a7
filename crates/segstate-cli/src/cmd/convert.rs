//! `segstate convert`: one segment, or a whole kvm_sregs, between formats and
//! through profile chains.

use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::{Value, json};

use super::{Failure, Outcome, print_json};
use segstate::arch::{Descriptor, PerSegReg, PrivilegeLevel, SegReg, Segment, Selector};
use segstate::format::hyperv::HvSegmentRegister;
use segstate::format::kvm::{KvmSegment, KvmSregs};
use segstate::format::qemu::QemuSegmentCache;
use segstate::format::svm::VmcbSegment;
use segstate::format::vmx::VmxSegment;
use segstate::ingest::source;
use segstate::json::{self as j, VmcbSegmentWithCpl, parse, parse_hex_bytes};
use segstate::profile::{Chain, Format, InFlight, SegmentValue};
use segstate::verify;

/// The exit status of a chain that changed the CPL.
pub const CPL_CHANGED: u8 = 3;

/// The shapes `convert` reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// kvm_segment as JSON, with KVM's field names.
    Kvm,
    /// kvm_segment as 24 bytes of hex.
    KvmBytes,
    /// kvm_sregs as JSON.
    Sregs,
    /// kvm_sregs as 312 bytes of hex.
    SregsBytes,
    /// VMCB segment as JSON: selector, attrib, limit, base (and cpl, for chains).
    Vmcb,
    /// VMCB segment as 16 bytes of hex.
    VmcbBytes,
    /// VMCS guest segment as JSON: selector, base, limit, access_rights.
    Vmx,
    /// QEMU SegmentCache as JSON: selector, base, limit, flags.
    Qemu,
    /// Hyper-V segment register as JSON: base, limit, selector, attributes.
    Hyperv,
    /// Hyper-V segment register as 16 bytes of hex.
    HypervBytes,
    /// An 8-byte GDT/LDT descriptor as a hex number.
    Descriptor,
}

/// Convert a segment between formats, or run it through a chain of profiles.
///
/// Without `--chain`, the conversion is raw and exact: the input is decoded strictly
/// and re-encoded; a value the target cannot hold (an unusable segment that says P=1
/// into a VMCB, a type above 15) is an error naming the field, never dropped.
///
/// With `--chain`, the input is in the chain's source format (VMCB, VMCS, or kvm for a
/// chain that starts with a VMM) and is cooked by every step, as KVM and QEMU would;
/// `--trace` shows the value after every conversion. A kvm_sregs (`--from sregs` or
/// `sregs-bytes`) goes through whole.
///
/// Numbers may be JSON numbers or strings ("0x2b"). The input is the INPUT argument,
/// or standard input when it is `-` or absent.
///
/// Bytes shapes (`*-bytes`) are written as bare hex, which `--from` the same shape
/// reads back; a descriptor as a bare hex number.
///
/// Exit status: 0 on success, 1 when the target cannot hold the value, 2 when the
/// input cannot be read, 3 when `--chain` changed the CPL (the output's SS means
/// another privilege level than the input's; stderr says which).
#[derive(clap::Args, Debug)]
#[command(after_help = r#"Examples:
  segstate convert --from vmcb --to vmx '{"selector":"0x2b","attrib":"0xcf3","limit":"0xffffffff","base":0}'
  segstate convert --from kvm --to qemu '{"base":0,"limit":4294967295,"selector":43,"type":3,"present":1,"dpl":3,"db":1,"s":1,"l":0,"g":1,"avl":0,"unusable":0}'
  segstate convert --from descriptor --to kvm --selector 0x33 0x00affb000000ffff
  segstate convert --chain 'kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11' --reg ss --trace '{"selector":"0x2b","attrib":"0x013","limit":0,"base":0,"cpl":3}'
  segstate convert --from sregs-bytes --to sregs < sregs.hex"#)]
pub struct Args {
    /// The input shape (default: the chain's source, or kvm).
    #[arg(long, value_enum)]
    from: Option<Shape>,
    /// The output shape (default: the chain's destination, or kvm).
    #[arg(long, value_enum)]
    to: Option<Shape>,
    /// Run the input through this chain of profiles.
    #[arg(long, value_name = "SPEC")]
    chain: Option<String>,
    /// The register the segment belongs to (cooking differs for SS, TR, data segments).
    #[arg(long, default_value = "ss")]
    reg: SegReg,
    /// The selector for `--from descriptor`.
    #[arg(long, default_value = "0", value_parser = parse_selector)]
    selector: u16,
    /// Show the value after every conversion of the chain.
    #[arg(long)]
    trace: bool,
    /// The input text; `-` or absent reads standard input.
    input: Option<String>,
}

/// A selector: a number (decimal or 0x hex) that fits in 16 bits.
fn parse_selector(s: &str) -> Result<u16, Box<dyn core::error::Error + Send + Sync>> {
    let v = j::parse_u64(s)?;
    u16::try_from(v).map_err(|_| format!("selector {v:#x} does not fit in 16 bits").into())
}

/// The input text: the argument, or standard input read through the bounded reader
/// (a segment or kvm_sregs is a few hundred bytes; 1 MiB is refused, not buffered).
fn read_input(arg: Option<&str>) -> Result<InputText, Failure> {
    if let Some(text) = arg.filter(|t| *t != "-") {
        return Ok(InputText {
            origin: String::from("the INPUT argument"),
            text: text.to_string(),
        });
    }
    let (name, mut reader) = crate::input::open_stdin("a segment or kvm_sregs (JSON or hex)")?;
    let bytes = source::read_bounded(
        &mut reader,
        &name,
        source::WHOLE_INPUT_LIMIT,
        "a convert input",
    )
    .map_err(|e| Failure::input(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure::input(format!(
            "{name}: byte offset {}: not UTF-8 text",
            e.utf8_error().valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(Failure::input(format!(
            "{name}: no input: give it as an argument or on standard input"
        )));
    }
    Ok(InputText {
        origin: name.to_string(),
        text,
    })
}

/// The text to convert and where it came from, for messages.
struct InputText {
    origin: String,
    text: String,
}

impl InputText {
    fn segment(&self, shape: Shape) -> Result<Raw, Failure> {
        read_segment(shape, &self.text).map_err(|f| f.within(&self.origin))
    }

    fn sregs(&self, shape: Shape) -> Result<KvmSregs, Failure> {
        read_sregs(shape, &self.text).map_err(|f| f.within(&self.origin))
    }
}

fn bytes_of(text: &str, what: &'static str, len: usize) -> Result<Vec<u8>, Failure> {
    let bytes = parse_hex_bytes(text).map_err(Failure::input)?;
    if bytes.len() != len {
        return Err(Failure::input(format!(
            "{what} is {len} bytes, the input has {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A decoded single segment, in whatever raw shape it came.
enum Raw {
    Kvm(KvmSegment),
    Vmcb(VmcbSegment, Option<u8>),
    Vmx(VmxSegment),
    Qemu(QemuSegmentCache),
    Hyperv(HvSegmentRegister),
    Descriptor(Descriptor),
}

fn read_segment(shape: Shape, text: &str) -> Result<Raw, Failure> {
    let bad = |e: String| Failure::input(e);
    Ok(match shape {
        Shape::Kvm => {
            Raw::Kvm(parse::<KvmSegment>(text, "kvm_segment").map_err(|e| bad(e.into()))?)
        }
        Shape::KvmBytes => Raw::Kvm(
            KvmSegment::from_bytes(&bytes_of(text, "struct kvm_segment", KvmSegment::SIZE)?)
                .map_err(|e| bad(e.to_string()))?,
        ),
        Shape::Vmcb => {
            let v: VmcbSegmentWithCpl = parse(text, "VMCB segment").map_err(|e| bad(e.into()))?;
            Raw::Vmcb(v.segment, v.cpl)
        }
        Shape::VmcbBytes => Raw::Vmcb(
            VmcbSegment::from_bytes(&bytes_of(text, "struct vmcb_seg", VmcbSegment::SIZE)?)
                .map_err(|e| bad(e.to_string()))?,
            None,
        ),
        Shape::Vmx => {
            Raw::Vmx(parse::<VmxSegment>(text, "VMCS segment").map_err(|e| bad(e.into()))?)
        }
        Shape::Qemu => Raw::Qemu(
            parse::<QemuSegmentCache>(text, "QEMU SegmentCache").map_err(|e| bad(e.into()))?,
        ),
        Shape::Hyperv => Raw::Hyperv(
            parse::<HvSegmentRegister>(text, "Hyper-V segment").map_err(|e| bad(e.into()))?,
        ),
        Shape::HypervBytes => Raw::Hyperv(
            HvSegmentRegister::from_bytes(&bytes_of(text, "HV_X64_SEGMENT_REGISTER", 16)?)
                .map_err(|e| bad(e.to_string()))?,
        ),
        Shape::Descriptor => {
            let t = text.trim().trim_matches('"');
            let v = j::parse_u64(t).map_err(|e| bad(format!("descriptor: {e}")))?;
            Raw::Descriptor(Descriptor(v))
        }
        Shape::Sregs | Shape::SregsBytes => unreachable!("whole states are handled apart"),
    })
}

fn decode(raw: &Raw, selector: u16) -> Result<Segment, Failure> {
    let f = |e: segstate::format::FormatError| Failure::failed(format!("strict decode: {e}"));
    match raw {
        Raw::Kvm(k) => Segment::try_from(*k).map_err(f),
        Raw::Vmcb(v, _) => Segment::try_from(*v).map_err(f),
        Raw::Vmx(v) => Segment::try_from(*v).map_err(f),
        Raw::Qemu(q) => Segment::try_from(*q).map_err(f),
        Raw::Hyperv(h) => Segment::try_from(*h).map_err(f),
        Raw::Descriptor(d) => Ok(Segment {
            selector: Selector(selector),
            base: d.base().into(),
            limit: d.limit(),
            attributes: d.attributes(),
            unusable: !d.attributes().present,
        }),
    }
}

fn encode(shape: Shape, seg: Segment) -> Result<Value, Failure> {
    let f = |e: segstate::format::FormatError| {
        Failure::failed(format!("the target cannot hold this segment: {e}"))
    };
    Ok(match shape {
        Shape::Kvm => json!(KvmSegment::from(seg)),
        Shape::KvmBytes => json!(j::hex_bytes(&KvmSegment::from(seg).to_bytes())),
        Shape::Vmcb => json!(VmcbSegment::try_from(seg).map_err(f)?),
        Shape::VmcbBytes => json!(j::hex_bytes(
            &VmcbSegment::try_from(seg).map_err(f)?.to_bytes()
        )),
        Shape::Vmx => json!(VmxSegment::from(seg)),
        Shape::Qemu => json!(QemuSegmentCache::try_from(seg).map_err(f)?),
        Shape::Hyperv => json!(HvSegmentRegister::try_from(seg).map_err(f)?),
        Shape::HypervBytes => {
            json!(j::hex_bytes(
                &HvSegmentRegister::try_from(seg).map_err(f)?.to_bytes()
            ))
        }
        Shape::Descriptor => {
            let d = Descriptor::encode(seg.base, seg.limit, seg.attributes).map_err(|e| {
                Failure::failed(format!("the target cannot hold this segment: {e}"))
            })?;
            json!(format!("{:#018x}", d.0))
        }
        Shape::Sregs | Shape::SregsBytes => {
            return Err(Failure::input(
                "a single segment converts to a segment shape; use --from sregs for a whole state",
            ));
        }
    })
}

fn read_sregs(shape: Shape, text: &str) -> Result<KvmSregs, Failure> {
    match shape {
        Shape::Sregs => parse::<KvmSregs>(text, "kvm_sregs").map_err(Failure::input),
        _ => KvmSregs::from_bytes(&bytes_of(text, "struct kvm_sregs", KvmSregs::SIZE)?)
            .map_err(|e| Failure::input(e.to_string())),
    }
}

fn write_sregs(shape: Shape, s: &KvmSregs) -> Result<Value, Failure> {
    match shape {
        Shape::Sregs => Ok(json!(s)),
        Shape::SregsBytes => Ok(json!(j::hex_bytes(&s.to_bytes()))),
        other => Err(Failure::input(format!(
            "a kvm_sregs converts to sregs or sregs-bytes, not {other:?}"
        ))),
    }
}

fn value_json(v: &InFlight, reg: SegReg) -> Value {
    match v.value {
        SegmentValue::Vmcb(segment) => json!(VmcbSegmentWithCpl {
            segment,
            cpl: (reg == SegReg::Ss).then_some(v.vmcb_cpl),
        }),
        SegmentValue::Vmcs(s) => json!(s),
        SegmentValue::Kvm(k) => json!(k),
        SegmentValue::Qemu(q) => json!(q),
        SegmentValue::Stack(s) => json!({ "shape": s.to_string() }),
        other => json!({ "shape": format!("{other:?}") }),
    }
}

fn run_chain(args: &Args, spec: &str, text: &InputText) -> Outcome {
    let chain: Chain = spec
        .parse()
        .map_err(|e| Failure::input(format!("--chain '{spec}': {e}")))?;
    let source_shape = match chain.source() {
        Format::Vmcb => Shape::Vmcb,
        Format::Vmcs => Shape::Vmx,
        // Chain::new refuses chains that start from Hyper-V registers.
        _ => Shape::Kvm,
    };
    let from = args.from.unwrap_or(source_shape);
    if matches!(from, Shape::Sregs | Shape::SregsBytes) {
        // A chain that starts or ends in hardware is entered and left through today's
        // profile of that vendor, as a live state sync is.
        let mut sregs = text.sregs(from)?;
        let before = sregs.cpl();
        chain
            .run_sregs(&mut sregs, &PerSegReg::default())
            .map_err(|e| Failure::failed(e.to_string()))?;
        print_value(&write_sregs(args.to.unwrap_or(from), &sregs)?);
        return Ok(cpl_verdict(before, sregs.cpl()));
    }
    let raw = text.segment(from)?;
    let input = match (chain.source(), raw) {
        (Format::Vmcb, Raw::Vmcb(v, cpl)) => InFlight {
            value: SegmentValue::Vmcb(v),
            vmcb_cpl: cpl.unwrap_or(0),
        },
        (Format::Vmcs, Raw::Vmx(v)) => InFlight {
            value: SegmentValue::Vmcs(v),
            vmcb_cpl: 0,
        },
        (Format::Kvm, Raw::Kvm(k)) => InFlight {
            value: SegmentValue::Kvm(k),
            vmcb_cpl: 0,
        },
        (source, _) => {
            return Err(Failure::input(format!(
                "the chain starts from {source}: give --from {}",
                match source {
                    Format::Vmcb => "vmcb (or vmcb-bytes)",
                    Format::Vmcs => "vmx",
                    _ => "kvm (or kvm-bytes)",
                }
            )));
        }
    };
    let mut steps = Vec::new();
    let out = chain
        .run_segment_observed(
            args.reg,
            input,
            &QemuSegmentCache::default(),
            |function, at| {
                steps.push(json!({"after": function, "value": value_json(at, args.reg)}));
            },
        )
        .map_err(|e| Failure::failed(e.to_string()))?;
    let mut result = json!({
        "chain": chain.to_string(),
        "register": args.reg.name(),
        "input": value_json(&input, args.reg),
        "output": value_json(&out, args.reg),
        "output_line": verify::show(&out),
    });
    if args.trace {
        result["trace"] = Value::Array(steps);
    }
    print_json(&result);
    if args.reg != SegReg::Ss {
        // Only SS carries the CPL.
        return Ok(ExitCode::SUCCESS);
    }
    // A chain starts in a VMCB, a VMCS or KVM: never a QEMU value, so no fallback is used.
    let before = verify::cpl_of(&input, PrivilegeLevel::from_low_bits(input.vmcb_cpl));
    Ok(cpl_verdict(before, verify::cpl_of(&out, before)))
}

/// The exit status of a chain run: [`CPL_CHANGED`] when the CPL came out different,
/// said on stderr too, since the JSON alone is easy to pass over.
fn cpl_verdict(before: PrivilegeLevel, after: PrivilegeLevel) -> ExitCode {
    if before == after {
        return ExitCode::SUCCESS;
    }
    let what = if after < before {
        ": privilege escalation"
    } else {
        ""
    };
    eprintln!("segstate: the chain changed the CPL from {before} to {after}{what}");
    ExitCode::from(CPL_CHANGED)
}

/// Prints an output value: a hex string bare, so that `--from *-bytes` reads it back
/// as it is; anything else as JSON.
fn print_value(value: &Value) {
    match value {
        Value::String(s) => outln!("{s}"),
        other => print_json(other),
    }
}

pub fn run(args: &Args) -> Outcome {
    let text = read_input(args.input.as_deref())?;
    if let Some(spec) = &args.chain {
        return run_chain(args, spec, &text);
    }
    let from = args.from.unwrap_or(Shape::Kvm);
    let to = args.to.unwrap_or(Shape::Kvm);
    if matches!(from, Shape::Sregs | Shape::SregsBytes) {
        let sregs = text.sregs(from)?;
        print_value(&write_sregs(to, &sregs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let raw = text.segment(from)?;
    let seg = decode(&raw, args.selector)?;
    print_value(&encode(to, seg)?);
    Ok(ExitCode::SUCCESS)
}
