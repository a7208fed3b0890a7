//! Snapshot files: atomic writes and size-limited reads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{DEFAULT_DECODE_LIMIT, DecodeError, VcpuSnapshot};

/// Why a snapshot file could not be read.
#[derive(Debug)]
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

/// Reads at most `limit` bytes of `path` (one more, to tell a larger file apart).
pub fn read_bytes(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    let f = File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > limit {
        let size = fs::metadata(path).map_or(bytes.len(), |m| m.len() as usize);
        return Err(ReadError::Decode(DecodeError::TooLarge { size, limit }));
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
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
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
}
