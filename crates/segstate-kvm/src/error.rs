//! Errors of the harness itself (as opposed to verdicts about the guest).

use std::fmt;

/// Why the harness could not run a guest at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessError {
    /// `/dev/kvm` could not be opened (absent, or no permission).
    NoKvm(String),
    /// The KVM API version is not 12.
    ApiVersion(i32),
    /// A KVM ioctl needed to build the VM failed.
    Kvm { what: &'static str, errno: i32 },
    /// Guest RAM or the watchdog could not be set up, or the guest image is bad.
    Setup(String),
}

impl HarnessError {
    pub(crate) fn kvm(what: &'static str, e: vmm_sys_util::errno::Error) -> Self {
        HarnessError::Kvm {
            what,
            errno: e.errno(),
        }
    }
}

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

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::NoKvm(e) => write!(f, "/dev/kvm unavailable: {e}"),
            HarnessError::ApiVersion(v) => write!(f, "unsupported KVM API version {v} (need 12)"),
            HarnessError::Kvm { what, errno } => write!(f, "{what} failed: {}", errno_text(*errno)),
            HarnessError::Setup(s) => write!(f, "harness setup: {s}"),
        }
    }
}

impl std::error::Error for HarnessError {}
