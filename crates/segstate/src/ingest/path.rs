//! Opening an input by its path: the one place that looks at the file system to decide
//! how an input is read.
//!
//! Most inputs are read as a stream by [`source::read_each`], their format told by
//! their first bytes. A few are read by path instead, because their reader needs more
//! than a stream (feature `serde`):
//!
//! - a snapshot directory: crosvm's (a `vcpu` namespace, [`crosvm::is_snapshot_dir`])
//!   or Cloud Hypervisor's (a `state.json`, or the `vm.json` of v15–v21); a directory
//!   that is neither is refused;
//! - a crosvm fragment `vcpu/vcpu{N}`, read with the snapshot around it so that an
//!   encrypted one is named so ([`crosvm::is_fragment_path`]);
//! - a HyperVStorage file (`.vmrs`/`.vsv`), whose reader seeks past the guest RAM it
//!   holds instead of reading it ([`hyperv::Framing::HyperVStorage`]);
//! - a qcow2 image, whose internal snapshots' VM state is reached through its cluster
//!   tables ([`super::qcow2`]).
//!
//! [`open_path`] makes that choice; [`OpenedInput::read_each`] then hands out the
//! states either way.

use std::boxed::Box;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::source::{self, InputName, SourceError};
use super::{Input, InputFormat};
#[cfg(feature = "serde")]
use super::{cloud_hypervisor, crosvm, firecracker, foreign, hyperv, qcow2, xen};
#[cfg(feature = "serde")]
use std::vec::Vec;

/// An input opened by [`open_path`], ready to be read.
pub struct OpenedInput {
    name: InputName,
    format: Option<InputFormat>,
    how: How,
}

/// How an opened input is read.
enum How {
    /// Already read by path: the vCPUs of a snapshot directory, a crosvm fragment or a
    /// HyperVStorage file.
    #[cfg(feature = "serde")]
    ByPath(Vec<foreign::ForeignVcpu>),
    /// Already read by path into states: a qcow2 image's snapshots.
    #[cfg(feature = "serde")]
    States(Vec<Input>),
    /// A file or standard input, read as a stream.
    Stream(Box<dyn BufRead>),
}

impl fmt::Debug for OpenedInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OpenedInput");
        d.field("name", &self.name).field("format", &self.format);
        match &self.how {
            #[cfg(feature = "serde")]
            How::ByPath(vcpus) => d.field("vcpus", vcpus),
            #[cfg(feature = "serde")]
            How::States(states) => d.field("states", &states.len()),
            How::Stream(_) => d.field("how", &"stream"),
        };
        d.finish()
    }
}

impl OpenedInput {
    /// The input's name: its path, or standard input.
    #[must_use]
    pub fn name(&self) -> &InputName {
        &self.name
    }

    /// The vCPUs, when the input was read whole by its path (a snapshot directory, a
    /// crosvm fragment, a HyperVStorage file); `None` for an input read as a stream.
    #[cfg(feature = "serde")]
    #[must_use]
    pub fn foreign_vcpus(&self) -> Option<&[foreign::ForeignVcpu]> {
        match &self.how {
            How::ByPath(vcpus) => Some(vcpus),
            How::States(_) | How::Stream(_) => None,
        }
    }

    /// Reads every state of the input and hands each to `each` as soon as it is read,
    /// as [`source::read_each`] does with the format [`open_path`] was given; returns how
    /// many there were.
    ///
    /// # Errors
    ///
    /// [`SourceError`] naming the input and the line, offset or field of the first
    /// thing that cannot be read; states before it have been handed out.
    pub fn read_each(self, each: &mut dyn FnMut(Input)) -> Result<usize, SourceError> {
        match self.how {
            #[cfg(feature = "serde")]
            How::ByPath(vcpus) => {
                let inputs =
                    super::foreign_inputs(&vcpus).map_err(|e| SourceError::new(&self.name, e))?;
                let n = inputs.len();
                inputs.into_iter().for_each(each);
                Ok(n)
            }
            #[cfg(feature = "serde")]
            How::States(states) => {
                let n = states.len();
                states.into_iter().for_each(each);
                Ok(n)
            }
            How::Stream(mut reader) => {
                source::read_each(&mut reader, &self.name, self.format, each)
            }
        }
    }
}

/// An input that cannot be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The file cannot be opened, or is a directory where no snapshot directory is read
    /// (a build without `serde`).
    Source(SourceError),
    /// A directory that is not a snapshot directory segstate reads.
    NotASnapshot(PathBuf),
    /// A file or directory read by path whose contents cannot be read.
    #[cfg(feature = "serde")]
    Foreign(foreign::IngestError),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Source(e) => e.fmt(f),
            OpenError::NotASnapshot(dir) => write!(
                f,
                "{}: is a directory, and not a Cloud Hypervisor snapshot (it has no state.json \
                 nor vm.json) nor a crosvm snapshot (it has no vcpu namespace)",
                dir.display()
            ),
            #[cfg(feature = "serde")]
            OpenError::Foreign(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            OpenError::Source(e) => Some(e),
            OpenError::NotASnapshot(_) => None,
            #[cfg(feature = "serde")]
            OpenError::Foreign(e) => Some(e),
        }
    }
}

/// Opens the input at `path` (`-` is standard input), deciding how it is read: a
/// snapshot directory, a crosvm `vcpu{N}` fragment (unless `format` is given) or a
/// HyperVStorage file (unless `format` names another) is read whole by its path;
/// anything else is opened as a stream whose format [`OpenedInput::read_each`] detects
/// from its first bytes, or takes from `format`.
///
/// ```
/// use std::path::Path;
/// use segstate::arch::PrivilegeLevel;
///
/// let dumps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dumps");
/// // A QEMU log, read a dump at a time.
/// let opened = segstate::ingest::open_path(&dumps.join("blog-os-770.txt"), None)?;
/// let mut cpls = Vec::new();
/// let n = opened.read_each(&mut |input| cpls.push(input.state.cpl))?;
/// assert_eq!(n, cpls.len());
/// assert_eq!(cpls[0], PrivilegeLevel::Ring0);
/// // A directory of dumps is not a snapshot: refused, by name.
/// let e = segstate::ingest::open_path(&dumps, None).unwrap_err();
/// assert!(e.to_string().starts_with(&dumps.display().to_string()), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`OpenError`] naming the path: it cannot be opened, it is a directory that is no
/// snapshot, or what is read by path cannot be read.
pub fn open_path(path: &Path, format: Option<InputFormat>) -> Result<OpenedInput, OpenError> {
    #[cfg(feature = "serde")]
    if let name @ InputName::Path(_) = InputName::of(Some(path)) {
        if format.is_none_or(|f| f == InputFormat::Qcow2) && starts_with(path, &qcow2::MAGIC) {
            let states = super::qcow2::inputs(path)
                .map_err(|e| OpenError::Source(SourceError::new(&name, e)))?;
            return Ok(OpenedInput {
                name,
                format,
                how: How::States(states),
            });
        }
        if let Some(vcpus) = read_by_path(path, format)? {
            return Ok(OpenedInput {
                name,
                format,
                how: How::ByPath(vcpus),
            });
        }
    }
    let (name, reader) = source::open(Some(path)).map_err(OpenError::Source)?;
    Ok(OpenedInput {
        name,
        format,
        how: How::Stream(reader),
    })
}

/// The vCPUs at `path` when it is read by path (see the module documentation), `None`
/// when it is read as a stream.
#[cfg(feature = "serde")]
fn read_by_path(
    path: &Path,
    format: Option<InputFormat>,
) -> Result<Option<Vec<foreign::ForeignVcpu>>, OpenError> {
    if path.is_dir() {
        // The directory's format is known here: read it with that format's reader
        // rather than through `foreign_vcpus_at`, which would look at it again.
        let read = match foreign_dir_format(path) {
            Some(InputFormat::Crosvm) => crosvm::read_path(path),
            Some(_) => cloud_hypervisor::read_path(path),
            None => return Err(OpenError::NotASnapshot(path.to_path_buf())),
        };
        return read.map(Some).map_err(OpenError::Foreign);
    }
    let read = if format.is_none() && crosvm::is_fragment_path(path) {
        foreign_vcpus_at(path)
    } else if format.is_none_or(|f| f == InputFormat::HyperV) && is_hyperv_storage(path) {
        // Its signature was just read: no other format starts with it, so
        // `foreign_vcpus_at` would only open the file again to find the same.
        hyperv::read_path(path)
    } else {
        return Ok(None);
    };
    read.map(Some).map_err(OpenError::Foreign)
}

/// True when `path` is a regular file starting with the HyperVStorage signature.
#[cfg(feature = "serde")]
fn is_hyperv_storage(path: &Path) -> bool {
    let mut prefix = [0u8; 4];
    first_bytes(path, &mut prefix)
        && hyperv::recognise(&prefix) == Some(hyperv::Framing::HyperVStorage)
}

/// True when `path` is a regular file starting with `magic`.
#[cfg(feature = "serde")]
fn starts_with(path: &Path, magic: &[u8; 4]) -> bool {
    let mut prefix = [0u8; 4];
    first_bytes(path, &mut prefix) && prefix == *magic
}

/// Fills `prefix` with the first bytes of `path` when it is a regular file that long.
///
/// Only a regular file is looked at: a pipe or FIFO named by path (`/dev/stdin`, a
/// shell's `<(...)`) is opened again by [`source::open`], and the bytes read here would
/// be gone from the stream. The formats read by path are read by seeking, which no pipe
/// does.
#[cfg(feature = "serde")]
fn first_bytes(path: &Path, prefix: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::File::open(path).is_ok_and(|mut f| f.read_exact(prefix).is_ok())
}

/// The vCPUs of a foreign state file or snapshot directory at `path`: a directory is a
/// crosvm snapshot when it has the `vcpu` namespace ([`crosvm::is_snapshot_dir`]), else
/// a Cloud Hypervisor snapshot (its `state.json` or `vm.json`); a file is a Firecracker
/// state file or a crosvm `vcpu{N}` fragment by its first bytes, else a Cloud Hypervisor
/// `state.json` or `vm.json`.
///
/// # Errors
///
/// [`foreign::IngestError`] naming the file, the place and the reason.
#[cfg(feature = "serde")]
pub fn foreign_vcpus_at(
    path: &std::path::Path,
) -> Result<Vec<foreign::ForeignVcpu>, foreign::IngestError> {
    use std::io::Read;
    if !path.is_dir() {
        let mut prefix = Vec::new();
        let opened = std::fs::File::open(path).and_then(|f| f.take(8192).read_to_end(&mut prefix));
        if opened.is_ok() && firecracker::recognise(&prefix).is_some() {
            return firecracker::read_path(path);
        }
        if opened.is_ok() && xen::recognise(&prefix).is_some() {
            return xen::read_path(path);
        }
        if opened.is_ok() && hyperv::recognise(&prefix).is_some() {
            return hyperv::read_path(path);
        }
        if opened.is_ok()
            && super::text_format(&String::from_utf8_lossy(&prefix)) == InputFormat::XenHvmctx
        {
            return xen::hvmctx::read_path(path);
        }
        // A fragment named vcpu{N} is crosvm's even when its bytes are neither CBOR nor
        // JSON (an encrypted snapshot's): its reader says which.
        if opened.is_ok() && (crosvm::recognise(&prefix) || crosvm::is_fragment_path(path)) {
            return crosvm::read_path(path);
        }
        if let Some(e) = opened.ok().and_then(|_| not_imported(path, &prefix)) {
            return Err(e);
        }
    }
    match foreign_dir_format(path) {
        Some(InputFormat::Crosvm) => crosvm::read_path(path),
        _ => cloud_hypervisor::read_path(path),
    }
}

/// Why a file that starts with the magic of a format segstate reads some other way (a
/// QEMU migration stream, a libvirt save image, a QEMU guest memory dump, a segstate
/// snapshot) is not imported:
/// what it is and which command reads it, instead of the Cloud Hypervisor reader's
/// "not UTF-8 text". A QEMU stream is not imported because import writes the
/// `kvm_sregs` a VMM snapshot holds verbatim, and a stream holds QEMU's own segment
/// caches, which reach KVM only through a QEMU release's set path: `check` judges them
/// through those paths.
#[cfg(feature = "serde")]
fn not_imported(path: &std::path::Path, prefix: &[u8]) -> Option<foreign::IngestError> {
    if let Some(c) = super::compressed::Compression::detect(prefix) {
        return Some(foreign::IngestError::new(
            c.file_kind(),
            &path.display().to_string(),
            foreign::Place::File,
            foreign::Reason::NotImported(format!(
                "`snapshot import` takes a state file as its VMM wrote it; decompress it \
                 first (`{} FILE > STATE`); `segstate check FILE` reads it as it is",
                c.decompress_command()
            )),
        ));
    }
    let Some(magic) = super::detect_magic(prefix) else {
        // No magic: a Cloud Hypervisor state.json is text; bytes that are not text
        // (NUL, invalid UTF-8 before the prefix ends) are none of the importable formats.
        return (!super::source::starts_as_text(prefix)).then(|| {
            foreign::IngestError::new(
                "binary file",
                &path.display().to_string(),
                foreign::Place::File,
                foreign::Reason::NotImported(String::from(
                    "no importable format: it has none of the magics of a Firecracker state \
                     file, crosvm fragment, Xen save image or Hyper-V saved state, and it is \
                     not text, as a snapshot's state.json or vm.json is; `segstate check FILE` \
                     detects what it reads (a HyperFuzzer VM state, which has no magic, with \
                     `--format hyperfuzzer`)",
                )),
            )
        });
    };
    let (format, why) = match magic {
        InputFormat::Qcow2 => (
            "qcow2 image",
            "magic QFI\\xfb: a qcow2 image's internal snapshots hold QEMU migration streams, \
             QEMU's segment caches and not kvm_sregs; `segstate check FILE` reads every \
             snapshot's CPUs",
        ),
        InputFormat::Migration => (
            "QEMU migration stream",
            "magic QEVM: a QEMU migration stream (savevm, migrate to a file) holds QEMU's \
             segment caches, not the kvm_sregs a VMM snapshot holds; `segstate check FILE` \
             reads it, every CPU",
        ),
        InputFormat::Libvirt => (
            "libvirt save image",
            "magic LibvirtQemudSave: a QEMU migration stream behind libvirt's header, QEMU's \
             segment caches and not kvm_sregs; `segstate check FILE` reads it, every CPU",
        ),
        InputFormat::Vmcore => (
            super::qemu_vmcore::FORMAT,
            "an ELF core or kdump file whose CPU notes hold QEMU's segment caches (and no \
             EFER), not kvm_sregs; `segstate check FILE` reads it, every vCPU",
        ),
        InputFormat::Snapshot => (
            "segstate snapshot",
            "already a segstate snapshot: `segstate snapshot inspect` and `restore` take it",
        ),
        _ => return None,
    };
    Some(foreign::IngestError::new(
        format,
        &path.display().to_string(),
        foreign::Place::File,
        foreign::Reason::NotImported(String::from(why)),
    ))
}

/// The format of a foreign snapshot directory: crosvm's (a `vcpu` namespace) or Cloud
/// Hypervisor's (a `state.json`, or the `vm.json` of v15–v21); `None` for a directory
/// that is neither, or a file.
#[cfg(feature = "serde")]
#[must_use]
pub fn foreign_dir_format(path: &std::path::Path) -> Option<InputFormat> {
    if !path.is_dir() {
        None
    } else if crosvm::is_snapshot_dir(path) {
        Some(InputFormat::Crosvm)
    } else if cloud_hypervisor::snapshot_file(path).is_some() {
        Some(InputFormat::CloudHypervisor)
    } else {
        None
    }
}
