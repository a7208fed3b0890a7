//! What the QEMU stream tests share: a stream's CPUs held against the `info registers`
//! dump QEMU printed for the same stopped VM.
#![allow(dead_code)]

use segstate::arch::SegReg;
use segstate::format::qemu::QemuFlags;
use segstate::ingest::qemu_dump::QemuDump;
use segstate::ingest::qemu_migration::MigrationCpu;

/// Asserts that each dump describes the stream CPU of the same index, as QEMU printed
/// it: the CPL, the eight segment caches (flags as the dump masks them), RIP, RFLAGS,
/// CR0, CR3, CR4, EFER, GDTR and IDTR, and the segment state the rules judge. A
/// stream may hold more CPUs than the dump (`info registers` without `-a`).
#[track_caller]
pub fn assert_cpus_match_dumps(name: &str, cpus: &[MigrationCpu], dumps: &[QemuDump]) {
    assert!(!dumps.is_empty(), "{name}: no dump");
    assert!(cpus.len() >= dumps.len(), "{name}: {} CPUs", cpus.len());
    for (i, (cpu, dump)) in cpus.iter().zip(dumps).enumerate() {
        assert_eq!(cpu.instance as usize, i, "{name}");
        assert_eq!(cpu.cpl, dump.cpl, "{name} CPU {i} CPL");
        assert_eq!(cpu.cpl, (cpu.hflags & 3) as u8, "{name} CPU {i}");
        for reg in SegReg::ALL {
            let (m, d) = (&cpu.segments[reg], &dump.segments[reg]);
            assert_eq!(
                (
                    m.selector,
                    m.base,
                    m.limit,
                    m.flags.0 & QemuFlags::DUMP_MASK
                ),
                (d.selector, d.base, d.limit, d.flags.0),
                "{name} CPU {i} {reg}"
            );
        }
        assert_eq!(
            (cpu.rip, cpu.rflags, cpu.cr0, cpu.cr3, cpu.cr4),
            (dump.rip, dump.rflags, dump.cr0, dump.cr3, dump.cr4),
            "{name} CPU {i} RIP RFLAGS CR0 CR3 CR4"
        );
        assert_eq!(Some(cpu.efer), dump.efer, "{name} CPU {i} EFER");
        let table = |t: Option<segstate::arch::DescriptorTable>| t.map(|t| (t.base, t.limit));
        assert_eq!(
            (table(cpu.gdtr), table(cpu.idtr)),
            (Some(dump.gdt), Some(dump.idt)),
            "{name} CPU {i} GDTR IDTR"
        );
        assert_eq!(cpu.segment_state(), dump.segment_state(), "{name} CPU {i}");
    }
}
