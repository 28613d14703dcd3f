//! `fibha doctor`: everything a run needs from a board, checked up front, one line per
//! check, each failure with its fix.
//!
//! The checks follow the order in which a run meets them: the build directory, the FPGA
//! manager loading its bitstream, the overlay, the UIO device, the DMA buffers, the kernel
//! answering its identify and verification runs, its ID register against the plan hash,
//! the interrupt of a real inference, that inference against the CPU engine, and the power
//! rails. The bring-up is the runtime's own ([`Accelerator::open`]), so the doctor cannot
//! pass a board that `run` would fail on; where the bring-up stops, the board layer's
//! error says which interface failed ([`failing_check`]) and the checks after it are
//! skipped, except the power rails, which need no accelerator.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use fibha_board::power::RailReader;
use fibha_board::{BoardError, Root};
use serde::Serialize;

use crate::accelerator::{AccelError, Accelerator, DriverOptions, UIO_NAME};
use crate::inputs::TensorSource;
use crate::instance::Instance;
use crate::pipeline::{BoardRunner, FillError, PipelineError, Record, Runner, RunnerOptions, Sink};

/// The checks, in order.
pub const CHECKS: [&str; 10] = [
    "instance",
    "fpga_manager",
    "overlay",
    "uio",
    "dma_buffers",
    "kernel",
    "design_id",
    "interrupt",
    "inference",
    "power_rails",
];

/// What one check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// It holds.
    Pass,
    /// It does not; the line gives the fix.
    Fail,
    /// Not checked: an earlier check failed.
    Skip,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// One of [`CHECKS`].
    pub name: &'static str,
    /// Pass, fail or skip.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// How to fix a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The fix for a failure of `check`.
pub fn fix(check: &str) -> &'static str {
    match check {
        "instance" => {
            "rebuild the directory: `fibha-compile build MODEL.tflite --board zcu102 -o DIR`, and copy it whole"
        }
        "fpga_manager" => {
            "load the instance's own bitstream: it must be a .bit.bin for this part (`bootgen -arch zynqmp -process_bitstream bin`); `cat /sys/class/fpga_manager/fpga0/state` and `dmesg | grep -i fpga` say why the manager refused it"
        }
        "overlay" => {
            "remove the overlay that holds the region (`ls /sys/kernel/config/device-tree/overlays/`, then `rmdir` it) or boot without a bitstream in BOOT.BIN; `dmesg` names the node the kernel refused"
        }
        "uio" => {
            "the kernel's device-tree node needs `compatible = \"generic-uio\"` and the kernel `uio_pdrv_genirq.of_id=generic-uio` on its command line, so that uio_pdrv_genirq binds it as a UIO device named fibha"
        }
        "dma_buffers" => {
            "the u-dma-buf module must be loaded and the overlay's `ikwzm,u-dma-buf` nodes must name each buffer with at least the size the manifest lists; give CMA room for them (`cma=512M` on the kernel command line)"
        }
        "kernel" => {
            "the kernel does not finish a run that touches no memory: its clock (pl_clk0) or reset (pl_resetn0) is not connected in the Vivado design, or the fabric holds another design; reload the instance's bitstream"
        }
        "design_id" => {
            "the fabric holds a kernel built for another plan: load this instance's bitstream, or rebuild the instance and its bitstream together from one `fibha-compile build`"
        }
        "interrupt" => {
            "the kernel finished but its interrupt never reached the UIO device: check the overlay's `interrupts` (pl_ps_irq0 is GIC SPI 89, level high) and that uio_pdrv_genirq is bound; until then `--poll` works"
        }
        "inference" => {
            "the accelerator's output differs from the CPU engine's: with non-coherent buffers the runtime syncs the caches (u-dma-buf `sync_mode`, or `dma-coherent` in the device tree); if they are coherent, the design computes wrongly: rebuild it"
        }
        "power_rails" => {
            "the INA226 monitors need the kernel's ina2xx hwmon driver (CONFIG_SENSORS_INA2XX) and the ZCU102 device tree's PMBus nodes (PS I2C0 behind the PCA9544 at 0x75); a rail that reads garbage: `cat /sys/class/hwmon/hwmon*/power1_input`"
        }
        _ => "",
    }
}

/// Which check a bring-up or run failure belongs to: the interface the board layer names.
pub fn failing_check(err: &AccelError) -> &'static str {
    match err {
        AccelError::Board { source, .. } => match source {
            BoardError::NoFpgaManager { .. }
            | BoardError::NotBitBin { .. }
            | BoardError::FpgaLoad { .. } => "fpga_manager",
            BoardError::Overlay { .. } => "overlay",
            BoardError::NoUioDevice { .. }
            | BoardError::AmbiguousUio { .. }
            | BoardError::NoSuchMap { .. }
            | BoardError::MapTooSmall { .. }
            | BoardError::FileTooShort { .. } => "uio",
            BoardError::NoInterrupt { .. } | BoardError::Interrupt { .. } => "interrupt",
            BoardError::NoDmaBuffer { .. }
            | BoardError::BufferTooSmall { .. }
            | BoardError::DmaRange { .. }
            | BoardError::DmaView { .. } => "dma_buffers",
            BoardError::KernelMismatch { .. } => "design_id",
            _ => "kernel",
        },
        AccelError::Lock(_) => "uio",
        AccelError::Firmware(_) => "fpga_manager",
        _ => "kernel",
    }
}

/// The report of one examination.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Every check, in [`CHECKS`] order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.verdict == Verdict::Pass)
    }

    fn pass(&mut self, name: &'static str, detail: String) {
        self.push(name, Verdict::Pass, detail);
    }

    fn fail(&mut self, name: &'static str, detail: String) {
        self.push(name, Verdict::Fail, detail);
    }

    fn push(&mut self, name: &'static str, verdict: Verdict, detail: String) {
        let fix = (verdict == Verdict::Fail).then(|| fix(name).to_owned());
        self.checks.push(Check {
            name,
            verdict,
            detail,
            fix,
        });
    }

    fn has(&self, name: &str) -> bool {
        self.checks.iter().any(|c| c.name == name)
    }

    /// Every check not reached marked skipped (after the first failure), in [`CHECKS`]
    /// order.
    fn finish(mut self) -> Report {
        let why = self
            .checks
            .iter()
            .find(|c| c.verdict == Verdict::Fail)
            .map_or("not reached".to_owned(), |c| {
                format!("not checked: {} failed", c.name)
            });
        for name in CHECKS {
            if !self.has(name) {
                self.push(name, Verdict::Skip, why.clone());
            }
        }
        let order = |c: &Check| CHECKS.iter().position(|n| *n == c.name);
        self.checks.sort_by_key(order);
        self
    }
}

/// Examines the board under `root` for the build directory `dir`, driving it with the
/// options `driver` gives for the instance.
pub fn examine(root: &Root, dir: &Path, driver: impl FnOnce(&Instance) -> DriverOptions) -> Report {
    let mut report = Report { checks: Vec::new() };
    match Instance::open(dir) {
        Ok(instance) => {
            report.pass(
                "instance",
                format!(
                    "{}: plan {:016x}, {} for {} at {} MHz, {} B in, {} B out",
                    dir.display(),
                    instance.plan_hash,
                    instance.graph.source,
                    instance.manifest.board,
                    instance.manifest.clock_mhz,
                    instance.input_bytes(),
                    instance.output_bytes()
                ),
            );
            let options = driver(&instance);
            examine_accelerator(&mut report, root, &instance, options);
        }
        Err(err) => report.fail("instance", err.to_string()),
    }
    examine_rails(&mut report, root);
    report.finish()
}

/// The bring-up, then one inference checked against the CPU engine.
fn examine_accelerator(
    report: &mut Report,
    root: &Root,
    instance: &Instance,
    options: DriverOptions,
) {
    let accel = match Accelerator::open(root, instance, options) {
        Ok(accel) => accel,
        Err(err) => {
            let failed = failing_check(&err);
            passed_until(report, root, instance, failed);
            report.fail(failed, err.to_string());
            return;
        }
    };
    passed_until(report, root, instance, "kernel");
    report.pass(
        "kernel",
        "the identify and bundle-verification runs finished with status OK".into(),
    );
    report.pass(
        "design_id",
        format!(
            "the id register reads {:016x}, the instance's plan hash",
            accel.plan_hash()
        ),
    );
    let options = RunnerOptions {
        verify: true,
        profile: false,
        input_threads: 0,
    };
    let mut runner = match BoardRunner::new(instance, accel, options) {
        Ok(runner) => Runner::Board(Box::new(runner)),
        Err(err) => {
            report.fail("inference", format!("cannot prepare the CPU engine: {err}"));
            return;
        }
    };
    let input = instance.graph.input();
    // A fixed pattern over the whole byte range, the same on every board.
    let pattern: Vec<u8> = (0..input.byte_len())
        .map(|i| (i * 89 % 251) as u8)
        .collect();
    let mut source = TensorSource::new(vec![pattern], 1);
    let mut sink = Count(0);
    let ran = runner.run(&mut source, &mut sink, &AtomicBool::new(false));
    let stats = runner
        .accelerator()
        .map(|a| a.stats().clone())
        .unwrap_or_default();
    let device = uio_label(root);
    if stats.no_interrupt {
        report.fail(
            "interrupt",
            format!("{device} has no interrupt; completion was polled"),
        );
    } else if stats.lost_interrupts > 0 {
        report.fail(
            "interrupt",
            format!(
                "the inference finished (ap_done) but no interrupt reached {device}; recovered by polling"
            ),
        );
    } else if matches!(ran, Ok(()) | Err(PipelineError::Mismatch { .. })) {
        // The accelerator's run completed (a mismatch is found after it).
        report.pass(
            "interrupt",
            format!("an inference's completion arrived as an interrupt on {device}"),
        );
    }
    match ran {
        Ok(()) if sink.0 == 1 => report.pass(
            "inference",
            format!(
                "one inference, its {} output bytes equal to the CPU engine's",
                instance.output_bytes()
            ),
        ),
        Ok(()) => report.fail("inference", "the inference gave no output".into()),
        Err(PipelineError::Accelerator(err)) => match failing_check(&err) {
            "kernel" => report.fail("inference", err.to_string()),
            check if !report.has(check) => report.fail(check, err.to_string()),
            _ => report.fail("inference", err.to_string()),
        },
        Err(err) => report.fail("inference", err.to_string()),
    }
}

/// Counts the outputs.
struct Count(usize);

impl Sink for Count {
    fn skipped(&mut self, _item: usize, _error: &FillError) {}

    fn output(&mut self, _record: &Record, _output: &[u8]) -> Result<(), FillError> {
        self.0 += 1;
        Ok(())
    }
}

/// The checks before `failed` passed: what the board shows for each.
fn passed_until(report: &mut Report, root: &Root, instance: &Instance, failed: &str) {
    for name in CHECKS.iter().skip(1).take_while(|c| **c != failed) {
        let detail = match *name {
            "fpga_manager" => fpga_detail(root, instance),
            "overlay" => match fabric(root, instance).and_then(|f| f.overlay) {
                Some(dtbo) => format!("{} applied", dtbo.display()),
                None => "none for the virtual board: it lays out the kernel's devices itself (the UIO check shows them)".into(),
            },
            "uio" => uio_detail(root),
            "dma_buffers" => dma_detail(root, instance),
            // The ID is read after the identify run; the bundle is verified after that.
            "kernel" if failed == "design_id" => {
                "the identify run finished with status OK".into()
            }
            _ => continue,
        };
        report.pass(name, detail);
    }
}

/// What the fabric under `root` loads for `instance`, if anything.
fn fabric(root: &Root, instance: &Instance) -> Option<crate::instance::Fabric> {
    instance
        .fabric(fibha_board::vboard::is_virtual_root(root.path()))
        .ok()
}

fn fpga_detail(root: &Root, instance: &Instance) -> String {
    match fibha_board::fpga::FpgaManager::find(root) {
        Ok(fpga) => format!(
            "{}: {} after loading {}",
            fpga.name(),
            fpga.state()
                .map_or_else(|e| e.to_string(), |s| s.to_string()),
            fabric(root, instance).map_or_else(
                || "nothing (no firmware for this board)".into(),
                |f| f.bitstream.display().to_string()
            )
        ),
        Err(e) => e.to_string(),
    }
}

fn uio_device(root: &Root) -> Option<fibha_board::uio::UioDevice> {
    fibha_board::uio::find_uio(root, &fibha_board::uio::UioSelector::Name(UIO_NAME.into())).ok()
}

fn uio_label(root: &Root) -> String {
    uio_device(root).map_or_else(|| format!("the UIO device {UIO_NAME}"), |d| d.label())
}

fn uio_detail(root: &Root) -> String {
    let Some(device) = uio_device(root) else {
        return format!("no UIO device {UIO_NAME}");
    };
    let maps: Vec<String> = device
        .maps
        .iter()
        .map(|m| format!("map{} {:#x} {} B", m.index, m.addr, m.size))
        .collect();
    let of_id = std::fs::read_to_string(root.join(OF_ID))
        .map_or("not set".to_owned(), |v| v.trim().to_owned());
    format!(
        "{} at {}{}, driver {} (of_id {of_id}): {}",
        device.label(),
        device.dev_path.display(),
        device
            .of_node
            .as_ref()
            .map_or(String::new(), |n| format!(", node {n}")),
        device.driver.as_deref().unwrap_or("not reported"),
        maps.join(", ")
    )
}

/// The module parameter that tells `uio_pdrv_genirq` which device-tree nodes to bind.
const OF_ID: &str = "/sys/module/uio_pdrv_genirq/parameters/of_id";

fn dma_detail(root: &Root, instance: &Instance) -> String {
    let mut parts = Vec::new();
    for (name, need) in &instance.manifest.buffers {
        match fibha_board::dma::find_dma_buffer(root, name) {
            Ok(info) => parts.push(format!(
                "{name} {} B (needs {need}, {})",
                info.size,
                if info.coherent {
                    "coherent"
                } else {
                    "synced by the runtime"
                }
            )),
            Err(e) => parts.push(e.to_string()),
        }
    }
    if let Some(cma) = cma_total(root) {
        parts.push(format!("CMA pool {cma}"));
    }
    parts.join(", ")
}

/// `CmaTotal` of the board's /proc/meminfo, when it says.
fn cma_total(root: &Root) -> Option<String> {
    let meminfo = std::fs::read_to_string(root.join("/proc/meminfo")).ok()?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("CmaTotal:"))
        .map(|v| v.trim().to_owned())
}

/// The ZCU102's 18 rails: found by I2C address, each read once.
fn examine_rails(report: &mut Report, root: &Root) {
    let found = match fibha_board::zcu102::hwmon_rails(root) {
        Ok(found) => found,
        Err(e) => {
            report.fail("power_rails", e.to_string());
            return;
        }
    };
    let total = fibha_board::zcu102::RAILS.len();
    if !found.missing.is_empty() {
        let missing: Vec<String> = found
            .missing
            .iter()
            .map(|r| format!("{} ({:?} bus, I2C {:#04x})", r.name, r.bus, r.address))
            .collect();
        report.fail(
            "power_rails",
            format!(
                "{} of {total} rails found; missing: {}",
                found.found.len(),
                missing.join(", ")
            ),
        );
        return;
    }
    let mut readers = found.found;
    for reader in &mut readers {
        if let Err(e) = reader.read_power_uw() {
            report.fail("power_rails", e.to_string());
            return;
        }
    }
    let first = &readers[0];
    let interval = first
        .update_interval_ms()
        .ok()
        .flatten()
        .map_or("not reported".into(), |ms| format!("{ms} ms"));
    report.pass(
        "power_rails",
        format!(
            "{total} of {total} rails found by I2C address and read ({:?} layout, update interval {interval})",
            first.layout()
        ),
    );
}

/// The report as text: one line per check, the fix under a failure.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.checks {
        let mark = match c.verdict {
            Verdict::Pass => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        out.push_str(&format!("{mark} {:<12} {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("     {:<12} fix: {fix}\n", ""));
        }
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .count();
    out.push_str(&if failed == 0 {
        "every check passed\n".to_owned()
    } else {
        format!("{failed} check(s) failed\n")
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_fix() {
        for name in CHECKS {
            assert!(!fix(name).is_empty(), "{name}");
        }
    }

    #[test]
    fn board_errors_name_their_check() {
        let board = |source| AccelError::Board {
            context: "x".into(),
            source,
        };
        let cases = [
            (
                board(BoardError::Overlay {
                    name: "fibha".into(),
                    problem: "busy".into(),
                }),
                "overlay",
            ),
            (
                board(BoardError::NoUioDevice {
                    wanted: "name fibha".into(),
                    class_dir: "/sys/class/uio".into(),
                    found: Vec::new(),
                }),
                "uio",
            ),
            (
                AccelError::Timeout {
                    timeout: std::time::Duration::from_secs(1),
                    what: "the identify run".into(),
                },
                "kernel",
            ),
        ];
        for (err, check) in cases {
            assert_eq!(failing_check(&err), check, "{err}");
        }
    }
}
