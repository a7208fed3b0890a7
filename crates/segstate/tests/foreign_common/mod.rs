//! What the foreign-format tests share: the guest the fixtures were taken from.
#![allow(dead_code)]

use segstate::arch::PrivilegeLevel;
use segstate::arch::msr::STAR;
use segstate::ingest::firecracker;
use segstate::ingest::foreign::{ForeignVcpu, IngestError, Stack};

/// The Firecracker snapshot of the `user-null-ss` guest, the guest the other KVM VMMs'
/// `user-null-ss` fixtures were taken from too.
pub const FIRECRACKER_USER: &[u8] = include_bytes!("../fixtures/firecracker/user-null-ss.vmstate");

/// What [`firecracker::read`] says of `bytes`, which it must refuse (the file named
/// `damaged.vmstate`).
#[track_caller]
pub fn firecracker_refused(bytes: &[u8]) -> IngestError {
    match firecracker::read(bytes, "damaged.vmstate") {
        Ok(v) => panic!("expected a refusal, read {} vCPUs", v.len()),
        Err(e) => e,
    }
}

/// `body` with a fresh CRC-64 appended: a Firecracker file whose checksum holds.
pub fn sealed(body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.extend_from_slice(&segstate::testing::crc64(0, body).to_le_bytes());
    f
}

/// [`FIRECRACKER_USER`]'s vCPUs, for the readers that hold theirs against them.
pub fn firecracker_user() -> Vec<ForeignVcpu> {
    firecracker::read(FIRECRACKER_USER, "fc").unwrap()
}

/// Asserts `v` carries the STAR the `user-null-ss` guest wrote: SYSRET base 0x10,
/// SYSCALL CS 0x08.
#[track_caller]
pub fn assert_guest_star(v: &ForeignVcpu) {
    let star = v.msrs.iter().find(|m| m.index == STAR).map(|m| m.value);
    assert_eq!(
        star,
        Some(0x0010_0008_0000_0000),
        "the STAR the guest wrote"
    );
}

/// vCPU 0 of a two-vCPU file that a KVM VMM without a CPL field wrote while the guest
/// ran user code (the `user-null-ss` fixtures): read as `stack`, id "0", and CPL 3
/// taken from SS.DPL.
#[track_caller]
pub fn user_vcpu0(vcpus: &[ForeignVcpu], stack: Stack) -> &ForeignVcpu {
    assert_eq!(vcpus.len(), 2);
    let v = &vcpus[0];
    assert_eq!(v.stack, stack);
    assert_eq!(v.id, "0");
    assert_eq!(v.file_cpl, None, "{stack:?} has no CPL field");
    assert_eq!(v.cpl(), PrivilegeLevel::Ring3, "CPL = SS.DPL");
    v
}

/// The user-mode vCPU that tools/foreign-fixtures' producers write into the Xen and
/// Hyper-V images (after SYSRET): RIP = RCX, RSP, R11 = RFLAGS, and the kernel's
/// control registers and descriptor tables.
#[track_caller]
pub fn assert_producer_user_vcpu(user: &ForeignVcpu) {
    let (s, r) = (&user.sregs, &user.regs);
    assert_eq!(
        (s.cr0, s.cr3, s.cr4, s.efer),
        (0x8005_0033, 0x1_0a2d_6000, 0x35_06f0, 0xd01)
    );
    assert_eq!((s.gdt.base, s.gdt.limit), (0xffff_fe00_0000_1000, 0x7f));
    assert_eq!((s.idt.base, s.idt.limit), (0xffff_fe00_0000_0000, 0xfff));
    assert_eq!(
        (r.rip, r.rcx, r.rsp, r.r11, r.rflags),
        (
            0x7f3a_1c3f_5a2b,
            0x7f3a_1c3f_5a2b,
            0x7ffd_4c1e_9b58,
            0x246,
            0x246
        )
    );
}

/// What `segstate check` reads from a fixture of the producers' two vCPUs: vCPU 0
/// (labelled `label0`) in user mode at CPL 3, vCPU 1 at CPL 0.
#[track_caller]
pub fn check_inputs(bytes: &[u8], label0: &str) -> Vec<segstate::ingest::Input> {
    let inputs = segstate::ingest::read(bytes, None).unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].label, label0);
    assert_eq!(inputs[0].state.cpl, PrivilegeLevel::Ring3);
    assert_eq!(inputs[1].state.cpl, PrivilegeLevel::Ring0);
    inputs
}

/// Asserts one of an input's notes contains `text`.
#[track_caller]
pub fn assert_noted(input: &segstate::ingest::Input, text: &str) {
    assert!(
        input.notes.iter().any(|n| n.contains(text)),
        "{text:?} not in {:?}",
        input.notes
    );
}
