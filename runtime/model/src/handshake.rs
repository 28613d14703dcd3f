//! The device side of the ap_ctrl_hs handshake, once, over any [`RegisterAccess`].
//!
//! What a Vitis HLS core's control block does when the host starts it and when the kernel
//! finishes, as the virtual board and the driver's in-memory fake both need it:
//! - [`ApCtrlHs::accept_start`]: a set `ap_start` while idle is accepted: `ap_start`,
//!   `ap_done`, `ap_idle`, `ap_ready` clear (`auto_restart` stays), `isr` and every output's
//!   `ap_vld` word clear, and the argument words are latched for the kernel;
//! - [`ApCtrlHs::complete`]: the outputs (`id`, `status`, `cycles`) and their `ap_vld` words
//!   are written, `ap_done | ap_idle | ap_ready` set (an `ap_start` written meanwhile stays;
//!   `auto_restart` starts again), the `isr` bits enabled in `ier` set, and the interrupt
//!   line is raised when `gie` allows it.
//!
//! Clear-on-read `ap_done` and toggle-on-write `isr` are effects of the bus access itself;
//! a store that only holds words (a file, memory) cannot have them, so the host-side driver
//! never relies on them: it writes `isr` to clear it and never does a read-modify-write of
//! `ctrl`.

use crate::device::{self, ctrl, gie, ier, isr};
use crate::register::RegisterAccess;

/// The output registers written when a run ends: (data word, ap_vld word), 64-bit ones by
/// their low word.
pub const OUTPUTS: [(u32, u32); 3] = [
    (device::ID, device::ID_VLD),
    (device::STATUS, device::STATUS_VLD),
    (device::CYCLES, device::CYCLES_VLD),
];

/// Byte offsets of the kernel's argument words, in offset order: every register from
/// `input_addr` on that the host writes (a 64-bit one as its two words).
pub fn argument_words() -> Vec<u32> {
    let mut words: Vec<u32> = device::REGISTERS
        .iter()
        .filter(|r| r.offset >= device::INPUT_ADDR && r.access == "rw")
        .flat_map(|r| {
            let high = (r.width == 64).then_some(r.offset + 4);
            std::iter::once(r.offset).chain(high)
        })
        .collect();
    words.sort_unstable();
    words
}

/// What the kernel reports at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The `id` register (the plan hash).
    pub id: u64,
    /// The `status` register.
    pub status: u32,
    /// The `cycles` register.
    pub cycles: u64,
}

/// The ap_ctrl_hs control block of one core.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApCtrlHs;

impl ApCtrlHs {
    /// Accepts a pending `ap_start` (the caller knows the core is idle): clears the control
    /// bits, `isr` and the outputs' `ap_vld` words, and returns the argument words
    /// (offset, value) for the kernel; `None` when `ap_start` is not set.
    pub fn accept_start<R: RegisterAccess + ?Sized>(
        regs: &R,
    ) -> Result<Option<Vec<(u32, u32)>>, R::Error> {
        let control = regs.read32(device::CTRL)?;
        if ctrl::AP_START.get(control) == 0 {
            return Ok(None);
        }
        regs.write32(device::CTRL, control & ctrl::AUTO_RESTART.mask())?;
        regs.write32(device::ISR, 0)?;
        for (_, vld) in OUTPUTS {
            regs.write32(vld, 0)?;
        }
        let words = argument_words()
            .into_iter()
            .map(|offset| Ok((offset, regs.read32(offset)?)))
            .collect::<Result<Vec<_>, R::Error>>()?;
        Ok(Some(words))
    }

    /// Ends the run with `done`; returns whether the interrupt line is to be raised.
    pub fn complete<R: RegisterAccess + ?Sized>(
        regs: &R,
        done: Completion,
    ) -> Result<bool, R::Error> {
        // The kernel's side of read-only registers: plain words to it.
        regs.write32(device::ID, done.id as u32)?;
        regs.write32(device::ID_HI, (done.id >> 32) as u32)?;
        regs.write32(device::STATUS, done.status)?;
        regs.write32(device::CYCLES, done.cycles as u32)?;
        regs.write32(device::CYCLES_HI, (done.cycles >> 32) as u32)?;
        for (_, vld) in OUTPUTS {
            regs.write32(vld, 1)?;
        }
        let control = regs.read32(device::CTRL)?;
        let mut next = control & (ctrl::AP_START.mask() | ctrl::AUTO_RESTART.mask());
        if ctrl::AUTO_RESTART.get(control) == 1 {
            next = ctrl::AP_START.put(next, 1);
        }
        for field in [ctrl::AP_DONE, ctrl::AP_IDLE, ctrl::AP_READY] {
            next = field.put(next, 1);
        }
        regs.write32(device::CTRL, next)?;
        let enabled = regs.read32(device::IER)?;
        let mut status = 0;
        if ier::DONE.get(enabled) == 1 {
            status = isr::DONE.put(status, 1);
        }
        if ier::READY.get(enabled) == 1 {
            status = isr::READY.put(status, 1);
        }
        if status == 0 {
            return Ok(false);
        }
        regs.write32(device::ISR, status)?;
        Ok(gie::ENABLE.get(regs.read32(device::GIE)?) == 1)
    }

    /// A fabric reset: every register zero but `ap_idle`.
    pub fn reset<R: RegisterAccess + ?Sized>(regs: &R) -> Result<(), R::Error> {
        for offset in (0..device::REGISTER_SPACE_BYTES).step_by(4) {
            regs.write32(offset, 0)?;
        }
        regs.write32(device::CTRL, ctrl::AP_IDLE.put(0, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::MemoryRegisters;

    fn block() -> MemoryRegisters {
        MemoryRegisters::new(device::REGISTER_SPACE_BYTES as usize)
    }

    #[test]
    fn arguments_are_the_host_written_words_before_the_outputs() {
        assert_eq!(
            argument_words(),
            // Five 64-bit addresses as lo/hi words (input, output, bundle, the two SEML
            // parameter halves), then input, output and bundle bytes, image count, layer
            // count and mode (hls/regmap.toml).
            [
                0x10, 0x14, 0x1C, 0x20, 0x28, 0x2C, 0x34, 0x38, 0x40, 0x44, 0x4C, 0x54, 0x5C, 0x64,
                0x6C, 0x74
            ]
        );
        assert!(argument_words().iter().all(|&w| w < device::ID));
    }

    /// A whole handshake, word by word, as the Vitis HLS control block does it.
    #[test]
    fn a_start_is_latched_and_a_completion_raises_done_and_the_enabled_interrupt() {
        let regs = block();
        ApCtrlHs::reset(&regs).unwrap();
        assert_eq!(
            regs.read32(device::CTRL).unwrap(),
            0b0100,
            "idle after reset"
        );
        assert_eq!(ApCtrlHs::accept_start(&regs).unwrap(), None);

        regs.write32(device::MODE, 3).unwrap();
        regs.write32(device::STATUS_VLD, 1).unwrap();
        regs.write32(device::IER, 1).unwrap();
        regs.write32(device::GIE, 1).unwrap();
        regs.write32(device::CTRL, 1).unwrap();
        let words = ApCtrlHs::accept_start(&regs).unwrap().unwrap();
        assert!(words.contains(&(device::MODE, 3)));
        assert_eq!(regs.read32(device::CTRL).unwrap(), 0, "running: not idle");
        assert_eq!(regs.read32(device::STATUS_VLD).unwrap(), 0);

        let done = Completion {
            id: 0xABCD_0000_1234,
            status: 0,
            cycles: 5 << 32 | 9,
        };
        assert!(
            ApCtrlHs::complete(&regs, done).unwrap(),
            "gie and ier: raise"
        );
        assert_eq!(
            regs.read32(device::CTRL).unwrap(),
            0b1110,
            "done|idle|ready"
        );
        assert_eq!(regs.read32(device::ISR).unwrap(), 1);
        assert_eq!(regs.read32(device::ID).unwrap(), 0x0000_1234);
        assert_eq!(regs.read32(device::ID_HI).unwrap(), 0xABCD);
        assert_eq!(regs.read32(device::CYCLES_HI).unwrap(), 5);
        assert_eq!(regs.read32(device::CYCLES_VLD).unwrap(), 1);

        // Without gie the isr bit is set but the line stays low; auto_restart starts again.
        regs.write32(device::GIE, 0).unwrap();
        regs.write32(device::CTRL, 0b1000_0001).unwrap();
        ApCtrlHs::accept_start(&regs).unwrap().unwrap();
        assert!(!ApCtrlHs::complete(&regs, done).unwrap());
        assert_eq!(regs.read32(device::CTRL).unwrap(), 0b1000_1111);
    }
}
