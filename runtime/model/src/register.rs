//! Typed access to the accelerator's s_axilite registers, whatever holds them.
//!
//! [`RegisterAccess`] is one 32-bit word read or written at a byte offset: the mapped UIO
//! block on a board (`fibha_board::RegisterBlock`), the virtual board's shared register
//! file, or [`MemoryRegisters`] in a test. The handles in [`crate::device::reg`], generated
//! from `hls/regmap.toml`, carry each register's width and the host's access to it in their
//! type: [`Reg32`] or [`Reg64`] (two words, low first, as Vitis HLS lays out 64-bit
//! arguments), [`ReadOnly`] (the kernel's outputs), [`WriteOnly`] (its arguments: the host
//! never reads them back) or [`ReadWrite`] (the ap_ctrl_hs block). Reading an argument or
//! writing an output does not compile.

use std::cell::RefCell;
use std::marker::PhantomData;

/// One 32-bit register word at a byte offset.
pub trait RegisterAccess {
    /// What a failed access reports (an offset outside the block, a board that is gone).
    type Error;
    /// Reads the word at `offset`.
    fn read32(&self, offset: u32) -> Result<u32, Self::Error>;
    /// Writes the word at `offset`.
    fn write32(&self, offset: u32, value: u32) -> Result<(), Self::Error>;
}

/// The host may read the register.
pub trait Readable {}
/// The host may write the register.
pub trait Writable {}

/// Written by the kernel, read by the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOnly;
/// Written by the host, read by the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOnly;
/// Read and written by both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadWrite;

impl Readable for ReadOnly {}
impl Readable for ReadWrite {}
impl Writable for WriteOnly {}
impl Writable for ReadWrite {}

/// A 32-bit register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg32<A> {
    offset: u32,
    access: PhantomData<A>,
}

impl<A> Reg32<A> {
    /// The register at byte `offset`.
    pub const fn new(offset: u32) -> Reg32<A> {
        Reg32 {
            offset,
            access: PhantomData,
        }
    }

    /// Its byte offset.
    pub const fn offset(self) -> u32 {
        self.offset
    }
}

impl<A: Readable> Reg32<A> {
    /// Reads it.
    pub fn read<R: RegisterAccess + ?Sized>(self, regs: &R) -> Result<u32, R::Error> {
        regs.read32(self.offset)
    }
}

impl<A: Writable> Reg32<A> {
    /// Writes it.
    pub fn write<R: RegisterAccess + ?Sized>(self, regs: &R, value: u32) -> Result<(), R::Error> {
        regs.write32(self.offset, value)
    }
}

/// A 64-bit value in two 32-bit registers, low word first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg64<A> {
    lo: u32,
    hi: u32,
    access: PhantomData<A>,
}

/// How often [`Reg64::read`] rereads a pair whose high word changed under it.
const READ64_ATTEMPTS: usize = 4;

impl<A> Reg64<A> {
    /// The pair whose low word is at byte `lo` and high word at `hi`.
    pub const fn new(lo: u32, hi: u32) -> Reg64<A> {
        Reg64 {
            lo,
            hi,
            access: PhantomData,
        }
    }

    /// Byte offsets of its low and high word.
    pub const fn offsets(self) -> (u32, u32) {
        (self.lo, self.hi)
    }
}

impl<A: Readable> Reg64<A> {
    /// Reads the pair. If the high word changes while the low word is read (a running
    /// counter), the pair is read again, so the result never mixes two values; `None` when
    /// it kept changing.
    pub fn read<R: RegisterAccess + ?Sized>(self, regs: &R) -> Result<Option<u64>, R::Error> {
        let mut high = regs.read32(self.hi)?;
        for _ in 0..READ64_ATTEMPTS {
            let low = regs.read32(self.lo)?;
            let high_again = regs.read32(self.hi)?;
            if high_again == high {
                return Ok(Some(u64::from(high) << 32 | u64::from(low)));
            }
            high = high_again;
        }
        Ok(None)
    }
}

impl<A: Writable> Reg64<A> {
    /// Writes the pair, low word first (the order the HLS adapter expects; the kernel is
    /// idle while arguments are written).
    pub fn write<R: RegisterAccess + ?Sized>(self, regs: &R, value: u64) -> Result<(), R::Error> {
        regs.write32(self.lo, value as u32)?;
        regs.write32(self.hi, (value >> 32) as u32)
    }
}

/// Registers held in memory: the register space of an accelerator that exists only in a
/// test or a model. Plain storage: no word has a side effect (see
/// [`crate::handshake::ApCtrlHs`] for the ap_ctrl_hs behaviour).
#[derive(Debug, Default)]
pub struct MemoryRegisters {
    words: RefCell<Vec<u32>>,
}

/// An access outside a [`MemoryRegisters`] block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "register offset {offset:#x} is outside the {len}-byte register space or not 4-byte aligned"
)]
pub struct OutOfRange {
    /// The offset asked for.
    pub offset: u32,
    /// The block's length in bytes.
    pub len: usize,
}

impl MemoryRegisters {
    /// A zeroed block of `bytes` bytes (a multiple of 4).
    pub fn new(bytes: usize) -> MemoryRegisters {
        MemoryRegisters {
            words: RefCell::new(vec![0; bytes / 4]),
        }
    }

    fn index(&self, offset: u32) -> Result<usize, OutOfRange> {
        let len = self.words.borrow().len();
        let index = offset as usize / 4;
        if offset.is_multiple_of(4) && index < len {
            Ok(index)
        } else {
            Err(OutOfRange {
                offset,
                len: len * 4,
            })
        }
    }
}

impl RegisterAccess for MemoryRegisters {
    type Error = OutOfRange;

    fn read32(&self, offset: u32) -> Result<u32, OutOfRange> {
        let index = self.index(offset)?;
        Ok(self.words.borrow()[index])
    }

    fn write32(&self, offset: u32, value: u32) -> Result<(), OutOfRange> {
        let index = self.index(offset)?;
        self.words.borrow_mut()[index] = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::reg;

    #[test]
    fn pairs_are_written_low_word_first_and_read_back() {
        let regs = MemoryRegisters::new(256);
        reg::INPUT_ADDR.write(&regs, 0x1_2345_6789).unwrap();
        let (lo, hi) = reg::INPUT_ADDR.offsets();
        assert_eq!(
            (lo, hi),
            (0x10, 0x14),
            "hls/regmap.toml: input_addr at 0x10"
        );
        assert_eq!(regs.read32(lo).unwrap(), 0x2345_6789);
        assert_eq!(regs.read32(hi).unwrap(), 0x1);
        regs.write32(reg::CYCLES.offsets().0, 7).unwrap();
        regs.write32(reg::CYCLES.offsets().1, 2).unwrap();
        assert_eq!(reg::CYCLES.read(&regs).unwrap(), Some((2 << 32) | 7));
    }

    #[test]
    fn accesses_outside_the_block_are_errors() {
        let regs = MemoryRegisters::new(16);
        assert_eq!(
            regs.read32(16).unwrap_err().to_string(),
            "register offset 0x10 is outside the 16-byte register space or not 4-byte aligned"
        );
        assert!(regs.write32(2, 0).is_err());
    }

    /// A high word that moves between reads is read again; one that never settles is `None`.
    #[test]
    fn a_moving_pair_is_reread() {
        struct Counter(RefCell<u32>);
        impl RegisterAccess for Counter {
            type Error = ();
            fn read32(&self, offset: u32) -> Result<u32, ()> {
                let mut n = self.0.borrow_mut();
                *n += 1;
                Ok(if offset.is_multiple_of(8) { 0 } else { *n })
            }
            fn write32(&self, _: u32, _: u32) -> Result<(), ()> {
                Ok(())
            }
        }
        let moving = Reg64::<ReadOnly>::new(0x80, 0x84);
        assert_eq!(moving.read(&Counter(RefCell::new(0))), Ok(None));
    }
}
