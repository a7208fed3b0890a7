//! The built-in chains: the real paths segstate verifies, audits and checks states
//! against, each with what it models. They are lists of profiles, so they live with
//! the profiles; `verify` and `check`'s callers read them from here.

use alloc::format;
use alloc::vec::Vec;

use super::Chain;

/// The chains segstate verifies and audits, each with what it models.
pub const BUILTIN_CHAINS: &[(&str, &str)] = &[
    (
        "kvm-svm > qemu > kvm-svm",
        "AMD host, QEMU syncs state: today's code",
    ),
    (
        "kvm-svm@4.11 > qemu@2.9 > kvm-svm@4.11",
        "AMD host, 2017: the CPL-drop bug",
    ),
    (
        "kvm-svm > qemu@2.9 > kvm-svm",
        "kernel half of the fix only",
    ),
    (
        "kvm-svm@4.11 > qemu > kvm-svm@4.11",
        "QEMU half of the fix only",
    ),
    (
        "kvm-svm > verbatim > kvm-svm",
        "AMD host, Firecracker / Cloud Hypervisor",
    ),
    (
        "kvm-svm@4.11 > verbatim > kvm-svm@4.11",
        "old AMD kernel, pass-through VMM",
    ),
    (
        "kvm-svm > qemu-keep-old-flags > kvm-svm",
        "2017 thread, first design",
    ),
    (
        "kvm-svm > qemu-segtype > kvm-svm",
        "2017 thread, second design",
    ),
    (
        "kvm-svm@4.11 > qemu-segtype > kvm-svm@4.11",
        "second design on an old kernel",
    ),
    (
        "kvm-svm > qemu@2.9 > qemu > kvm-svm",
        "migration from QEMU 2.9 to today's QEMU",
    ),
    (
        "kvm-vmx > qemu > kvm-vmx",
        "Intel host, QEMU syncs state: today's code",
    ),
    ("kvm-vmx@6.1 > qemu > kvm-vmx@6.1", "Intel host before 6.2"),
    (
        "kvm-vmx > verbatim > kvm-vmx",
        "Intel host, pass-through VMM",
    ),
    ("kvm-svm > qemu > kvm-vmx", "AMD to Intel migration"),
    (
        "kvm-svm > qemu > kvm-vmx@6.1",
        "AMD to Intel migration, Intel before 6.2",
    ),
    ("kvm-vmx > qemu > kvm-svm", "Intel to AMD migration"),
    (
        "kvm-svm > qemu > kvm-vmx > qemu > kvm-svm",
        "AMD to Intel and back",
    ),
    (
        "verbatim > kvm-svm",
        "any kvm_sregs, garbage bytes included, into AMD",
    ),
    (
        "verbatim > kvm-svm@4.11",
        "any kvm_sregs into an old AMD kernel",
    ),
    ("verbatim > kvm-vmx", "any kvm_sregs into Intel"),
    ("qemu", "any kvm_sregs through QEMU's get_seg and set_seg"),
    (
        "xen-svm > xen-save > xen-svm",
        "Xen on AMD: xl save and restore",
    ),
    (
        "xen-vmx > xen-save > xen-vmx",
        "Xen on Intel: xl save and restore",
    ),
    (
        "xen-svm > xen-save > xen-vmx",
        "Xen save from AMD restored on Intel",
    ),
    (
        "xen-vmx > xen-save > xen-svm",
        "Xen save from Intel restored on AMD",
    ),
    (
        "bhyve-svm > bhyve-snapshot > bhyve-svm",
        "FreeBSD bhyve on AMD: suspend and resume",
    ),
    (
        "bhyve-vmx > bhyve-snapshot > bhyve-vmx",
        "FreeBSD bhyve on Intel: suspend and resume",
    ),
    (
        "illumos-bhyve-svm > propolis > illumos-bhyve-svm",
        "illumos bhyve on AMD: propolis live migration",
    ),
    (
        "vbox-svm > vbox-sav > vbox-svm",
        "VirtualBox on AMD: saved state",
    ),
    (
        "vbox-vmx > vbox-sav > vbox-vmx",
        "VirtualBox on Intel: saved state",
    ),
    (
        "vbox-svm > vbox-sav > vbox-vmx",
        "VirtualBox saved state from AMD restored on Intel",
    ),
    (
        "kvm-svm > vbox-nem > kvm-svm",
        "VirtualBox NEM on KVM, AMD host",
    ),
    (
        "kvm-svm > crosvm > kvm-svm",
        "crosvm on KVM, AMD host (and its snapshot)",
    ),
    (
        "kvm-vmx > crosvm > kvm-vmx",
        "crosvm on KVM, Intel host (and its snapshot)",
    ),
    (
        "kvm-svm > crosvm > crosvm-whpx",
        "crosvm KVM snapshot restored on WHPX",
    ),
    (
        "kvm-vmx > crosvm > crosvm-haxm",
        "crosvm KVM snapshot restored on HAXM",
    ),
    (
        "kvm-svm > verbatim > mshv",
        "KVM (AMD) -> Cloud Hypervisor snapshot -> MSHV",
    ),
    (
        "kvm-vmx > verbatim > mshv",
        "KVM (Intel) -> Cloud Hypervisor snapshot -> MSHV",
    ),
    (
        "verbatim > mshv > verbatim",
        "any sregs through Cloud Hypervisor on MSHV and back",
    ),
    ("kvm-svm > openvmm > kvm-svm", "openvmm on KVM, AMD host"),
    ("kvm-vmx > openvmm > kvm-vmx", "openvmm on KVM, Intel host"),
    ("bochs-svm", "Bochs as the AMD CPU under an L1 hypervisor"),
    ("kvm-nsvm", "nested KVM on AMD: L1 vmcb12 <-> L2"),
    ("kvm-nvmx", "nested KVM on Intel: L1 vmcs12 <-> L2"),
];

/// The built-in chains, parsed.
#[must_use]
pub fn builtin_chains() -> Vec<Chain> {
    BUILTIN_CHAINS
        .iter()
        .map(|(spec, _)| spec.parse().expect("built-in chains parse"))
        .collect()
}

/// What a chain description says, if it is built in.
#[must_use]
pub fn builtin_about(chain: &Chain) -> Option<&'static str> {
    let text = format!("{chain}");
    BUILTIN_CHAINS
        .iter()
        .find(|(spec, _)| *spec == text)
        .map(|(_, about)| *about)
}
