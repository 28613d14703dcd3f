//! u-dma-buf DMA buffers: discovery, a cached mapping, cache maintenance and typed views.
//!
//! u-dma-buf allocates physically contiguous buffers and lists each as
//! `/sys/class/u-dma-buf/NAME` (class `udmabuf` in older versions) with `phys_addr` and
//! `size`; `/dev/NAME` maps it. The mapping here is cached (no `O_SYNC`), which is several
//! times faster for the CPU, so each transfer is bracketed by cache maintenance over the
//! bytes it uses: `sync_offset`, `sync_size`, `sync_direction`, then `1` into
//! `sync_for_device` before the accelerator reads or writes, and into `sync_for_cpu`
//! before the CPU reads. When the buffer reports `dma_coherent` = 1 the hardware keeps
//! caches coherent and only the ordering barrier remains.
//!
//! Ownership protocol (the caller's side of the contract): between `sync_for_device` and the
//! accelerator's completion the device owns the synced bytes, and no slice or view of them
//! may be held; after `sync_for_cpu` the CPU owns them again. Mutable access needs
//! `&mut DmaBuffer`, so within the process the borrow checker rules out aliasing.
//!
//! Virtual board: `/dev/NAME` is a regular file of `size` bytes that the board process maps
//! `MAP_SHARED` too; the sync attributes are plain files that just record the writes.
#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::{MmapOptions, MmapRaw};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::error::{BoardError, Result};
use crate::mmio::{check_file_covers, dma_fence};
use crate::root::Root;
use crate::sysfs;

/// The class directories u-dma-buf uses: current first, then the older name.
pub const DMA_CLASS_DIRS: [&str; 2] = ["/sys/class/u-dma-buf", "/sys/class/udmabuf"];

/// A u-dma-buf buffer as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmaBufferInfo {
    /// The buffer's name (`device-name` in the device tree, or `udmabufN`).
    pub name: String,
    /// The resolved sysfs directory holding its attributes.
    pub sysfs_dir: PathBuf,
    /// The device node, `/dev/NAME` under the root.
    pub dev_path: PathBuf,
    /// Bus address the accelerator uses for byte 0.
    pub phys_addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Whether the hardware keeps CPU caches coherent with the device (`dma_coherent`;
    /// absent in old versions, which then count as not coherent).
    pub coherent: bool,
}

/// Every u-dma-buf buffer under `root`, from both class directories, sorted by name.
pub fn list_dma_buffers(root: &Root) -> Result<Vec<DmaBufferInfo>> {
    let mut buffers = Vec::new();
    for class in DMA_CLASS_DIRS {
        for (name, path) in sysfs::list_dir(&root.join(class))? {
            let dir = root.resolve(&path)?;
            let coherent = match sysfs::read_optional(&dir.join("dma_coherent"))? {
                Some(_) => sysfs::read_u64(&dir.join("dma_coherent"))? != 0,
                None => false,
            };
            buffers.push(DmaBufferInfo {
                phys_addr: sysfs::read_u64(&dir.join("phys_addr"))?,
                size: sysfs::read_u64(&dir.join("size"))?,
                coherent,
                dev_path: root.join(format!("/dev/{name}")),
                sysfs_dir: dir,
                name,
            });
        }
    }
    buffers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(buffers)
}

/// The buffer called `name`; the error lists the buffers found instead.
pub fn find_dma_buffer(root: &Root, name: &str) -> Result<DmaBufferInfo> {
    let buffers = list_dma_buffers(root)?;
    let found = buffers.iter().map(|b| b.name.clone()).collect();
    buffers
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| BoardError::NoDmaBuffer {
            wanted: name.to_owned(),
            searched: DMA_CLASS_DIRS.iter().map(|c| root.join(c)).collect(),
            found,
        })
}

/// Which way the data of a transfer moves, as u-dma-buf's `sync_direction` encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncDirection {
    /// Both ways (0).
    Bidirectional,
    /// CPU wrote, device reads (1).
    ToDevice,
    /// Device writes, CPU reads (2).
    FromDevice,
}

impl SyncDirection {
    fn code(self) -> u8 {
        match self {
            Self::Bidirectional => 0,
            Self::ToDevice => 1,
            Self::FromDevice => 2,
        }
    }
}

/// A mapped u-dma-buf buffer.
#[derive(Debug)]
pub struct DmaBuffer {
    info: DmaBufferInfo,
    map: MmapRaw,
    len: usize,
    sync_files: SyncFiles,
}

/// The sync attributes' paths, joined once at open: every inference syncs, and the runtime's
/// steady state allocates nothing.
#[derive(Debug)]
struct SyncFiles {
    offset: PathBuf,
    size: PathBuf,
    direction: PathBuf,
    for_device: PathBuf,
    for_cpu: PathBuf,
}

impl SyncFiles {
    fn new(dir: &Path) -> Self {
        Self {
            offset: dir.join("sync_offset"),
            size: dir.join("sync_size"),
            direction: dir.join("sync_direction"),
            for_device: dir.join("sync_for_device"),
            for_cpu: dir.join("sync_for_cpu"),
        }
    }
}

impl DmaBuffer {
    /// Finds buffer `name` under `root` and maps it; it must hold `required` bytes.
    pub fn open(root: &Root, name: &str, required: u64) -> Result<Self> {
        Self::open_info(find_dma_buffer(root, name)?, required)
    }

    /// Maps a buffer found by [`list_dma_buffers`] or [`find_dma_buffer`]; it must hold
    /// `required` bytes.
    pub fn open_info(info: DmaBufferInfo, required: u64) -> Result<Self> {
        let too_small = |info: &DmaBufferInfo| BoardError::BufferTooSmall {
            name: info.name.clone(),
            size: info.size,
            required: required.max(1),
        };
        if info.size == 0 || info.size < required {
            return Err(too_small(&info));
        }
        let len = usize::try_from(info.size).map_err(|_| too_small(&info))?;
        // Without O_SYNC u-dma-buf maps the buffer cached; the sync attributes keep it right.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&info.dev_path)
            .map_err(BoardError::open_device(&info.dev_path))?;
        check_file_covers(&file, &info.dev_path, 0, len)?;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(BoardError::io("map", &info.dev_path))?;
        let sync_files = SyncFiles::new(&info.sysfs_dir);
        Ok(Self {
            info,
            map,
            len,
            sync_files,
        })
    }

    /// What sysfs says about the buffer.
    pub fn info(&self) -> &DmaBufferInfo {
        &self.info
    }

    /// The buffer's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty (never, for an opened buffer).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bus address of byte `offset`, to hand to the accelerator.
    pub fn device_addr(&self, offset: usize) -> Result<u64> {
        self.check(offset..offset)?;
        Ok(self.info.phys_addr + offset as u64)
    }

    /// The whole buffer as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` bytes, readable, and lives as long as `self.map`,
        // which outlives the returned borrow. Every byte value is a valid u8. Writers are
        // excluded by the borrow (`&mut self` is needed to write in this process) and, for
        // the device and the virtual board, by the ownership protocol in the module docs.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.len) }
    }

    /// The whole buffer as mutable bytes.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_bytes`; the mapping is writable (`map_raw` maps read-write) and
        // `&mut self` makes this the only live slice into it in this process.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr(), self.len) }
    }

    /// Bytes `range`, checked against the buffer.
    pub fn bytes(&self, range: Range<usize>) -> Result<&[u8]> {
        self.check(range.clone())?;
        Ok(&self.as_bytes()[range])
    }

    /// Mutable bytes `range`, checked against the buffer.
    pub fn bytes_mut(&mut self, range: Range<usize>) -> Result<&mut [u8]> {
        self.check(range.clone())?;
        Ok(&mut self.as_bytes_mut()[range])
    }

    /// `count` values of `T` starting at byte `offset`.
    pub fn view<T: FromBytes + Immutable>(&self, offset: usize, count: usize) -> Result<&[T]> {
        let range = self.typed_range::<T>(offset, count)?;
        <[T]>::ref_from_bytes(&self.as_bytes()[range])
            .map_err(|_| self.view_error::<T>(offset, count, "the cast was refused"))
    }

    /// `count` mutable values of `T` starting at byte `offset`.
    pub fn view_mut<T: FromBytes + IntoBytes>(
        &mut self,
        offset: usize,
        count: usize,
    ) -> Result<&mut [T]> {
        let range = self.typed_range::<T>(offset, count)?;
        let refused = self.view_error::<T>(offset, count, "the cast was refused");
        <[T]>::mut_from_bytes(&mut self.as_bytes_mut()[range]).map_err(|_| refused)
    }

    /// Hands bytes `range` to the device: writes back (and, for `FromDevice`, invalidates)
    /// the CPU's cache lines over them, then orders this against the register write that
    /// starts the accelerator. Call after the CPU has written its input and before start.
    pub fn sync_for_device(&self, range: Range<usize>, direction: SyncDirection) -> Result<()> {
        self.sync(range, direction, &self.sync_files.for_device)?;
        dma_fence();
        Ok(())
    }

    /// Hands bytes `range` back to the CPU: orders against the register read that saw the
    /// accelerator finish, then invalidates the CPU's stale cache lines over them. Call
    /// after completion and before reading the device's output.
    pub fn sync_for_cpu(&self, range: Range<usize>, direction: SyncDirection) -> Result<()> {
        dma_fence();
        self.sync(range, direction, &self.sync_files.for_cpu)
    }

    fn sync(&self, range: Range<usize>, direction: SyncDirection, trigger: &Path) -> Result<()> {
        self.check(range.clone())?;
        if self.info.coherent || range.is_empty() {
            return Ok(());
        }
        let files = &self.sync_files;
        sysfs::write_u64(&files.offset, range.start as u64)?;
        sysfs::write_u64(&files.size, range.len() as u64)?;
        sysfs::write_u64(&files.direction, u64::from(direction.code()))?;
        sysfs::write(trigger, "1")
    }

    fn check(&self, range: Range<usize>) -> Result<()> {
        if range.start <= range.end && range.end <= self.len {
            return Ok(());
        }
        Err(BoardError::DmaRange {
            name: self.info.name.clone(),
            start: range.start,
            end: range.end,
            size: self.len,
        })
    }

    fn typed_range<T>(&self, offset: usize, count: usize) -> Result<Range<usize>> {
        let end = count
            .checked_mul(size_of::<T>())
            .and_then(|bytes| offset.checked_add(bytes))
            .ok_or_else(|| self.view_error::<T>(offset, count, "the size overflows"))?;
        self.check(offset..end)?;
        let addr = self.map.as_ptr() as usize + offset;
        if !addr.is_multiple_of(align_of::<T>()) {
            let reason = format!(
                "the offset is not a multiple of the type's alignment ({})",
                align_of::<T>()
            );
            return Err(self.view_error::<T>(offset, count, &reason));
        }
        Ok(offset..end)
    }

    fn view_error<T>(&self, offset: usize, count: usize, reason: &str) -> BoardError {
        BoardError::DmaView {
            name: self.info.name.clone(),
            offset,
            count,
            ty: std::any::type_name::<T>(),
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// Lays out a buffer as u-dma-buf's sysfs and the virtual board's /dev would.
    fn add_buffer(root: &Root, class: &str, name: &str, size: u64, coherent: Option<bool>) {
        let dir = root.join(format!("/sys/devices/virtual/{class}/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("phys_addr"), "0x0000000070000000\n").unwrap();
        std::fs::write(dir.join("size"), format!("{size}\n")).unwrap();
        for attr in [
            "sync_offset",
            "sync_size",
            "sync_direction",
            "sync_for_cpu",
            "sync_for_device",
        ] {
            std::fs::write(dir.join(attr), "0\n").unwrap();
        }
        if let Some(coherent) = coherent {
            std::fs::write(
                dir.join("dma_coherent"),
                format!("{}\n", u8::from(coherent)),
            )
            .unwrap();
        }
        let class_dir = root.join(format!("/sys/class/{class}"));
        std::fs::create_dir_all(&class_dir).unwrap();
        std::os::unix::fs::symlink(
            format!("../../devices/virtual/{class}/{name}"),
            class_dir.join(name),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("/dev")).unwrap();
        File::create(root.join(format!("/dev/{name}")))
            .unwrap()
            .set_len(size)
            .unwrap();
    }

    fn attr(root: &Root, class: &str, name: &str, attr: &str) -> String {
        std::fs::read_to_string(root.join(format!("/sys/class/{class}/{name}/{attr}"))).unwrap()
    }

    #[test]
    fn buffers_are_found_in_both_class_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        add_buffer(&root, "u-dma-buf", "fibha_in", 8192, Some(false));
        add_buffer(&root, "udmabuf", "fibha_out", 4096, None);
        let names: Vec<_> = list_dma_buffers(&root)
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, ["fibha_in", "fibha_out"]);
        let out = find_dma_buffer(&root, "fibha_out").unwrap();
        assert_eq!(
            (out.phys_addr, out.size, out.coherent),
            (0x7000_0000, 4096, false)
        );
        let err = find_dma_buffer(&root, "weights").unwrap_err().to_string();
        assert!(
            err.contains("\"weights\"") && err.contains("fibha_in, fibha_out"),
            "{err}"
        );
    }

    #[test]
    fn a_small_buffer_names_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        add_buffer(&root, "u-dma-buf", "fibha_in", 4096, Some(false));
        let err = DmaBuffer::open(&root, "fibha_in", 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fibha_in is 4096 bytes, but 1048576 bytes are required"),
            "{err}"
        );
    }

    #[test]
    fn sync_writes_the_range_direction_and_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        add_buffer(&root, "u-dma-buf", "fibha_in", 8192, Some(false));
        let buffer = DmaBuffer::open(&root, "fibha_in", 8192).unwrap();
        buffer
            .sync_for_device(256..1280, SyncDirection::ToDevice)
            .unwrap();
        let read = |a| attr(&root, "u-dma-buf", "fibha_in", a);
        assert_eq!(
            (
                read("sync_offset"),
                read("sync_size"),
                read("sync_direction")
            ),
            ("256".into(), "1024".into(), "1".into())
        );
        assert_eq!(
            (read("sync_for_device"), read("sync_for_cpu")),
            ("1".into(), "0\n".into())
        );
        buffer
            .sync_for_cpu(4096..8192, SyncDirection::FromDevice)
            .unwrap();
        assert_eq!(
            (
                read("sync_offset"),
                read("sync_size"),
                read("sync_direction"),
                read("sync_for_cpu")
            ),
            ("4096".into(), "4096".into(), "2".into(), "1".into())
        );
        let err = buffer
            .sync_for_cpu(4096..8193, SyncDirection::FromDevice)
            .unwrap_err();
        assert!(
            matches!(
                err,
                BoardError::DmaRange {
                    end: 8193,
                    size: 8192,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn coherent_buffers_skip_cache_maintenance() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        add_buffer(&root, "u-dma-buf", "fibha_in", 4096, Some(true));
        let buffer = DmaBuffer::open(&root, "fibha_in", 4096).unwrap();
        assert!(buffer.info().coherent);
        buffer
            .sync_for_device(0..4096, SyncDirection::ToDevice)
            .unwrap();
        buffer
            .sync_for_cpu(0..4096, SyncDirection::FromDevice)
            .unwrap();
        for a in [
            "sync_offset",
            "sync_size",
            "sync_direction",
            "sync_for_cpu",
            "sync_for_device",
        ] {
            assert_eq!(attr(&root, "u-dma-buf", "fibha_in", a), "0\n", "{a}");
        }
    }

    #[test]
    fn typed_views_share_memory_with_the_device_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        add_buffer(&root, "u-dma-buf", "fibha_in", 4096, Some(false));
        let mut buffer = DmaBuffer::open(&root, "fibha_in", 64).unwrap();
        buffer
            .view_mut::<i32>(16, 4)
            .unwrap()
            .copy_from_slice(&[-1, 2, -3, 4]);
        buffer.bytes_mut(0..3).unwrap().copy_from_slice(&[7, 8, 9]);
        assert_eq!(buffer.view::<i32>(16, 4).unwrap(), &[-1, 2, -3, 4]);
        assert_eq!(buffer.view::<i8>(0, 3).unwrap(), &[7, 8, 9]);
        assert_eq!(buffer.device_addr(16).unwrap(), 0x7000_0010);
        let file = std::fs::read(root.join("/dev/fibha_in")).unwrap();
        assert_eq!(&file[16..20], &(-1i32).to_ne_bytes());
        assert!(matches!(
            buffer.view::<u32>(2, 1).unwrap_err(),
            BoardError::DmaView { .. }
        ));
        assert!(matches!(
            buffer.view::<u32>(4092, 2).unwrap_err(),
            BoardError::DmaRange { .. }
        ));
        assert!(buffer.view::<u64>(usize::MAX - 4, usize::MAX / 4).is_err());
    }
}
