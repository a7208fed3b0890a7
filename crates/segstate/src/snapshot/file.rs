//! Snapshot files: atomic writes and size-limited reads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{DEFAULT_DECODE_LIMIT, DecodeError, VcpuSnapshot};

/// Why a snapshot file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// The bytes are not a snapshot this code accepts.
    Decode(DecodeError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Decode(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for ReadError {}

/// Reads at most `limit` bytes of `path` (one more, to tell a larger file apart). A
/// regular file's size is known first, so a large one is refused unread; a device or
/// pipe (`/dev/zero`) is refused after `limit + 1` bytes, as more than the limit, since
/// its size is unknown.
pub fn read_bytes(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    let f = File::open(path).map_err(ReadError::Io)?;
    let meta = f.metadata().map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a snapshot file",
        )));
    }
    let known = meta
        .is_file()
        .then(|| usize::try_from(meta.len()).unwrap_or(usize::MAX));
    if let Some(size) = known.filter(|&n| n > limit) {
        return Err(ReadError::Decode(DecodeError::TooLarge { size, limit }));
    }
    let mut bytes = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > limit {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than {limit} bytes, the decode limit: refused without reading the rest"),
        )));
    }
    Ok(bytes)
}

impl VcpuSnapshot {
    /// Reads and decodes a snapshot file (at most [`DEFAULT_DECODE_LIMIT`] bytes).
    pub fn read_file(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        let bytes = read_bytes(path.as_ref(), DEFAULT_DECODE_LIMIT)?;
        VcpuSnapshot::decode(&bytes).map_err(ReadError::Decode)
    }

    /// Writes the snapshot to `path` atomically: a temporary file in the same
    /// directory is written and fsynced, renamed over `path`, and the directory is
    /// fsynced. Readers see the old file or the new one, never a mix; on error the
    /// temporary file is removed and `path` is untouched.
    pub fn write_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        write_atomic(path.as_ref(), &self.encode())
    }
}

/// Finds out whether `path` can be written, before any work goes into what will be
/// written there (`snapshot save` runs a guest first): the temporary file the write
/// would use is created in the destination's directory and removed again, and a
/// destination that is a directory is refused.
pub fn check_writable(path: &Path) -> io::Result<()> {
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a file name",
        ));
    }
    let tmp = temp_path(path)?;
    OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    fs::remove_file(&tmp)
}

/// The temporary files of ours beside `path` that no running process owns: named
/// `.NAME.tmp.PID.N` (see `temp_path`) with a PID that is not alive, left by a
/// save that was killed mid-write. Only where `/proc` tells live PIDs apart.
fn stale_temps(path: &Path) -> Vec<PathBuf> {
    let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else {
        return Vec::new();
    };
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return Vec::new();
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".tmp.");
    let Some(prefix) = prefix.to_str() else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let file_name = e.file_name();
            let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
                return false;
            };
            let Some((pid, n)) = rest.split_once('.') else {
                return false;
            };
            let ours = pid.parse::<u32>().is_ok() && n.parse::<u32>().is_ok();
            ours && pid != std::process::id().to_string() && !proc.join(pid).exists()
        })
        .map(|e| e.path())
        .collect()
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp.{}.{n}", std::process::id()));
    Ok(path.with_file_name(tmp))
}

/// Writes `bytes` to `path` atomically (see [`VcpuSnapshot::write_file`]).
///
/// Temporary files a killed save left beside `path` are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    for stale in stale_temps(path) {
        // Another save may remove it first: that is fine.
        let _ = fs::remove_file(stale);
    }
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the directory entry is.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("segstate-snap-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temp() {
        let d = scratch("atomic");
        let p = d.join("a.snap");
        fs::write(&p, vec![0xaa; 100_000]).unwrap();
        let s = VcpuSnapshot::example_user_null_ss();
        s.write_file(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), s.encode());
        assert_eq!(VcpuSnapshot::read_file(&p).unwrap(), s);
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.snap")]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_write_leaves_target_and_no_temp() {
        let d = scratch("failed");
        // The target is a directory: rename fails, the temp file must go.
        let p = d.join("dir.snap");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("keep"), b"x").unwrap();
        assert!(VcpuSnapshot::example_user_null_ss().write_file(&p).is_err());
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dir.snap")]);
        assert_eq!(fs::read(p.join("keep")).unwrap(), b"x");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn oversized_file_is_refused_before_decoding() {
        let d = scratch("big");
        let p = d.join("big.snap");
        fs::write(&p, vec![0u8; 5000]).unwrap();
        match read_bytes(&p, 4096) {
            Err(ReadError::Decode(DecodeError::TooLarge {
                size: 5000,
                limit: 4096,
            })) => {}
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_temps_of_dead_saves_are_removed_by_the_next_save() {
        let d = scratch("stale");
        let p = d.join("a.snap");
        // A PID above the kernel's maximum (4194304) is never alive.
        let dead = d.join(".a.snap.tmp.4194305.0");
        let alive = d.join(format!(".a.snap.tmp.{}.77", std::process::id()));
        let other = d.join(".b.snap.tmp.4194305.0");
        let unlike = d.join(".a.snap.tmp.notapid.0");
        for f in [&dead, &alive, &other, &unlike] {
            fs::write(f, b"partial").unwrap();
        }
        VcpuSnapshot::example_user_null_ss().write_file(&p).unwrap();
        assert!(!dead.exists(), "a dead save's temp file stays");
        for kept in [&alive, &other, &unlike] {
            assert!(kept.exists(), "{} removed", kept.display());
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn writability_is_checked_without_leaving_anything() {
        let d = scratch("writable");
        check_writable(&d.join("x.snap")).unwrap();
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
        assert!(check_writable(&d).is_err(), "a directory is no destination");
        assert!(check_writable(&d.join("missing/x.snap")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_endless_device_is_refused_as_more_than_the_limit() {
        match read_bytes(Path::new("/dev/zero"), 4096) {
            Err(ReadError::Io(e)) => {
                assert!(e.to_string().contains("more than 4096 bytes"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
