//! UIO devices: discovery in sysfs, register maps and interrupts.
//!
//! The kernel lists each UIO device as `/sys/class/uio/uioN` with its `name` (the
//! device-tree node's name for `uio_pdrv_genirq`), its `maps/mapM/{addr,size,offset,name}`
//! and a `device` link to the platform device (whose `of_node` names the device-tree
//! node). Devices are found by name or node, never by the number N, which depends on probe
//! order. Map M is reached by `mmap` of `/dev/uioN` at offset M x page size.
//!
//! Interrupts follow `uio_pdrv_genirq`: its handler masks the line, so a 4-byte `1` is
//! written to re-arm before each wait; a 4-byte read then returns the interrupt count once
//! one has arrived. Waits use `poll()` with a deadline and never block forever.
//!
//! Virtual-board seam: there `/dev/uioN` is a regular file (the register file, mapped
//! `MAP_SHARED` by both processes; map M at offset M x page size), and a regular file cannot
//! block. Its interrupt travels through two FIFOs beside it: `/dev/uioN.irq`, where the board
//! writes the 4-byte native-endian count per interrupt, and `/dev/uioN.irqctl`, where the
//! runtime writes the 4-byte `1` that re-arms. `IrqChannel` is the only code that knows
//! the difference.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{BoardError, Result};
use crate::mmio::{RegisterBlock, page_size};
use crate::root::Root;
use crate::sysfs;

/// Where the kernel lists UIO devices.
pub const UIO_CLASS_DIR: &str = "/sys/class/uio";
/// Where the kernel exposes the device tree, to name a device's node relative to it.
const DEVICE_TREE_BASE: &str = "/sys/firmware/devicetree/base";

/// One memory map of a UIO device, from `maps/mapM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UioMap {
    /// M in `mapM`.
    pub index: usize,
    /// The map's `name` attribute, when the driver sets one.
    pub name: Option<String>,
    /// Physical address of the region.
    pub addr: u64,
    /// Size of the region in bytes.
    pub size: u64,
    /// Offset of the region inside its first page.
    pub offset: u64,
}

/// A UIO device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UioDevice {
    /// N in `uioN`.
    pub index: u32,
    /// The `name` attribute.
    pub name: String,
    /// The `version` attribute, if present.
    pub version: Option<String>,
    /// The platform device's name (`a0000000.fibha`), when the `device` link exists.
    pub device: Option<String>,
    /// The device-tree node's path (`/axi/fibha@a0000000`), when `device/of_node` exists.
    pub of_node: Option<String>,
    /// The driver bound to the platform device (`uio_pdrv_genirq`), from `device/driver`.
    pub driver: Option<String>,
    /// The memory maps, in index order.
    pub maps: Vec<UioMap>,
    /// The resolved sysfs directory.
    pub sysfs_dir: PathBuf,
    /// The device node, `/dev/uioN` under the root.
    pub dev_path: PathBuf,
}

impl UioDevice {
    /// `uioN (name)`, as used in messages.
    pub fn label(&self) -> String {
        format!("uio{} ({})", self.index, self.name)
    }
}

/// How to pick a UIO device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UioSelector {
    /// By the `name` attribute.
    Name(String),
    /// By device-tree node: the platform device name (`a0000000.fibha`), the node's name
    /// (`fibha@a0000000`) or its full path (`/axi/fibha@a0000000`).
    Node(String),
}

impl UioSelector {
    fn matches(&self, device: &UioDevice) -> bool {
        match self {
            Self::Name(name) => device.name == *name,
            Self::Node(node) => {
                let node_name = device.of_node.as_deref().and_then(|p| p.rsplit('/').next());
                device.device.as_deref() == Some(node)
                    || device.of_node.as_deref() == Some(node)
                    || node_name == Some(node)
            }
        }
    }
}

impl fmt::Display for UioSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => write!(f, "name {name:?}"),
            Self::Node(node) => write!(f, "device-tree node {node:?}"),
        }
    }
}

/// Every UIO device under `root`, in index order. No `uio` class directory means none.
pub fn list_uio(root: &Root) -> Result<Vec<UioDevice>> {
    let mut devices = Vec::new();
    for (entry, path) in sysfs::list_dir(&root.join(UIO_CLASS_DIR))? {
        let Some(index) = sysfs::trailing_number(&entry, "uio") else {
            continue;
        };
        devices.push(read_device(root, index, &root.resolve(&path)?)?);
    }
    Ok(devices)
}

/// The one UIO device that `selector` picks; the error lists what was found instead.
pub fn find_uio(root: &Root, selector: &UioSelector) -> Result<UioDevice> {
    let devices = list_uio(root)?;
    let (mut matching, others): (Vec<_>, Vec<_>) =
        devices.into_iter().partition(|d| selector.matches(d));
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(BoardError::NoUioDevice {
            wanted: selector.to_string(),
            class_dir: root.join(UIO_CLASS_DIR),
            found: others.iter().map(UioDevice::label).collect(),
        }),
        _ => Err(BoardError::AmbiguousUio {
            wanted: selector.to_string(),
            matches: matching.iter().map(UioDevice::label).collect(),
        }),
    }
}

fn read_device(root: &Root, index: u32, dir: &Path) -> Result<UioDevice> {
    let (device, of_node, driver) = device_identity(root, dir)?;
    Ok(UioDevice {
        index,
        name: sysfs::read_trimmed(&dir.join("name"))?,
        version: sysfs::read_optional(&dir.join("version"))?,
        device,
        of_node,
        driver,
        maps: read_maps(&dir.join("maps"))?,
        sysfs_dir: dir.to_path_buf(),
        dev_path: root.join(format!("/dev/uio{index}")),
    })
}

fn read_maps(dir: &Path) -> Result<Vec<UioMap>> {
    let mut maps = Vec::new();
    for (entry, path) in sysfs::list_dir(dir)? {
        let Some(index) = sysfs::trailing_number(&entry, "map") else {
            continue;
        };
        maps.push(UioMap {
            index: index as usize,
            name: sysfs::read_optional(&path.join("name"))?,
            addr: sysfs::read_u64(&path.join("addr"))?,
            size: sysfs::read_u64(&path.join("size"))?,
            offset: match sysfs::read_optional(&path.join("offset"))? {
                Some(_) => sysfs::read_u64(&path.join("offset"))?,
                None => 0,
            },
        });
    }
    Ok(maps)
}

/// The platform device name, device-tree path and bound driver behind a UIO device, where
/// the links exist.
fn device_identity(
    root: &Root,
    dir: &Path,
) -> Result<(Option<String>, Option<String>, Option<String>)> {
    let device_dir = root.resolve(&dir.join("device"))?;
    if !device_dir.is_dir() {
        return Ok((None, None, None));
    }
    // The link's last component names the driver; its target need not be readable.
    let driver = std::fs::read_link(device_dir.join("driver"))
        .ok()
        .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()));
    let device = device_dir
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned);
    let node_dir = root.resolve(&device_dir.join("of_node"))?;
    let of_node =
        node_dir.is_dir().then(
            || match node_dir.strip_prefix(root.join(DEVICE_TREE_BASE)) {
                Ok(inside) => format!("/{}", inside.display()),
                Err(_) => node_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            },
        );
    Ok((device, of_node, driver))
}

/// An open UIO device.
#[derive(Debug)]
pub struct Uio {
    device: UioDevice,
    file: File,
}

impl Uio {
    /// Finds the device `selector` picks under `root` and opens it.
    pub fn open(root: &Root, selector: &UioSelector) -> Result<Self> {
        Self::open_device(find_uio(root, selector)?)
    }

    /// Opens a device found by [`list_uio`] or [`find_uio`].
    pub fn open_device(device: UioDevice) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&device.dev_path)
            .map_err(BoardError::open_device(&device.dev_path))?;
        Ok(Self { device, file })
    }

    /// What sysfs says about the device.
    pub fn device(&self) -> &UioDevice {
        &self.device
    }

    /// Maps register map `index`, which must hold at least `required` bytes (the size of
    /// the register map the driver will use).
    pub fn map(&self, index: usize, required: usize) -> Result<RegisterBlock> {
        let label = self.device.label();
        let map = self
            .device
            .maps
            .iter()
            .find(|m| m.index == index)
            .ok_or_else(|| BoardError::NoSuchMap {
                device: label.clone(),
                map: index,
                count: self.device.maps.len(),
            })?;
        let too_small = || BoardError::MapTooSmall {
            device: label.clone(),
            map: index,
            size: map.size,
            required,
        };
        if map.size == 0 || map.size < required as u64 {
            return Err(too_small());
        }
        let len = usize::try_from(map.size).map_err(|_| too_small())?;
        let start = usize::try_from(map.offset).map_err(|_| too_small())?;
        let file_offset = (index * page_size()) as u64;
        RegisterBlock::map(
            &self.file,
            &self.device.dev_path,
            format!("{label} map {index}"),
            file_offset,
            start,
            len,
        )
    }

    /// The device's interrupt. Fails with [`BoardError::NoInterrupt`] when there is none
    /// (the virtual board has no FIFOs for it); the caller should then poll.
    pub fn irq(&self) -> Result<Irq> {
        let channel = IrqChannel::open(&self.device, &self.file)?;
        Ok(Irq {
            device: self.device.label(),
            channel,
            last_count: None,
        })
    }
}

/// The interrupt of a UIO device.
#[derive(Debug)]
pub struct Irq {
    device: String,
    channel: IrqChannel,
    last_count: Option<u32>,
}

impl Irq {
    /// Re-enables the interrupt (the kernel masks it after each one). Writing it while it
    /// is already enabled changes nothing, so arming before starting the accelerator and
    /// again in [`Irq::wait`] is harmless.
    pub fn arm(&mut self) -> Result<()> {
        self.channel.arm(&self.device)
    }

    /// Re-arms, then blocks until the next interrupt or `timeout`, and returns the kernel's
    /// interrupt count.
    pub fn wait(&mut self, timeout: Duration) -> Result<u32> {
        self.wait_slice(timeout)?
            .ok_or_else(|| BoardError::Timeout {
                what: format!("an interrupt from {}", self.device),
                after: timeout,
            })
    }

    /// As [`Irq::wait`], but a wait that ends without an interrupt is `Ok(None)`, not an
    /// error: a driver that waits in slices (checking the hardware between them) then
    /// allocates nothing for a silent slice.
    pub fn wait_slice(&mut self, timeout: Duration) -> Result<Option<u32>> {
        self.arm()?;
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !self.channel.poll_readable(remaining)? {
                return Ok(None);
            }
            if let Some(count) = self.channel.read_count(&self.device)? {
                return Ok(Some(self.record(count)));
            }
        }
    }

    /// Consumes an interrupt that arrived while nobody waited (a stale `done` of an earlier
    /// run), without blocking; returns its count if there was one.
    pub fn discard_pending(&mut self) -> Result<Option<u32>> {
        if !self.channel.poll_readable(Duration::ZERO)? {
            return Ok(None);
        }
        let count = self.channel.read_count(&self.device)?;
        Ok(count.map(|c| self.record(c)))
    }

    /// The count returned by the last wait, if any.
    pub fn last_count(&self) -> Option<u32> {
        self.last_count
    }

    fn record(&mut self, count: u32) -> u32 {
        if let Some(last) = self.last_count {
            let delta = count.wrapping_sub(last);
            if delta != 1 {
                tracing::debug!(device = %self.device, last, count, "interrupt count jumped by {delta}");
            }
        }
        self.last_count = Some(count);
        count
    }
}

/// Where interrupts come from: the kernel's UIO character device, or the virtual board's
/// FIFO pair. This enum is the whole difference between the two for interrupts.
#[derive(Debug)]
enum IrqChannel {
    /// `/dev/uioN` itself: read the count, write the re-arm.
    CharDevice { file: File, path: PathBuf },
    /// `/dev/uioN.irq` (counts in) and `/dev/uioN.irqctl` (re-arms out).
    Fifo {
        events: File,
        events_path: PathBuf,
        control: File,
        control_path: PathBuf,
    },
}

impl IrqChannel {
    fn open(device: &UioDevice, file: &File) -> Result<Self> {
        let path = &device.dev_path;
        let kind = file
            .metadata()
            .map_err(BoardError::io("inspect", path))?
            .file_type();
        if kind.is_char_device() {
            let file = file
                .try_clone()
                .map_err(BoardError::io("duplicate", path))?;
            return Ok(Self::CharDevice {
                file,
                path: path.clone(),
            });
        }
        let events_path = with_suffix(path, ".irq");
        let control_path = with_suffix(path, ".irqctl");
        Ok(Self::Fifo {
            events: open_fifo(device, &events_path)?,
            events_path,
            control: open_fifo(device, &control_path)?,
            control_path,
        })
    }

    fn events(&self) -> (&File, &Path) {
        match self {
            Self::CharDevice { file, path } => (file, path),
            Self::Fifo {
                events,
                events_path,
                ..
            } => (events, events_path),
        }
    }

    fn arm(&self, device: &str) -> Result<()> {
        let (mut file, path) = match self {
            Self::CharDevice { file, path } => (file, path.as_path()),
            Self::Fifo {
                control,
                control_path,
                ..
            } => (control, control_path.as_path()),
        };
        match file.write(&1u32.to_ne_bytes()) {
            Ok(4) => Ok(()),
            Ok(n) => Err(BoardError::Interrupt {
                path: path.to_path_buf(),
                problem: format!("re-arm wrote {n} of 4 bytes"),
            }),
            Err(e) if is_no_irq(&e) => Err(BoardError::NoInterrupt {
                device: device.to_owned(),
                reason: format!("{} refused the re-arm write: {e}", path.display()),
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(BoardError::Interrupt {
                path: path.to_path_buf(),
                problem: "re-arm FIFO is full: the virtual board is not reading it".into(),
            }),
            Err(e) => Err(BoardError::io("re-arm interrupt through", path)(e)),
        }
    }

    /// Whether a count can be read within `timeout`. Retries on EINTR with the time left.
    fn poll_readable(&self, timeout: Duration) -> Result<bool> {
        let (file, path) = self.events();
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, poll_timeout(remaining)) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                    if revents.contains(PollFlags::POLLIN) {
                        return Ok(true);
                    }
                    return Err(BoardError::Interrupt {
                        path: path.to_path_buf(),
                        problem: format!("poll reported {revents:?}"),
                    });
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(BoardError::io("poll", path)(errno.into())),
            }
        }
    }

    /// Reads the count after `poll_readable`. `None` on a spurious wake-up. The FIFO may
    /// hold several counts; like the kernel, which reports only the latest, the last wins.
    fn read_count(&self, device: &str) -> Result<Option<u32>> {
        let (mut file, path) = self.events();
        let mut buf = [0u8; 64];
        let want = match self {
            Self::CharDevice { .. } => 4, // uio_read accepts exactly 4 bytes
            Self::Fifo { .. } => buf.len(),
        };
        let n = match file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return Ok(None);
            }
            Err(e) if is_no_irq(&e) => {
                return Err(BoardError::NoInterrupt {
                    device: device.to_owned(),
                    reason: format!("{} refused the read: {e}", path.display()),
                });
            }
            Err(e) => return Err(BoardError::io("read interrupt count from", path)(e)),
        };
        if n == 0 || n % 4 != 0 {
            return Err(BoardError::Interrupt {
                path: path.to_path_buf(),
                problem: format!("read {n} bytes; interrupt counts are 4-byte words"),
            });
        }
        let last: [u8; 4] = buf[n - 4..n].try_into().expect("4-byte slice");
        Ok(Some(u32::from_ne_bytes(last)))
    }
}

/// Opens one of the virtual board's interrupt FIFOs read-write and non-blocking: holding
/// both ends means the open never waits for the other process, and the reader never sees
/// end-of-file (and a poll storm) when the board process closes and reopens its end.
fn open_fifo(device: &UioDevice, path: &Path) -> Result<File> {
    let is_fifo = path
        .metadata()
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    if !is_fifo {
        return Err(BoardError::NoInterrupt {
            device: device.label(),
            reason: format!(
                "{} is a regular file (virtual board) and there is no interrupt FIFO at {}",
                device.dev_path.display(),
                path.display()
            ),
        });
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(BoardError::open_device(path))
}

/// `uio_pdrv_genirq` answers EIO (no IRQ) or ENOSYS (no irqcontrol) when there is no line.
fn is_no_irq(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == nix::libc::EIO || code == nix::libc::ENOSYS)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Milliseconds for poll(), rounded up so a wait never ends before its deadline.
fn poll_timeout(remaining: Duration) -> PollTimeout {
    let ms = remaining.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::os::unix::fs::symlink;

    /// Lays out a UIO device as the kernel (sysfs) and the virtual board (/dev) would.
    fn add_uio(root: &Root, index: u32, name: &str, node: Option<&str>, map_size: u64) {
        let real = root.join(format!("/sys/devices/platform/axi/uio{index}"));
        let maps = real.join("maps/map0");
        std::fs::create_dir_all(&maps).unwrap();
        std::fs::write(real.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(real.join("version"), "devicetree\n").unwrap();
        std::fs::write(maps.join("addr"), "0x00000000a0000000\n").unwrap();
        std::fs::write(maps.join("size"), format!("{map_size:#x}\n")).unwrap();
        std::fs::write(maps.join("offset"), "0x0\n").unwrap();
        if let Some(node) = node {
            let platform = root.join(format!("/sys/devices/platform/axi/{node}"));
            std::fs::create_dir_all(&platform).unwrap();
            symlink(format!("../{node}"), real.join("device")).unwrap();
            let dt = root.join(format!(
                "/sys/firmware/devicetree/base/axi/{}",
                node_name(node)
            ));
            std::fs::create_dir_all(&dt).unwrap();
            symlink(
                format!(
                    "../../../../firmware/devicetree/base/axi/{}",
                    node_name(node)
                ),
                platform.join("of_node"),
            )
            .unwrap();
        }
        let class = root.join(UIO_CLASS_DIR);
        std::fs::create_dir_all(&class).unwrap();
        symlink(
            format!("../../devices/platform/axi/uio{index}"),
            class.join(format!("uio{index}")),
        )
        .unwrap();
        let dev = root.join("/dev");
        std::fs::create_dir_all(&dev).unwrap();
        let file = File::create(dev.join(format!("uio{index}"))).unwrap();
        file.set_len(map_size.max(page_size() as u64)).unwrap();
    }

    /// `a0000000.fibha` -> `fibha@a0000000`.
    fn node_name(platform: &str) -> String {
        let (addr, name) = platform.split_once('.').unwrap();
        format!("{name}@{addr}")
    }

    /// An empty root in a directory that lives as long as the returned guard.
    fn temp_root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        (dir, root)
    }

    /// Selects the device named `fibha`.
    fn fibha() -> UioSelector {
        UioSelector::Name("fibha".into())
    }

    /// A root with the `fibha` device as uio0, with the virtual board's interrupt FIFOs
    /// when `fifos`.
    fn fibha_device(fifos: bool) -> (tempfile::TempDir, Root) {
        let (dir, root) = temp_root();
        add_uio(&root, 0, "fibha", None, 0x1000);
        if fifos {
            add_fifos(&root, 0);
        }
        (dir, root)
    }

    /// The interrupt of the `fibha` device under `root`.
    fn fibha_irq(root: &Root) -> Irq {
        Uio::open(root, &fibha()).unwrap().irq().unwrap()
    }

    fn add_fifos(root: &Root, index: u32) {
        for suffix in ["irq", "irqctl"] {
            nix::unistd::mkfifo(
                &root.join(format!("/dev/uio{index}.{suffix}")),
                Mode::S_IRWXU,
            )
            .unwrap();
        }
    }

    #[test]
    fn devices_are_found_by_name_and_by_node() {
        let (_dir, root) = temp_root();
        add_uio(&root, 0, "axi-dma", None, 0x1000);
        add_uio(&root, 3, "fibha", Some("a0000000.fibha"), 0x10000);
        let by_name = find_uio(&root, &fibha()).unwrap();
        assert_eq!(by_name.index, 3);
        assert_eq!(
            by_name.maps,
            vec![UioMap {
                index: 0,
                name: None,
                addr: 0xa000_0000,
                size: 0x10000,
                offset: 0
            }]
        );
        assert_eq!(by_name.of_node.as_deref(), Some("/axi/fibha@a0000000"));
        for node in ["a0000000.fibha", "fibha@a0000000", "/axi/fibha@a0000000"] {
            assert_eq!(
                find_uio(&root, &UioSelector::Node(node.into()))
                    .unwrap()
                    .index,
                3,
                "{node}"
            );
        }
    }

    #[test]
    fn a_missing_device_lists_the_names_found() {
        let (_dir, root) = temp_root();
        add_uio(&root, 0, "axi-dma", None, 0x1000);
        add_uio(&root, 1, "gpio", None, 0x1000);
        let err = find_uio(&root, &fibha()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("uio0 (axi-dma)") && text.contains("uio1 (gpio)"),
            "{text}"
        );
        let empty = tempfile::tempdir().unwrap();
        let err = find_uio(&Root::new(empty.path()), &fibha()).unwrap_err();
        assert!(err.to_string().ends_with("found: none"), "{err}");
    }

    #[test]
    fn two_devices_with_one_name_are_refused() {
        let (_dir, root) = fibha_device(false);
        add_uio(&root, 1, "fibha", None, 0x1000);
        let err = find_uio(&root, &fibha()).unwrap_err();
        assert!(matches!(err, BoardError::AmbiguousUio { .. }), "{err}");
    }

    #[test]
    fn registers_map_through_a_regular_file() {
        let (_dir, root) = fibha_device(false);
        let uio = Uio::open(&root, &fibha()).unwrap();
        let regs = uio.map(0, 0x40).unwrap();
        regs.write32(0x10, 0x1234_5678).unwrap();
        // A second mapping, as the virtual board process would hold, sees the store.
        let other = Uio::open(&root, &fibha()).unwrap().map(0, 0x40).unwrap();
        assert_eq!(other.read32(0x10).unwrap(), 0x1234_5678);
        let bytes = std::fs::read(root.join("/dev/uio0")).unwrap();
        assert_eq!(&bytes[0x10..0x14], &0x1234_5678u32.to_ne_bytes());
    }

    #[test]
    fn map_size_errors_name_both_sizes() {
        let (_dir, root) = temp_root();
        add_uio(&root, 0, "small", None, 0x100);
        add_uio(&root, 1, "empty", None, 0);
        let small = Uio::open(&root, &UioSelector::Name("small".into())).unwrap();
        let err = small.map(0, 0x200).unwrap_err();
        assert!(
            err.to_string()
                .contains("is 256 bytes, but the register map needs 512 bytes"),
            "{err}"
        );
        assert!(matches!(
            small.map(1, 4).unwrap_err(),
            BoardError::NoSuchMap { count: 1, .. }
        ));
        let empty = Uio::open(&root, &UioSelector::Name("empty".into())).unwrap();
        assert!(matches!(
            empty.map(0, 0).unwrap_err(),
            BoardError::MapTooSmall { size: 0, .. }
        ));
    }

    #[test]
    fn fifo_interrupt_arrives_and_is_re_armed() {
        let (_dir, root) = fibha_device(true);
        let uio = Uio::open(&root, &fibha()).unwrap();
        let mut irq = uio.irq().unwrap();
        let ctl_path = root.join("/dev/uio0.irqctl");
        let irq_path = root.join("/dev/uio0.irq");
        let board = std::thread::spawn(move || {
            // The virtual board: wait for the re-arm, then raise interrupt number 7.
            let mut ctl = File::open(&ctl_path).unwrap();
            let mut word = [0u8; 4];
            ctl.read_exact(&mut word).unwrap();
            assert_eq!(u32::from_ne_bytes(word), 1);
            std::thread::sleep(Duration::from_millis(20));
            let mut events = OpenOptions::new().write(true).open(&irq_path).unwrap();
            events.write_all(&7u32.to_ne_bytes()).unwrap();
        });
        let count = irq.wait(Duration::from_secs(5)).unwrap();
        board.join().unwrap();
        assert_eq!(count, 7);
        assert_eq!(irq.last_count(), Some(7));
        assert_eq!(irq.discard_pending().unwrap(), None);
    }

    #[test]
    fn fifo_wait_times_out_when_nothing_comes() {
        let (_dir, root) = fibha_device(true);
        let mut irq = fibha_irq(&root);
        let started = Instant::now();
        let err = irq.wait(Duration::from_millis(50)).unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, BoardError::Timeout { .. }), "{err}");
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[test]
    fn a_virtual_board_without_fifos_has_no_interrupt() {
        let (_dir, root) = fibha_device(false);
        let uio = Uio::open(&root, &fibha()).unwrap();
        let err = uio.irq().unwrap_err();
        assert!(matches!(err, BoardError::NoInterrupt { .. }), "{err}");
    }

    #[test]
    fn several_queued_counts_collapse_to_the_latest() {
        let (_dir, root) = fibha_device(true);
        let mut irq = fibha_irq(&root);
        let mut events = OpenOptions::new()
            .write(true)
            .open(root.join("/dev/uio0.irq"))
            .unwrap();
        for count in [1u32, 2, 3] {
            events.write_all(&count.to_ne_bytes()).unwrap();
        }
        assert_eq!(irq.discard_pending().unwrap(), Some(3));
        assert_eq!(irq.discard_pending().unwrap(), None);
    }
}
