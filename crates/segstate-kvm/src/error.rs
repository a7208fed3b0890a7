//! Errors of the harness itself (as opposed to verdicts about the guest).
//!
//! One type for a failed KVM ioctl ([`IoctlError`]: the ioctl's name and errno),
//! one for guest RAM ([`MemoryError`]) and [`HarnessError`] for everything that
//! stops the harness from running a guest at all.

use std::fmt;

use crate::machine::{Exit, RunFailure};

/// Declares `core::error::Error` and `From` for an error enum whose listed variants
/// wrap another error transparently: the enum's message for such a variant already
/// includes the wrapped error's, so `source` is the wrapped error's own source (no
/// cause is printed twice); the variants not listed have none. Each listed variant
/// gets `From` its wrapped type, so `?` wraps it.
macro_rules! transparent_error {
    ($error:ident: $($variant:ident($wrapped:ty)),+ $(,)?) => {
        impl core::error::Error for $error {
            fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
                match self {
                    $($error::$variant(e) => e.source(),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
        $(
            impl From<$wrapped> for $error {
                fn from(e: $wrapped) -> Self {
                    $error::$variant(e)
                }
            }
        )+
    };
}
pub(crate) use transparent_error;

/// A KVM ioctl that failed: which one, and the errno it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoctlError {
    /// The ioctl, e.g. `KVM_GET_SREGS`.
    pub ioctl: &'static str,
    /// The errno.
    pub errno: i32,
}

impl IoctlError {
    /// The error of `ioctl` from the errno kvm-ioctls returned.
    #[must_use]
    pub fn new(ioctl: &'static str, e: vmm_sys_util::errno::Error) -> Self {
        IoctlError {
            ioctl,
            errno: e.errno(),
        }
    }

    /// For `map_err`: the error of `ioctl`.
    pub fn of(ioctl: &'static str) -> impl Fn(vmm_sys_util::errno::Error) -> Self {
        move |e| IoctlError::new(ioctl, e)
    }

    /// A list too long for kvm-bindings' flexible-array wrapper: the ioctl was
    /// never made; E2BIG, as KVM itself answers an oversized list.
    #[must_use]
    pub fn too_many_entries(ioctl: &'static str) -> Self {
        IoctlError {
            ioctl,
            errno: libc::E2BIG,
        }
    }
}

impl fmt::Display for IoctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.ioctl, errno_text(self.errno))
    }
}

impl core::error::Error for IoctlError {}

/// Formats an errno as "EINVAL (Invalid argument)"-ish text.
pub(crate) fn errno_text(errno: i32) -> String {
    let name = match errno {
        libc::EINVAL => "EINVAL",
        libc::EINTR => "EINTR",
        libc::EFAULT => "EFAULT",
        libc::ENXIO => "ENXIO",
        libc::ENOMEM => "ENOMEM",
        libc::EEXIST => "EEXIST",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOENT => "ENOENT",
        libc::E2BIG => "E2BIG",
        libc::ENOTTY => "ENOTTY",
        libc::EBUSY => "EBUSY",
        libc::EIO => "EIO",
        _ => "errno",
    };
    format!("{name} ({})", std::io::Error::from_raw_os_error(errno))
}

/// Guest RAM could not be mapped, or an access falls outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// mmap of `bytes` bytes failed (or `bytes` was zero: errno EINVAL).
    Map {
        /// The size asked for.
        bytes: usize,
        /// mmap's errno.
        errno: i32,
    },
    /// `gpa`..`gpa + len` is not inside the `ram` bytes of guest RAM.
    OutOfRange {
        /// Guest physical start.
        gpa: u64,
        /// Length of the access.
        len: usize,
        /// Bytes of guest RAM.
        ram: usize,
    },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::Map { bytes, errno } => write!(
                f,
                "mapping {bytes:#x} bytes of guest RAM failed: {}",
                errno_text(*errno)
            ),
            MemoryError::OutOfRange { gpa, len, ram } => write!(
                f,
                "guest range {gpa:#x}+{len:#x} outside RAM ({ram:#x} bytes)"
            ),
        }
    }
}

impl core::error::Error for MemoryError {}

/// Why the harness could not run a guest at all.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum HarnessError {
    /// The KVM device could not be opened (absent, or no permission).
    NoKvm {
        /// The device path.
        device: String,
        /// open's errno.
        errno: i32,
    },
    /// The device path in [`crate::machine::KVM_DEVICE_ENV`] holds a NUL byte.
    DevicePathNul,
    /// The KVM API version is not 12.
    ApiVersion(i32),
    /// A KVM ioctl needed to build or drive the VM failed.
    Ioctl(IoctlError),
    /// Guest RAM could not be mapped or written.
    Memory(MemoryError),
    /// The guest code did not assemble (iced-x86's message).
    Assembly(String),
    /// The guest code does not fit its slot in the layout.
    GuestTooLarge {
        /// Which blob: `kernel` or `user`.
        blob: &'static str,
        /// Its size.
        bytes: usize,
        /// The room it has.
        room: u64,
    },
    /// A descriptor of the guest's GDT or IDT has no encoding (a layout constant is wrong).
    Descriptor {
        /// Which descriptor.
        what: &'static str,
        /// Why the library refused it.
        error: segstate::arch::DescriptorError,
    },
    /// The watchdog's signal handler could not be registered (errno).
    WatchdogSignal(i32),
    /// The watchdog thread could not be spawned.
    WatchdogThread(std::io::ErrorKind),
    /// KVM_RUN stopped with something else than the pause the harness waited for.
    NoPause {
        /// The pause waited for.
        wanted: &'static str,
        /// What came instead: the exit, or why KVM_RUN failed.
        got: Result<Exit, RunFailure>,
    },
    /// KVM_RUN with `immediate_exit` set ran the guest instead of returning EINTR.
    ImmediateExitRan(Exit),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::NoKvm { device, errno } => {
                write!(f, "{device} unavailable: {}", errno_text(*errno))
            }
            HarnessError::DevicePathNul => {
                write!(f, "{} contains a NUL byte", crate::machine::KVM_DEVICE_ENV)
            }
            HarnessError::ApiVersion(v) => write!(f, "unsupported KVM API version {v} (need 12)"),
            HarnessError::Ioctl(e) => e.fmt(f),
            HarnessError::Memory(e) => e.fmt(f),
            HarnessError::Assembly(e) => write!(f, "guest assembly: {e}"),
            HarnessError::GuestTooLarge { blob, bytes, room } => write!(
                f,
                "{blob} guest code is {bytes:#x} bytes, its slot holds {room:#x}"
            ),
            HarnessError::Descriptor { what, error } => {
                write!(f, "guest {what} descriptor: {error}")
            }
            HarnessError::WatchdogSignal(errno) => write!(
                f,
                "registering the watchdog signal handler: {}",
                errno_text(*errno)
            ),
            HarnessError::WatchdogThread(kind) => {
                write!(f, "spawning the watchdog thread: {kind}")
            }
            HarnessError::NoPause { wanted, got } => {
                write!(f, "guest did not reach its {wanted}: ")?;
                match got {
                    Ok(exit) => write!(f, "{exit:?}"),
                    Err(e) => e.fmt(f),
                }
            }
            HarnessError::ImmediateExitRan(exit) => {
                write!(f, "KVM_RUN with immediate_exit ran the guest: {exit:?}")
            }
        }
    }
}

transparent_error!(HarnessError: Ioctl(IoctlError), Memory(MemoryError));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_error_names_the_ioctl_and_the_errno() {
        let e = IoctlError::new(
            "KVM_SET_SREGS",
            vmm_sys_util::errno::Error::new(libc::EINVAL),
        );
        assert_eq!(e.errno, libc::EINVAL);
        let text = HarnessError::from(e).to_string();
        assert!(text.starts_with("KVM_SET_SREGS failed: EINVAL ("), "{text}");
    }

    #[test]
    fn harness_errors_say_their_cause_once() {
        let memory = MemoryError::OutOfRange {
            gpa: 0x1ff_fff8,
            len: 16,
            ram: 0x20_0000,
        };
        let e: Box<dyn std::error::Error> = Box::new(HarnessError::Memory(memory));
        assert_eq!(
            e.to_string(),
            "guest range 0x1fffff8+0x10 outside RAM (0x200000 bytes)"
        );
        // The message is the cause's: a chain printer must not repeat it.
        assert!(e.source().is_none());
    }
}
