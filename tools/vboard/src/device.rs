//! The programmable logic of the virtual board: bitstream loads, the accelerator's
//! ap_ctrl_hs handshake, its interrupt, and the faults injected into them.
//!
//! One thread owns all of it, so the register file, the kernel process and the interrupt
//! line change in one order only. Each turn of its loop:
//! - every 5 ms: fpga_manager. A non-empty `firmware` starts a load (the runtime's loader
//!   writes `write init` to `state`, then `flags`, then `firmware`; a person may write
//!   `firmware` alone, as on a real board). The board consumes the name (empties the file),
//!   resets the fabric (kills the kernel process, zeroes the registers, drops the
//!   interrupt), validates the instance, starts its kernel process and sets `state` to
//!   `operating`, or to an error state: `firmware request error` (no such file in
//!   `/lib/firmware`), `write init error` (`flags` not 0: partial reconfiguration is not
//!   modelled), `write error` (not an instance, executable missing or rebuilt, kernel not
//!   answering, or the `load-fail` fault). The reason goes to stderr and `vboard/load_error`.
//!   **Loading the bitstream again is the reset** a runtime uses after a timeout, as on a
//!   ZynqMP, whose HLS cores have no soft reset: a full reconfiguration resets the fabric.
//! - every 20 ms: configfs overlays ([`crate::overlay`]).
//! - the `.irqctl` FIFO (mask/unmask), delivering a held interrupt ([`crate::irq`]).
//! - the accelerator: with a design loaded, a set `ap_start` while idle is accepted and, on
//!   the kernel's `done`, the run completed, both as [`fibha_model::handshake::ApCtrlHs`]
//!   does it (the clear-on-read and toggle-on-write effects a file cannot have are done by
//!   the board, see [`crate::regfile`]); the argument words go to the kernel as a `run`
//!   line, the interrupt is raised when `gie` allows. Without a design the registers are
//!   inert (on hardware an access would hang
//!   the bus; here writes are simply not acted on).
//!
//! Polling: every 50 us (`--poll-us`) while the accelerator was used in the last 500 ms,
//! every 2 ms otherwise; each poll is two system calls (a 4-byte `pread` of `ctrl`, a
//! non-blocking FIFO read) and a sleep. Measured on a 2-core VM (release build): idle, the
//! whole board (this thread, the rails, the stop checks) takes about 2 % of one core; with
//! a start every 15 ms, about 17 % (the 50 us polls between runs), and a start is noticed
//! within ~0.1 ms. While a run is in flight the thread instead sleeps on the kernel's next
//! line (up to 1 ms at a time), so completion is seen at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::attr;
use crate::error::{Error, Result};
use crate::faults::{Fault, Faults};
use crate::irq::IrqLine;
use crate::kernel::{Done, Event, KernelProcess};
use crate::layout::{Layout, REGISTER_MAP_SIZE};
use crate::overlay::OverlayWatcher;
use crate::power::Activity;
use crate::regfile::RegisterFile;
use crate::regs;
use fibha_model::descriptor::Descriptor as Instance;
use fibha_model::handshake::{ApCtrlHs, Completion};
use fibha_model::register::RegisterAccess;

/// How often the device thread looks at each of its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `ctrl` poll interval while the accelerator is in use.
    pub hot_poll: Duration,
    /// `ctrl` poll interval when it has been idle for `cool_after`.
    pub cold_poll: Duration,
    /// How long after the last start or completion polling stays hot.
    pub cool_after: Duration,
    /// fpga_manager check interval.
    pub fpga_check: Duration,
    /// configfs check interval.
    pub overlay_check: Duration,
    /// How long a new kernel process may take to say hello.
    pub hello_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            hot_poll: Duration::from_micros(50),
            cold_poll: Duration::from_millis(2),
            cool_after: Duration::from_millis(500),
            fpga_check: Duration::from_millis(5),
            overlay_check: Duration::from_millis(20),
            hello_timeout: Duration::from_secs(10),
        }
    }
}

/// A loaded design: the instance and its kernel process.
#[derive(Debug)]
struct Design {
    instance: Instance,
    kernel: KernelProcess,
    /// The process exited or broke the protocol: every later start hangs.
    broken: bool,
}

/// A run in flight.
#[derive(Debug)]
struct Run {
    span: u64,
    /// It will never complete (the `hang` fault, or a broken kernel process).
    hung: bool,
}

/// Why a load failed: the fpga_manager state to show and the reason.
#[derive(Debug)]
struct LoadFailure {
    state: &'static str,
    reason: String,
}

impl LoadFailure {
    fn write_error(reason: impl ToString) -> Self {
        Self {
            state: "write error",
            reason: reason.to_string(),
        }
    }
}

/// The programmable logic.
#[derive(Debug)]
pub struct Device {
    layout: Layout,
    regs: RegisterFile,
    irq: IrqLine,
    faults: Faults,
    activity: Arc<Activity>,
    overlays: OverlayWatcher,
    timing: Timing,
    design: Option<Design>,
    run: Option<Run>,
    last_use: Option<Instant>,
}

impl Device {
    /// Opens the register file and the interrupt FIFOs of `layout`.
    pub fn new(
        layout: Layout,
        faults: Faults,
        activity: Arc<Activity>,
        timing: Timing,
    ) -> Result<Self> {
        Ok(Self {
            regs: RegisterFile::open(&layout.register_file(), REGISTER_MAP_SIZE)?,
            irq: IrqLine::open(&layout.irq_fifo(), &layout.irqctl_fifo())?,
            overlays: OverlayWatcher::new(&layout.overlays_dir(), &layout.firmware_dir()),
            layout,
            faults,
            activity,
            timing,
            design: None,
            run: None,
            last_use: None,
        })
    }

    /// Serves until `stop` is set, then stops the kernel process.
    pub fn run(mut self, stop: &AtomicBool) -> Result<()> {
        let result = self.serve(stop);
        self.unload(Instant::now());
        result
    }

    fn serve(&mut self, stop: &AtomicBool) -> Result<()> {
        let mut next_fpga = Instant::now();
        let mut next_overlay = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next_fpga {
                self.check_fpga()?;
                next_fpga = now + self.timing.fpga_check;
            }
            if now >= next_overlay {
                self.overlays.check()?;
                next_overlay = now + self.timing.overlay_check;
            }
            self.irq.service()?;
            let waiting = self.run.as_ref().is_some_and(|r| !r.hung);
            if waiting {
                self.await_kernel(Duration::from_millis(1))?;
            } else {
                self.drain_idle_events();
                if !self.poll_start()? {
                    std::thread::sleep(self.poll_interval(now));
                }
            }
        }
        Ok(())
    }

    fn poll_interval(&self, now: Instant) -> Duration {
        match self.last_use {
            Some(at) if now.duration_since(at) < self.timing.cool_after => self.timing.hot_poll,
            _ => self.timing.cold_poll,
        }
    }

    // ---- fpga_manager ----------------------------------------------------------------

    fn check_fpga(&mut self) -> Result<()> {
        let dir = self.layout.fpga_dir();
        let firmware_attr = dir.join("firmware");
        // A stat first: this runs 200 times a second and the file is almost always empty.
        if firmware_attr.metadata().map_or(true, |m| m.len() == 0) {
            return Ok(());
        }
        let name = attr::read_optional(&firmware_attr)?.unwrap_or_default();
        // The loader writes the name in one write; a second read that agrees rules out
        // having caught the file between its truncation and that write.
        if name.is_empty() || attr::read_optional(&firmware_attr)?.unwrap_or_default() != name {
            return Ok(());
        }
        std::fs::write(&firmware_attr, "").map_err(Error::io("write", &firmware_attr))?;
        attr::publish(&dir.join("state"), "write")?;
        match self.load(&name) {
            Ok(()) => {
                attr::remove_if_present(&self.layout.load_error_file())?;
                attr::publish(&dir.join("state"), "operating")?;
                tracing::info!(firmware = %name, "bitstream loaded");
            }
            Err(failure) => {
                tracing::warn!(firmware = %name, state = failure.state, reason = %failure.reason, "bitstream load failed");
                attr::publish(
                    &self.layout.load_error_file(),
                    &format!("{name}: {}", failure.reason),
                )?;
                attr::publish(&dir.join("state"), failure.state)?;
            }
        }
        Ok(())
    }

    fn load(&mut self, name: &str) -> Result<(), LoadFailure> {
        self.unload(Instant::now());
        if self.faults.is_active(Fault::LoadFail) {
            return Err(LoadFailure::write_error("fault load-fail is injected"));
        }
        let flags_path = self.layout.fpga_dir().join("flags");
        let flags = attr::read_optional(&flags_path)
            .map_err(LoadFailure::write_error)?
            .unwrap_or_default();
        if !(flags.is_empty() || attr::parse_u64(&flags) == Some(0)) {
            return Err(LoadFailure {
                state: "write init error",
                reason: format!("flags {flags:?}: only full bitstreams (flags 0) are modelled"),
            });
        }
        let path = self.layout.firmware_dir().join(name);
        if name.contains('/') || name == ".." || !path.is_file() {
            return Err(LoadFailure {
                state: "firmware request error",
                reason: format!(
                    "no file {name:?} in {}",
                    self.layout.firmware_dir().display()
                ),
            });
        }
        let instance = Instance::read(&path).map_err(LoadFailure::write_error)?;
        let executable = instance
            .locate_executable()
            .map_err(LoadFailure::write_error)?;
        if self
            .layout
            .grow_buffers(&instance.spec.buffers)
            .map_err(LoadFailure::write_error)?
        {
            tracing::info!(
                "the instance needs larger DMA buffers; they were grown and re-addressed"
            );
        }
        let kernel = KernelProcess::start(
            &executable,
            &instance.spec.args,
            self.layout.buffers(),
            self.timing.hello_timeout,
        )
        .map_err(LoadFailure::write_error)?;
        attr::publish(&self.layout.kernel_pid_file(), &kernel.pid().to_string())
            .map_err(LoadFailure::write_error)?;
        ApCtrlHs::reset(&self.regs).map_err(LoadFailure::write_error)?;
        self.design = Some(Design {
            instance,
            kernel,
            broken: false,
        });
        Ok(())
    }

    /// Resets the fabric: no design, no run, zeroed registers, interrupt line low.
    fn unload(&mut self, now: Instant) {
        if let Some(design) = self.design.take() {
            let pid = design.kernel.pid();
            design.kernel.stop();
            tracing::debug!(pid, "kernel process stopped");
        }
        self.run = None;
        self.activity.cut(now);
        self.irq.lower();
        if let Err(e) = self.regs.clear() {
            tracing::warn!(error = %e, "cannot clear the registers");
        }
        if let Err(e) = attr::remove_if_present(&self.layout.kernel_pid_file()) {
            tracing::warn!(error = %e, "cannot remove the kernel pid file");
        }
    }

    // ---- the accelerator -------------------------------------------------------------

    /// Accepts a pending `ap_start`; returns whether one was accepted.
    fn poll_start(&mut self) -> Result<bool> {
        let Some(design) = self.design.as_mut() else {
            return Ok(false);
        };
        if self.run.is_some() {
            return Ok(false); // busy (hung): a start waits, as ap_start does on hardware
        }
        let now = Instant::now();
        self.last_use = Some(now);
        let Some(words) = ApCtrlHs::accept_start(&self.regs)? else {
            return Ok(false);
        };
        self.irq.lower();
        let modelled = Duration::from_secs_f64(design.instance.spec.modelled_seconds());
        let span = self.activity.begin(now, modelled);
        let mut hung = design.broken;
        if self.faults.is_active(Fault::Hang) {
            tracing::info!("fault hang: the run is accepted and never completes");
            hung = true;
        } else if !design.broken
            && let Err(e) = design.kernel.run(&words)
        {
            tracing::error!(error = %e, "the accelerator hangs until the bitstream is loaded again");
            design.broken = true;
            hung = true;
        }
        self.run = Some(Run { span, hung });
        Ok(true)
    }

    /// Waits up to `timeout` for the kernel's answer to the run in flight.
    fn await_kernel(&mut self, timeout: Duration) -> Result<()> {
        let Some(design) = self.design.as_mut() else {
            return Ok(());
        };
        match design.kernel.next_event(timeout) {
            None => Ok(()),
            Some(Event::Done(done)) => self.finish(done),
            Some(event) => {
                broken(design, &event);
                if let Some(run) = self.run.as_mut() {
                    run.hung = true;
                }
                Ok(())
            }
        }
    }

    /// Notices a kernel process that dies or talks while no run is in flight.
    fn drain_idle_events(&mut self) {
        let Some(design) = self.design.as_mut() else {
            return;
        };
        while !design.broken {
            match design.kernel.next_event(Duration::ZERO) {
                None => break,
                Some(event) => broken(design, &event),
            }
        }
    }

    fn finish(&mut self, done: Done) -> Result<()> {
        let (Some(design), Some(run)) = (self.design.as_ref(), self.run.take()) else {
            return Ok(());
        };
        let now = Instant::now();
        self.last_use = Some(now);
        let spec = &design.instance.spec;
        self.activity.settle(
            run.span,
            Duration::from_secs_f64(done.cycles as f64 / (spec.clock_mhz * 1e6)),
        );
        if self.faults.is_active(Fault::CorruptOutput) && regs::status::ERROR.get(done.status) == 0
        {
            self.corrupt_output()?;
        }
        let mut id = done.id.unwrap_or(spec.plan_hash);
        if self.faults.is_active(Fault::BadVersion) {
            tracing::info!(
                "fault bad-version: the id register reads the complement of the plan hash"
            );
            id = !id;
        }
        let completion = Completion {
            id,
            status: done.status,
            cycles: done.cycles,
        };
        if !ApCtrlHs::complete(&self.regs, completion)? {
            return Ok(());
        }
        if self.faults.is_active(Fault::LostIrq) {
            tracing::info!("fault lost-irq: done is set, the interrupt is not delivered");
            return Ok(());
        }
        self.irq.raise()
    }

    /// Flips the lowest bit of up to 8 bytes spread over the output region.
    fn corrupt_output(&self) -> Result<()> {
        let addr = self.regs.read64(regs::OUTPUT_ADDR)?;
        let len = u64::from(self.regs.read32(regs::OUTPUT_BYTES)?);
        let Some((buffer, offset)) = self
            .layout
            .buffers()
            .iter()
            .find_map(|b| b.offset_of(addr, len).map(|o| (b, o)))
            .filter(|_| len > 0)
        else {
            tracing::info!(
                addr,
                len,
                "fault corrupt-output: the output region is not in a buffer; nothing flipped"
            );
            return Ok(());
        };
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&buffer.dev_path)
            .map_err(Error::io("open", &buffer.dev_path))?;
        let stride = (len / 8).max(1);
        for at in (0..len).step_by(stride as usize).take(8) {
            let mut byte = [0u8; 1];
            file.read_exact_at(&mut byte, offset + at)
                .map_err(Error::io("read", &buffer.dev_path))?;
            byte[0] ^= 0x01;
            file.write_all_at(&byte, offset + at)
                .map_err(Error::io("write", &buffer.dev_path))?;
        }
        tracing::info!(buffer = %buffer.name, "fault corrupt-output: flipped output bits");
        Ok(())
    }
}

fn broken(design: &mut Design, event: &Event) {
    let problem = match event {
        Event::Exited => "exited".to_owned(),
        Event::Garbled(line) => format!("sent a line outside the protocol: {line:?}"),
        Event::Done(_) => "reported done with no run in flight".to_owned(),
    };
    tracing::error!(
        pid = design.kernel.pid(),
        %problem,
        "kernel process failed; the accelerator hangs until the bitstream is loaded again"
    );
    design.broken = true;
}
