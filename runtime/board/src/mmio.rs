//! A mapped register region and the barrier that orders it against DMA memory.
//!
//! [`RegisterBlock`] owns one `MAP_SHARED` mapping of a UIO map (on the virtual board: of a
//! regular file that the board process maps too, so it behaves as shared registers). All
//! access goes through 32-bit volatile loads and stores at byte offsets that are checked
//! against the mapping and aligned to 4, so one access is one bus transaction and never
//! tears. No reference to the mapped bytes is ever formed: the hardware changes them under
//! us, and only raw volatile access is sound for that.
//!
//! This module and `dma` are the only places with `unsafe` in the workspace.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::fs::File;
use std::marker::PhantomData;
use std::path::Path;

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{BoardError, Result};

/// One mapped register region, accessed by byte offset.
///
/// It is `Send` but not `Sync`: two threads storing to the same registers concurrently
/// would race in hardware terms too, so one thread owns the block at a time.
#[derive(Debug)]
pub struct RegisterBlock {
    map: MmapRaw,
    /// Byte offset of register 0 inside the mapping (UIO's sub-page `offset`).
    start: usize,
    len: usize,
    label: String,
    _not_sync: PhantomData<Cell<()>>,
}

impl RegisterBlock {
    /// Maps `len` bytes of registers that begin `start` bytes into the page-aligned mapping
    /// at `file_offset` of `file`.
    pub(crate) fn map(
        file: &File,
        path: &Path,
        label: String,
        file_offset: u64,
        start: usize,
        len: usize,
    ) -> Result<Self> {
        if !start.is_multiple_of(8) {
            return Err(BoardError::Layout {
                path: path.to_path_buf(),
                problem: format!(
                    "{label}: register region starts at sub-page offset {start:#x}, not 8-byte aligned"
                ),
            });
        }
        let span = start.checked_add(len).ok_or_else(|| BoardError::Layout {
            path: path.to_path_buf(),
            problem: format!("{label}: map length {len:#x} overflows"),
        })?;
        check_file_covers(file, path, file_offset, span)?;
        let map = MmapOptions::new()
            .offset(file_offset)
            .len(span)
            .map_raw(file)
            .map_err(BoardError::io("map", path))?;
        Ok(Self {
            map,
            start,
            len,
            label,
            _not_sync: PhantomData,
        })
    }

    /// Length of the register region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never, for a block made by this crate).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device and map this block came from, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Reads the 32-bit register at byte `offset`.
    pub fn read32(&self, offset: usize) -> Result<u32> {
        let ptr = self.register(offset)?;
        // SAFETY: `register` checked that `offset..offset + 4` lies inside the live mapping
        // (owned by `self.map`, unmapped only on drop) and that the address is 4-byte
        // aligned (page-aligned base, `start` 8-aligned, `offset` 4-aligned). Every bit
        // pattern is a valid u32, and a volatile load is the sanctioned way to read memory
        // that a device or another process changes.
        Ok(unsafe { ptr.read_volatile() })
    }

    /// Writes the 32-bit register at byte `offset`.
    pub fn write32(&self, offset: usize, value: u32) -> Result<()> {
        let ptr = self.register(offset)?;
        // SAFETY: as in `read32`: in bounds, aligned, mapped writable (`map_raw` maps
        // read-write and fails otherwise). No Rust reference to these bytes exists, and the
        // block is not `Sync`, so this store races with no other access from this process.
        unsafe { ptr.write_volatile(value) };
        Ok(())
    }

    fn register(&self, offset: usize) -> Result<*mut u32> {
        const WIDTH: usize = 4;
        let in_range = offset.is_multiple_of(WIDTH)
            && offset.checked_add(WIDTH).is_some_and(|end| end <= self.len);
        if !in_range {
            return Err(BoardError::RegisterOutOfRange {
                device: self.label.clone(),
                offset,
                width: WIDTH,
                len: self.len,
            });
        }
        Ok(self
            .map
            .as_mut_ptr()
            .wrapping_add(self.start + offset)
            .cast())
    }
}

/// The mapped block as the driver's register access (the typed handles of
/// `fibha_model::device::reg` read and write through it).
impl fibha_model::register::RegisterAccess for RegisterBlock {
    type Error = BoardError;

    fn read32(&self, offset: u32) -> Result<u32> {
        RegisterBlock::read32(self, offset as usize)
    }

    fn write32(&self, offset: u32, value: u32) -> Result<()> {
        RegisterBlock::write32(self, offset as usize, value)
    }
}

/// Mapping a regular file past its end maps pages whose first touch raises SIGBUS, so the
/// virtual board's files are checked up front. Device nodes have no meaningful length.
pub(crate) fn check_file_covers(file: &File, path: &Path, offset: u64, len: usize) -> Result<()> {
    let meta = file.metadata().map_err(BoardError::io("inspect", path))?;
    if !meta.is_file() {
        return Ok(());
    }
    let end = offset.saturating_add(len as u64);
    if meta.len() < end {
        return Err(BoardError::FileTooShort {
            path: path.to_path_buf(),
            file_len: meta.len(),
            offset,
            len,
        });
    }
    Ok(())
}

/// The system's page size: UIO map N lives at mmap offset N x page size.
pub fn page_size() -> usize {
    const FALLBACK: usize = 4096;
    match nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE) {
        Ok(Some(size)) => usize::try_from(size).unwrap_or(FALLBACK),
        _ => FALLBACK,
    }
}

/// Orders this thread's accesses to DMA buffers against its register accesses as a bus
/// master sees them.
///
/// A volatile register store is not a barrier for normal (cached) memory: on the A53 the
/// store that starts the accelerator could reach the device before the input data is
/// visible to it, and a buffer read could be satisfied before the done bit was observed.
/// Linux's `writel`/`readl` put `dmb osh` class barriers around device accesses for the same
/// reason. Called by the DMA sync operations; call it directly only when bypassing them.
pub fn dma_fence() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dmb osh` is a pure ordering barrier: it reads and writes no registers or
    // memory, touches no flags and uses no stack.
    unsafe {
        std::arch::asm!("dmb osh", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn block_over(
        bytes: &[u8],
        file_offset: u64,
        start: usize,
        len: usize,
    ) -> (tempfile::NamedTempFile, Result<RegisterBlock>) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        tmp.flush().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tmp.path())
            .unwrap();
        let block = RegisterBlock::map(&file, tmp.path(), "test".into(), file_offset, start, len);
        (tmp, block)
    }

    use fibha_model::register::{ReadWrite, Reg64};

    #[test]
    fn registers_round_trip_through_the_file() {
        let page = page_size();
        let (tmp, block) = block_over(&vec![0u8; 2 * page], page as u64, 0, 64);
        let block = block.unwrap();
        block.write32(0x10, 0xdead_beef).unwrap();
        let pair = Reg64::<ReadWrite>::new(0x18, 0x1c);
        pair.write(&block, 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(block.read32(0x10).unwrap(), 0xdead_beef);
        assert_eq!(pair.read(&block).unwrap(), Some(0x0123_4567_89ab_cdef));
        // The second page of the file is map 1: the bytes landed there, native-endian.
        let bytes = std::fs::read(tmp.path()).unwrap();
        let at = |o: usize| u32::from_ne_bytes(bytes[page + o..page + o + 4].try_into().unwrap());
        assert_eq!(at(0x10), 0xdead_beef);
        assert_eq!(at(0x18), 0x89ab_cdef);
        assert_eq!(at(0x1c), 0x0123_4567);
    }

    #[test]
    fn out_of_range_and_misaligned_accesses_are_refused() {
        let (_tmp, block) = block_over(&vec![0u8; page_size()], 0, 0, 16);
        let block = block.unwrap();
        assert!(block.read32(12).is_ok());
        for offset in [16, 13, usize::MAX - 1] {
            let err = block.read32(offset).unwrap_err();
            assert!(
                matches!(err, BoardError::RegisterOutOfRange { .. }),
                "{err}"
            );
        }
        assert!(block.write32(2, 1).is_err());
    }

    #[test]
    fn a_file_shorter_than_the_map_is_refused() {
        let (_tmp, block) = block_over(&[0u8; 100], 0, 0, 4096);
        let err = block.unwrap_err();
        assert!(
            matches!(err, BoardError::FileTooShort { file_len: 100, .. }),
            "{err}"
        );
    }
}
