//! QEMU's CPU state dump text (`info registers`, `-d cpu`, "KVM: entry failed"):
//! parsing and printing. (Work in progress: see issue 4.)
