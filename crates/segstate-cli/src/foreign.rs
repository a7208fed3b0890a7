//! Foreign vCPU state files as `segstate check` and `segstate snapshot import` read
//! them: Cloud Hypervisor snapshots and Firecracker snapshot state files.
//!
//! The decoding is the library's (`segstate::ingest`); this module only recognises the
//! files among the other inputs and turns each vCPU into an [`Input`] to check, with
//! the stack that wrote it named in the label and its CPL convention in the notes.

use std::path::Path;

use segstate::check::report::Source;
use segstate::ingest::foreign::{ForeignVcpu, IngestError};
use segstate::ingest::{cloud_hypervisor, firecracker};

use crate::input::{Input, InputError, InputFormat, decode_kvm_segments, sregs_state};

/// Which foreign format `bytes` are, if any: a Firecracker state file by its magic, a
/// Cloud Hypervisor `state.json` by its `snapshots`/`cpu-manager` keys.
#[must_use]
pub fn detect(bytes: &[u8]) -> Option<InputFormat> {
    if firecracker::recognise(bytes).is_some() {
        return Some(InputFormat::Firecracker);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    cloud_hypervisor::recognise(text).then_some(InputFormat::CloudHypervisor)
}

/// The error without its file name (the command puts the name in front).
fn located(e: &IngestError) -> InputError {
    InputError(format!("{}: {}: {}", e.format, e.place, e.reason))
}

/// Reads the vCPUs of a foreign file held in memory.
///
/// # Errors
///
/// [`InputError`] naming the field, line or offset and the reason.
pub fn read_bytes(bytes: &[u8], format: InputFormat) -> Result<Vec<ForeignVcpu>, InputError> {
    match format {
        InputFormat::Firecracker => firecracker::read(bytes, "").map_err(|e| located(&e)),
        InputFormat::CloudHypervisor => {
            let text = std::str::from_utf8(bytes).map_err(|e| {
                InputError(format!(
                    "Cloud Hypervisor snapshot: offset {}: not UTF-8 text",
                    e.valid_up_to()
                ))
            })?;
            cloud_hypervisor::read(text, "").map_err(|e| located(&e))
        }
        other => Err(InputError(format!(
            "{other} is not a foreign vCPU state format"
        ))),
    }
}

/// Reads the vCPUs of a foreign file or snapshot directory at `path`: a directory is a
/// Cloud Hypervisor snapshot; a file is detected by content.
///
/// # Errors
///
/// [`InputError`] naming the file, the place and the reason, or a file of another kind.
pub fn read_path(path: &Path) -> Result<Vec<ForeignVcpu>, InputError> {
    if path.is_dir() {
        return cloud_hypervisor::read_path(path).map_err(|e| InputError(e.to_string()));
    }
    let mut prefix = Vec::new();
    {
        use std::io::Read;
        std::fs::File::open(path)
            .and_then(|f| f.take(64).read_to_end(&mut prefix))
            .map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    }
    if firecracker::recognise(&prefix).is_some() {
        return firecracker::read_path(path).map_err(|e| InputError(e.to_string()));
    }
    cloud_hypervisor::read_path(path).map_err(|e| InputError(e.to_string()))
}

/// One vCPU as a state to check.
///
/// # Errors
///
/// A segment that is not a valid `kvm_segment` (e.g. a flag other than 0 or 1).
pub fn to_input(v: &ForeignVcpu, format: InputFormat) -> Result<Input, InputError> {
    let segments = decode_kvm_segments(&v.sregs, |reg, e| {
        format!(
            "{} vCPU {}: sregs.{}.{}",
            v.stack,
            v.id,
            reg.kvm_name(),
            e.field
        )
    })?;
    let mut state = sregs_state(&v.sregs, segments, v.regs.rflags);
    state.cpl = v.cpl();
    let mut notes = vec![
        format!("read from {}", v.format),
        format!("{}: {}", v.stack, v.stack.cpl_convention()),
    ];
    if let Some(d) = v.cpl_disagreement() {
        notes.push(d.to_string());
    }
    Ok(Input {
        label: format!("{} vCPU {}", v.stack, v.id),
        format,
        state,
        source: Source::GuestView,
        dump: None,
        notes,
    })
}

/// Every vCPU of a foreign file as states to check.
///
/// # Errors
///
/// As [`read_bytes`] and [`to_input`].
pub fn read_inputs(bytes: &[u8], format: InputFormat) -> Result<Vec<Input>, InputError> {
    read_bytes(bytes, format)?
        .iter()
        .map(|v| to_input(v, format))
        .collect()
}
