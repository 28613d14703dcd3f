//! The register file: the seam between AXI-Lite registers and a shared regular file.
//!
//! The runtime maps `/dev/uio0` (a regular file here) `MAP_SHARED` and accesses it with
//! volatile 32-bit loads and stores. The board reaches the same page-cache pages with
//! positioned reads and writes (`pread`/`pwrite` through `FileExt`), which need no
//! `unsafe` and are coherent with every shared mapping of the file on Linux: both sides
//! touch the same physical pages, and a 4-byte aligned access is a single load or store,
//! so no word ever tears. Words are native-endian, as `fibha-board` reads them.
//!
//! What a plain file cannot do, and how the board stands in for it (this module and
//! [`crate::device`] are the only code that knows):
//! - No access side effects. `ap_done` and `ap_ready` (clear on read), the outputs' `ap_vld`
//!   bits (clear on read) and `isr` (toggle on write) cannot see the runtime's accesses.
//!   The board clears them all when it accepts the next `ap_start` instead. A runtime that
//!   follows ap_ctrl_hs (start only when idle) sees no difference, except that `done` and
//!   `isr` still read 1 after it has read or cleared them.
//! - No atomic read-modify-write across the two processes. The board changes `ctrl` only
//!   when accepting a start and when finishing a run, keeping the `ap_start` and
//!   `auto_restart` bits the runtime may have set in between.
//! - Nothing is noticed at once: the board polls `ctrl` (see [`crate::device`] for the
//!   interval and its CPU cost).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fibha_model::register::RegisterAccess;

use crate::error::{Error, Result};

/// The register file, opened by the board.
#[derive(Debug)]
pub struct RegisterFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl RegisterFile {
    /// Opens the register file of `len` bytes at `path`.
    pub fn open(path: &Path, len: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io("open", path))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            len,
        })
    }

    /// Reads the 32-bit word at byte `offset`.
    fn read_word(&self, offset: u32) -> Result<u32> {
        let mut word = [0u8; 4];
        self.file
            .read_exact_at(&mut word, self.checked(offset)?)
            .map_err(Error::io("read register in", &self.path))?;
        Ok(u32::from_ne_bytes(word))
    }

    /// Writes the 32-bit word at byte `offset`.
    fn write_word(&self, offset: u32, value: u32) -> Result<()> {
        self.file
            .write_all_at(&value.to_ne_bytes(), self.checked(offset)?)
            .map_err(Error::io("write register in", &self.path))
    }

    /// Reads a 64-bit value held as two words, low word first.
    pub fn read64(&self, low: u32) -> Result<u64> {
        let lo = self.read32(low)?;
        let hi = self.read32(low + 4)?;
        Ok(u64::from(hi) << 32 | u64::from(lo))
    }

    /// Writes a 64-bit value as two words, low word first.
    pub fn write64(&self, low: u32, value: u64) -> Result<()> {
        self.write32(low, value as u32)?;
        self.write32(low + 4, (value >> 32) as u32)
    }

    /// Zeroes every register, as a fabric reconfiguration does.
    pub fn clear(&self) -> Result<()> {
        let zeros = vec![0u8; usize::try_from(self.len).unwrap_or(0)];
        self.file
            .write_all_at(&zeros, 0)
            .map_err(Error::io("clear", &self.path))
    }

    fn checked(&self, offset: u32) -> Result<u64> {
        let offset = u64::from(offset);
        if offset % 4 == 0 && offset + 4 <= self.len {
            return Ok(offset);
        }
        Err(Error::Io {
            action: "address register in",
            path: self.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "offset {offset:#x} is outside the {:#x}-byte map or unaligned",
                    self.len
                ),
            ),
        })
    }
}

impl RegisterAccess for RegisterFile {
    type Error = Error;

    fn read32(&self, offset: u32) -> Result<u32> {
        self.read_word(offset)
    }

    fn write32(&self, offset: u32, value: u32) -> Result<()> {
        self.write_word(offset, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_land_native_endian_and_pairs_low_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uio0");
        std::fs::write(&path, vec![0xAAu8; 256]).unwrap();
        let regs = RegisterFile::open(&path, 256).unwrap();
        regs.write64(0x70, 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(regs.read64(0x70).unwrap(), 0x0123_4567_89ab_cdef);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[0x70..0x74], &0x89ab_cdefu32.to_ne_bytes());
        assert!(regs.read32(0x102).is_err());
        assert!(regs.read32(256).is_err());
        regs.clear().unwrap();
        assert_eq!(regs.read32(0).unwrap(), 0);
    }
}
