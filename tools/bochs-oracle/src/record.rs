//! The state record the Bochs kernels read (kernel/common.inc, kernel/vmx.asm,
//! kernel/svm.asm): 256 bytes, little-endian.
//!
//! | offset | field |
//! | --- | --- |
//! | 0x00 + 24·n | segment n in ES, CS, SS, DS, FS, GS, LDTR, TR order: selector u16, pad u16, attributes u32 (VMX access rights, or VMCB attrib), limit u32, pad u32, base u64 |
//! | 0xc0 | CR0 u64 |
//! | 0xc8 | CR4 u64 |
//! | 0xd0 | EFER u64 |
//! | 0xd8 | RFLAGS u64 |
//! | 0xe0 | controls u32: bit 0 unrestricted guest, bit 1 IA-32e mode guest (VMX) |
//! | 0xe4 | CPL u8 (VMCB.CPL, SVM) |

use segstate::arch::SegReg;
use segstate::format::svm::SvmAttrib;
use segstate::format::vmx::VmxSegment;

use crate::case::{Case, Target};

/// Bytes in one record.
pub const SIZE: usize = 256;
/// Records in the header sector's magic.
pub const MAGIC: &[u8; 4] = b"SEGS";

/// Encodes a case for the kernel of `target`.
#[must_use]
pub fn encode(target: Target, case: &Case) -> [u8; SIZE] {
    let mut r = [0u8; SIZE];
    let s = &case.state;
    for reg in SegReg::ALL {
        let seg = s.segments[reg];
        let (selector, attributes, limit, base) = match target {
            // kvm-set-sregs boots no kernel; its cases never reach a record.
            Target::Vmx | Target::KvmSetSregs(_) => {
                let v = VmxSegment::from(seg);
                (v.selector, v.access_rights.0, v.limit, v.base)
            }
            Target::Svm => {
                // The VMCB says "unusable" only through P; the generator keeps the two
                // equal for SVM cases, so the attribute word is exact.
                let attrib = SvmAttrib::from_attributes(seg.attributes);
                (seg.selector.0, u32::from(attrib.0), seg.limit, seg.base)
            }
        };
        let o = 24 * reg.index();
        r[o..o + 2].copy_from_slice(&selector.to_le_bytes());
        r[o + 4..o + 8].copy_from_slice(&attributes.to_le_bytes());
        r[o + 8..o + 12].copy_from_slice(&limit.to_le_bytes());
        r[o + 16..o + 24].copy_from_slice(&base.to_le_bytes());
    }
    r[0xc0..0xc8].copy_from_slice(&s.cr0.to_le_bytes());
    r[0xc8..0xd0].copy_from_slice(&s.cr4.to_le_bytes());
    r[0xd0..0xd8].copy_from_slice(&s.efer.to_le_bytes());
    r[0xd8..0xe0].copy_from_slice(&s.rflags.to_le_bytes());
    let controls = u32::from(case.controls.unrestricted_guest)
        | u32::from(case.controls.ia32e_mode_guest) << 1;
    r[0xe0..0xe4].copy_from_slice(&controls.to_le_bytes());
    r[0xe4] = s.cpl.bits();
    r
}

/// The ATA disk image the kernel reads: a header sector ("SEGS", count), then the
/// records, padded to whole cylinders of 16 heads × 63 sectors (Bochs's geometry
/// autodetection for flat images).
#[must_use]
pub fn disk_image(target: Target, cases: &[Case]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + cases.len() * SIZE);
    out.extend_from_slice(MAGIC);
    let count = u32::try_from(cases.len()).expect("a batch holds fewer than 2^32 cases");
    out.extend_from_slice(&count.to_le_bytes());
    out.resize(512, 0);
    for c in cases {
        out.extend_from_slice(&encode(target, c));
    }
    let cylinder = 16 * 63 * 512;
    out.resize(out.len().div_ceil(cylinder) * cylinder, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::valid_vmx_states;

    #[test]
    fn vmx_record_carries_the_vmcs_access_rights_at_their_offsets() {
        let case = valid_vmx_states()[0];
        let r = encode(Target::Vmx, &case);
        // CS of the 64-bit kernel state: selector 0x08, AR 0xa09b.
        assert_eq!(u16::from_le_bytes([r[24], r[25]]), 0x08);
        assert_eq!(u32::from_le_bytes(r[28..32].try_into().unwrap()), 0xa09b);
        assert_eq!(
            u64::from_le_bytes(r[0xc0..0xc8].try_into().unwrap()),
            case.state.cr0
        );
        assert_eq!(r[0xe0] & 3, 3);
    }

    #[test]
    fn disk_image_has_header_count_and_whole_cylinders() {
        let cases = valid_vmx_states();
        let img = disk_image(Target::Vmx, &cases);
        assert_eq!(&img[..4], MAGIC);
        assert_eq!(
            u32::from_le_bytes(img[4..8].try_into().unwrap()) as usize,
            cases.len()
        );
        assert_eq!(img.len() % (16 * 63 * 512), 0);
        assert_eq!(&img[512..512 + SIZE], &encode(Target::Vmx, &cases[0]));
    }
}
