//! The interrupt line, board side, as `uio_pdrv_genirq` would deliver it.
//!
//! The accelerator's interrupt is level-triggered: it stays asserted while `isr` has an
//! enabled bit set. `uio_pdrv_genirq` masks the line in its handler and counts the
//! interrupt; the runtime unmasks it by writing 1 (and may mask it by writing 0). So an
//! interrupt raised while the line is masked is not lost: it is delivered, with the next
//! count, when the runtime unmasks. Here the runtime's writes arrive through the
//! `.irqctl` FIFO and each delivery writes the 4-byte native-endian count into the `.irq`
//! FIFO. The board opens both FIFOs read-write and non-blocking, so neither open waits
//! for the runtime, and it never reads its own `.irq` writes back.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use crate::error::{Error, Result};

/// The board's end of the UIO interrupt.
#[derive(Debug)]
pub struct IrqLine {
    events: File,
    events_path: PathBuf,
    control: File,
    control_path: PathBuf,
    /// Unmasked: the next interrupt may be delivered.
    armed: bool,
    /// Asserted and not yet delivered.
    pending: bool,
    count: u32,
}

impl IrqLine {
    /// Opens the FIFO pair. The line starts unmasked, as after the driver's probe.
    pub fn open(events_path: &Path, control_path: &Path) -> Result<Self> {
        Ok(Self {
            events: open_fifo(events_path)?,
            events_path: events_path.to_path_buf(),
            control: open_fifo(control_path)?,
            control_path: control_path.to_path_buf(),
            armed: true,
            pending: false,
            count: 0,
        })
    }

    /// Applies the runtime's mask/unmask writes, then delivers a pending interrupt if the
    /// line is unmasked.
    pub fn service(&mut self) -> Result<()> {
        let mut buf = [0u8; 256];
        loop {
            match self.control.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for word in buf[..n].chunks(4) {
                        match word.try_into().map(u32::from_ne_bytes) {
                            Ok(0) => self.armed = false,
                            Ok(1) => self.armed = true,
                            _ => tracing::warn!(
                                path = %self.control_path.display(),
                                "ignoring an irqctl write that is not a 4-byte 0 or 1"
                            ),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &self.control_path)(e)),
            }
        }
        self.deliver()
    }

    /// The accelerator asserts the line.
    pub fn raise(&mut self) -> Result<()> {
        self.pending = true;
        self.deliver()
    }

    /// The accelerator's `isr` was cleared (the next start): the line drops.
    pub fn lower(&mut self) {
        self.pending = false;
    }

    /// Interrupts delivered so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    fn deliver(&mut self) -> Result<()> {
        if !(self.pending && self.armed) {
            return Ok(());
        }
        self.pending = false;
        self.armed = false;
        self.count = self.count.wrapping_add(1);
        match self.events.write(&self.count.to_ne_bytes()) {
            Ok(4) => Ok(()),
            Ok(n) => Err(Error::io("write", &self.events_path)(io::Error::other(
                format!("wrote {n} of 4 bytes of an interrupt count"),
            ))),
            // A runtime that never reads lets the FIFO fill; the kernel would coalesce
            // these interrupts into the count, which the next delivered one carries.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tracing::warn!(path = %self.events_path.display(), "interrupt FIFO full; nobody reads it");
                Ok(())
            }
            Err(e) => Err(Error::io("write", &self.events_path)(e)),
        }
    }
}

fn open_fifo(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(Error::io("open FIFO", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;

    fn fifos() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let irq = dir.path().join("uio0.irq");
        let ctl = dir.path().join("uio0.irqctl");
        for p in [&irq, &ctl] {
            nix::unistd::mkfifo(p, Mode::S_IRWXU).unwrap();
        }
        (dir, irq, ctl)
    }

    fn read_counts(reader: &mut File) -> Vec<u32> {
        let mut buf = [0u8; 64];
        match reader.read(&mut buf) {
            Ok(n) => buf[..n]
                .chunks(4)
                .map(|w| u32::from_ne_bytes(w.try_into().unwrap()))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Vec::new(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_masked_interrupt_waits_for_the_unmask() {
        let (_dir, irq, ctl) = fifos();
        let mut line = IrqLine::open(&irq, &ctl).unwrap();
        let mut runtime_events = open_fifo(&irq).unwrap();
        let mut runtime_ctl = open_fifo(&ctl).unwrap();

        line.raise().unwrap(); // unmasked at probe: delivered at once
        assert_eq!(read_counts(&mut runtime_events), [1]);
        line.raise().unwrap(); // masked by the first delivery: held
        assert_eq!(read_counts(&mut runtime_events), Vec::<u32>::new());
        runtime_ctl.write_all(&1u32.to_ne_bytes()).unwrap();
        line.service().unwrap();
        assert_eq!(read_counts(&mut runtime_events), [2]);

        runtime_ctl.write_all(&1u32.to_ne_bytes()).unwrap();
        line.service().unwrap();
        line.raise().unwrap();
        line.lower(); // already delivered; lowering changes nothing
        assert_eq!(read_counts(&mut runtime_events), [3]);
        line.raise().unwrap(); // masked again: pending
        line.lower(); // cleared before the unmask: never delivered
        runtime_ctl.write_all(&1u32.to_ne_bytes()).unwrap();
        line.service().unwrap();
        assert_eq!(read_counts(&mut runtime_events), Vec::<u32>::new());
        assert_eq!(line.count(), 3);
    }
}
