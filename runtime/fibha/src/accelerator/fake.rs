//! An in-memory platform for the driver's unit tests: registers in memory with the
//! ap_ctrl_hs behaviour of [`fibha_model::handshake`] (the same the virtual board uses), a
//! kernel that answers each start as a script says, an interrupt line, buffers in memory
//! and a fabric reset that counts. The recovery paths run here without a process.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use fibha_board::{BoardError, SyncDirection};
use fibha_model::device::{self, StatusCode, mode};
use fibha_model::handshake::{ApCtrlHs, Completion};
use fibha_model::register::{MemoryRegisters, RegisterAccess};

use super::bring_up::Kernel;
use super::platform::{DeviceMemory, Interrupt, Platform};
use super::{AccelError, Accelerator, Buffers, DriverOptions, Liveness, Sizes, WaitMode};
use crate::lock::LockWait;

/// How the kernel answers one inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Finishes with status ok after this many cycles.
    Done(u64),
    /// Finishes with this error status.
    Error(StatusCode),
    /// Finishes, but its interrupt is lost.
    LostInterrupt,
    /// Never finishes (until the fabric is reset).
    Hang,
}

/// The device behind the fake registers, shared by the registers, the interrupt and the
/// platform (as the fabric is on a board).
#[derive(Debug)]
pub struct FakeDevice {
    regs: MemoryRegisters,
    /// The plan hash the kernel reports.
    pub id: Cell<u64>,
    /// Answers to the next inferences, in order; when empty, `Done(1000)`.
    pub script: RefCell<VecDeque<Answer>>,
    /// Identify runs hang until this many more resets have happened.
    pub hang_bring_up: Cell<u32>,
    raised: Cell<bool>,
    /// Fabric resets so far.
    pub resets: Cell<u32>,
    /// Identify runs so far.
    pub identifies: Cell<u32>,
}

impl FakeDevice {
    /// A device whose kernel reports `id`, answering inferences as `script` says.
    pub fn new(id: u64, script: &[Answer]) -> Rc<FakeDevice> {
        let regs = MemoryRegisters::new(device::REGISTER_SPACE_BYTES as usize);
        ApCtrlHs::reset(&regs).expect("in range");
        Rc::new(FakeDevice {
            regs,
            id: Cell::new(id),
            script: RefCell::new(script.iter().copied().collect()),
            hang_bring_up: Cell::new(0),
            raised: Cell::new(false),
            resets: Cell::new(0),
            identifies: Cell::new(0),
        })
    }

    /// What the kernel does with a start it accepted.
    fn run(&self, words: &[(u32, u32)]) {
        let mode_word = words
            .iter()
            .find(|(offset, _)| *offset == device::MODE)
            .map_or(0, |w| w.1);
        let short = mode::IDENTIFY.get(mode_word) == 1 || mode::VERIFY.get(mode_word) == 1;
        if mode::IDENTIFY.get(mode_word) == 1 {
            self.identifies.set(self.identifies.get() + 1);
        }
        let answer = match short {
            true if self.hang_bring_up.get() > 0 => Answer::Hang,
            true => Answer::Done(10),
            false => self
                .script
                .borrow_mut()
                .pop_front()
                .unwrap_or(Answer::Done(1000)),
        };
        let (status, cycles) = match answer {
            Answer::Hang => return,
            Answer::Done(cycles) => (0, cycles),
            Answer::LostInterrupt => (0, 1),
            Answer::Error(code) => {
                let word = device::status::ERROR.put(0, 1);
                let word = device::status::CODE.put(word, code as u32);
                (device::status::LAYER.put(word, 0xFFFF), 1)
            }
        };
        let done = Completion {
            id: self.id.get(),
            status,
            cycles,
        };
        let raise = ApCtrlHs::complete(&self.regs, done).expect("in range");
        self.raised.set(raise && answer != Answer::LostInterrupt);
    }
}

/// The register block: a start written to `ctrl` runs the kernel at once.
#[derive(Debug)]
pub struct FakeRegs(Rc<FakeDevice>);

fn out_of_range(err: fibha_model::register::OutOfRange) -> BoardError {
    BoardError::RegisterOutOfRange {
        device: "fake".into(),
        offset: err.offset as usize,
        width: 4,
        len: err.len,
    }
}

impl RegisterAccess for FakeRegs {
    type Error = BoardError;

    fn read32(&self, offset: u32) -> Result<u32, BoardError> {
        self.0.regs.read32(offset).map_err(out_of_range)
    }

    fn write32(&self, offset: u32, value: u32) -> Result<(), BoardError> {
        self.0.regs.write32(offset, value).map_err(out_of_range)?;
        if offset == device::CTRL
            && let Some(words) = ApCtrlHs::accept_start(&self.0.regs).map_err(out_of_range)?
        {
            self.0.raised.set(false);
            self.0.run(&words);
        }
        Ok(())
    }
}

/// The interrupt line: a wait blocks its whole slice unless the line was raised.
#[derive(Debug)]
pub struct FakeIrq(Rc<FakeDevice>);

impl Interrupt for FakeIrq {
    fn discard_pending(&mut self) -> Result<(), BoardError> {
        self.0.raised.set(false);
        Ok(())
    }

    fn arm(&mut self) -> Result<(), BoardError> {
        Ok(())
    }

    fn wait_slice(&mut self, timeout: Duration) -> Result<Option<u32>, BoardError> {
        if self.0.raised.replace(false) {
            return Ok(Some(1));
        }
        std::thread::sleep(timeout);
        Ok(None)
    }
}

/// A buffer in memory at a made-up device address.
#[derive(Debug)]
pub struct FakeMemory {
    bytes: Vec<u8>,
    addr: u64,
}

impl DeviceMemory for FakeMemory {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn device_addr(&self, offset: usize) -> Result<u64, BoardError> {
        Ok(self.addr + offset as u64)
    }

    fn bytes(&self, range: std::ops::Range<usize>) -> Result<&[u8], BoardError> {
        Ok(&self.bytes[range])
    }

    fn bytes_mut(&mut self, range: std::ops::Range<usize>) -> Result<&mut [u8], BoardError> {
        Ok(&mut self.bytes[range])
    }

    fn sync_for_device(
        &self,
        _: std::ops::Range<usize>,
        _: SyncDirection,
    ) -> Result<(), BoardError> {
        Ok(())
    }

    fn sync_for_cpu(&self, _: std::ops::Range<usize>, _: SyncDirection) -> Result<(), BoardError> {
        Ok(())
    }
}

/// The fabric: a reset zeroes the registers, ends a hang and counts.
#[derive(Debug)]
pub struct FakePlatform(Rc<FakeDevice>);

const SIZES: Sizes = Sizes {
    input: 64,
    output: 16,
    bundle: 128,
    layer_count: 3,
};

fn buffers() -> Buffers<FakeMemory> {
    let memory = |len: usize, addr: u64| FakeMemory {
        bytes: vec![0; len],
        addr,
    };
    Buffers {
        inputs: [0, 1].map(|i| memory(SIZES.input * 2, 0x7000_0000 + i * 0x1000)),
        outputs: [0, 1].map(|i| memory(SIZES.output * 2, 0x7010_0000 + i * 0x1000)),
        weights: memory(SIZES.bundle, 0x7020_0000),
    }
}

impl Platform for FakePlatform {
    type Regs = FakeRegs;
    type Irq = FakeIrq;
    type Memory = FakeMemory;

    fn reload(
        &mut self,
        _: &Sizes,
        _: &mut Option<Box<dyn Liveness>>,
    ) -> Result<Buffers<FakeMemory>, AccelError> {
        let device = &self.0;
        device.resets.set(device.resets.get() + 1);
        device
            .hang_bring_up
            .set(device.hang_bring_up.get().saturating_sub(1));
        device.raised.set(false);
        ApCtrlHs::reset(&device.regs).expect("in range");
        Ok(buffers())
    }

    fn bitstream(&self) -> &Path {
        Path::new("fake.bit.bin")
    }
}

/// The plan hash the fake kernels are built for.
pub const PLAN_HASH: u64 = 0x0123_4567_89ab_cdef;

/// A driver on `device`, brought up, waiting as `wait` says, each image allowed `timeout`.
pub fn open(
    device: &Rc<FakeDevice>,
    wait: WaitMode,
    timeout: Duration,
) -> Result<Accelerator<FakePlatform>, AccelError> {
    let options = DriverOptions {
        wait,
        timeout,
        load_timeout: timeout,
        liveness: None,
        lock: LockWait::Refuse,
    };
    let kernel = Kernel {
        bundle: (0..SIZES.bundle as u8).collect(),
        sizes: SIZES,
        plan_hash: PLAN_HASH,
    };
    let irq = (wait == WaitMode::Interrupt).then(|| FakeIrq(Rc::clone(device)));
    let mut accel = Accelerator::with_platform(
        FakePlatform(Rc::clone(device)),
        FakeRegs(Rc::clone(device)),
        irq,
        buffers(),
        kernel,
        options,
    );
    accel.bring_up_or_reset()?;
    Ok(accel)
}
