//! What the foreign-format tests share: the guest the fixtures were taken from.
#![allow(dead_code)]

use segstate::arch::PrivilegeLevel;
use segstate::arch::msr::STAR;
use segstate::format::kvm::KvmSegment;
use segstate::ingest::foreign::{ForeignVcpu, IngestError, Place, Stack};
use segstate::ingest::{cloud_hypervisor, crosvm, firecracker};

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

/// Every vCPU of the Cloud Hypervisor snapshot `text` (named `state.json`), which must
/// read.
#[track_caller]
pub fn cloud_hypervisor_read(text: &str) -> Vec<ForeignVcpu> {
    cloud_hypervisor::read(text, "state.json").unwrap_or_else(|e| panic!("{e}"))
}

/// What the Cloud Hypervisor reader says of `text` (named `state.json`), which it must
/// refuse.
#[track_caller]
pub fn cloud_hypervisor_refused(text: &str) -> IngestError {
    match cloud_hypervisor::read(text, "state.json") {
        Ok(v) => panic!("expected a refusal, read {} vCPUs", v.len()),
        Err(e) => e,
    }
}

/// vCPU 1 of a Cloud Hypervisor `user-null-ss` fixture (any version): never started
/// (mp_state 1), in the 32-bit flat state of Cloud Hypervisor's PVH setup, CPL 0.
#[track_caller]
pub fn assert_cloud_hypervisor_ap(vcpus: &[ForeignVcpu]) {
    let ap = &vcpus[1];
    assert_eq!(ap.id, "1");
    assert_eq!(ap.mp_state, Some(1), "never started");
    assert_eq!(ap.cpl(), PrivilegeLevel::Ring0);
    assert_eq!((ap.sregs.cs.selector, ap.sregs.cs.db), (0x08, 1));
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

/// "SEGSTATE", the marker the guest leaves in RAX.
pub const MARKER: u64 = 0x5345_4753_5441_5445;
/// `user_loop` in the crosvm builds of tools/foreign-fixtures/guest.S (linked at 2 MiB).
pub const CROSVM_USER_LOOP: u64 = 0x20_00a3;
/// `kernel_loop` in the crosvm `KERNEL_ONLY` builds: `pause`, `jmp`.
pub const CROSVM_KERNEL_LOOP: u64 = 0x20_008e;

/// The crosvm snapshot directory `name` under tests/fixtures/crosvm.
pub fn crosvm_fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/crosvm")
        .join(name)
}

/// The one vCPU of the crosvm fragment `bytes` (named `vcpu0`), CBOR or JSON.
#[track_caller]
pub fn crosvm_read(bytes: &[u8]) -> ForeignVcpu {
    let mut v = crosvm::read(bytes, "vcpu0").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.len(), 1);
    v.remove(0)
}

/// What [`crosvm::read`] says of a fragment (named `vcpu0`) it must refuse.
#[track_caller]
pub fn crosvm_refused(bytes: &[u8]) -> IngestError {
    match crosvm::read(bytes, "vcpu0") {
        Ok(v) => panic!("expected a refusal, read {v:?}"),
        Err(e) => e,
    }
}

/// The field an error names.
#[track_caller]
pub fn field(e: &IngestError) -> &str {
    match &e.place {
        Place::Field(f) => f,
        other => panic!("expected a field, got {other:?}: {e}"),
    }
}

/// A vCPU's user segments: CS and SS (SYSRET) and DS, ES, FS, GS (the guest's own
/// loads), without `unusable`, which crosvm's Segment does not have.
pub fn user_segments(v: &ForeignVcpu) -> Vec<KvmSegment> {
    let s = &v.sregs;
    [s.cs, s.ss, s.ds, s.es, s.fs, s.gs]
        .into_iter()
        .map(|seg| KvmSegment { unusable: 0, ..seg })
        .collect()
}

/// vCPU 0 of a crosvm `user-null-ss` snapshot (any crosvm, CBOR or JSON): in ring 3 in
/// `user_loop` after SYSRET, CS 0x23 and SS 0x1b at DPL 3, the guest's marker and STAR.
#[track_caller]
pub fn crosvm_user_vcpu0(vcpus: &[ForeignVcpu]) -> &ForeignVcpu {
    let v = user_vcpu0(vcpus, Stack::Crosvm);
    let (cs, ss) = (v.sregs.cs, v.sregs.ss);
    assert_eq!((cs.selector, cs.dpl, cs.l, cs.present), (0x23, 3, 1, 1));
    assert_eq!((ss.selector, ss.dpl), (0x1b, 3));
    assert_eq!(v.regs.rax, MARKER);
    let rip = v.regs.rip;
    assert!(
        (CROSVM_USER_LOOP..CROSVM_USER_LOOP + 4).contains(&rip),
        "{rip:#x}"
    );
    assert_eq!(v.sregs.efer & 0x501, 0x501, "LME, LMA and SCE");
    assert_guest_star(v);
    assert_eq!(v.debug_regs.as_ref().map(Vec::len), Some(128));
    v
}

/// A crosvm `kernel-cpl0` snapshot: vCPU 0 at CPL 0 in 64-bit mode in `kernel_loop`
/// (CS 0x08, SS 0x10), vCPU 1 never started (no INIT/SIPI): the reset state, real mode.
#[track_caller]
pub fn assert_crosvm_kernel(vcpus: &[ForeignVcpu]) {
    let k = &vcpus[0];
    assert_eq!(k.cpl(), PrivilegeLevel::Ring0);
    assert_eq!((k.sregs.cs.selector, k.sregs.ss.selector), (0x08, 0x10));
    assert_eq!(k.sregs.cs.l, 1);
    assert_eq!(k.regs.rax, MARKER);
    let rip = k.regs.rip;
    assert!(
        (CROSVM_KERNEL_LOOP..CROSVM_KERNEL_LOOP + 4).contains(&rip),
        "{rip:#x}"
    );
    assert_crosvm_reset_ap(&vcpus[1]);
}

/// vCPU 1 of crosvm's two-vCPU fixtures, never sent INIT/SIPI: the reset state crosvm's
/// AP keeps, real mode, CPL 0.
#[track_caller]
pub fn assert_crosvm_reset_ap(ap: &ForeignVcpu) {
    assert_eq!((ap.id.as_str(), ap.stack), ("1", Stack::Crosvm));
    assert_eq!(ap.cpl(), PrivilegeLevel::Ring0);
    assert_eq!(
        (ap.sregs.cs.selector, ap.sregs.cs.base, ap.regs.rip),
        (0xf000, 0xffff_0000, 0xfff0)
    );
    assert_eq!(ap.sregs.cr0 & 1, 0, "real mode");
}

/// What `segstate check` and `segstate snapshot import` make of a crosvm `user-null-ss`
/// snapshot's `vcpus` and of its fragment `vcpu0` read as bytes: labelled crosvm, CPL 3
/// from SS.DPL (so noted) then CPL 0, the same state either way, and imported with the
/// CPL explicit.
#[track_caller]
pub fn assert_crosvm_check_and_import(vcpus: &[ForeignVcpu], vcpu0: &[u8]) {
    let inputs = segstate::ingest::foreign_inputs(vcpus).unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].label, "crosvm (KVM) vCPU 0");
    assert_eq!(inputs[0].state.cpl, PrivilegeLevel::Ring3);
    assert_eq!(inputs[1].state.cpl, PrivilegeLevel::Ring0);
    assert_noted(&inputs[0], "CPL = SS.DPL");
    // Through the bytes path `check` uses for a single fragment.
    let read = segstate::ingest::read(vcpu0, None).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].state, inputs[0].state);

    let snap = vcpus[0].to_snapshot(0);
    assert_eq!(snap.cpl, PrivilegeLevel::Ring3);
    assert_eq!(snap.sregs, vcpus[0].sregs);
    assert!(!snap.cpl_disagrees());
}

/// A crosvm snapshot directory `dir`, its `vcpu` namespace and its fragments read alike,
/// by [`crosvm::read_path`] and detected without being told, and `vcpu0` (the bytes of
/// its `vcpu/vcpu0`) recognised as crosvm's: its vCPUs.
#[track_caller]
pub fn assert_crosvm_read_alike(dir: &std::path::Path, vcpu0: &[u8]) -> Vec<ForeignVcpu> {
    use segstate::ingest::{InputFormat, foreign_dir_format, foreign_vcpus_at};
    let whole = crosvm::read_path(dir).unwrap();
    assert_eq!(crosvm::read_path(&dir.join("vcpu")).unwrap(), whole);
    let fragment = crosvm::read_path(&dir.join("vcpu/vcpu0")).unwrap();
    assert_eq!(fragment, whole[..1]);
    assert_eq!(crosvm_read(vcpu0), whole[0]);
    assert_eq!(foreign_vcpus_at(dir).unwrap(), whole);
    assert_eq!(
        foreign_vcpus_at(&dir.join("vcpu/vcpu1")).unwrap(),
        whole[1..]
    );
    assert_eq!(foreign_dir_format(dir), Some(InputFormat::Crosvm));
    assert!(crosvm::recognise(vcpu0));
    let detected = segstate::ingest::detect(vcpu0).unwrap();
    assert_eq!(detected, InputFormat::Crosvm);
    whole
}
