//! The files the virtual board lays out under its root, and where each one lives.
//!
//! The tree is the one `fibha-board` reads on a ZCU102 running PetaLinux with the fibha
//! overlay applied (see runtime/board/README.md, "The virtual-board seam"):
//!
//! | what | where (under the root) |
//! | --- | --- |
//! | UIO | `/sys/class/uio/uio0` -> `/sys/devices/platform/amba_pl@0/a0000000.fibha/uio/uio0` (`name` = `fibha`, map0 = 64 KiB at 0xA0000000); `/dev/uio0` (regular file, the registers), `/dev/uio0.irq`, `/dev/uio0.irqctl` (FIFOs) |
//! | u-dma-buf | `/sys/class/u-dma-buf/NAME` with `phys_addr`, `size`, `sync_*`, `dma_coherent` = 0; `/dev/NAME` (regular file of `size` bytes) |
//! | fpga_manager | `/sys/class/fpga_manager/fpga0` with `name`, `state`, `flags`, `firmware`; `/lib/firmware/` |
//! | overlays | `/sys/kernel/config/device-tree/overlays/` |
//! | hwmon | the 18 INA226 rails, see [`crate::hwmon`] |
//! | the board itself | `/vboard/`: `faults/`, `stop`, `lock`, `kernel.pid`, `load_error` |
//!
//! Buffers get distinct fake physical addresses from 0x7000_0000 up, each 2 MiB aligned
//! (the alignment of a CMA allocation of that size on the ZCU102's kernel), in the order
//! given. Laying out is idempotent: an existing tree is brought back to the boot state
//! (fpga_manager `unknown`, no overlays, zeroed registers and buffers).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::sys::stat::Mode;

use fibha_board::vboard;
use fibha_model::descriptor::is_valid_buffer_name;

use crate::attr;
use crate::error::{Error, Result};
use crate::hwmon;
use crate::power;

use fibha_model::device::linux;
/// The UIO device's `name` (from the overlay's node name).
pub use fibha_model::device::linux::UIO_NAME;
/// N of `uioN`.
pub const UIO_INDEX: u32 = 0;
/// Physical address of the register region (map0).
pub const REGISTER_MAP_ADDR: u64 = 0xA000_0000;
/// Size of the register region (map0): the 64 KiB of the AXI-Lite address window.
pub const REGISTER_MAP_SIZE: u64 = 0x1_0000;
/// The platform device of the accelerator.
pub const PLATFORM_DEVICE: &str = "a0000000.fibha";
/// Its device-tree node, where PetaLinux puts PL devices.
pub const DT_NODE: &str = "/amba_pl@0/fibha@a0000000";
/// The FPGA manager's name.
pub const FPGA_MANAGER: &str = "fpga0";
/// fpga_manager's `name` attribute on a ZynqMP.
pub const FPGA_MANAGER_NAME: &str = "Xilinx ZynqMP FPGA Manager";
/// First fake physical address of the DMA buffers.
pub const DMA_BASE: u64 = 0x7000_0000;
/// Alignment of every DMA buffer's physical address.
pub const DMA_ALIGN: u64 = 2 << 20;
/// The INA226 drivers' default update interval: 16 averages of two 1.1 ms conversions
/// (35.2 ms; `INA226_CONFIG_DEFAULT` 0x4527 in the ina2xx driver), which reads as 35.
pub const DEFAULT_UPDATE_INTERVAL_MS: u64 = 35;

const PLATFORM_DIR: &str = "/sys/devices/platform/amba_pl@0/a0000000.fibha";
const FPGA_DEVICE_DIR: &str = "/sys/devices/platform/firmware:zynqmp-firmware/firmware:zynqmp-firmware:pcap/fpga_manager/fpga0";
const UDMABUF_DEVICE_DIR: &str = "/sys/devices/virtual/u-dma-buf";

/// Which hwmon driver stack the rails appear under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RailLayout {
    /// Mainline device tree: `iio-hwmon` over `ina2xx-adc` (`name` = `ina226_uNN`).
    Mainline,
    /// Xilinx BSP kernels: the `ina2xx` hwmon driver (`name` = `ina226`); PetaLinux's default.
    #[default]
    Legacy,
}

impl FromStr for RailLayout {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "mainline" => Ok(Self::Mainline),
            "legacy" => Ok(Self::Legacy),
            _ => Err(Error::BadOption {
                option: "--rails",
                value: text.to_owned(),
                problem: "expected `mainline` (iio-hwmon) or `legacy` (ina2xx)".into(),
            }),
        }
    }
}

/// One u-dma-buf buffer to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferSpec {
    /// Its device name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The buffers a MobileNetV2 224x224 instance needs: two input slots (double-buffered) of
/// four images each (224 x 224 x 3 int8 = 150528 B an image; four stream through one
/// call), two output slots of four 7 x 7 x 1280 maps (62720 B each) and the weights
/// (MobileNetV2 has 3.5 M parameters: 8 MiB holds them with biases and descriptors).
pub fn default_buffers() -> Vec<BufferSpec> {
    let inputs = linux::INPUT_BUFFERS.map(|name| (name, 4 * 150_528));
    let outputs = linux::OUTPUT_BUFFERS.map(|name| (name, 4 * 62_720));
    inputs
        .into_iter()
        .chain(outputs)
        .chain([(linux::WEIGHTS_BUFFER, 8 << 20)])
        .map(|(name, size)| BufferSpec {
            name: name.to_owned(),
            size,
        })
        .collect()
}

/// Parses `--buffers name=size,...`; sizes are bytes in decimal or `0x` hex, or with a
/// `K`/`M` (KiB, MiB) suffix.
pub fn parse_buffers(text: &str) -> Result<Vec<BufferSpec>> {
    let bad = |problem: String| Error::BadOption {
        option: "--buffers",
        value: text.to_owned(),
        problem,
    };
    let mut out: Vec<BufferSpec> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, size) = item
            .split_once('=')
            .ok_or_else(|| bad(format!("{item:?} is not name=size")))?;
        if !is_valid_buffer_name(name) {
            return Err(bad(format!(
                "{name:?} is not a buffer name (letters, digits, _ and -)"
            )));
        }
        let size = parse_size(size)
            .filter(|&s| s > 0)
            .ok_or_else(|| bad(format!("{size:?} is not a positive size")))?;
        if out.iter().any(|b| b.name == name) {
            return Err(bad(format!("buffer {name} is given twice")));
        }
        out.push(BufferSpec {
            name: name.to_owned(),
            size,
        });
    }
    Ok(out)
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, 'K' | 'k') => (&text[..i], 1 << 10),
        (i, 'M' | 'm') => (&text[..i], 1 << 20),
        _ => (text, 1),
    };
    attr::parse_u64(number)?.checked_mul(unit)
}

/// The default buffers with `overrides` applied: a name that exists changes size, a new
/// name is added after the defaults.
pub fn merge_buffers(overrides: &[BufferSpec]) -> Vec<BufferSpec> {
    let mut buffers = default_buffers();
    for wanted in overrides {
        match buffers.iter_mut().find(|b| b.name == wanted.name) {
            Some(existing) => existing.size = wanted.size,
            None => buffers.push(wanted.clone()),
        }
    }
    buffers
}

/// What to lay out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutOptions {
    /// The DMA buffers, in address order.
    pub buffers: Vec<BufferSpec>,
    /// The hwmon layout of the rails.
    pub rails: RailLayout,
    /// The INA226 update interval the rails report and are rewritten at, in ms.
    pub update_interval_ms: u64,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        Self {
            buffers: default_buffers(),
            rails: RailLayout::default(),
            update_interval_ms: DEFAULT_UPDATE_INTERVAL_MS,
        }
    }
}

/// A DMA buffer as laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedBuffer {
    /// Its device name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its fake bus address.
    pub phys_addr: u64,
    /// `/dev/NAME` under the root.
    pub dev_path: PathBuf,
    /// Its sysfs directory (the real one, not the class link).
    pub sysfs_dir: PathBuf,
}

impl PlacedBuffer {
    /// The offset of bus address range `addr..addr + len` inside this buffer, if it lies
    /// entirely inside.
    pub fn offset_of(&self, addr: u64, len: u64) -> Option<u64> {
        let offset = addr.checked_sub(self.phys_addr)?;
        (offset.checked_add(len)? <= self.size).then_some(offset)
    }
}

/// Assigns addresses to `specs` in order, each aligned to [`DMA_ALIGN`].
fn place(root: &Path, specs: &[BufferSpec]) -> Result<Vec<PlacedBuffer>> {
    let mut next = DMA_BASE;
    let mut placed = Vec::with_capacity(specs.len());
    for spec in specs {
        let end = next
            .checked_add(spec.size)
            .ok_or_else(|| Error::BadOption {
                option: "--buffers",
                value: format!("{}={}", spec.name, spec.size),
                problem: "the buffers do not fit in a 64-bit address space".into(),
            })?;
        placed.push(PlacedBuffer {
            name: spec.name.clone(),
            size: spec.size,
            phys_addr: next,
            dev_path: join(root, &format!("/dev/{}", spec.name)),
            sysfs_dir: join(root, &format!("{UDMABUF_DEVICE_DIR}/{}", spec.name)),
        });
        next = end.div_ceil(DMA_ALIGN).saturating_mul(DMA_ALIGN);
    }
    Ok(placed)
}

/// Creates `root` if needed and returns it absolute; refuses the system's own `/`, where
/// the layout would overwrite the real `/sys` and `/dev` entries.
pub fn prepare_root(root: &Path) -> Result<PathBuf> {
    if root.canonicalize().is_ok_and(|r| r.parent().is_none()) {
        return Err(Error::BadOption {
            option: "--root",
            value: root.display().to_string(),
            problem: "refusing to lay out a virtual board over the system's own root".into(),
        });
    }
    attr::create_dir(root)?;
    root.canonicalize().map_err(Error::io("resolve", root))
}

/// `root` joined with an absolute board path.
pub fn join(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// The laid-out tree.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    buffers: Vec<PlacedBuffer>,
    rails: RailLayout,
    update_interval_ms: u64,
}

impl Layout {
    /// Lays out every file under `root` (created if needed) in the boot state.
    pub fn create(root: &Path, options: &LayoutOptions) -> Result<Self> {
        if options.buffers.is_empty() {
            return Err(Error::BadOption {
                option: "--buffers",
                value: String::new(),
                problem: "at least one DMA buffer is needed".into(),
            });
        }
        if options.update_interval_ms == 0 {
            return Err(Error::BadOption {
                option: "--period-ms",
                value: "0".into(),
                problem: "the rail update interval must be at least 1 ms".into(),
            });
        }
        let root = prepare_root(root)?;
        let layout = Self {
            buffers: place(&root, &options.buffers)?,
            root,
            rails: options.rails,
            update_interval_ms: options.update_interval_ms,
        };
        layout.create_control_dir()?;
        layout.create_uio()?;
        layout.remove_stale_classes()?;
        for buffer in &layout.buffers {
            create_buffer(&layout.root, buffer, true)?;
        }
        layout.create_fpga_manager()?;
        layout.reset_overlays()?;
        hwmon::create_tree(
            &layout.root,
            layout.rails,
            &power::idle_readings(),
            layout.update_interval_ms,
        )?;
        Ok(layout)
    }

    /// The root directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A board path under the root.
    pub fn join(&self, absolute: &str) -> PathBuf {
        join(&self.root, absolute)
    }

    /// The DMA buffers, in address order.
    pub fn buffers(&self) -> &[PlacedBuffer] {
        &self.buffers
    }

    /// The rails' hwmon layout.
    pub fn rails(&self) -> RailLayout {
        self.rails
    }

    /// The rails' update interval in ms.
    pub fn update_interval_ms(&self) -> u64 {
        self.update_interval_ms
    }

    /// `/dev/uio0`: the register file.
    pub fn register_file(&self) -> PathBuf {
        self.join(&format!("/dev/uio{UIO_INDEX}"))
    }

    /// `/dev/uio0.irq`: interrupt counts, board to runtime.
    pub fn irq_fifo(&self) -> PathBuf {
        self.join(&format!("/dev/uio{UIO_INDEX}.irq"))
    }

    /// `/dev/uio0.irqctl`: re-arm writes, runtime to board.
    pub fn irqctl_fifo(&self) -> PathBuf {
        self.join(&format!("/dev/uio{UIO_INDEX}.irqctl"))
    }

    /// fpga_manager's device directory.
    pub fn fpga_dir(&self) -> PathBuf {
        self.join(FPGA_DEVICE_DIR)
    }

    /// `/lib/firmware`.
    pub fn firmware_dir(&self) -> PathBuf {
        self.join("/lib/firmware")
    }

    /// configfs's overlay directory.
    pub fn overlays_dir(&self) -> PathBuf {
        self.join("/sys/kernel/config/device-tree/overlays")
    }

    /// `/vboard`: the board's own control files.
    pub fn control_dir(&self) -> PathBuf {
        self.join(vboard::CONTROL_DIR)
    }

    /// `/vboard/faults`: one file per active fault.
    pub fn faults_dir(&self) -> PathBuf {
        self.join(vboard::FAULTS_DIR)
    }

    /// `/vboard/stop`: created by whoever wants the board to stop.
    pub fn stop_file(&self) -> PathBuf {
        self.join(vboard::STOP_FILE)
    }

    /// `/vboard/lock`: held by the serving board.
    pub fn lock_file(&self) -> PathBuf {
        self.join(vboard::LOCK_FILE)
    }

    /// `/vboard/kernel.pid`: the running kernel process, while there is one.
    pub fn kernel_pid_file(&self) -> PathBuf {
        self.join(vboard::KERNEL_PID_FILE)
    }

    /// `/vboard/load_error`: why the last bitstream load failed, until one succeeds.
    pub fn load_error_file(&self) -> PathBuf {
        self.join(vboard::LOAD_ERROR_FILE)
    }

    /// Grows every buffer `wanted` names to at least its size and re-assigns addresses;
    /// returns whether anything changed. A name that is not laid out is an error.
    pub fn grow_buffers(&mut self, wanted: &BTreeMap<String, u64>) -> Result<bool> {
        let mut specs: Vec<BufferSpec> = self
            .buffers
            .iter()
            .map(|b| BufferSpec {
                name: b.name.clone(),
                size: b.size,
            })
            .collect();
        let mut changed = false;
        for (name, &size) in wanted {
            let spec = specs.iter_mut().find(|s| s.name == *name).ok_or_else(|| {
                Error::BadOption {
                    option: "buffers",
                    value: name.clone(),
                    problem: format!(
                        "the instance needs a u-dma-buf buffer the board does not have (it has {})",
                        self.buffer_names()
                    ),
                }
            })?;
            if spec.size < size {
                spec.size = size;
                changed = true;
            }
        }
        if changed {
            self.buffers = place(&self.root, &specs)?;
            for buffer in &self.buffers {
                create_buffer(&self.root, buffer, false)?;
            }
        }
        Ok(changed)
    }

    fn buffer_names(&self) -> String {
        let names: Vec<&str> = self.buffers.iter().map(|b| b.name.as_str()).collect();
        names.join(", ")
    }

    /// Removes the interrupt FIFOs (when the board stops).
    pub fn remove_fifos(&self) -> Result<()> {
        attr::remove_if_present(&self.irq_fifo())?;
        attr::remove_if_present(&self.irqctl_fifo())
    }

    /// Buffers and rails of an earlier layout under this root (other `--buffers`, another
    /// `--rails`) would show up beside the new ones: their class entries go first.
    fn remove_stale_classes(&self) -> Result<()> {
        for class in ["/sys/class/u-dma-buf", "/sys/class/hwmon"] {
            attr::remove_tree_if_present(&self.join(class))?;
        }
        Ok(())
    }

    fn create_control_dir(&self) -> Result<()> {
        attr::create_dir(&self.faults_dir())?;
        for stale in [
            self.stop_file(),
            self.kernel_pid_file(),
            self.load_error_file(),
        ] {
            attr::remove_if_present(&stale)?;
        }
        Ok(())
    }

    fn create_uio(&self) -> Result<()> {
        let uio = format!("{PLATFORM_DIR}/uio/uio{UIO_INDEX}");
        let dir = self.join(&uio);
        let map = dir.join("maps/map0");
        attr::create_dir(&map)?;
        attr::write_new(&dir.join("name"), UIO_NAME)?;
        attr::write_new(&dir.join("version"), "devicetree")?;
        attr::write_new(&dir.join("event"), "0")?;
        attr::write_new(&map.join("name"), &format!("fibha@{REGISTER_MAP_ADDR:x}"))?;
        attr::write_new(&map.join("addr"), &format!("{REGISTER_MAP_ADDR:#018x}"))?;
        attr::write_new(&map.join("size"), &format!("{REGISTER_MAP_SIZE:#010x}"))?;
        attr::write_new(&map.join("offset"), "0x0")?;
        attr::symlink("../../../a0000000.fibha", &dir.join("device"))?;

        let node = self.join(&format!("/sys/firmware/devicetree/base{DT_NODE}"));
        attr::create_dir(&node)?;
        std::fs::write(node.join("name"), "fibha\0").map_err(Error::io("write", &node))?;
        std::fs::write(node.join("compatible"), "generic-uio\0")
            .map_err(Error::io("write", &node))?;
        attr::symlink(
            &format!("../../../../firmware/devicetree/base{DT_NODE}"),
            &self.join(&format!("{PLATFORM_DIR}/of_node")),
        )?;
        // Bound as PetaLinux binds it: uio_pdrv_genirq, told by `of_id` which nodes to take.
        let driver = self.join("/sys/bus/platform/drivers/uio_pdrv_genirq");
        attr::create_dir(&driver)?;
        attr::symlink(
            "../../../../bus/platform/drivers/uio_pdrv_genirq",
            &self.join(&format!("{PLATFORM_DIR}/driver")),
        )?;
        let parameters = self.join("/sys/module/uio_pdrv_genirq/parameters");
        attr::create_dir(&parameters)?;
        attr::write_new(&parameters.join("of_id"), "generic-uio")?;

        let class = self.join("/sys/class/uio");
        attr::create_dir(&class)?;
        attr::symlink(
            &format!("../../devices/platform/amba_pl@0/a0000000.fibha/uio/uio{UIO_INDEX}"),
            &class.join(format!("uio{UIO_INDEX}")),
        )?;

        let dev = self.join("/dev");
        attr::create_dir(&dev)?;
        zeroed_file(&self.register_file(), REGISTER_MAP_SIZE, true)?;
        for fifo in [self.irq_fifo(), self.irqctl_fifo()] {
            make_fifo(&fifo)?;
        }
        Ok(())
    }

    fn create_fpga_manager(&self) -> Result<()> {
        let dir = self.fpga_dir();
        attr::create_dir(&dir)?;
        attr::write_new(&dir.join("name"), FPGA_MANAGER_NAME)?;
        attr::write_new(&dir.join("state"), "unknown")?;
        attr::write_new(&dir.join("flags"), "0")?;
        std::fs::write(dir.join("firmware"), "").map_err(Error::io("write", &dir))?;
        let class = self.join("/sys/class/fpga_manager");
        attr::create_dir(&class)?;
        attr::symlink(
            &format!("../../{}", FPGA_DEVICE_DIR.trim_start_matches("/sys/")),
            &class.join(FPGA_MANAGER),
        )?;
        attr::create_dir(&self.firmware_dir())
    }

    /// configfs starts empty at boot: items left from an earlier run are removed.
    fn reset_overlays(&self) -> Result<()> {
        let dir = self.overlays_dir();
        attr::remove_tree_if_present(&dir)?;
        attr::create_dir(&dir)
    }
}

/// Creates (or, when `fresh` is false, grows) one buffer's sysfs directory and device file.
fn create_buffer(root: &Path, buffer: &PlacedBuffer, fresh: bool) -> Result<()> {
    let dir = &buffer.sysfs_dir;
    attr::create_dir(dir)?;
    attr::write_new(
        &dir.join("phys_addr"),
        &format!("{:#018x}", buffer.phys_addr),
    )?;
    attr::write_new(&dir.join("size"), &buffer.size.to_string())?;
    if fresh {
        for (name, value) in [
            ("sync_mode", "1".to_owned()),
            ("sync_offset", "0".to_owned()),
            ("sync_size", buffer.size.to_string()),
            ("sync_direction", "0".to_owned()),
            ("sync_owner", "0".to_owned()),
            ("sync_for_cpu", "0".to_owned()),
            ("sync_for_device", "0".to_owned()),
            ("dma_coherent", "0".to_owned()),
        ] {
            attr::write_new(&dir.join(name), &value)?;
        }
    }
    let class = join(root, "/sys/class/u-dma-buf");
    attr::create_dir(&class)?;
    attr::symlink(
        &format!("../../devices/virtual/u-dma-buf/{}", buffer.name),
        &class.join(&buffer.name),
    )?;
    zeroed_file(&buffer.dev_path, buffer.size, fresh)
}

/// Makes `path` a file of `len` bytes; `fresh` discards old content (zeros, like memory
/// after a reboot), otherwise the file only grows.
fn zeroed_file(path: &Path, len: u64, fresh: bool) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(fresh)
        .open(path)
        .map_err(Error::io("create", path))?;
    let current = file.metadata().map_err(Error::io("inspect", path))?.len();
    if current < len {
        file.set_len(len).map_err(Error::io("size", path))?;
    }
    Ok(())
}

/// Creates a FIFO at `path`, keeping one that exists (a runtime may hold it open).
fn make_fifo(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match path.symlink_metadata() {
        Ok(meta) if meta.file_type().is_fifo() => return Ok(()),
        Ok(_) => attr::remove_if_present(path)?,
        Err(_) => {}
    }
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o660))
        .map_err(|errno| Error::io("create FIFO", path)(errno.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_options_parse_and_merge() {
        let parsed = parse_buffers("fibha_in0=0x100, fibha_weights=16M,extra=4k").unwrap();
        assert_eq!(
            parsed,
            [
                BufferSpec {
                    name: "fibha_in0".into(),
                    size: 0x100
                },
                BufferSpec {
                    name: "fibha_weights".into(),
                    size: 16 << 20
                },
                BufferSpec {
                    name: "extra".into(),
                    size: 4096
                },
            ]
        );
        let merged = merge_buffers(&parsed);
        // The five defaults and `extra`.
        assert_eq!(merged.len(), 6);
        assert_eq!(merged[0].size, 0x100);
        assert_eq!(merged[4].size, 16 << 20);
        for bad in ["x", "a=0", "a=1,a=2", "a/b=1", "a=12Q"] {
            assert!(parse_buffers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buffers_get_distinct_aligned_addresses() {
        let placed = place(Path::new("/r"), &default_buffers()).unwrap();
        let addrs: Vec<u64> = placed.iter().map(|b| b.phys_addr).collect();
        assert_eq!(addrs[0], DMA_BASE);
        for pair in placed.windows(2) {
            assert!(pair[1].phys_addr >= pair[0].phys_addr + pair[0].size);
            assert_eq!(pair[1].phys_addr % DMA_ALIGN, 0);
        }
        let input = &placed[0];
        assert_eq!(input.offset_of(DMA_BASE + 10, 100), Some(10));
        assert_eq!(input.offset_of(DMA_BASE, input.size + 1), None);
        assert_eq!(input.offset_of(DMA_BASE - 1, 1), None);
        assert_eq!(input.offset_of(u64::MAX, 2), None);
    }

    #[test]
    fn the_tree_is_laid_out_and_buffers_grow() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::create(dir.path(), &LayoutOptions::default()).unwrap();
        let regs = std::fs::metadata(layout.register_file()).unwrap();
        assert_eq!(regs.len(), REGISTER_MAP_SIZE);
        let fpga = dir.path().join("sys/class/fpga_manager/fpga0/state");
        assert_eq!(std::fs::read_to_string(fpga).unwrap(), "unknown\n");
        let grown = BTreeMap::from([("fibha_out0".to_owned(), 8 << 20)]);
        assert!(layout.grow_buffers(&grown).unwrap());
        assert!(!layout.grow_buffers(&grown).unwrap());
        let out0 = &layout.buffers()[2];
        assert_eq!(std::fs::metadata(&out0.dev_path).unwrap().len(), 8 << 20);
        let err = layout
            .grow_buffers(&BTreeMap::from([("nope".to_owned(), 1)]))
            .unwrap_err();
        assert!(err.to_string().contains("fibha_in0"), "{err}");
        // Laying out again over an existing tree works, resets it, and drops what the
        // new options do not have.
        let fewer = LayoutOptions {
            buffers: default_buffers()[..2].to_vec(),
            ..LayoutOptions::default()
        };
        Layout::create(dir.path(), &fewer).unwrap();
        let classes = std::fs::read_dir(dir.path().join("sys/class/u-dma-buf")).unwrap();
        assert_eq!(classes.count(), 2);
        let err = Layout::create(Path::new("/"), &fewer).unwrap_err();
        assert!(err.to_string().contains("system's own root"), "{err}");
    }
}
