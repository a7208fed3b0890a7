//! Guest RAM: one anonymous host mapping handed to KVM as memory slot 0, plus
//! the identity-mapped page tables the long-mode guest runs on.
//!
//! The mapping is owned here and unmapped on drop, so every exit path of a
//! harness run releases it (the VM that uses it is dropped first, see
//! [`crate::machine::Machine`]).

use std::ptr::NonNull;

use crate::error::MemoryError;

use super::layout::{MAPPED_BYTES, PD, PDPT, PML4};

/// Page-table entry bits used by the identity map.
const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITE: u64 = 1 << 1;
/// User pages: the whole map is user-accessible so that user routines, the user
/// stack and the MMIO pause addresses are reachable from CPL 3. CR4.SMEP/SMAP
/// stay off, so the kernel may touch them too.
const PTE_USER: u64 = 1 << 2;
/// Page-size bit in a page-directory entry: a 2 MiB page.
const PTE_HUGE: u64 = 1 << 7;
const HUGE_PAGE: u64 = 2 << 20;

/// An anonymous, zero-filled, page-aligned host mapping used as guest RAM at
/// guest physical address 0.
#[derive(Debug)]
pub struct GuestMemory {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; all access goes
// through `&self`/`&mut self` methods that copy bytes in and out.
unsafe impl Send for GuestMemory {}

impl GuestMemory {
    /// Maps `len` bytes (rounded up to 4 KiB) of zeroed anonymous memory.
    pub fn new(len: usize) -> Result<Self, MemoryError> {
        let map_error = |errno| MemoryError::Map { bytes: len, errno };
        let len = len.div_ceil(4096) * 4096;
        if len == 0 {
            return Err(map_error(libc::EINVAL));
        }
        // SAFETY: anonymous private mapping with no address hint; the result is
        // checked for MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(map_error(last_errno()));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| map_error(libc::ENOMEM))?;
        Ok(Self { ptr, len })
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping of zero bytes cannot be created.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Host virtual address of guest physical address 0 (for the memslot).
    pub fn host_addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// The whole of guest RAM.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` bytes mapped readable for the lifetime
        // of `self`. The guest may write concurrently only while a vCPU runs,
        // and vCPUs run on the thread that also owns `&self` here.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole of guest RAM, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Copies `data` to guest physical address `gpa`.
    pub fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let range = self.range(gpa, data.len())?;
        self.as_mut_slice()[range].copy_from_slice(data);
        Ok(())
    }

    /// Copies bytes from guest physical address `gpa`.
    pub fn read(&self, gpa: u64, out: &mut [u8]) -> Result<(), MemoryError> {
        let range = self.range(gpa, out.len())?;
        out.copy_from_slice(&self.as_slice()[range]);
        Ok(())
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&mut self, gpa: u64, v: u64) -> Result<(), MemoryError> {
        self.write(gpa, &v.to_le_bytes())
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn range(&self, gpa: u64, len: usize) -> Result<std::ops::Range<usize>, MemoryError> {
        let out_of_range = MemoryError::OutOfRange {
            gpa,
            len,
            ram: self.len,
        };
        let start = usize::try_from(gpa).map_err(|_| out_of_range)?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.len)
            .ok_or(out_of_range)?;
        Ok(start..end)
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::ENOMEM)
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping created in `new`, and no
        // slice borrowed from it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Writes a 4-level identity map of the first [`MAPPED_BYTES`] of the guest
/// physical address space with 2 MiB pages (one PML4 entry, one PDPT entry,
/// one page directory). Only the start of it is backed by RAM; the rest is
/// unbacked, so a guest access there becomes an MMIO exit to the VMM.
pub fn write_identity_map(mem: &mut GuestMemory) -> Result<(), MemoryError> {
    let table_flags = PTE_PRESENT | PTE_WRITE | PTE_USER;
    mem.write_u64(PML4, PDPT | table_flags)?;
    mem.write_u64(PDPT, PD | table_flags)?;
    for i in 0..MAPPED_BYTES / HUGE_PAGE {
        mem.write_u64(PD + i * 8, (i * HUGE_PAGE) | table_flags | PTE_HUGE)?;
    }
    Ok(())
}
