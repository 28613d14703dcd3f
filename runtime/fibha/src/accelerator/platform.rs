//! What the driver needs from a board, as traits, and the real board's side of them.
//!
//! The driver ([`super::Accelerator`]) runs the ap_ctrl_hs protocol over a [`Platform`]: its
//! registers ([`RegisterAccess`]), its interrupt ([`Interrupt`]), its DMA buffers
//! ([`DeviceMemory`]) and a fabric reset ([`Platform::reload`]). [`BoardPlatform`] is a
//! board (or the virtual board) under a [`Root`]: UIO, u-dma-buf, fpga_manager and configfs;
//! the driver's unit tests use an in-memory one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fibha_board::fpga::LoadOptions;
use fibha_board::{
    BoardError, DmaBuffer, FpgaManager, Irq, Overlay, RegisterBlock, Root, SyncDirection, Uio,
    UioSelector,
};
use fibha_model::device;
use fibha_model::register::RegisterAccess;

use super::{
    AccelError, Buffers, DriverOptions, INPUT_BUFFERS, Liveness, OUTPUT_BUFFERS, OVERLAY_NAME,
    Sizes, UIO_NAME, WEIGHTS_BUFFER, WaitMode, board,
};
use crate::instance::Instance;
use crate::lock::AccelLock;

/// The accelerator's interrupt line.
pub trait Interrupt {
    /// Drops an interrupt that is already pending (and re-enables the line).
    fn discard_pending(&mut self) -> Result<(), BoardError>;
    /// Enables the line for the next interrupt.
    fn arm(&mut self) -> Result<(), BoardError>;
    /// Waits up to `timeout` for the interrupt: `Some` when it came.
    fn wait_slice(&mut self, timeout: Duration) -> Result<Option<u32>, BoardError>;
}

impl Interrupt for Irq {
    fn discard_pending(&mut self) -> Result<(), BoardError> {
        Irq::discard_pending(self).map(drop)
    }

    fn arm(&mut self) -> Result<(), BoardError> {
        Irq::arm(self)
    }

    fn wait_slice(&mut self, timeout: Duration) -> Result<Option<u32>, BoardError> {
        Irq::wait_slice(self, timeout)
    }
}

/// Memory the kernel reads or writes by device address, with the cache maintenance a
/// transfer needs.
pub trait DeviceMemory {
    /// Its length in bytes.
    fn len(&self) -> usize;
    /// Whether it holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The device address of byte `offset`.
    fn device_addr(&self, offset: usize) -> Result<u64, BoardError>;
    /// Bytes `range`, for the CPU to read.
    fn bytes(&self, range: std::ops::Range<usize>) -> Result<&[u8], BoardError>;
    /// Bytes `range`, for the CPU to write.
    fn bytes_mut(&mut self, range: std::ops::Range<usize>) -> Result<&mut [u8], BoardError>;
    /// Hands `range` to the device.
    fn sync_for_device(
        &self,
        range: std::ops::Range<usize>,
        direction: SyncDirection,
    ) -> Result<(), BoardError>;
    /// Hands `range` back to the CPU.
    fn sync_for_cpu(
        &self,
        range: std::ops::Range<usize>,
        direction: SyncDirection,
    ) -> Result<(), BoardError>;
}

impl DeviceMemory for DmaBuffer {
    fn len(&self) -> usize {
        DmaBuffer::len(self)
    }

    fn device_addr(&self, offset: usize) -> Result<u64, BoardError> {
        DmaBuffer::device_addr(self, offset)
    }

    fn bytes(&self, range: std::ops::Range<usize>) -> Result<&[u8], BoardError> {
        DmaBuffer::bytes(self, range)
    }

    fn bytes_mut(&mut self, range: std::ops::Range<usize>) -> Result<&mut [u8], BoardError> {
        DmaBuffer::bytes_mut(self, range)
    }

    fn sync_for_device(
        &self,
        range: std::ops::Range<usize>,
        direction: SyncDirection,
    ) -> Result<(), BoardError> {
        DmaBuffer::sync_for_device(self, range, direction)
    }

    fn sync_for_cpu(
        &self,
        range: std::ops::Range<usize>,
        direction: SyncDirection,
    ) -> Result<(), BoardError> {
        DmaBuffer::sync_for_cpu(self, range, direction)
    }
}

/// A board the driver runs on: the types of its registers, interrupt and buffers, and its
/// fabric reset.
pub trait Platform {
    /// The accelerator's register block.
    type Regs: RegisterAccess<Error = BoardError>;
    /// Its interrupt.
    type Irq: Interrupt;
    /// Its DMA buffers.
    type Memory: DeviceMemory;
    /// Resets the fabric (on a ZynqMP: loads the bitstream again, the HLS core has no soft
    /// reset) and returns the buffers reopened (a load may move them).
    fn reload(
        &mut self,
        sizes: &Sizes,
        liveness: &mut Option<Box<dyn Liveness>>,
    ) -> Result<Buffers<Self::Memory>, AccelError>;
    /// The bitstream, for messages.
    fn bitstream(&self) -> &Path;
}

/// A board under a [`Root`]: the fabric loaded through fpga_manager, the overlay applied
/// through configfs, the UIO device locked for this process.
pub struct BoardPlatform {
    root: Root,
    fpga: FpgaManager,
    bitstream: PathBuf,
    load: LoadOptions,
    overlay: Option<Overlay>,
    // Last: released only after the overlay is removed.
    _lock: AccelLock,
}

/// What [`BoardPlatform::open`] brings up.
pub struct Opened {
    /// The platform.
    pub platform: BoardPlatform,
    /// The mapped registers.
    pub regs: RegisterBlock,
    /// The interrupt, unless the driver polls.
    pub irq: Option<Irq>,
    /// Whether polling is used because the device has no interrupt.
    pub no_interrupt: bool,
    /// The DMA buffers.
    pub buffers: Buffers<DmaBuffer>,
}

impl BoardPlatform {
    /// Takes the accelerator's lock, loads the bitstream of `instance` (and applies its
    /// overlay), maps the registers, opens the interrupt and the buffers.
    pub fn open(
        root: &Root,
        instance: &Instance,
        sizes: &Sizes,
        options: &mut DriverOptions,
    ) -> Result<Opened, AccelError> {
        // Before the bitstream: a second process must not reload the fabric under a run.
        let early_lock = match find_device(root) {
            Ok(device) => Some(AccelLock::acquire(
                &device,
                options.lock,
                crate::stop::flag(),
            )?),
            Err(_) => None,
        };
        let fabric = instance
            .fabric(fibha_board::vboard::is_virtual_root(root.path()))
            .map_err(|e| AccelError::Firmware(Box::new(e)))?;
        let fpga = FpgaManager::find(root).map_err(board("finding the FPGA manager"))?;
        refuse_foreign_overlays(root)?;
        let load = LoadOptions {
            timeout: options.load_timeout,
            ..LoadOptions::default()
        };
        let bitstream = fabric.bitstream;
        {
            let _span = tracing::info_span!("load_bitstream").entered();
            load_fabric(
                root,
                &fpga,
                &bitstream,
                &load,
                &mut options.liveness,
                "loading the bitstream {}",
            )?;
        }
        let overlay = match fabric.overlay {
            Some(dtbo) => Some(apply_overlay(root, &dtbo)?),
            None => None,
        };
        let lock = match early_lock {
            Some(lock) => lock,
            None => {
                let device =
                    find_device(root).map_err(board("opening the accelerator's UIO device"))?;
                AccelLock::acquire(&device, options.lock, crate::stop::flag())?
            }
        };
        let (regs, irq, no_interrupt) = open_registers(root, options.wait)?;
        let buffers = open_buffers(root, sizes)?;
        Ok(Opened {
            platform: BoardPlatform {
                root: root.clone(),
                fpga,
                bitstream,
                load,
                overlay,
                _lock: lock,
            },
            regs,
            irq,
            no_interrupt,
            buffers,
        })
    }
}

impl Platform for BoardPlatform {
    type Regs = RegisterBlock;
    type Irq = Irq;
    type Memory = DmaBuffer;

    fn reload(
        &mut self,
        sizes: &Sizes,
        liveness: &mut Option<Box<dyn Liveness>>,
    ) -> Result<Buffers<DmaBuffer>, AccelError> {
        load_fabric(
            &self.root,
            &self.fpga,
            &self.bitstream,
            &self.load,
            liveness,
            "resetting the accelerator (reloading {})",
        )?;
        open_buffers(&self.root, sizes)
    }

    fn bitstream(&self) -> &Path {
        &self.bitstream
    }
}

impl Drop for BoardPlatform {
    fn drop(&mut self) {
        if let Some(overlay) = self.overlay.take()
            && let Err(err) = overlay.remove()
        {
            tracing::warn!("removing the device-tree overlay: {err}");
        }
    }
}

/// fibha owns the FPGA region: it loads its bitstream and applies its overlay itself. An
/// overlay another tool applied (`fpgautil -o` or dfx-mgr at boot) holds the region, and
/// the kernel would refuse fibha's ("Region already has overlay applied") after the
/// bitstream under it had been replaced; so it is refused first, saying how to remove it.
fn refuse_foreign_overlays(root: &Root) -> Result<(), AccelError> {
    let dir = root.join(fibha_board::fpga::OVERLAY_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    let foreign = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != OVERLAY_NAME)
        .min();
    match foreign {
        None => Ok(()),
        Some(name) => Err(AccelError::Board {
            context: "taking the FPGA region".into(),
            source: BoardError::Overlay {
                problem: format!(
                    "overlay {name} is applied ({}): another tool (fpgautil, or dfx-mgr at boot) loaded the fabric, and fibha loads its own bitstream and overlay; remove it with `fpgautil -R` or `rmdir {}`, then run again",
                    dir.join(&name).display(),
                    Path::new(fibha_board::fpga::OVERLAY_DIR)
                        .join(&name)
                        .display()
                ),
                name,
            },
        }),
    }
}

/// Opens the DMA buffers and checks each is big enough for the plan.
fn open_buffers(root: &Root, sizes: &Sizes) -> Result<Buffers<DmaBuffer>, AccelError> {
    let open = |name: &str, required: usize| {
        DmaBuffer::open(root, name, required as u64)
            .map_err(board(format!("opening DMA buffer {name}")))
    };
    Ok(Buffers {
        inputs: [
            open(INPUT_BUFFERS[0], sizes.input)?,
            open(INPUT_BUFFERS[1], sizes.input)?,
        ],
        outputs: [
            open(OUTPUT_BUFFERS[0], sizes.output)?,
            open(OUTPUT_BUFFERS[1], sizes.output)?,
        ],
        weights: open(WEIGHTS_BUFFER, sizes.bundle)?,
    })
}

/// Loads `bitstream`, checking at every read of fpga_manager's `state` that the board is
/// still there; `doing` is the error's context, `{}` standing for the bitstream's path.
fn load_fabric(
    root: &Root,
    fpga: &FpgaManager,
    bitstream: &Path,
    load: &LoadOptions,
    liveness: &mut Option<Box<dyn Liveness>>,
    doing: &str,
) -> Result<(), AccelError> {
    let mut watch = || match liveness.as_mut().map(|l| l.check()) {
        Some(Err(detail)) => Err(BoardError::Gone { detail }),
        _ => Ok(()),
    };
    match fpga.load_watched(bitstream, load, &mut watch) {
        Ok(()) => Ok(()),
        Err(BoardError::Gone { detail }) => Err(AccelError::Gone { detail }),
        Err(source) => {
            let err = AccelError::Board {
                context: doing.replace("{}", &bitstream.display().to_string()),
                source: with_board_reason(root, source),
            };
            Err(match watch() {
                Err(BoardError::Gone { detail }) => AccelError::Gone {
                    detail: format!("{detail} ({err})"),
                },
                _ => err,
            })
        }
    }
}

/// A failed load with the reason the board gives: the virtual board writes why into
/// `/vboard/load_error` (a real fpga_manager says it in the kernel log only).
fn with_board_reason(root: &Root, err: BoardError) -> BoardError {
    match err {
        BoardError::FpgaLoad {
            device,
            firmware,
            state,
            detail: None,
        } => {
            let reason = std::fs::read_to_string(root.join(fibha_board::vboard::LOAD_ERROR_FILE))
                .ok()
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty());
            BoardError::FpgaLoad {
                device,
                firmware,
                state,
                detail: Some(reason.map_or_else(
                    || "see the kernel log (dmesg) for why".into(),
                    |r| format!("the virtual board says: {r}"),
                )),
            }
        }
        other => other,
    }
}

/// Applies the overlay, replacing one a previous session left applied.
fn apply_overlay(root: &Root, dtbo: &Path) -> Result<Overlay, AccelError> {
    let stale = root.join(fibha_board::fpga::OVERLAY_DIR).join(OVERLAY_NAME);
    if stale.is_dir() {
        // A configfs item is removed with rmdir alone; the virtual board's plain directory
        // holds its attribute files.
        for attr in ["path", "status", "dtbo"] {
            let _ = std::fs::remove_file(stale.join(attr));
        }
        std::fs::remove_dir(&stale).map_err(|e| AccelError::Board {
            context: "removing the overlay a previous session left".into(),
            source: BoardError::Overlay {
                name: OVERLAY_NAME.into(),
                problem: format!("cannot remove {}: {e}", stale.display()),
            },
        })?;
    }
    Overlay::apply(root, OVERLAY_NAME, dtbo).map_err(board("applying the device-tree overlay"))
}

/// The device file of the UIO device named [`UIO_NAME`].
fn find_device(root: &Root) -> Result<PathBuf, BoardError> {
    fibha_board::uio::find_uio(root, &UioSelector::Name(UIO_NAME.into()))
        .map(|device| device.dev_path)
}

/// Maps the registers and opens the interrupt; without one the driver polls.
fn open_registers(
    root: &Root,
    wait: WaitMode,
) -> Result<(RegisterBlock, Option<Irq>, bool), AccelError> {
    let uio = Uio::open(root, &UioSelector::Name(UIO_NAME.into()))
        .map_err(board("opening the accelerator's UIO device"))?;
    let regs = uio
        .map(0, device::REGISTER_SPACE_BYTES as usize)
        .map_err(board("mapping the accelerator's registers"))?;
    if wait == WaitMode::Poll {
        return Ok((regs, None, false));
    }
    match uio.irq() {
        Ok(irq) => Ok((regs, Some(irq), false)),
        Err(BoardError::NoInterrupt { device, reason }) => {
            tracing::warn!("{device} has no interrupt ({reason}); polling ap_done instead");
            Ok((regs, None, true))
        }
        Err(other) => Err(board("opening the accelerator's interrupt")(other)),
    }
}
