//! The accelerator driver: the FiBHA kernel behind UIO and u-dma-buf, through the typed
//! register handles generated from `hls/regmap.toml` ([`fibha_model::device::reg`]); no
//! offset is typed here.
//!
//! The driver is generic over a [`Platform`] (registers, interrupt, DMA buffers, fabric
//! reset): [`BoardPlatform`] on a board or the virtual board, an in-memory one with the
//! shared ap_ctrl_hs model ([`fibha_model::handshake`]) in the unit tests of its recovery
//! paths. Its parts: `platform` (what it needs from a board and the board's side), `bring_up`
//! (identify, bundle, verify), this module (the run path), `recovery` (hang, reset, retry).
//!
//! Bring-up ([`Accelerator::open`]): take the exclusive lock on the UIO device
//! ([`crate::lock`]; after the overlay when the device only appears with it), load the
//! bitstream through fpga_manager (and apply the
//! overlay when the build has a compiled one), open UIO `fibha` and map its registers, run
//! the kernel in identify mode and refuse it unless its plan hash is the bundle's, open the
//! DMA buffers and check each is big enough for the plan, copy the bundle into
//! `fibha_weights` once and have the kernel verify its checksum there.
//!
//! Per inference: [`Accelerator::start`] syncs the bytes the kernel reads (and the output
//! bytes it will write), writes the arguments and then `ctrl` = `ap_start` alone (never a
//! read-modify-write: `ap_done` and `ap_ready` clear on read); [`Accelerator::wait`] waits
//! for the interrupt (or polls `ap_done`), reads `status` and `cycles`, and syncs the output
//! for the CPU. Two buffer pairs (`fibha_in0/out0`, `fibha_in1/out1`) let the host fill one
//! input while the kernel reads the other.
//!
//! Faults: the interrupt is awaited in slices (a tenth of the timeout, 50 ms to 1 s); after
//! a silent slice `ap_done` is read once: set means the interrupt was lost (recovered,
//! counted, and the driver polls from then on). A run that is not done at the timeout has
//! hung: unless the board itself is gone, the fabric is reset by loading the bitstream
//! again (the HLS core has no soft reset), the bundle is restored and verified, and the
//! same run is retried once; a second timeout is [`AccelError::Hang`]. A kernel that hangs
//! in identify or verify gets the same one reset. Invariant: the kernel is never left
//! half-started: every error path after a start either saw the run finish or reset the
//! fabric (a board that is gone excepted), and dropping the driver waits out or resets a
//! run in flight and leaves interrupts disabled.

mod bring_up;
#[cfg(test)]
mod fake;
mod platform;
mod recovery;

use std::time::{Duration, Instant};

use fibha_board::{BoardError, SyncDirection, poll_until};
use fibha_model::device::{StatusCode, ctrl, isr, reg, status};

use crate::lock::{LockError, LockWait};
pub use platform::{BoardPlatform, DeviceMemory, Interrupt, Platform};

/// The Linux device names (UIO, overlay, u-dma-buf buffers), generated from
/// `hls/regmap.toml` beside the registers.
pub use fibha_model::device::linux::{
    INPUT_BUFFERS, OUTPUT_BUFFERS, OVERLAY_NAME, SLOTS, UIO_NAME, WEIGHTS_BUFFER,
};

/// How long identify and verify runs may take: they touch no feature map.
const SHORT_RUN_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval in polling mode: short against a millisecond-scale run.
const POLL_INTERVAL: Duration = Duration::from_micros(50);
/// Bounds of one blocking interrupt wait before `ap_done` is read once (a tenth of the
/// timeout): a lost interrupt costs at most this, not the whole timeout.
const IRQ_SLICE_MIN: Duration = Duration::from_millis(50);
/// See [`IRQ_SLICE_MIN`].
const IRQ_SLICE_MAX: Duration = Duration::from_secs(1);
/// How often a wait checks that the board is still there (the virtual board's process and
/// root): a board that goes away is noticed within this, not at the timeout.
pub const LIVENESS_PERIOD: Duration = Duration::from_millis(250);

/// "inference N", formatted only when a message needs it (the wait allocates nothing).
struct Inference(u64);

impl std::fmt::Display for Inference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inference {}", self.0)
    }
}

/// Why the accelerator could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// A board interface failed.
    #[error("{context}: {source}")]
    Board {
        /// What the driver was doing.
        context: String,
        /// The board layer's error (it names the device or file).
        source: BoardError,
    },
    /// The kernel did not finish, twice.
    #[error(
        "accelerator did not finish {what} within {timeout:?}; reset (bitstream reloaded) and retried once, and the retry did not finish either: the kernel hangs"
    )]
    Hang {
        /// The wait's timeout.
        timeout: Duration,
        /// What was run (`inference 3`, `the identify run`).
        what: String,
    },
    /// The kernel did not finish within the timeout (before any reset).
    #[error("accelerator did not finish {what} within {timeout:?}")]
    Timeout {
        /// The wait's timeout.
        timeout: Duration,
        /// What was run.
        what: String,
    },
    /// The kernel finished with an error status.
    #[error("{}", status_message(*.raw, .what))]
    Status {
        /// The status register.
        raw: u32,
        /// What was run (`inference 3`, `in the identify run`).
        what: String,
    },
    /// The board went away underneath the driver.
    #[error("the board went away: {detail}")]
    Gone {
        /// What was observed.
        detail: String,
    },
    /// A call out of order (a start while a run is in flight, a wait without a start).
    #[error("driver misuse: {0}")]
    Protocol(&'static str),
    /// A streaming run gave one image another output than the same image before it.
    #[error(
        "a stream of {images} copies of one image gave copy {image} another output than copy 0: the accelerator is not deterministic across images"
    )]
    StreamMismatch {
        /// The copy that differs.
        image: usize,
        /// Images in the call.
        images: u32,
    },
    /// Another process drives the accelerator.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The build directory has nothing this fabric can load.
    #[error(transparent)]
    Firmware(Box<crate::instance::InstanceError>),
}

impl AccelError {
    /// A timeout on the retry after a reset is a hang.
    fn after_retry(err: AccelError) -> AccelError {
        match err {
            AccelError::Timeout { timeout, what } => AccelError::Hang { timeout, what },
            other => other,
        }
    }
}

fn status_message(raw: u32, what: &str) -> String {
    let code = status::CODE.get(raw);
    let layer = status::LAYER.get(raw);
    let (name, doc) = StatusCode::from_u32(code)
        .map_or(("unknown", "not a status code of this interface"), |c| {
            (c.name(), c.doc())
        });
    let place = if layer == 0xFFFF {
        String::new()
    } else {
        format!(" at SEML layer descriptor #{layer}")
    };
    format!("the accelerator stopped {what} with error {name} (code {code}){place}: {doc}")
}

/// A `map_err` adapter; the context becomes a `String` only on the error path, so the
/// success path of every register and DMA call allocates nothing.
fn board<C: Into<String>>(context: C) -> impl FnOnce(BoardError) -> AccelError {
    move |source| AccelError::Board {
        context: context.into(),
        source,
    }
}

/// How the driver learns that a run finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitMode {
    /// Block on the UIO interrupt.
    #[default]
    Interrupt,
    /// Poll `ap_done` (designs without the interrupt wired).
    Poll,
}

/// Something that can tell whether the board is still there (the virtual board's process).
pub trait Liveness: Send {
    /// `Err` with a description once the board is gone.
    fn check(&mut self) -> Result<(), String>;
}

/// How to drive the accelerator.
pub struct DriverOptions {
    /// Interrupt or polling.
    pub wait: WaitMode,
    /// How long one image may take before the run counts as hung (a call of n images
    /// waits n times this).
    pub timeout: Duration,
    /// How long a bitstream load may take.
    pub load_timeout: Duration,
    /// Asked on a timeout whether the board itself is gone.
    pub liveness: Option<Box<dyn Liveness>>,
    /// Whether to wait for an accelerator another process holds, or fail at once.
    pub lock: LockWait,
}

/// What the driver recovered from during a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DriverStats {
    /// How completion was awaited at the start (`--poll`, or the interrupt).
    pub wait: WaitMode,
    /// Runs whose interrupt never came although the kernel had finished.
    pub lost_interrupts: u64,
    /// Whether the driver switched to polling after a lost interrupt.
    pub switched_to_polling: bool,
    /// Fabric resets (bitstream reloads) after a hang.
    pub resets: u64,
    /// Runs that succeeded on their retry after a reset.
    pub retried_ok: u64,
    /// Whether polling was used because the device has no interrupt.
    pub no_interrupt: bool,
}

impl DriverStats {
    /// One line per recovery, for reports.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.no_interrupt {
            notes.push("the device has no interrupt; completion was polled".into());
        }
        if self.lost_interrupts > 0 {
            notes.push(format!(
                "interrupt lost {} time(s), recovered by polling{}",
                self.lost_interrupts,
                if self.switched_to_polling {
                    "; polled from then on"
                } else {
                    ""
                }
            ));
        }
        if self.resets > 0 {
            notes.push(format!(
                "accelerator hung {} time(s): reset (bitstream reloaded) and retried, {} retry(ies) succeeded",
                self.resets, self.retried_ok
            ));
        }
        notes
    }
}

/// One finished run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// The kernel's cycle register (modelled cycles, counted by the kernel).
    pub cycles: u64,
    /// Time spent in cache maintenance and register access around the run.
    pub io: Duration,
    /// From the start write until completion was seen.
    pub waited: Duration,
}

/// Sizes the kernel is programmed with.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// One image's input.
    input: usize,
    /// One image's output.
    output: usize,
    bundle: usize,
    layer_count: u32,
}

/// The DMA buffers of one session.
#[derive(Debug)]
pub struct Buffers<M> {
    inputs: [M; SLOTS],
    outputs: [M; SLOTS],
    weights: M,
}

impl<M: DeviceMemory> Buffers<M> {
    /// Images every slot's buffers hold.
    fn stream_capacity(&self, sizes: &Sizes) -> u32 {
        let fits = |bufs: &[M; SLOTS], one: usize| {
            bufs.iter().map(|b| b.len() / one.max(1)).min().unwrap_or(0)
        };
        let n = fits(&self.inputs, sizes.input).min(fits(&self.outputs, sizes.output));
        u32::try_from(n).unwrap_or(u32::MAX).max(1)
    }
}

/// An open accelerator on a [`Platform`] (a board, by default).
pub struct Accelerator<P: Platform = BoardPlatform> {
    regs: P::Regs,
    irq: Option<P::Irq>,
    buffers: Buffers<P::Memory>,
    bundle: Vec<u8>,
    sizes: Sizes,
    plan_hash: u64,
    options: DriverOptions,
    in_flight: Option<InFlight>,
    inferences: u64,
    stats: DriverStats,
    // Last: the overlay is removed and the lock released only after the registers, the
    // interrupt and the buffers are closed and `Drop` has left the kernel stopped.
    platform: P,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    slot: usize,
    started: Instant,
    io: Duration,
    inference: u64,
    images: u32,
}

impl<P: Platform> std::fmt::Debug for Accelerator<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accelerator")
            .field("bitstream", &self.platform.bitstream())
            .field("plan_hash", &format_args!("{:016x}", self.plan_hash))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The run path: fill a slot, start it, wait for it, read its output.
impl<P: Platform> Accelerator<P> {
    /// Images one call can stream through the accelerator (what every slot's buffers
    /// hold): the SESL part works on image n + 1 while the SEML part computes image n.
    pub fn stream_capacity(&self) -> u32 {
        self.buffers.stream_capacity(&self.sizes)
    }

    /// Runs `images` copies of the input in slot 0 through one call and checks that every
    /// copy's output equals the first's; returns the call's figures (its cycle register
    /// counts the whole stream). What `fibha bench` measures throughput with.
    pub fn run_stream(&mut self, images: u32) -> Result<RunInfo, AccelError> {
        let images = images.clamp(1, self.stream_capacity());
        let (one_in, one_out) = (self.sizes.input, self.sizes.output);
        let n = images as usize;
        {
            let input = self.buffers.inputs[0]
                .bytes_mut(0..n * one_in)
                .map_err(board("mapping the input buffer"))?;
            let (first, rest) = input.split_at_mut(one_in);
            for copy in rest.chunks_mut(one_in) {
                copy.copy_from_slice(first);
            }
        }
        self.start_images(0, self.inferences, images)?;
        let info = self.wait()?;
        let output = self.buffers.outputs[0]
            .bytes(0..n * one_out)
            .map_err(board("mapping the output buffer"))?;
        let (first, rest) = output.split_at(one_out);
        if let Some(k) = rest.chunks(one_out).position(|o| o != first) {
            return Err(AccelError::StreamMismatch {
                image: k + 1,
                images,
            });
        }
        Ok(info)
    }

    /// The input bytes of `slot`, to fill before [`Accelerator::start`].
    pub fn input_mut(&mut self, slot: usize) -> Result<&mut [u8], AccelError> {
        if self.in_flight.is_some_and(|f| f.slot == slot) {
            return Err(AccelError::Protocol(
                "the input of a running slot was asked for",
            ));
        }
        let len = self.sizes.input;
        self.buffers.inputs[slot]
            .bytes_mut(0..len)
            .map_err(board("mapping the input buffer"))
    }

    /// The output bytes of `slot` after its run finished.
    pub fn output(&self, slot: usize) -> Result<&[u8], AccelError> {
        if self.in_flight.is_some_and(|f| f.slot == slot) {
            return Err(AccelError::Protocol(
                "the output of a running slot was asked for",
            ));
        }
        self.buffers.outputs[slot]
            .bytes(0..self.sizes.output)
            .map_err(board("mapping the output buffer"))
    }

    /// Starts inference `inference` on the input in `slot`.
    pub fn start(&mut self, slot: usize, inference: u64) -> Result<(), AccelError> {
        self.start_images(slot, inference, 1)
    }

    /// Starts a call on the first `images` inputs of `slot`.
    fn start_images(&mut self, slot: usize, inference: u64, images: u32) -> Result<(), AccelError> {
        if self.in_flight.is_some() {
            return Err(AccelError::Protocol("start while a run is in flight"));
        }
        let t = Instant::now();
        let b = &self.buffers;
        let n = images as usize;
        b.inputs[slot]
            .sync_for_device(0..n * self.sizes.input, SyncDirection::ToDevice)
            .map_err(board("syncing the input for the device"))?;
        // Invalidate the output lines now, so no dirty line is written back over what the
        // kernel writes.
        b.outputs[slot]
            .sync_for_device(0..n * self.sizes.output, SyncDirection::FromDevice)
            .map_err(board("syncing the output for the device"))?;
        self.write_arguments(slot, 0, images)?;
        let interrupts = self.irq.is_some() && self.options.wait == WaitMode::Interrupt;
        let r = &self.regs;
        let ctx = || board("enabling the done interrupt");
        let enable = u32::from(interrupts);
        reg::IER
            .write(r, fibha_model::device::ier::DONE.mask() * enable)
            .map_err(ctx())?;
        reg::GIE
            .write(r, fibha_model::device::gie::ENABLE.mask() * enable)
            .map_err(ctx())?;
        if let (Some(irq), true) = (&mut self.irq, interrupts) {
            irq.discard_pending().map_err(ctx())?;
            irq.arm().map_err(ctx())?;
        }
        let io = t.elapsed();
        reg::CTRL
            .write(&self.regs, ctrl::AP_START.mask())
            .map_err(board("starting the accelerator"))?;
        self.in_flight = Some(InFlight {
            slot,
            started: Instant::now(),
            io,
            inference,
            images,
        });
        Ok(())
    }

    /// Waits for the run in flight, recovering from a lost interrupt or a hang as the module
    /// documentation says, and returns its figures; the output is then synced for the CPU.
    pub fn wait(&mut self) -> Result<RunInfo, AccelError> {
        let flight = self
            .in_flight
            .ok_or(AccelError::Protocol("wait without a run in flight"))?;
        let what = Inference(flight.inference);
        let use_irq = self.options.wait == WaitMode::Interrupt;
        let timeout = self.options.timeout * flight.images.max(1);
        if let Err(first) = self.wait_done(timeout, use_irq, &what) {
            if !matches!(first, AccelError::Timeout { .. }) {
                self.abandon();
                return Err(first);
            }
            tracing::warn!(
                inference = flight.inference,
                "the accelerator did not finish within {timeout:?}; resetting it and retrying once"
            );
            self.in_flight = None;
            self.reset_for_retry(flight.slot, flight.images)?;
            self.start_images(flight.slot, flight.inference, flight.images)?;
            if let Err(second) = self.wait_done(timeout, use_irq, &what) {
                self.abandon();
                return Err(AccelError::after_retry(second));
            }
            self.stats.retried_ok += 1;
        }
        let flight = self.in_flight.take().unwrap_or(flight);
        let waited = flight.started.elapsed();
        let t = Instant::now();
        let r = &self.regs;
        let ctx = || board("reading the accelerator's results");
        // Clear the pending done bit (toggle on write), or the level interrupt stays asserted.
        reg::ISR.write(r, isr::DONE.mask()).map_err(ctx())?;
        let raw = reg::STATUS.read(r).map_err(ctx())?;
        if status::ERROR.get(raw) != 0 {
            return Err(AccelError::Status {
                raw,
                what: format!("inference {}", flight.inference),
            });
        }
        let cycles = read_pair(r, reg::CYCLES, "cycles").map_err(ctx())?;
        self.buffers.outputs[flight.slot]
            .sync_for_cpu(
                0..flight.images as usize * self.sizes.output,
                SyncDirection::FromDevice,
            )
            .map_err(board("syncing the output for the CPU"))?;
        self.inferences += 1;
        Ok(RunInfo {
            cycles,
            io: flight.io + t.elapsed(),
            waited,
        })
    }

    /// Waits up to `timeout` for `ap_done`: by interrupt (blocking in slices, reading
    /// `ap_done` once after each silent slice, so a lost interrupt is noticed long before
    /// the timeout) or by polling. Between slices of at most [`LIVENESS_PERIOD`] the board
    /// is checked, so a board that went away ends the wait within that period, not at the
    /// timeout. `Err(Timeout)` when the kernel did not finish.
    fn wait_done(
        &mut self,
        timeout: Duration,
        use_irq: bool,
        what: &dyn std::fmt::Display,
    ) -> Result<(), AccelError> {
        let deadline = Instant::now() + timeout;
        let use_irq = use_irq && self.irq.is_some();
        let mut slice = if use_irq {
            (timeout / 10).clamp(IRQ_SLICE_MIN, IRQ_SLICE_MAX)
        } else {
            timeout
        };
        if self.options.liveness.is_some() {
            slice = slice.min(LIVENESS_PERIOD);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let done = if use_irq {
                self.wait_interrupt(slice.min(left), what)?
            } else {
                self.poll_done(slice.min(left))?
            };
            if done {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.hang(timeout, what));
            }
            if let Some(Err(detail)) = self.options.liveness.as_mut().map(|l| l.check()) {
                return Err(AccelError::Gone { detail });
            }
        }
    }

    /// One slice of an interrupt wait: whether the run finished (its interrupt came, or
    /// `ap_done` is set although it did not: a lost interrupt, after which the driver
    /// polls).
    fn wait_interrupt(
        &mut self,
        slice: Duration,
        what: &dyn std::fmt::Display,
    ) -> Result<bool, AccelError> {
        let waited = match &mut self.irq {
            Some(irq) => irq.wait_slice(slice),
            None => return Err(AccelError::Protocol("the interrupt went away")),
        };
        match waited {
            Ok(Some(_)) => return Ok(true),
            Ok(None) => {}
            Err(other) => return Err(self.gone_or(board("waiting for the interrupt")(other))),
        }
        if !self.done_bit()? {
            return Ok(false);
        }
        self.stats.lost_interrupts += 1;
        self.stats.switched_to_polling = true;
        self.options.wait = WaitMode::Poll;
        tracing::warn!(
            "the accelerator finished {what} but its interrupt never came: recovered by polling; polling from now on"
        );
        Ok(true)
    }

    /// One slice of polling `ap_done`: whether the run finished within it.
    fn poll_done(&mut self, slice: Duration) -> Result<bool, AccelError> {
        let regs = &self.regs;
        match poll_until(
            || Ok(ctrl::AP_DONE.get(reg::CTRL.read(regs)?) == 1),
            slice,
            POLL_INTERVAL,
            "the accelerator to finish",
        ) {
            Ok(_) => Ok(true),
            Err(BoardError::Timeout { .. }) => Ok(false),
            Err(other) => Err(self.gone_or(board("polling ap_done")(other))),
        }
    }

    fn done_bit(&self) -> Result<bool, AccelError> {
        let word = reg::CTRL
            .read(&self.regs)
            .map_err(board("reading ctrl after a silent interrupt wait"))?;
        Ok(ctrl::AP_DONE.get(word) == 1)
    }

    /// What the driver recovered from so far.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// The plan hash the kernel reported.
    pub fn plan_hash(&self) -> u64 {
        self.plan_hash
    }
}

impl<P: Platform> Drop for Accelerator<P> {
    fn drop(&mut self) {
        let gone = matches!(
            self.options.liveness.as_mut().map(|l| l.check()),
            Some(Err(_))
        );
        if let (Some(flight), false) = (self.in_flight, gone) {
            // Let the run finish (its result is discarded) or reset the fabric.
            let timeout = self.options.timeout * flight.images.max(1);
            if self
                .wait_done(timeout, false, &"the run in flight at shutdown")
                .is_err()
            {
                self.abandon();
            }
            self.in_flight = None;
        }
        let _ = reg::GIE.write(&self.regs, 0);
        let _ = reg::IER.write(&self.regs, 0);
    }
}

/// Reads a 64-bit register pair; one whose high word never settles is a board error
/// naming it.
fn read_pair<R: fibha_model::register::RegisterAccess<Error = BoardError>>(
    regs: &R,
    pair: fibha_model::register::Reg64<fibha_model::register::ReadOnly>,
    name: &str,
) -> Result<u64, BoardError> {
    pair.read(regs)?.ok_or_else(|| BoardError::Layout {
        path: "the accelerator's registers".into(),
        problem: format!("register pair {name} kept changing while it was read"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_status_names_its_code_meaning_and_layer() {
        let raw = status::ERROR.put(0, 1);
        let raw = status::CODE.put(raw, StatusCode::Geometry as u32);
        let at_layer = status::LAYER.put(raw, 5);
        let text = status_message(at_layer, "inference 2");
        assert!(
            text.starts_with(
                "the accelerator stopped inference 2 with error geometry (code 9) at SEML layer descriptor #5: "
            ),
            "{text}"
        );
        assert!(text.ends_with(StatusCode::Geometry.doc()), "{text}");
        let no_layer = status::LAYER.put(raw, 0xFFFF);
        assert!(!status_message(no_layer, "x").contains("at SEML layer"));
        let unknown = status::CODE.put(raw, 200);
        assert!(status_message(unknown, "x").contains("unknown (code 200)"));
    }

    #[test]
    fn a_timeout_on_the_retry_becomes_a_hang_and_other_errors_pass_through() {
        let timeout = AccelError::Timeout {
            timeout: Duration::from_secs(1),
            what: "inference 4".into(),
        };
        let hang = AccelError::after_retry(timeout);
        assert!(matches!(hang, AccelError::Hang { .. }));
        assert!(
            hang.to_string().contains("inference 4 within 1s; reset"),
            "{hang}"
        );
        let other = AccelError::after_retry(AccelError::Protocol("x"));
        assert!(matches!(other, AccelError::Protocol("x")));
    }
}
