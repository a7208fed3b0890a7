//! qcow2 internal snapshots: the VM state `savevm` (HMP), `snapshot-save` (QMP) and
//! `virsh snapshot-create` of a running domain with qcow2 disks write into the image,
//! every snapshot's CPUs.
//!
//! Layout (QEMU `docs/interop/qcow2.txt`, `block/qcow2.h`, `block/qcow2-snapshot.c`,
//! all big-endian): the header (magic `QFI\xfb`, version 2 or 3, `cluster_bits`, the
//! virtual `size`, `nb_snapshots` and `snapshots_offset`; version 3 adds the feature
//! bits and `header_length`); the snapshot table, one `QCowSnapshotHeader` a snapshot
//! (`l1_table_offset`, `l1_size`, `id_str_size`, `name_size`, dates, `vm_clock_nsec`,
//! `vm_state_size`, `extra_data_size`), its extra data (`vm_state_size_large`,
//! `disk_size`, `icount`), id and name, each entry padded to 8 bytes.
//!
//! A snapshot's VM state is a QEMU migration stream stored in the image's guest address
//! space right after the disk: at `l1_vm_state_index << (cluster_bits + l2_bits)`, where
//! `l1_vm_state_index` is the number of L1 entries the disk's size needs
//! (`qcow2_vm_state_offset`, `size_to_l1`), reached through the snapshot's own L1 table:
//! L1 entries point at L2 tables, L2 entries at clusters (bits 9-55 of each; an L2 entry
//! is 16 bytes with extended L2 entries, its subcluster bitmap after it). An unallocated
//! cluster or one marked all zeros reads as zeros. Compressed clusters (which QEMU does
//! not write for VM state), encrypted images and images whose data is in an external
//! file are refused.
//!
//! The stream is read as a [`super::read_migration`] stream straight from the clusters,
//! never held: memory is the snapshot table ([`MAX_SNAPSHOT_TABLE`]), one L1 table
//! ([`MAX_L1_BYTES`]) and one L2 table at a time.

use std::format;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use super::byte_stream::usize_of;
use super::foreign::{IngestError, Place, Reason};
use crate::format::{be_u16, be_u32, be_u64};

/// The format name errors carry.
pub const FORMAT: &str = "qcow2 image";
/// `QCOW_MAGIC`.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// `QCOW_MAX_SNAPSHOTS`.
pub const MAX_SNAPSHOTS: u32 = 65536;
/// `QCOW_MAX_SNAPSHOTS_SIZE`: the largest snapshot table QEMU reads.
pub const MAX_SNAPSHOT_TABLE: u64 = 64 << 20;
/// `QCOW_MAX_L1_SIZE`: the largest L1 table QEMU reads, in bytes.
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// `L1E_OFFSET_MASK` and `L2E_OFFSET_MASK`: bits 9-55.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// `QCOW_OFLAG_COMPRESSED`.
const COMPRESSED: u64 = 1 << 62;
/// `QCOW_OFLAG_ZERO` (version 3).
const ZERO: u64 = 1;
/// Incompatible feature bits: corrupt, external data file, extended L2 entries; every
/// other bit but dirty (0) and compression type (3) is refused.
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_EXTL2: u64 = 1 << 4;
const INCOMPAT_KNOWN: u64 = 0x1f;

/// True when `prefix` starts a qcow2 image.
#[must_use]
pub fn recognise(prefix: &[u8]) -> bool {
    prefix.starts_with(&MAGIC)
}

/// One internal snapshot, as its table entry describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalSnapshot {
    /// Its place in the table, from 0.
    pub index: usize,
    /// `id_str` (QEMU numbers them "1", "2", ...).
    pub id: String,
    /// Its name (the `savevm` tag).
    pub name: String,
    /// `date_sec`: seconds since the epoch.
    pub date_sec: u32,
    /// `vm_clock_nsec`: the guest clock when it was taken.
    pub vm_clock_nsec: u64,
    /// The VM state's size in bytes: 0 for a disk-only snapshot.
    pub vm_state_size: u64,
    /// The disk's virtual size when it was taken (`disk_size`, else the header's).
    pub disk_size: u64,
    /// `l1_table_offset` and `l1_size`.
    l1: (u64, u32),
}

/// The image header, as far as the snapshots need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size (9 to 21).
    pub cluster_bits: u32,
    /// The disk's virtual size.
    pub size: u64,
    /// Extended L2 entries (16 bytes, with subclusters).
    pub extended_l2: bool,
    nb_snapshots: u32,
    snapshots_offset: u64,
}

impl Header {
    /// log2 of the L2 entries a table holds.
    fn l2_bits(&self) -> u32 {
        self.cluster_bits - if self.extended_l2 { 4 } else { 3 }
    }

    /// Where in the image's address space the VM state of a snapshot of a disk of
    /// `disk_size` bytes starts (`qcow2_vm_state_offset`).
    #[must_use]
    pub fn vm_state_offset(&self, disk_size: u64) -> u64 {
        let shift = self.cluster_bits + self.l2_bits();
        disk_size.div_ceil(1 << shift) << shift
    }
}

/// A qcow2 image opened for its snapshots.
#[derive(Debug)]
pub struct Image<F> {
    file: F,
    name: String,
    /// The header.
    pub header: Header,
    /// Every internal snapshot, in table order.
    pub snapshots: Vec<InternalSnapshot>,
}

impl Image<File> {
    /// Opens the image at `path` and reads its header and snapshot table.
    ///
    /// # Errors
    ///
    /// [`IngestError`] naming the file, the offset and the reason.
    pub fn open_path(path: &Path) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| IngestError::new(FORMAT, &name, Place::File, Reason::Io(e.to_string())))?;
        Image::open(file, &name)
    }
}

impl<F: Read + Seek> Image<F> {
    /// Reads the header and snapshot table of the image `file`; `name` names it in errors.
    ///
    /// # Errors
    ///
    /// [`IngestError`] naming the offset and the reason: not a qcow2 image, a version
    /// or feature without a reader here, an encrypted image, a table past its limit.
    pub fn open(mut file: F, name: &str) -> Result<Self, IngestError> {
        let mut h = [0u8; 104];
        read_at(&mut file, name, 0, &mut h[..72], "the qcow2 header")?;
        let at = |e: u64, reason| error_at(name, e, reason);
        if h[..4] != MAGIC {
            return Err(at(
                0,
                Reason::BadMagic {
                    found: u64::from(be_u32(&h, 0)),
                    expected: u64::from(u32::from_be_bytes(MAGIC)),
                },
            ));
        }
        let version = be_u32(&h, 4);
        if !(2..=3).contains(&version) {
            return Err(at(
                4,
                Reason::UnsupportedVersion {
                    found: format!("qcow2 version {version}"),
                    supported: "qcow2 versions 2 and 3",
                },
            ));
        }
        let cluster_bits = be_u32(&h, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(at(
                20,
                Reason::Layout(format!(
                    "cluster_bits {cluster_bits}: qcow2 clusters are 512 bytes to 2 MiB"
                )),
            ));
        }
        if be_u32(&h, 32) != 0 {
            return Err(at(
                32,
                Reason::Encrypted(format!(
                    "crypt_method {}: the clusters, VM state included, are ciphertext",
                    be_u32(&h, 32)
                )),
            ));
        }
        let mut extended_l2 = false;
        if version == 3 {
            read_at(
                &mut file,
                name,
                72,
                &mut h[72..104],
                "the qcow2 version 3 header",
            )?;
            let incompat = be_u64(&h, 72);
            if incompat & INCOMPAT_CORRUPT != 0 {
                return Err(at(
                    72,
                    Reason::Layout(String::from(
                        "the image is marked corrupt (incompatible feature bit 1): QEMU \
                         itself opens it read-only for repair only",
                    )),
                ));
            }
            if incompat & INCOMPAT_DATA_FILE != 0 {
                return Err(at(
                    72,
                    Reason::Layout(String::from(
                        "its clusters are in an external data file (incompatible feature bit \
                         2), which is not read here",
                    )),
                ));
            }
            if incompat & !INCOMPAT_KNOWN != 0 {
                return Err(at(
                    72,
                    Reason::UnsupportedVersion {
                        found: format!("incompatible features {incompat:#x}"),
                        supported: "the qcow2 features dirty, compression type and extended L2",
                    },
                ));
            }
            extended_l2 = incompat & INCOMPAT_EXTL2 != 0;
            if extended_l2 && cluster_bits < 14 {
                return Err(at(
                    20,
                    Reason::Layout(format!(
                        "extended L2 entries with {}-byte clusters: they need 16 KiB or more",
                        1u64 << cluster_bits
                    )),
                ));
            }
        }
        let header = Header {
            version,
            cluster_bits,
            size: be_u64(&h, 24),
            extended_l2,
            nb_snapshots: be_u32(&h, 60),
            snapshots_offset: be_u64(&h, 64),
        };
        let snapshots = snapshot_table(&mut file, name, &header)?;
        Ok(Image {
            file,
            name: String::from(name),
            header,
            snapshots,
        })
    }

    /// The VM state of snapshot `index` as a reader of the migration stream it holds;
    /// `None` for a disk-only snapshot.
    ///
    /// # Errors
    ///
    /// [`IngestError`]: an L1 table past its limit or outside the file.
    pub fn vm_state(&mut self, index: usize) -> Result<Option<VmState<'_, F>>, IngestError> {
        let s = &self.snapshots[index];
        if s.vm_state_size == 0 {
            return Ok(None);
        }
        let (l1_offset, l1_size) = s.l1;
        let bytes = u64::from(l1_size) * 8;
        if bytes > MAX_L1_BYTES {
            return Err(self.error(
                l1_offset,
                Reason::TooLarge {
                    size: bytes,
                    limit: MAX_L1_BYTES,
                },
            ));
        }
        let mut raw = std::vec![0u8; usize_of(bytes)];
        read_at(
            &mut self.file,
            &self.name,
            l1_offset,
            &mut raw,
            "a snapshot's L1 table",
        )?;
        let l1 = raw.chunks_exact(8).map(|c| be_u64(c, 0)).collect();
        let start = self.header.vm_state_offset(s.disk_size);
        let len = s.vm_state_size;
        Ok(Some(VmState {
            image: self,
            l1,
            start,
            len,
            pos: 0,
            l2: None,
        }))
    }

    fn error(&self, at: u64, reason: Reason) -> IngestError {
        error_at(&self.name, at, reason)
    }
}

/// An error about the image `name` at byte offset `at`.
fn error_at(name: &str, at: u64, reason: Reason) -> IngestError {
    IngestError::new(FORMAT, name, Place::Offset(usize_of(at)), reason)
}

/// A snapshot's VM state, read through its L1 and L2 tables.
#[derive(Debug)]
pub struct VmState<'i, F> {
    image: &'i mut Image<F>,
    l1: Vec<u64>,
    /// Where the VM state starts in the image's address space.
    start: u64,
    len: u64,
    pos: u64,
    /// The L2 table read last: its offset and entries.
    l2: Option<(u64, Vec<u8>)>,
}

impl<F: Read + Seek> VmState<'_, F> {
    /// The host offset of the cluster holding address `addr`, or `None` when it reads
    /// as zeros.
    fn cluster(&mut self, addr: u64) -> std::io::Result<Option<u64>> {
        let h = self.image.header;
        let shift = h.cluster_bits + h.l2_bits();
        let l1_index = usize_of(addr >> shift);
        let Some(&l1e) = self.l1.get(l1_index) else {
            return Ok(None);
        };
        let l2_offset = l1e & OFFSET_MASK;
        if l2_offset == 0 {
            return Ok(None);
        }
        let entry_size = if h.extended_l2 { 16 } else { 8 };
        if self.l2.as_ref().is_none_or(|(o, _)| *o != l2_offset) {
            let mut table = std::vec![0u8; 1 << h.cluster_bits];
            self.image.file.seek(SeekFrom::Start(l2_offset))?;
            self.image.file.read_exact(&mut table)?;
            self.l2 = Some((l2_offset, table));
        }
        let table = self.l2.as_ref().map_or(&[][..], |(_, t)| t.as_slice());
        let l2_index = usize_of((addr >> h.cluster_bits) & ((1 << h.l2_bits()) - 1));
        let l2e = be_u64(table, l2_index * entry_size);
        if l2e & COMPRESSED != 0 {
            return Err(std::io::Error::other(format!(
                "the VM state's cluster at address {addr:#x} is compressed, which QEMU does \
                 not write for VM state and this reader does not decompress"
            )));
        }
        let offset = l2e & OFFSET_MASK;
        if offset == 0 || (h.version == 3 && l2e & ZERO != 0) {
            return Ok(None);
        }
        Ok(Some(offset))
    }
}

impl<F: Read + Seek> Read for VmState<'_, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let cluster = 1u64 << self.image.header.cluster_bits;
        let addr = self.start + self.pos;
        let in_cluster = addr & (cluster - 1);
        let n = (cluster - in_cluster)
            .min(self.len - self.pos)
            .min(buf.len() as u64);
        let n = usize::try_from(n).unwrap_or(buf.len());
        match self.cluster(addr)? {
            None => buf[..n].fill(0),
            Some(host) => {
                self.image.file.seek(SeekFrom::Start(host + in_cluster))?;
                self.image.file.read_exact(&mut buf[..n])?;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The snapshot table.
fn snapshot_table<F: Read + Seek>(
    file: &mut F,
    name: &str,
    h: &Header,
) -> Result<Vec<InternalSnapshot>, IngestError> {
    let err = |at: u64, reason| error_at(name, at, reason);
    if h.nb_snapshots > MAX_SNAPSHOTS {
        return Err(err(
            60,
            Reason::Layout(format!(
                "{} snapshots, more than QEMU's {MAX_SNAPSHOTS}",
                h.nb_snapshots
            )),
        ));
    }
    let mut out = Vec::new();
    let mut at = h.snapshots_offset;
    let mut read = 0u64;
    for index in 0..h.nb_snapshots as usize {
        let mut e = [0u8; 40];
        read_at(file, name, at, &mut e, "a snapshot table entry")?;
        let (id_len, name_len) = (u64::from(be_u16(&e, 12)), u64::from(be_u16(&e, 14)));
        let extra_len = u64::from(be_u32(&e, 36));
        let entry = (40 + extra_len + id_len + name_len).div_ceil(8) * 8;
        read += entry;
        if read > MAX_SNAPSHOT_TABLE {
            return Err(err(
                h.snapshots_offset,
                Reason::TooLarge {
                    size: read,
                    limit: MAX_SNAPSHOT_TABLE,
                },
            ));
        }
        let mut rest = std::vec![0u8; usize::try_from(extra_len + id_len + name_len).unwrap_or(0)];
        read_at(
            file,
            name,
            at + 40,
            &mut rest,
            "a snapshot's extra data, id and name",
        )?;
        let extra_len = extra_len as usize;
        let extra = &rest[..extra_len];
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let id = text(&rest[extra_len..extra_len + id_len as usize]);
        let tag = text(&rest[extra_len + id_len as usize..]);
        let small = u64::from(be_u32(&e, 32));
        let large = (extra.len() >= 8).then(|| be_u64(extra, 0));
        out.push(InternalSnapshot {
            index,
            id,
            name: tag,
            date_sec: be_u32(&e, 16),
            vm_clock_nsec: be_u64(&e, 24),
            vm_state_size: large.filter(|&l| l != 0).unwrap_or(small),
            disk_size: if extra.len() >= 16 {
                be_u64(extra, 8)
            } else {
                h.size
            },
            l1: (be_u64(&e, 0), be_u32(&e, 8)),
        });
        at += entry;
    }
    Ok(out)
}

/// Fills `buf` from offset `at`; the end of the file first is a truncation naming `what`.
fn read_at<F: Read + Seek>(
    file: &mut F,
    name: &str,
    at: u64,
    buf: &mut [u8],
    what: &str,
) -> Result<(), IngestError> {
    let place = || Place::Field(format!("{what} at offset {at} ({at:#x})"));
    let io = |e: std::io::Error| IngestError::new(FORMAT, name, place(), Reason::Io(e.to_string()));
    file.seek(SeekFrom::Start(at)).map_err(io)?;
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => {
                let reason = Reason::Truncated {
                    needed: buf.len(),
                    found: got,
                };
                return Err(IngestError::new(FORMAT, name, place(), reason));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(())
}

/// `secs` since the epoch as a UTC date and time (`YYYY-MM-DD HH:MM:SS`), the civil
/// calendar from a day count (H. Hinnant's `civil_from_days`).
fn utc(secs: u32) -> String {
    let days = i64::from(secs / 86_400);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl InternalSnapshot {
    /// When it was taken, in UTC.
    #[must_use]
    pub fn date(&self) -> String {
        utc(self.date_sec)
    }
}

impl core::fmt::Display for InternalSnapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "internal snapshot {:?} (id {})", self.name, self.id)
    }
}

/// Every CPU of every internal snapshot with VM state in the qcow2 image at `path`, as
/// states to check: each snapshot's VM state read as a migration stream
/// ([`super::read_migration`]), its CPUs labelled with the snapshot.
///
/// # Errors
///
/// [`super::InputError`] naming the image, the snapshot and the place: an image that
/// cannot be read, one without a snapshot holding VM state, a VM state that is not a
/// migration stream segstate reads.
pub(crate) fn inputs(path: &Path) -> Result<Vec<super::Input>, super::InputError> {
    let located = super::InputError::from;
    let mut image = Image::open_path(path).map_err(located)?;
    let with_state = image
        .snapshots
        .iter()
        .filter(|s| s.vm_state_size > 0)
        .count();
    if with_state == 0 {
        return Err(super::InputError(format!(
            "{FORMAT}: {} internal snapshot(s), none with VM state (disk-only snapshots, \
             as `qemu-img snapshot -c` takes them): there are no CPUs to read",
            image.snapshots.len()
        )));
    }
    let mut out = Vec::new();
    for index in 0..image.snapshots.len() {
        let snap = image.snapshots[index].clone();
        let Some(state) = image.vm_state(index).map_err(located)? else {
            continue;
        };
        let inputs = super::read_migration(state)
            .map_err(|e| super::InputError(format!("{FORMAT}: {snap}'s VM state: {e}")))?;
        for mut input in inputs {
            input.label = format!("qcow2 {snap} {}", input.label);
            input.format = super::InputFormat::Qcow2;
            input.notes.insert(
                0,
                format!(
                    "{snap} of {} (qcow2 version {}), taken {} UTC at guest clock {}.{:09} s: \
                     its {} bytes of VM state read through its L1 table as a migration stream",
                    path.display(),
                    image.header.version,
                    snap.date(),
                    snap.vm_clock_nsec / 1_000_000_000,
                    snap.vm_clock_nsec % 1_000_000_000,
                    snap.vm_state_size
                ),
            );
            out.push(input);
        }
    }
    Ok(out)
}
