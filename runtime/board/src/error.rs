//! The one error type of the board layer.
//!
//! Every variant names the file, device or rail involved and what was expected, so a
//! message read on a board's console is enough to act on. Callers match on variants where
//! they have a fallback (`NoInterrupt` -> polling, `Timeout` -> reset and retry) and print
//! the rest.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fpga::KernelIdentity;

/// Result with [`BoardError`] as the default error.
pub type Result<T, E = BoardError> = std::result::Result<T, E>;

/// Hint printed with a permission error on a device node.
pub(crate) const DEVICE_PERMISSION_HINT: &str = "run as root, or add a udev rule that gives your \
     group access (e.g. SUBSYSTEM==\"uio\", GROUP=\"fibha\", MODE=\"0660\")";

/// Everything that can go wrong between the runtime and the board's Linux interfaces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoardError {
    /// A file or directory of a kernel interface could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "open", "map", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Opening a device node was refused.
    #[error("permission denied opening {}: {hint}", path.display())]
    PermissionDenied {
        /// The device node.
        path: PathBuf,
        /// How to get access.
        hint: &'static str,
    },

    /// An attribute held something other than what its kernel interface defines.
    #[error("{}: expected {expected}, found {found:?}", path.display())]
    Parse {
        /// The attribute file.
        path: PathBuf,
        /// What the interface defines.
        expected: &'static str,
        /// What was read.
        found: String,
    },

    /// A sysfs or device layout this crate does not understand.
    #[error("{}: {problem}", path.display())]
    Layout {
        /// Where the layout broke.
        path: PathBuf,
        /// What was expected there.
        problem: String,
    },

    /// No UIO device matched the selector.
    #[error("no UIO device with {wanted} under {}; UIO devices found: {}", class_dir.display(), list_or_none(found))]
    NoUioDevice {
        /// The selector, as text.
        wanted: String,
        /// The `uio` class directory that was searched.
        class_dir: PathBuf,
        /// `uioN (name)` for every device found.
        found: Vec<String>,
    },

    /// More than one UIO device matched the selector.
    #[error("several UIO devices have {wanted}: {}; select one by device-tree node", matches.join(", "))]
    AmbiguousUio {
        /// The selector, as text.
        wanted: String,
        /// `uioN (name)` for every match.
        matches: Vec<String>,
    },

    /// The UIO device has fewer maps than asked for.
    #[error("UIO device {device} has no map {map} (it has {count})")]
    NoSuchMap {
        /// `uioN (name)`.
        device: String,
        /// The map asked for.
        map: usize,
        /// How many maps it has.
        count: usize,
    },

    /// A UIO map is empty or smaller than the register map needs.
    #[error(
        "UIO device {device} map {map} is {size} bytes, but the register map needs {required} bytes"
    )]
    MapTooSmall {
        /// `uioN (name)`.
        device: String,
        /// The map.
        map: usize,
        /// Its size from sysfs.
        size: u64,
        /// What the register map needs.
        required: usize,
    },

    /// A regular file (the virtual board's stand-in for a device) is shorter than the mapping.
    #[error("{} is {file_len} bytes, too short to map {len} bytes at offset {offset}", path.display())]
    FileTooShort {
        /// The file.
        path: PathBuf,
        /// Its length.
        file_len: u64,
        /// Where the mapping starts in it.
        offset: u64,
        /// The mapping's length.
        len: usize,
    },

    /// A register access outside the mapped region or not aligned to its width.
    #[error(
        "{width}-byte register access at offset {offset:#x} is outside {device} ({len:#x} bytes) or not {width}-byte aligned"
    )]
    RegisterOutOfRange {
        /// The register block's label.
        device: String,
        /// Byte offset of the access.
        offset: usize,
        /// Access width in bytes.
        width: usize,
        /// Length of the block.
        len: usize,
    },

    /// A wait ran out of time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The timeout that expired.
        after: Duration,
    },

    /// The UIO device has no interrupt; the caller should poll instead.
    #[error("UIO device {device} has no interrupt ({reason}); use polling mode")]
    NoInterrupt {
        /// `uioN (name)`.
        device: String,
        /// Why: what was refused or missing.
        reason: String,
    },

    /// The interrupt channel misbehaved.
    #[error("interrupt channel {}: {problem}", path.display())]
    Interrupt {
        /// The channel file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },

    /// No u-dma-buf buffer of that name.
    #[error(
        "no u-dma-buf buffer named {wanted:?} under {}; buffers found: {}",
        display_paths(searched),
        list_or_none(found)
    )]
    NoDmaBuffer {
        /// The name asked for.
        wanted: String,
        /// The class directories searched.
        searched: Vec<PathBuf>,
        /// Names of the buffers found.
        found: Vec<String>,
    },

    /// A u-dma-buf buffer smaller than required.
    #[error(
        "u-dma-buf buffer {name} is {size} bytes, but {required} bytes are required (raise its `size` in the device tree, and the CMA pool if needed)"
    )]
    BufferTooSmall {
        /// The buffer.
        name: String,
        /// Its size.
        size: u64,
        /// What is required.
        required: u64,
    },

    /// A byte range outside a DMA buffer.
    #[error("bytes {start}..{end} are outside u-dma-buf buffer {name} ({size} bytes)")]
    DmaRange {
        /// The buffer.
        name: String,
        /// First byte of the range.
        start: usize,
        /// One past the last byte.
        end: usize,
        /// The buffer's size.
        size: usize,
    },

    /// A typed view that does not fit the bytes (alignment or size).
    #[error("cannot view {count} x {ty} at offset {offset} of u-dma-buf buffer {name}: {reason}")]
    DmaView {
        /// The buffer.
        name: String,
        /// Byte offset of the view.
        offset: usize,
        /// Element count.
        count: usize,
        /// Element type.
        ty: &'static str,
        /// Why the view is impossible.
        reason: String,
    },

    /// No fpga_manager device.
    #[error("no fpga_manager {wanted} under {}; found: {}", class_dir.display(), list_or_none(found))]
    NoFpgaManager {
        /// The device asked for, or "device".
        wanted: String,
        /// The class directory searched.
        class_dir: PathBuf,
        /// Devices found.
        found: Vec<String>,
    },

    /// A bitstream that fpga_manager cannot load as it is.
    #[error("{}: fpga_manager loads a .bit.bin (made by `bootgen -arch zynqmp -process_bitstream bin`), not this file", path.display())]
    NotBitBin {
        /// The file given.
        path: PathBuf,
    },

    /// fpga_manager reported a failed load.
    #[error("fpga_manager {device}: loading {firmware} failed; state is {state:?}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    FpgaLoad {
        /// The fpga_manager device.
        device: String,
        /// The firmware file name.
        firmware: String,
        /// The state it ended in.
        state: String,
        /// The error of the `firmware` write, when it failed.
        detail: Option<String>,
    },

    /// The board went away while it was being waited for (the virtual board's process
    /// exited, say).
    #[error("the board went away: {detail}")]
    Gone {
        /// What was observed.
        detail: String,
    },

    /// A device-tree overlay could not be applied or removed.
    #[error("device-tree overlay {name}: {problem}")]
    Overlay {
        /// The overlay's configfs name.
        name: String,
        /// What went wrong.
        problem: String,
    },

    /// The accelerator in the fabric is not the one the bundle was built for.
    #[error(
        "accelerator identity mismatch: the bundle's manifest expects {expected}, but the loaded bitstream reports {found}; load the bitstream built together with this bundle"
    )]
    KernelMismatch {
        /// From the bundle's manifest.
        expected: KernelIdentity,
        /// Read from the ID/version registers.
        found: KernelIdentity,
    },

    /// A power rail read garbage or went away.
    #[error("power rail {rail} ({origin}): {problem}")]
    Rail {
        /// The rail's name.
        rail: &'static str,
        /// Where it was read (hwmon directory or I2C bus and address).
        origin: String,
        /// What was wrong.
        problem: String,
    },

    /// An energy query outside the sampled time span, or on an empty window.
    #[error(
        "energy window {start_ns}..{end_ns} ns is not inside the sampled span {first_ns}..{last_ns} ns"
    )]
    EnergyWindow {
        /// Window start.
        start_ns: u64,
        /// Window end.
        end_ns: u64,
        /// First sample.
        first_ns: u64,
        /// Last sample.
        last_ns: u64,
    },

    /// An energy log whose parts do not fit together, or a sampler that cannot run.
    #[error("power sampling: {0}")]
    Sampling(String),
}

impl BoardError {
    /// A `map_err` adapter for I/O on `path`. The path is copied only on the error path:
    /// the DMA syncs of every inference come through here and allocate nothing.
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> BoardError + 'a {
        move |source| BoardError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Like [`BoardError::io`], but a refused open of a device node becomes
    /// [`BoardError::PermissionDenied`] with a hint.
    pub(crate) fn open_device(path: &Path) -> impl FnOnce(io::Error) -> BoardError {
        let path = path.to_path_buf();
        move |source| {
            if source.kind() == io::ErrorKind::PermissionDenied {
                BoardError::PermissionDenied {
                    path,
                    hint: DEVICE_PERMISSION_HINT,
                }
            } else {
                BoardError::Io {
                    action: "open",
                    path,
                    source,
                }
            }
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}
