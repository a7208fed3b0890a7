#![no_main]
//! The other stacks' wire shapes (Xen, bhyve, propolis, VirtualBox, crosvm, Hyper-V's
//! VP_SEGMENT_REGISTERS chunk): strict decode never panics and decode → encode is
//! byte-exact; every decoded segment then runs through every built-in chain of those
//! stacks without panicking.
use libfuzzer_sys::fuzz_target;
use segstate::arch::SegReg;
use segstate::format::bhyve::{BhyveSegment, SegDesc};
use segstate::format::hyperv::VpSegmentRegisters;
use segstate::format::qemu::QemuSegmentCache;
use segstate::format::svm::VmcbSegment;
use segstate::format::vbox::CpumSelReg;
use segstate::format::vmx::VmxSegment;
use segstate::format::xen::{HvmHwCpuOffset, HvmHwCpuSegments, XenSegmentRegister};
use segstate::profile::{Format, InFlight, SegmentValue};
use segstate::profile::builtin_chains;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(x) = XenSegmentRegister::from_bytes(rest) {
                assert_eq!(x.to_bytes(), rest);
                let _ = segstate::arch::Segment::try_from(x);
            }
        }
        1 => {
            let mut record = vec![0u8; HvmHwCpuOffset::SIZE];
            let n = rest.len().min(record.len());
            record[..n].copy_from_slice(&rest[..n]);
            let segs = HvmHwCpuSegments::from_record(&record).expect("1032 bytes");
            let mut again = record.clone();
            segs.write_into(&mut again).expect("1032 bytes");
            assert_eq!(again, record);
            for reg in SegReg::ALL {
                if let Ok(x) = segs.segment(reg) {
                    let _ = segstate::arch::Segment::try_from(x);
                }
            }
            let _ = segs.cpl();
        }
        2 => {
            if let Ok(d) = SegDesc::from_bytes(rest) {
                assert_eq!(d.to_bytes(), rest);
            }
            if let Ok(b) = BhyveSegment::from_bytes(rest) {
                assert_eq!(b.to_bytes(), rest);
                let _ = segstate::arch::Segment::try_from(b);
            }
        }
        3 => {
            if let Ok(c) = CpumSelReg::from_bytes(rest) {
                assert_eq!(c.to_bytes(), rest);
                let _ = segstate::arch::Segment::try_from(c);
            }
        }
        4 => {
            if let Ok(chunk) = VpSegmentRegisters::from_bytes(rest) {
                assert_eq!(chunk.to_bytes(), rest);
                let _ = chunk.cpl();
                for reg in SegReg::ALL {
                    let _ = segstate::arch::Segment::try_from(chunk.segments[reg]);
                }
            }
        }
        _ => chains(rest),
    }
});

/// 16 bytes as a VMCB segment (plus a CPL byte) or a VMCS segment, through every chain.
fn chains(rest: &[u8]) {
    if rest.len() < 18 {
        return;
    }
    let b = |i: usize| rest[i];
    let u16_at = |i: usize| u16::from_le_bytes([b(i), b(i + 1)]);
    let u32_at = |i: usize| u32::from_le_bytes([b(i), b(i + 1), b(i + 2), b(i + 3)]);
    let reg = SegReg::ALL[usize::from(b(16)) % 8];
    let vmcb = SegmentValue::Vmcb(VmcbSegment {
        selector: u16_at(0),
        attrib: segstate::format::svm::SvmAttrib(u16_at(2)),
        limit: u32_at(4),
        base: u64::from(u32_at(8)),
    });
    let vmcs = SegmentValue::Vmcs(VmxSegment {
        selector: u16_at(0),
        base: u64::from(u32_at(8)),
        limit: u32_at(4),
        access_rights: segstate::format::vmx::VmxAccessRights(u32_at(12)),
    });
    for chain in builtin_chains() {
        let value = match chain.source() {
            Format::Vmcb => vmcb,
            Format::Vmcs => vmcs,
            _ => continue,
        };
        let input = InFlight {
            value,
            vmcb_cpl: b(17),
        };
        let _ = chain.run_segment(reg, input, &QemuSegmentCache::default());
    }
}
