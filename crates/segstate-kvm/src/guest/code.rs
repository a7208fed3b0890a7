//! Guest code, assembled at run time with iced-x86's `CodeAssembler` so that
//! the instructions stay readable here. Two blobs: kernel routines (CPL 0,
//! exception stubs, int3 and SYSCALL entries) at [`KERNEL_CODE`] and user
//! routines (CPL 3) at [`USER_CODE`]. Routines talk to the VMM through port
//! I/O from CPL 0 and through MMIO writes to unbacked addresses from any CPL.

use iced_x86::BlockEncoderOptions;
use iced_x86::code_asm::*;

use super::idt::EXCEPTION_VECTORS;
use super::layout::*;
use crate::error::HarnessError;

/// The privileged instruction a user routine runs to test its privilege.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// `hlt`: privileged at CPL > 0 regardless of IOPL.
    Hlt,
    /// `cli`: faults at CPL 3 when IOPL is 0.
    Cli,
    /// `mov rax, cr3`: privileged.
    ReadCr3,
    /// `mov cr3, rax` (reloads the same page tables): privileged.
    WriteCr3,
}

impl Probe {
    /// All probes.
    pub const ALL: [Probe; 4] = [Probe::Hlt, Probe::Cli, Probe::ReadCr3, Probe::WriteCr3];

    /// Mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Hlt => "hlt",
            Probe::Cli => "cli",
            Probe::ReadCr3 => "mov rax, cr3",
            Probe::WriteCr3 => "mov cr3, rax",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Addresses of the named routines.
#[derive(Clone, Debug)]
pub struct Routines {
    /// CPL 0: `out PORT_KERNEL_HELLO, eax`, then halt. Smoke test.
    pub k_hello: u64,
    /// CPL 0: `jmp $`. Watchdog test.
    pub k_spin: u64,
    /// CPL 0: load a NULL SS, then SYSRET to `[PARAM_USER_ENTRY]`.
    pub k_sysret_null_ss: u64,
    /// CPL 0: IRETQ to `[PARAM_USER_ENTRY]` with CS 0x2b, SS 0x23.
    pub k_iret_to_user: u64,
    /// #BP handler (DPL-3 gate): pause in kernel via MMIO, then IRETQ.
    pub k_int3: u64,
    /// LSTAR target: report on PORT_SYSCALL, then halt.
    pub k_syscall: u64,
    /// Exception stubs: push error code (or 0) and vector, report, halt.
    pub k_exception: [u64; EXCEPTION_VECTORS],
    /// CPL 3: pause via MMIO, then jump to `[PARAM_PROBE]`.
    pub u_pause_probe: u64,
    /// CPL 3: `[PARAM_STORM_COUNT]` pauses, then jump to `[PARAM_PROBE]`.
    pub u_storm: u64,
    /// CPL 3: `int3`, then `u_pause_probe`.
    pub u_int3: u64,
    /// CPL 3: `jmp $`.
    pub u_spin: u64,
    /// CPL 3: `out PORT_USER_OUT, al`, then MMIO_USER_OUT_DONE marker.
    pub u_out: u64,
    /// CPL 3: one routine per [`Probe`]: the instruction, then MMIO_PRIV_RAN.
    u_probe: [u64; 4],
    /// Address of each probe's privileged instruction (for fault matching).
    u_probe_insn: [u64; 4],
}

impl Routines {
    /// Entry of the routine running `probe`.
    pub fn probe(&self, probe: Probe) -> u64 {
        self.u_probe[probe.index()]
    }
    /// Address of `probe`'s privileged instruction itself.
    pub fn probe_insn(&self, probe: Probe) -> u64 {
        self.u_probe_insn[probe.index()]
    }
}

/// Assembled guest code.
#[derive(Clone, Debug)]
pub struct GuestCode {
    pub kernel: Vec<u8>,
    pub user: Vec<u8>,
    pub routines: Routines,
}

fn e(err: IcedError) -> HarnessError {
    HarnessError::Assembly(err.to_string())
}

/// Vectors for which the CPU pushes an error code.
fn has_error_code(vector: usize) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// A fresh label bound to the next instruction: a routine's entry, or a target
/// jumped back to.
fn here(a: &mut CodeAssembler) -> Result<CodeLabel, IcedError> {
    let mut label = a.create_label();
    a.set_label(&mut label)?;
    Ok(label)
}

/// Where each of `labels` landed in the assembled blob.
fn label_ips<const N: usize>(
    r: &CodeAssemblerResult,
    labels: &[CodeLabel; N],
) -> Result<[u64; N], IcedError> {
    let mut ips = [0; N];
    for (ip, label) in ips.iter_mut().zip(labels) {
        *ip = r.label_ip(label)?;
    }
    Ok(ips)
}

/// Assembles both blobs.
pub fn assemble() -> Result<GuestCode, HarnessError> {
    let (user, u) = assemble_user().map_err(e)?;
    let (kernel, k) = assemble_kernel().map_err(e)?;
    Ok(GuestCode {
        kernel,
        user,
        routines: Routines {
            k_hello: k.hello,
            k_spin: k.spin,
            k_sysret_null_ss: k.sysret_null_ss,
            k_iret_to_user: k.iret_to_user,
            k_int3: k.int3,
            k_syscall: k.syscall,
            k_exception: k.exception,
            u_pause_probe: u.pause_probe,
            u_storm: u.storm,
            u_int3: u.int3,
            u_spin: u.spin,
            u_out: u.out,
            u_probe: u.probe,
            u_probe_insn: u.probe_insn,
        },
    })
}

struct UserAddrs {
    pause_probe: u64,
    storm: u64,
    int3: u64,
    spin: u64,
    out: u64,
    probe: [u64; 4],
    probe_insn: [u64; 4],
}

fn assemble_user() -> Result<(Vec<u8>, UserAddrs), IcedError> {
    let mut a = CodeAssembler::new(64)?;

    // u_pause_probe: the sync point, then the privileged probe.
    let pause_probe = here(&mut a)?;
    a.mov(dword_ptr(MMIO_USER_PAUSE), eax)?;
    a.jmp(qword_ptr(PARAM_PROBE))?;

    // u_storm: many sync points in a row, then the probe.
    let storm = here(&mut a)?;
    a.mov(rcx, qword_ptr(PARAM_STORM_COUNT))?;
    let storm_loop = here(&mut a)?;
    a.mov(dword_ptr(MMIO_USER_PAUSE), ecx)?;
    a.dec(rcx)?;
    a.jnz(storm_loop)?;
    a.jmp(qword_ptr(PARAM_PROBE))?;

    // u_int3: into the kernel through the DPL-3 #BP gate, back, then pause+probe.
    let int3 = here(&mut a)?;
    a.int3()?;
    a.jmp(pause_probe)?;

    // u_spin: a guest that never exits.
    let spin = here(&mut a)?;
    a.jmp(spin)?;

    // u_out: port I/O from CPL 3 with IOPL 0 (architecturally #GP).
    let out = here(&mut a)?;
    a.mov(eax, 0x5a_u32)?;
    a.out(PORT_USER_OUT as u32, al)?;
    a.mov(dword_ptr(MMIO_USER_OUT_DONE), eax)?;
    let out_spin = here(&mut a)?;
    a.jmp(out_spin)?;

    // u_probe_*: the privileged instruction, then the "it ran" marker.
    let mut probe = [CodeLabel::default(); 4];
    let mut probe_insn = [CodeLabel::default(); 4];
    for p in Probe::ALL {
        let i = p.index();
        probe[i] = here(&mut a)?;
        probe_insn[i] = if p == Probe::WriteCr3 {
            // Operand first, so that the probe's own instruction is the privileged one.
            a.mov(rax, PML4)?;
            here(&mut a)?
        } else {
            probe[i]
        };
        match p {
            Probe::Hlt => a.hlt()?,
            Probe::Cli => a.cli()?,
            Probe::ReadCr3 => a.mov(rax, cr3)?,
            Probe::WriteCr3 => a.mov(cr3, rax)?,
        }
        a.mov(eax, i as u32)?;
        a.mov(dword_ptr(MMIO_PRIV_RAN), eax)?;
        let done = here(&mut a)?;
        a.jmp(done)?;
    }

    let r = a.assemble_options(
        USER_CODE,
        BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let [pause_probe, storm, int3, spin, out] =
        label_ips(&r, &[pause_probe, storm, int3, spin, out])?;
    let addrs = UserAddrs {
        pause_probe,
        storm,
        int3,
        spin,
        out,
        probe: label_ips(&r, &probe)?,
        probe_insn: label_ips(&r, &probe_insn)?,
    };
    Ok((r.inner.code_buffer, addrs))
}

struct KernelAddrs {
    hello: u64,
    spin: u64,
    sysret_null_ss: u64,
    iret_to_user: u64,
    int3: u64,
    syscall: u64,
    exception: [u64; EXCEPTION_VECTORS],
}

fn assemble_kernel() -> Result<(Vec<u8>, KernelAddrs), IcedError> {
    let mut a = CodeAssembler::new(64)?;
    // Jumped to by every stub below it.
    let mut report = a.create_label();

    // k_hello: CPL-0 port I/O reaches the VMM.
    let hello = here(&mut a)?;
    a.mov(eax, 0x600d_u32)?;
    a.out(PORT_KERNEL_HELLO as u32, eax)?;
    a.hlt()?;
    a.jmp(hello)?;

    // k_spin: a guest that never exits.
    let spin = here(&mut a)?;
    a.jmp(spin)?;

    // k_sysret_null_ss: reproduce the AMD SYSRET state. In 64-bit mode a
    // NULL SS is legal at CPL 0; SYSRET then loads SS's selector (0x23) and,
    // on AMD, leaves the hidden attributes of the NULL SS in place.
    let sysret_null_ss = here(&mut a)?;
    a.xor(eax, eax)?;
    a.mov(ss, ax)?;
    a.mov(rsp, USER_STACK_TOP)?;
    a.mov(rcx, qword_ptr(PARAM_USER_ENTRY))?;
    a.mov(r11d, RFLAGS_DEFAULT as u32)?;
    a.sysretq()?;

    // k_iret_to_user: enter user mode with a valid SS through an IRETQ frame.
    let iret_to_user = here(&mut a)?;
    a.push(i32::from(super::gdt::USER_DS))?;
    a.push(USER_STACK_TOP as i32)?;
    a.push(RFLAGS_DEFAULT as i32)?;
    a.push(i32::from(super::gdt::USER_CS))?;
    a.push(qword_ptr(PARAM_USER_ENTRY))?;
    a.iretq()?;

    // k_int3: entered from CPL 3 through a DPL-3 gate. The CPU switched to
    // RSP0 and loaded SS with a NULL selector; pause here (CPL 0, NULL SS)
    // so the VMM can sync, then return to user mode.
    let int3 = here(&mut a)?;
    a.push(rax)?;
    a.mov(eax, 3_u32)?;
    a.mov(dword_ptr(MMIO_KERNEL_PAUSE), eax)?;
    a.pop(rax)?;
    a.iretq()?;

    // k_syscall (LSTAR): not used by the scenarios; report and stop.
    let syscall = here(&mut a)?;
    a.out(PORT_SYSCALL as u32, eax)?;
    a.hlt()?;
    a.jmp(syscall)?;

    // Exception stubs: uniform frame [vector, error code, rip, cs, rflags, rsp, ss].
    let mut stubs = [CodeLabel::default(); EXCEPTION_VECTORS];
    for (v, stub) in stubs.iter_mut().enumerate() {
        *stub = here(&mut a)?;
        if !has_error_code(v) {
            a.push(0)?;
        }
        a.push(v as i32)?;
        a.jmp(report)?;
    }
    // report: hand the vector to the VMM (which reads the frame at RSP), stop.
    a.set_label(&mut report)?;
    a.mov(eax, dword_ptr(rsp))?;
    a.out(PORT_EXCEPTION as u32, eax)?;
    a.hlt()?;
    a.jmp(report)?;

    let r = a.assemble_options(
        KERNEL_CODE,
        BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let [hello, spin, sysret_null_ss, iret_to_user, int3, syscall] = label_ips(
        &r,
        &[hello, spin, sysret_null_ss, iret_to_user, int3, syscall],
    )?;
    let addrs = KernelAddrs {
        hello,
        spin,
        sysret_null_ss,
        iret_to_user,
        int3,
        syscall,
        exception: label_ips(&r, &stubs)?,
    };
    Ok((r.inner.code_buffer, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_with_routines_in_their_blobs() {
        let c = assemble().unwrap();
        let r = &c.routines;
        let user = USER_CODE..USER_CODE + c.user.len() as u64;
        let kernel = KERNEL_CODE..KERNEL_CODE + c.kernel.len() as u64;
        for a in [r.u_pause_probe, r.u_storm, r.u_int3, r.u_spin, r.u_out] {
            assert!(user.contains(&a), "{a:#x}");
        }
        for a in [
            r.k_hello,
            r.k_spin,
            r.k_sysret_null_ss,
            r.k_iret_to_user,
            r.k_int3,
            r.k_syscall,
        ] {
            assert!(kernel.contains(&a), "{a:#x}");
        }
        assert!(r.k_exception.iter().all(|a| kernel.contains(a)));
        for p in Probe::ALL {
            assert!(user.contains(&r.probe_insn(p)));
        }
        assert_eq!(r.probe_insn(Probe::Hlt), r.probe(Probe::Hlt));
        assert!(r.probe_insn(Probe::WriteCr3) > r.probe(Probe::WriteCr3));
        // `hlt` is F4.
        assert_eq!(
            c.user[(r.probe_insn(Probe::Hlt) - USER_CODE) as usize],
            0xf4
        );
    }
}
