//! Loading the fabric: fpga_manager, device-tree overlays, and the identity check.
//!
//! A full load on a ZynqMP kernel: copy the `.bit.bin` into `/lib/firmware`, write `0` to
//! `/sys/class/fpga_manager/fpga0/flags` and the file name to `firmware`, and wait until
//! `state` reads `operating`. The nodes that describe the new hardware (the UIO device,
//! the u-dma-buf buffers) come from a device-tree overlay, applied through configfs by
//! creating `/sys/kernel/config/device-tree/overlays/NAME` and writing the `.dtbo`'s file
//! name to its `path`; removing the directory removes the overlay.
//!
//! On the virtual board (whose `state` is a plain file, not sysfs) the bitstream is its
//! instance descriptor, which names a kernel executable beside it; there the firmware
//! directory gets a symbolic link to the build directory's descriptor instead of a copy,
//! so the board runs the kernel of the directory it was given, wherever that directory
//! was built, copied or moved.
//!
//! After loading, the driver reads the accelerator's ID/version registers and calls
//! [`check_kernel_identity`] so that a bundle never drives a bitstream built for another
//! plan: that would not fail loudly, it would compute wrong answers.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{BoardError, Result};
use crate::root::Root;
use crate::sysfs;
use crate::wait::poll_until;

/// Where the kernel lists FPGA managers.
pub const FPGA_CLASS_DIR: &str = "/sys/class/fpga_manager";
/// Where `request_firmware` finds bitstreams and overlays.
pub const FIRMWARE_DIR: &str = "/lib/firmware";
/// Where configfs exposes device-tree overlays.
pub const OVERLAY_DIR: &str = "/sys/kernel/config/device-tree/overlays";

/// What fpga_manager's `state` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FpgaState {
    /// `operating`: a design is loaded and running.
    Operating,
    /// A state ending in `error` (`write error`, `firmware request error`, ...).
    Failed(String),
    /// Any other state (`unknown`, `power off`, `write init`, `write`, ...).
    Other(String),
}

impl FpgaState {
    /// Reads a `state` attribute's text.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text == "operating" {
            Self::Operating
        } else if text.ends_with("error") {
            Self::Failed(text.to_owned())
        } else {
            Self::Other(text.to_owned())
        }
    }
}

impl fmt::Display for FpgaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operating => f.write_str("operating"),
            Self::Failed(s) | Self::Other(s) => f.write_str(s),
        }
    }
}

/// How to load a bitstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// fpga_manager `flags`: 0 for a full bitstream (the only kind fibha builds).
    pub flags: u32,
    /// How long to wait for `operating`.
    pub timeout: Duration,
    /// How often to read `state` meanwhile.
    pub poll_interval: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            flags: 0,
            // A full ZU9EG bitstream (about 26 MB) loads in well under a second through
            // the PCAP; the margin covers a slow firmware read from an SD card.
            timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(10),
        }
    }
}

/// One FPGA manager.
#[derive(Debug, Clone)]
pub struct FpgaManager {
    name: String,
    dir: PathBuf,
    firmware_dir: PathBuf,
}

impl FpgaManager {
    /// The FPGA manager called `name` (`fpga0` on the ZCU102).
    pub fn open(root: &Root, name: &str) -> Result<Self> {
        let found = list_managers(root)?;
        let path = found
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| BoardError::NoFpgaManager {
                wanted: name.to_owned(),
                class_dir: root.join(FPGA_CLASS_DIR),
                found: found.iter().map(|(n, _)| n.clone()).collect(),
            })?;
        Self::at(root, name, &path)
    }

    /// The first FPGA manager (there is one on a ZynqMP).
    pub fn find(root: &Root) -> Result<Self> {
        let found = list_managers(root)?;
        let (name, path) = found.first().ok_or_else(|| BoardError::NoFpgaManager {
            wanted: "device".to_owned(),
            class_dir: root.join(FPGA_CLASS_DIR),
            found: Vec::new(),
        })?;
        Self::at(root, name, path)
    }

    fn at(root: &Root, name: &str, path: &Path) -> Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            dir: root.resolve(path)?,
            firmware_dir: root.join(FIRMWARE_DIR),
        })
    }

    /// The manager's name (`fpga0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current `state`.
    pub fn state(&self) -> Result<FpgaState> {
        Ok(FpgaState::parse(&sysfs::read_trimmed(
            &self.dir.join("state"),
        )?))
    }

    /// Loads `bitstream` (a `.bit.bin`) and waits until the manager reports `operating`.
    pub fn load(&self, bitstream: &Path, options: &LoadOptions) -> Result<()> {
        self.load_watched(bitstream, options, &mut || Ok(()))
    }

    /// As [`FpgaManager::load`], calling `watch` before each read of `state`: its error
    /// (a board that went away, say) ends the wait at once instead of at the timeout.
    pub fn load_watched(
        &self,
        bitstream: &Path,
        options: &LoadOptions,
        watch: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        if !is_bit_bin(bitstream) {
            return Err(BoardError::NotBitBin {
                path: bitstream.to_path_buf(),
            });
        }
        let state_path = self.dir.join("state");
        let virtual_board = !on_sysfs(&state_path);
        let install = if virtual_board {
            Install::Link
        } else {
            Install::Copy
        };
        let firmware = install_firmware(&self.firmware_dir, bitstream, install)?;
        if virtual_board {
            // Virtual-board seam: a real fpga_manager loads inside the `firmware` write, so
            // its `state` is final when the write returns. The virtual board loads
            // asynchronously and `state` is a plain file that may still say `operating`
            // from the last load; marking the load as started keeps that stale value from
            // ending the wait early. Sysfs's `state` is read-only, hence the check.
            sysfs::write(&state_path, "write init")?;
        }
        sysfs::write(&self.dir.join("flags"), &options.flags.to_string())?;
        if let Err(err) = sysfs::write(&self.dir.join("firmware"), &firmware) {
            return Err(BoardError::FpgaLoad {
                device: self.name.clone(),
                firmware,
                state: self
                    .state()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                detail: Some(err.to_string()),
            });
        }
        let what = format!(
            "fpga_manager {} to report `operating` after loading {firmware}",
            self.name
        );
        poll_until(
            || match watch().and_then(|()| self.state())? {
                FpgaState::Operating => Ok(true),
                FpgaState::Failed(state) => Err(BoardError::FpgaLoad {
                    device: self.name.clone(),
                    firmware: firmware.clone(),
                    state,
                    detail: None,
                }),
                FpgaState::Other(_) => Ok(false),
            },
            options.timeout,
            options.poll_interval,
            &what,
        )
        .map(drop)
    }
}

fn list_managers(root: &Root) -> Result<Vec<(String, PathBuf)>> {
    Ok(sysfs::list_dir(&root.join(FPGA_CLASS_DIR))?
        .into_iter()
        .filter(|(name, _)| name.starts_with("fpga"))
        .collect())
}

fn is_bit_bin(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".bin"))
}

/// Whether `path` is a real sysfs attribute (and not one of the virtual board's plain files).
fn on_sysfs(path: &Path) -> bool {
    use nix::sys::statfs::{SYSFS_MAGIC, statfs};
    statfs(path).is_ok_and(|s| s.filesystem_type() == SYSFS_MAGIC)
}

/// How a file gets into the firmware directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Install {
    /// A copy: what `request_firmware` on a board reads.
    Copy,
    /// A symbolic link to the file's absolute path: the virtual board then finds what the
    /// descriptor names beside the original.
    Link,
}

/// Puts `source` into the firmware directory (atomically: a half-written bitstream must
/// never be visible under its final name) and returns the file name to hand the kernel.
/// A missing or unreadable `source` is named as such, not as the copy that failed.
fn install_firmware(firmware_dir: &Path, source: &Path, install: Install) -> Result<String> {
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BoardError::Layout {
            path: source.to_path_buf(),
            problem: "has no UTF-8 file name to give the kernel".into(),
        })?
        .to_owned();
    std::fs::File::open(source).map_err(BoardError::io("read", source))?;
    let target = firmware_dir.join(&name);
    if install == Install::Copy && same_file(source, &target) {
        return Ok(name);
    }
    std::fs::create_dir_all(firmware_dir).map_err(BoardError::io("create", firmware_dir))?;
    let partial = firmware_dir.join(format!(".{name}.partial"));
    match install {
        Install::Copy => {
            std::fs::copy(source, &partial)
                .map_err(BoardError::io("copy firmware to", &partial))?;
        }
        Install::Link => {
            let absolute = source
                .canonicalize()
                .map_err(BoardError::io("resolve", source))?;
            match std::fs::remove_file(&partial) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(BoardError::io("remove", &partial)(e)),
            }
            std::os::unix::fs::symlink(&absolute, &partial)
                .map_err(BoardError::io("link firmware as", &partial))?;
        }
    }
    std::fs::rename(&partial, &target).map_err(BoardError::io("install firmware as", &target))?;
    Ok(name)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A device-tree overlay applied through configfs.
#[derive(Debug)]
pub struct Overlay {
    name: String,
    dir: PathBuf,
}

impl Overlay {
    /// Installs `dtbo` into the firmware directory and applies it as overlay `name`.
    pub fn apply(root: &Root, name: &str, dtbo: &Path) -> Result<Self> {
        let overlays = root.join(OVERLAY_DIR);
        let fail = |problem: String| BoardError::Overlay {
            name: name.to_owned(),
            problem,
        };
        if !overlays.is_dir() {
            return Err(fail(format!(
                "{} does not exist: mount configfs (mount -t configfs none /sys/kernel/config) on a kernel with overlay support",
                overlays.display()
            )));
        }
        let dir = overlays.join(name);
        if dir.exists() {
            return Err(fail(format!(
                "{} exists: the overlay is applied already; remove it first",
                dir.display()
            )));
        }
        let firmware = install_firmware(&root.join(FIRMWARE_DIR), dtbo, Install::Copy)?;
        std::fs::create_dir(&dir).map_err(BoardError::io("create", &dir))?;
        let overlay = Self {
            name: name.to_owned(),
            dir,
        };
        let applied =
            sysfs::write(&overlay.dir.join("path"), &firmware).and_then(|()| overlay.is_applied());
        match applied {
            Ok(true) => Ok(overlay),
            Ok(false) => {
                let status = overlay.status().ok().flatten().unwrap_or_default();
                overlay.remove()?;
                Err(fail(format!(
                    "the kernel did not apply {firmware} (status {status:?}); see dmesg"
                )))
            }
            Err(err) => {
                overlay.remove()?;
                Err(fail(format!("applying {firmware} failed: {err}")))
            }
        }
    }

    /// The overlay's name in configfs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the kernel reports the overlay as applied. A configfs item without a
    /// `status` attribute (the virtual board's plain directory) counts as applied once its
    /// `path` is written.
    pub fn is_applied(&self) -> Result<bool> {
        Ok(match self.status()? {
            Some(status) => status == "applied",
            None => self.dir.join("path").exists(),
        })
    }

    fn status(&self) -> Result<Option<String>> {
        sysfs::read_optional(&self.dir.join("status"))
    }

    /// Removes the overlay.
    pub fn remove(self) -> Result<()> {
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTEMPTY) => {
                // Only a plain directory (virtual board) holds files; configfs removes an
                // item with its attributes.
                for attr in ["path", "status", "dtbo"] {
                    match std::fs::remove_file(self.dir.join(attr)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(BoardError::io("remove", &self.dir.join(attr))(e)),
                    }
                }
                std::fs::remove_dir(&self.dir).map_err(BoardError::io("remove", &self.dir))
            }
            Err(e) => Err(BoardError::io("remove", &self.dir)(e)),
        }
    }
}

/// What the accelerator's ID/version registers hold, and what the bundle's manifest says
/// they must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelIdentity {
    /// Hash of the plan the bitstream was built from.
    pub plan_hash: u64,
    /// Version of the register interface.
    pub version: u32,
}

impl fmt::Display for KernelIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plan hash {:#018x} (interface version {})",
            self.plan_hash, self.version
        )
    }
}

/// Refuses to go on when the loaded accelerator is not the one the bundle expects.
pub fn check_kernel_identity(expected: KernelIdentity, found: KernelIdentity) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(BoardError::KernelMismatch { expected, found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn add_manager(root: &Root, state: &str) -> PathBuf {
        let dir = root.join("/sys/devices/platform/firmware/zynqmp-pcap/fpga_manager/fpga0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("name"), "Xilinx ZynqMP FPGA Manager\n").unwrap();
        std::fs::write(dir.join("state"), format!("{state}\n")).unwrap();
        std::fs::write(dir.join("flags"), "\n").unwrap();
        std::fs::write(dir.join("firmware"), "\n").unwrap();
        let class = root.join(FPGA_CLASS_DIR);
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/platform/firmware/zynqmp-pcap/fpga_manager/fpga0",
            class.join("fpga0"),
        )
        .unwrap();
        dir
    }

    fn bitstream(dir: &Path) -> PathBuf {
        let path = dir.join("fibha_zcu102.bit.bin");
        std::fs::write(&path, b"\xaa\x99\x55\x66 not a real bitstream").unwrap();
        path
    }

    /// The virtual board's side: once `firmware` names the file, move `state` to `end`.
    fn board_finishes_with(dir: PathBuf, end: &'static str) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for _ in 0..500 {
                if std::fs::read_to_string(dir.join("firmware")).unwrap() == "fibha_zcu102.bit.bin"
                {
                    thread::sleep(Duration::from_millis(20));
                    std::fs::write(dir.join("state"), format!("{end}\n")).unwrap();
                    return;
                }
                thread::sleep(Duration::from_millis(2));
            }
            panic!("the loader never wrote `firmware`");
        })
    }

    fn quick() -> LoadOptions {
        LoadOptions {
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(2),
            ..LoadOptions::default()
        }
    }

    #[test]
    fn load_installs_firmware_and_waits_for_operating() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("root"));
        // A stale `operating` from an earlier load must not end the wait.
        let mgr_dir = add_manager(&root, "operating");
        let board = board_finishes_with(mgr_dir.clone(), "operating");
        let manager = FpgaManager::find(&root).unwrap();
        manager.load(&bitstream(dir.path()), &quick()).unwrap();
        board.join().unwrap();
        assert_eq!(manager.state().unwrap(), FpgaState::Operating);
        assert_eq!(std::fs::read_to_string(mgr_dir.join("flags")).unwrap(), "0");
        // The virtual board's firmware is a link to the file given, so what it names
        // beside itself is found beside the original.
        let installed = root.join("/lib/firmware/fibha_zcu102.bit.bin");
        assert_eq!(
            std::fs::read_link(&installed).unwrap(),
            dir.path()
                .join("fibha_zcu102.bit.bin")
                .canonicalize()
                .unwrap()
        );
        assert!(
            std::fs::read(installed)
                .unwrap()
                .starts_with(b"\xaa\x99\x55\x66")
        );
    }

    #[test]
    fn a_missing_bitstream_is_named_not_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("root"));
        add_manager(&root, "unknown");
        let missing = dir.path().join("copy/fibha.bit.bin");
        let err = FpgaManager::find(&root)
            .unwrap()
            .load(&missing, &quick())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("cannot read {}: ", missing.display())),
            "{err}"
        );
    }

    #[test]
    fn an_error_state_fails_the_load_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("root"));
        let board = board_finishes_with(add_manager(&root, "unknown"), "write error");
        let err = FpgaManager::open(&root, "fpga0")
            .unwrap()
            .load(&bitstream(dir.path()), &quick())
            .unwrap_err();
        board.join().unwrap();
        assert_eq!(
            err.to_string(),
            "fpga_manager fpga0: loading fibha_zcu102.bit.bin failed; state is \"write error\""
        );
    }

    #[test]
    fn a_load_that_never_finishes_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("root"));
        add_manager(&root, "unknown");
        let options = LoadOptions {
            timeout: Duration::from_millis(60),
            ..quick()
        };
        let err = FpgaManager::find(&root)
            .unwrap()
            .load(&bitstream(dir.path()), &options)
            .unwrap_err();
        assert!(matches!(err, BoardError::Timeout { .. }), "{err}");
    }

    #[test]
    fn a_plain_bit_file_and_a_missing_manager_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        add_manager(&root, "unknown");
        let manager = FpgaManager::find(&root).unwrap();
        let err = manager.load(Path::new("design.bit"), &quick()).unwrap_err();
        assert!(matches!(err, BoardError::NotBitBin { .. }), "{err}");
        let err = FpgaManager::open(&root, "fpga1").unwrap_err().to_string();
        assert!(err.contains("found: fpga0"), "{err}");
    }

    #[test]
    fn overlays_apply_and_remove_through_configfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("root"));
        let dtbo = dir.path().join("fibha.dtbo");
        std::fs::write(&dtbo, b"\xd0\x0d\xfe\xed").unwrap();
        let err = Overlay::apply(&root, "fibha", &dtbo)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mount configfs"), "{err}");

        std::fs::create_dir_all(root.join(OVERLAY_DIR)).unwrap();
        let overlay = Overlay::apply(&root, "fibha", &dtbo).unwrap();
        let item = root.join(OVERLAY_DIR).join("fibha");
        assert_eq!(
            std::fs::read_to_string(item.join("path")).unwrap(),
            "fibha.dtbo"
        );
        assert!(root.join("/lib/firmware/fibha.dtbo").exists());
        assert!(overlay.is_applied().unwrap());
        let again = Overlay::apply(&root, "fibha", &dtbo)
            .unwrap_err()
            .to_string();
        assert!(again.contains("applied already"), "{again}");
        overlay.remove().unwrap();
        assert!(!item.exists());
    }

    #[test]
    fn identity_mismatch_names_both() {
        let expected = KernelIdentity {
            plan_hash: 0x1234_5678_9abc_def0,
            version: 2,
        };
        assert!(check_kernel_identity(expected, expected).is_ok());
        let found = KernelIdentity {
            plan_hash: 0xfeed,
            version: 2,
        };
        let err = check_kernel_identity(expected, found)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expects plan hash 0x123456789abcdef0"),
            "{err}"
        );
        assert!(
            err.contains("reports plan hash 0x000000000000feed"),
            "{err}"
        );
    }
}
