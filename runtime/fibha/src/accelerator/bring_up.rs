//! Bring-up: from a platform with the fabric loaded to a kernel that has said who it is
//! and holds the bundle: interrupts quiesced, identify, bundle copied, verify. It runs at
//! open and after every fabric reset.

use fibha_board::{KernelIdentity, Root, SyncDirection, check_kernel_identity};
use fibha_model::device::{self, isr, mode, reg, status};

use super::platform::{DeviceMemory, Interrupt, Opened, Platform};
use super::{
    AccelError, Accelerator, BoardPlatform, Buffers, DriverOptions, DriverStats, SHORT_RUN_TIMEOUT,
    Sizes, board, read_pair,
};
use crate::instance::Instance;

impl Accelerator<BoardPlatform> {
    /// Brings the accelerator of `instance` up on the board under `root`.
    pub fn open(
        root: &Root,
        instance: &Instance,
        mut options: DriverOptions,
    ) -> Result<Accelerator, AccelError> {
        let _span = tracing::info_span!("accelerator_open").entered();
        let sizes = Sizes {
            input: instance.input_bytes(),
            output: instance.output_bytes(),
            bundle: instance.bundle.bytes().len(),
            layer_count: instance.bundle.view().header().layer_count.get(),
        };
        let opened = BoardPlatform::open(root, instance, &sizes, &mut options)?;
        let Opened {
            platform,
            regs,
            irq,
            no_interrupt,
            buffers,
        } = opened;
        let mut accel = Accelerator::with_platform(
            platform,
            regs,
            irq,
            buffers,
            Kernel {
                bundle: instance.bundle.bytes().to_vec(),
                sizes,
                plan_hash: instance.plan_hash,
            },
            options,
        );
        accel.stats.no_interrupt = no_interrupt;
        accel.bring_up_or_reset()?;
        Ok(accel)
    }
}

/// What the driver programs a kernel with: its bundle, the sizes of its buffers and the
/// plan hash it must report.
pub struct Kernel {
    /// The weight bundle, copied into the weights buffer at every bring-up.
    pub bundle: Vec<u8>,
    /// Buffer sizes and layer count.
    pub sizes: Sizes,
    /// The plan hash the kernel's `id` register must hold.
    pub plan_hash: u64,
}

impl<P: Platform> Accelerator<P> {
    /// A driver over an opened platform, not yet brought up.
    pub(super) fn with_platform(
        platform: P,
        regs: P::Regs,
        irq: Option<P::Irq>,
        buffers: Buffers<P::Memory>,
        kernel: Kernel,
        options: DriverOptions,
    ) -> Accelerator<P> {
        Accelerator {
            regs,
            irq,
            buffers,
            bundle: kernel.bundle,
            sizes: kernel.sizes,
            plan_hash: kernel.plan_hash,
            stats: DriverStats {
                wait: options.wait,
                ..DriverStats::default()
            },
            options,
            in_flight: None,
            inferences: 0,
            platform,
        }
    }

    /// [`Accelerator::bring_up`], and once more after a reset if the kernel hung in it.
    pub(super) fn bring_up_or_reset(&mut self) -> Result<(), AccelError> {
        match self.bring_up() {
            Err(AccelError::Timeout { .. }) => {
                tracing::warn!(
                    "the accelerator hung while being brought up; resetting it and trying again"
                );
                self.stats.resets += 1;
                self.reload()?;
                let second = self.bring_up();
                if let Err(AccelError::Timeout { .. }) = second {
                    // Leave the kernel in reset, not running.
                    let _ = self.reload();
                }
                second.map_err(AccelError::after_retry)
            }
            other => other,
        }
    }

    /// Identify, load the bundle, verify it: what follows every bitstream load.
    pub(super) fn bring_up(&mut self) -> Result<(), AccelError> {
        self.quiesce()?;
        self.identify()?;
        let weights = &mut self.buffers.weights;
        weights
            .bytes_mut(0..self.bundle.len())
            .map_err(board("copying the bundle"))?
            .copy_from_slice(&self.bundle);
        weights
            .sync_for_device(0..self.bundle.len(), SyncDirection::ToDevice)
            .map_err(board("syncing the bundle for the device"))?;
        self.short_run(mode::VERIFY.put(0, 1), "the bundle verification run")?;
        Ok(())
    }

    /// Interrupts off, stale interrupt status cleared: a known state before any start.
    fn quiesce(&mut self) -> Result<(), AccelError> {
        let r = &self.regs;
        let ctx = || board("quiescing the accelerator's interrupts");
        reg::GIE.write(r, 0).map_err(ctx())?;
        reg::IER.write(r, 0).map_err(ctx())?;
        reg::ISR
            .write(r, isr::DONE.mask() | isr::READY.mask())
            .map_err(ctx())?;
        if let Some(irq) = &mut self.irq {
            irq.discard_pending().map_err(ctx())?;
        }
        Ok(())
    }

    /// Reads the kernel's plan hash (mode.identify touches no memory) and refuses a kernel
    /// built for another plan.
    fn identify(&mut self) -> Result<(), AccelError> {
        self.short_run(mode::IDENTIFY.put(0, 1), "the identify run")?;
        let found =
            read_pair(&self.regs, reg::ID, "id").map_err(board("reading the accelerator's id"))?;
        let identity = |plan_hash| KernelIdentity {
            plan_hash,
            // The plan hash covers the interface version (the compiler hashes it with the
            // hardware), so an equal hash means an equal interface.
            version: device::INTERFACE_VERSION,
        };
        check_kernel_identity(identity(self.plan_hash), identity(found)).map_err(board(format!(
            "checking the kernel loaded from {}",
            self.platform.bitstream().display()
        )))
    }

    /// A run that touches no feature map (identify, verify), polled, with every argument
    /// pointing at real buffers so the kernel never sees a wild address.
    fn short_run(&mut self, mode_word: u32, what: &str) -> Result<(), AccelError> {
        self.write_arguments(0, mode_word, 1)?;
        reg::CTRL
            .write(&self.regs, device::ctrl::AP_START.mask())
            .map_err(board(format!("starting {what}")))?;
        let timeout = self.options.timeout.min(SHORT_RUN_TIMEOUT);
        self.wait_done(timeout, false, &what)?;
        let raw = reg::STATUS
            .read(&self.regs)
            .map_err(board("reading the status"))?;
        if status::ERROR.get(raw) != 0 {
            return Err(AccelError::Status {
                raw,
                what: format!("in {what}"),
            });
        }
        Ok(())
    }

    /// Writes every argument of a call on `slot`.
    pub(super) fn write_arguments(
        &self,
        slot: usize,
        mode_word: u32,
        images: u32,
    ) -> Result<(), AccelError> {
        let b = &self.buffers;
        let r = &self.regs;
        let ctx = || board("writing the accelerator's arguments");
        let addr = |buf: &P::Memory| buf.device_addr(0).map_err(ctx());
        // The bundle's address three times: the kernel reads it through three ports.
        for (pair, buf) in [
            (reg::INPUT_ADDR, &b.inputs[slot]),
            (reg::OUTPUT_ADDR, &b.outputs[slot]),
            (reg::BUNDLE_ADDR, &b.weights),
            (reg::PARAMS_A_ADDR, &b.weights),
            (reg::PARAMS_B_ADDR, &b.weights),
        ] {
            pair.write(r, addr(buf)?).map_err(ctx())?;
        }
        let s = &self.sizes;
        let n = images as usize;
        for (word, value) in [
            (reg::INPUT_BYTES, (n * s.input) as u32),
            (reg::OUTPUT_BYTES, (n * s.output) as u32),
            (reg::BUNDLE_BYTES, s.bundle as u32),
            (reg::IMAGE_COUNT, images),
            (reg::LAYER_COUNT, s.layer_count),
            (reg::MODE, mode_word),
        ] {
            word.write(r, value).map_err(ctx())?;
        }
        Ok(())
    }
}
