//! One VM with one vCPU running the guest from [`crate::guest`], with every
//! KVM_RUN bounded by a [`Watchdog`]. Everything (watchdog thread, vCPU, VM,
//! guest RAM) is released on drop, on every path.

use std::time::{Duration, Instant};

use kvm_bindings::{
    KVM_MAX_CPUID_ENTRIES, Msrs, kvm_msr_entry, kvm_regs, kvm_sregs, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use segstate::arch::msr;

use crate::error::{HarnessError, IoctlError, MemoryError, transparent_error};
use crate::guest::{self, Entry, GuestMemory, Routines, layout};
use crate::watchdog::Watchdog;

/// SFMASK: clear IF, TF, DF, AC on SYSCALL.
const SFMASK_VALUE: u64 = 0x4_4700;

/// A VM exit, copied out of `kvm_run` so it does not borrow the vCPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `out port, …` (value zero-extended, `size` bytes).
    IoOut { port: u16, value: u64, size: usize },
    /// `in …, port` (answered with zeros).
    IoIn { port: u16 },
    /// A write to an unbacked guest physical address.
    MmioWrite { addr: u64, value: u64 },
    /// A read from an unbacked guest physical address (answered with zeros).
    MmioRead { addr: u64 },
    /// `hlt` executed at CPL 0 (no in-kernel irqchip, so KVM exits).
    Hlt,
    /// Triple fault.
    Shutdown,
    /// The hardware refused VM entry.
    FailEntry { reason: u64 },
    /// KVM could not handle something (e.g. emulation failure).
    InternalError { suberror: u32 },
    /// Any other exit reason.
    Other(String),
}

/// A KVM_RUN that did not produce an exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunFailure {
    /// The watchdog had to kick the vCPU out.
    Hung { after: Duration },
    /// KVM_RUN itself failed.
    Ioctl(IoctlError),
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::Hung { after } => {
                write!(f, "KVM_RUN did not return for {after:?} (watchdog fired)")
            }
            RunFailure::Ioctl(e) => e.fmt(f),
        }
    }
}

transparent_error!(RunFailure: Ioctl(IoctlError));

/// The frame an exception stub leaves on its stack, as the CPU pushed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionFrame {
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The guest machine.
///
/// Field order is drop order: the watchdog (which points into the vCPU's
/// `kvm_run` mapping) goes first, guest RAM (which the VM's memslot points
/// to) last.
#[derive(Debug)]
pub struct Machine {
    watchdog: Watchdog,
    vcpu: VcpuFd,
    vm: VmFd,
    mem: GuestMemory,
    routines: &'static Routines,
    timeout: Duration,
}

/// The environment variable that names another KVM device than `/dev/kvm` (for a
/// KVM in a container's odd place, or to exercise the refused-backend path in tests).
pub const KVM_DEVICE_ENV: &str = "SEGSTATE_KVM_DEVICE";

/// Opens `/dev/kvm` (or `$SEGSTATE_KVM_DEVICE`) and checks the API version.
pub fn open_kvm() -> Result<Kvm, HarnessError> {
    let (device, opened) = match std::env::var_os(KVM_DEVICE_ENV) {
        None => ("/dev/kvm".to_string(), Kvm::new()),
        Some(path) => {
            let c_path =
                std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
                    .map_err(|_| HarnessError::DevicePathNul)?;
            (
                path.to_string_lossy().into_owned(),
                Kvm::new_with_path(&c_path),
            )
        }
    };
    let kvm = opened.map_err(|e| HarnessError::NoKvm {
        device,
        errno: e.errno(),
    })?;
    let v = kvm.get_api_version();
    if v != 12 {
        return Err(HarnessError::ApiVersion(v));
    }
    Ok(kvm)
}

impl Machine {
    /// Builds a VM with guest RAM, the guest image, one vCPU with CPUID and
    /// the SYSCALL MSRs set, and a watchdog bounding each run by `timeout`.
    /// The vCPU is not started: call [`Machine::enter`].
    pub fn new(kvm: &Kvm, timeout: Duration) -> Result<Self, HarnessError> {
        Self::with_ram(kvm, timeout, layout::RAM_BYTES)
    }

    /// As [`Machine::new`] with a custom RAM size (tests use a bogus one).
    pub fn with_ram(kvm: &Kvm, timeout: Duration, ram: u64) -> Result<Self, HarnessError> {
        let vm = kvm.create_vm().map_err(IoctlError::of("KVM_CREATE_VM"))?;
        let ram = usize::try_from(ram).map_err(|_| MemoryError::Map {
            bytes: usize::MAX,
            errno: libc::ENOMEM,
        })?;
        let mut mem = GuestMemory::new(ram)?;
        let routines = guest::load(&mut mem)?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: mem.len() as u64,
            userspace_addr: mem.host_addr(),
        };
        // SAFETY: the region is the live mapping owned by `mem`, which the
        // returned `Machine` keeps alive until after the VM is dropped.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(IoctlError::of("KVM_SET_USER_MEMORY_REGION"))?;
        let mut vcpu = vm
            .create_vcpu(0)
            .map_err(IoctlError::of("KVM_CREATE_VCPU"))?;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(IoctlError::of("KVM_GET_SUPPORTED_CPUID"))?;
        vcpu.set_cpuid2(&cpuid)
            .map_err(IoctlError::of("KVM_SET_CPUID2"))?;
        // EFER is part of kvm_sregs and is set with CR0/CR4 (see `enter`);
        // the SYSCALL MSRs are set here.
        set_msrs(
            &vcpu,
            &[
                (msr::STAR, guest::gdt::STAR),
                (msr::LSTAR, routines.k_syscall),
                (msr::CSTAR, routines.k_syscall),
                (msr::SFMASK, SFMASK_VALUE),
                (msr::KERNEL_GS_BASE, 0),
            ],
        )?;
        let run_ptr: *mut kvm_bindings::kvm_run = vcpu.get_kvm_run();
        let tick = (timeout / 8).clamp(Duration::from_millis(1), Duration::from_millis(50));
        let watchdog = Watchdog::new(run_ptr, tick)?;
        Ok(Self {
            watchdog,
            vcpu,
            vm,
            mem,
            routines,
            timeout,
        })
    }

    /// The routine addresses of the loaded guest.
    pub fn routines(&self) -> &'static Routines {
        self.routines
    }

    /// The vCPU (for state capture and raw ioctls).
    pub fn vcpu(&self) -> &VcpuFd {
        &self.vcpu
    }

    /// The VM.
    pub fn vm(&self) -> &VmFd {
        &self.vm
    }

    /// Guest RAM.
    pub fn memory(&self) -> &GuestMemory {
        &self.mem
    }

    /// Guest RAM, writable (parameters, snapshot restore).
    pub fn memory_mut(&mut self) -> &mut GuestMemory {
        &mut self.mem
    }

    /// Per-run timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the vCPU's registers for `entry`. Errors are KVM's refusals.
    pub fn enter(&self, entry: Entry) -> Result<(), IoctlError> {
        let base = self.sregs()?;
        let sregs = guest::sregs_for(&base, entry);
        self.vcpu
            .set_sregs(&sregs)
            .map_err(IoctlError::of("KVM_SET_SREGS"))?;
        self.vcpu
            .set_regs(&guest::regs_for(entry))
            .map_err(IoctlError::of("KVM_SET_REGS"))
    }

    /// Writes a u64 into the guest's parameter block.
    pub fn set_param(&mut self, addr: u64, value: u64) -> Result<(), MemoryError> {
        self.mem.write_u64(addr, value)
    }

    /// One KVM_RUN, bounded by the watchdog. EINTR that the watchdog did not
    /// cause (some other signal) is retried within the same time budget.
    pub fn run(&mut self) -> Result<Exit, RunFailure> {
        let start = Instant::now();
        loop {
            // Retries share the original deadline, so a stream of unrelated
            // signals cannot keep a runaway guest alive.
            let left = self.timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(RunFailure::Hung {
                    after: start.elapsed(),
                });
            }
            self.watchdog.arm(left);
            let r = self.vcpu.run().map(owned_exit);
            let fired = self.watchdog.disarm();
            match r {
                Ok(Exit::InternalError { .. }) => {
                    // SAFETY: KVM set exit_reason to KVM_EXIT_INTERNAL_ERROR, which
                    // selects the `internal` member of the union.
                    let suberror =
                        unsafe { self.vcpu.get_kvm_run().__bindgen_anon_1.internal.suberror };
                    return Ok(Exit::InternalError { suberror });
                }
                Ok(exit) => return Ok(exit),
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                    if fired {
                        return Err(RunFailure::Hung {
                            after: start.elapsed(),
                        });
                    }
                }
                Err(e) => return Err(RunFailure::Ioctl(IoctlError::new("KVM_RUN", e))),
            }
        }
    }

    /// One KVM_RUN that must stop at the guest's MMIO pause `pause` (one of the
    /// `MMIO_*_PAUSE` sync points of [`layout`]); any other exit, or a failed run,
    /// is [`HarnessError::NoPause`] naming the pause as `wanted`.
    pub fn run_to_pause(&mut self, pause: u64, wanted: &'static str) -> Result<(), HarnessError> {
        match self.run() {
            Ok(Exit::MmioWrite { addr, .. }) if addr == pause => Ok(()),
            got => Err(HarnessError::NoPause { wanted, got }),
        }
    }

    /// [`Machine::run_to_pause`] at the user-mode sync point
    /// ([`layout::MMIO_USER_PAUSE`]).
    pub fn run_to_user_pause(&mut self) -> Result<(), HarnessError> {
        self.run_to_pause(layout::MMIO_USER_PAUSE, "user pause")
    }

    /// Completes a pending I/O or MMIO exit without running guest code, as
    /// KVM requires before the vCPU state is saved: KVM_RUN with
    /// `immediate_exit` set finishes the instruction and returns EINTR.
    pub fn complete_pending_io(&mut self) -> Result<(), HarnessError> {
        self.vcpu.set_kvm_immediate_exit(1);
        // Bounded too: a backend without immediate_exit would run the guest.
        self.watchdog.arm(self.timeout);
        let r = self.vcpu.run().map(owned_exit);
        self.watchdog.disarm();
        self.vcpu.set_kvm_immediate_exit(0);
        match r {
            Err(e) if e.errno() == libc::EINTR => Ok(()),
            Err(e) => Err(IoctlError::new("KVM_RUN (immediate_exit)", e).into()),
            Ok(exit) => Err(HarnessError::ImmediateExitRan(exit)),
        }
    }

    /// The exception frame the reporting stub sits on (valid right after an
    /// `IoOut` on [`layout::PORT_EXCEPTION`]).
    pub fn exception_frame(&self) -> Result<ExceptionFrame, HarnessError> {
        let rsp = self.regs()?.rsp;
        let q = |i: u64| self.mem.read_u64(rsp + 8 * i);
        Ok(ExceptionFrame {
            vector: q(0)?,
            error_code: q(1)?,
            rip: q(2)?,
            cs: q(3)?,
            rflags: q(4)?,
            rsp: q(5)?,
            ss: q(6)?,
        })
    }

    /// KVM_GET_REGS.
    pub fn regs(&self) -> Result<kvm_regs, IoctlError> {
        self.vcpu.get_regs().map_err(IoctlError::of("KVM_GET_REGS"))
    }

    /// KVM_GET_SREGS.
    pub fn sregs(&self) -> Result<kvm_sregs, IoctlError> {
        self.vcpu
            .get_sregs()
            .map_err(IoctlError::of("KVM_GET_SREGS"))
    }
}

/// KVM_SET_MSRS for `(index, value)` pairs; all must be accepted.
pub fn set_msrs(vcpu: &VcpuFd, entries: &[(u32, u64)]) -> Result<(), IoctlError> {
    let list: Vec<kvm_msr_entry> = entries
        .iter()
        .map(|&(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        })
        .collect();
    let msrs =
        Msrs::from_entries(&list).map_err(|_| IoctlError::too_many_entries("KVM_SET_MSRS"))?;
    let n = vcpu
        .set_msrs(&msrs)
        .map_err(IoctlError::of("KVM_SET_MSRS"))?;
    if n != list.len() {
        // KVM stopped at an MSR it refused; say so as KVM_SET_MSRS would for one alone.
        return Err(IoctlError {
            ioctl: "KVM_SET_MSRS",
            errno: libc::EINVAL,
        });
    }
    Ok(())
}

fn le_value(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = data.len().min(8);
    b[..n].copy_from_slice(&data[..n]);
    u64::from_le_bytes(b)
}

fn owned_exit(exit: VcpuExit<'_>) -> Exit {
    match exit {
        VcpuExit::IoOut(port, data) => Exit::IoOut {
            port,
            value: le_value(data),
            size: data.len(),
        },
        VcpuExit::IoIn(port, data) => {
            data.fill(0);
            Exit::IoIn { port }
        }
        VcpuExit::MmioWrite(addr, data) => Exit::MmioWrite {
            addr,
            value: le_value(data),
        },
        VcpuExit::MmioRead(addr, data) => {
            data.fill(0);
            Exit::MmioRead { addr }
        }
        VcpuExit::Hlt => Exit::Hlt,
        VcpuExit::Shutdown => Exit::Shutdown,
        VcpuExit::FailEntry(reason, _) => Exit::FailEntry { reason },
        VcpuExit::InternalError => Exit::InternalError { suberror: 0 },
        other => Exit::Other(format!("{other:?}")),
    }
}
