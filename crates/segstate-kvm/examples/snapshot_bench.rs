//! Snapshot figures, all in one run: save and restore of one vCPU through segstate
//! beside the bare KVM ioctls they need, encoded size, encode/decode speed.
//!
//! ```sh
//! cargo run --release -p segstate-kvm --example snapshot_bench [ITERATIONS]
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, Msrs, kvm_msr_entry};
use segstate::snapshot::{MemoryRegion, VcpuSnapshot};
use segstate_kvm::machine::{Machine, open_kvm};
use segstate_kvm::snapshot::{
    RestoreOptions, VcpuSnapshotExt, capture, host_description, load_memory, read_msrs, restore,
};
use segstate_kvm::{RunOptions, paused_user_machine};

fn per_op(total: Duration, n: u32) -> Duration {
    total / n
}

fn time<T>(n: u32, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    per_op(start.elapsed(), n)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let kvm = open_kvm()?;
    let host = host_description(&kvm);
    let mut m = paused_user_machine(&RunOptions::default())?;
    m.complete_pending_io()?;
    let indices: Vec<u32> = kvm.get_msr_index_list()?.as_slice().to_vec();
    let vcpu = m.vcpu();

    // --- save -----------------------------------------------------------------
    let bare_get = time(n, || {
        let _ = vcpu.get_cpuid2(KVM_MAX_CPUID_ENTRIES);
        let _ = vcpu.get_regs();
        let _ = vcpu.get_sregs();
        let _ = vcpu.get_xsave();
        let _ = vcpu.get_xcrs();
        let _ = vcpu.get_debug_regs();
        let _ = vcpu.get_fpu();
        let _ = vcpu.get_lapic();
        let _ = vcpu.get_vcpu_events();
        let _ = vcpu.get_mp_state();
        read_msrs(vcpu, &indices)
    });
    let lib_capture = time(n, || capture(&m, &kvm, &host, false).map(|s| s.cpl));
    let snap = capture(&m, &kvm, &host, false)?;
    let encoded = snap.encode();
    let encode = time(n, || snap.encode());
    let decode = time(n, || VcpuSnapshot::decode(&encoded).map(|s| s.cpl));

    let whole = capture(&m, &kvm, &host, true)?;
    let whole_bytes = whole.encode();
    let whole_decode = time(n, || VcpuSnapshot::decode(&whole_bytes).map(|s| s.cpl));
    let mut big = snap.clone();
    big.memory = vec![MemoryRegion {
        gpa: 0,
        data: m.memory().as_slice().to_vec(),
    }];
    let big_bytes = big.encode();
    let big_n = (n / 10).max(10);
    let big_decode = time(big_n, || VcpuSnapshot::decode(&big_bytes).map(|s| s.cpl));

    // --- restore into a fresh VM ----------------------------------------------
    let mut fresh = Machine::new(&kvm, m.timeout())?;
    load_memory(&mut fresh, &whole)?;
    let report = restore(&fresh, &snap, RestoreOptions::default())?;
    let st = snap.to_state()?;
    let accepted: Vec<kvm_msr_entry> = st
        .msrs
        .iter()
        .filter(|e| !report.msrs_refused.contains(&e.index))
        .copied()
        .collect();
    let msrs = Msrs::from_entries(&accepted)?;
    let fv = fresh.vcpu();
    let bare_set = time(n, || -> Result<(), vmm_sys_util::errno::Error> {
        if let Some(c) = &st.cpuid {
            fv.set_cpuid2(c)?;
        }
        fv.set_sregs(&st.sregs)?;
        fv.set_regs(&st.regs)?;
        if let Some(x) = &st.xcrs {
            fv.set_xcrs(x)?;
        }
        if let Some(x) = &st.xsave {
            // SAFETY: the 4 KiB legacy kvm_xsave (to_state refuses other sizes); no
            // dynamic XSTATE features are enabled in this process.
            unsafe { fv.set_xsave(x) }?;
        }
        if let Some(d) = &st.debug_regs {
            fv.set_debug_regs(d)?;
        }
        fv.set_msrs(&msrs)?;
        if let Some(e) = &st.vcpu_events {
            fv.set_vcpu_events(e)?;
        }
        if let Some(mp) = st.mp_state {
            fv.set_mp_state(mp)?;
        }
        Ok(())
    });
    let lib_restore = time(n, || {
        restore(&fresh, &snap, RestoreOptions::default()).is_ok()
    });
    let vm_n = (n / 20).max(5);
    let fresh_vm = time(vm_n, || {
        let mut f = Machine::new(&kvm, m.timeout()).expect("fresh VM");
        load_memory(&mut f, &whole).expect("memory");
        f
    });

    let overhead =
        (lib_capture + encode + decode + lib_restore).saturating_sub(bare_get + bare_set);
    println!(
        "Snapshot of one vCPU on {} ({}), {n} iterations, per operation:",
        host.backend, host.cpu_vendor
    );
    println!("  {:<58} {:>10}", "what", "time");
    let rows = [
        (
            "bare GET ioctls (11 kinds, MSRs from the index list)".to_string(),
            bare_get,
        ),
        (
            "segstate capture (same ioctls + conversion)".to_string(),
            lib_capture,
        ),
        (
            format!("encode, vCPU only ({} bytes)", encoded.len()),
            encode,
        ),
        (
            format!(
                "decode, vCPU only ({} bytes, CRC + strict parse)",
                encoded.len()
            ),
            decode,
        ),
        ("bare SET ioctls (9 kinds)".to_string(), bare_set),
        (
            "segstate restore (checks + ioctls + read-back verify)".to_string(),
            lib_restore,
        ),
        (
            "save + restore beyond the bare ioctls".to_string(),
            overhead,
        ),
        (
            format!(
                "decode, whole VM ({} bytes: {} non-zero pages)",
                whole_bytes.len(),
                whole
                    .memory
                    .iter()
                    .map(|r| r.data.len() / 4096)
                    .sum::<usize>()
            ),
            whole_decode,
        ),
        (
            format!("decode, full 2 MiB RAM ({} bytes)", big_bytes.len()),
            big_decode,
        ),
        (
            "fresh VM (Machine::new) + guest memory load".to_string(),
            fresh_vm,
        ),
    ];
    for (what, d) in rows {
        println!("  {what:<58} {:>10}", us(d));
    }
    println!(
        "  decode throughput (full RAM): {:.0} MB/s",
        big_bytes.len() as f64 / big_decode.as_secs_f64() / 1e6
    );
    Ok(())
}
