//! bochs-oracle: an executable reference for segstate's VM-entry rules.
//!
//! Bochs emulates Intel VMX and AMD SVM and performs the guest-state checks of
//! VMLAUNCH and VMRUN. This crate boots a small kernel in Bochs (`kernel/`, assembled
//! with NASM) that enters each state of a generated table and reports over port 0xe9
//! whether entry succeeded; [`compare`] sets each result beside segstate's verdict
//! ([`verdict`], the only place that calls the rule catalogue), minimises
//! disagreements, and counts as explained those listed in `docs/conformance/bochs.md`
//! ([`conformance`]). The kvm-set-sregs target ([`kvm`]) sets the same kind of
//! states through this host's `KVM_SET_SREGS` beside `check::kvm_set_sregs`.

pub mod bochs;
pub mod case;
pub mod compare;
pub mod conformance;
pub mod error;
pub mod generate;
pub mod kvm;
pub mod record;
pub mod verdict;
