//! Test harness: a virtual board as a child process, the test kernel, and instances.
//!
//! Every wait has a deadline and every child process is stopped in `Drop`, so a failing
//! test cannot hang the suite or leave processes behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fibha_board::Root;
use fibha_board::fpga::{FpgaManager, LoadOptions};
use fibha_board::vboard::{VboardCommand, VboardProcess};
use fibha_model::descriptor::DescriptorSpec as InstanceSpec;

/// Builds the test kernel (`hls/csim/test_kernel.cpp` behind the kernel shell) once per
/// test run, with the HLS sources' own make target.
pub fn test_kernel() -> &'static Path {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let hls = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hls");
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Built under a private name, then renamed: concurrent test runs never see half
        // a binary, and only one file stays behind.
        let partial = out_dir.join(format!(".vboard_test_kernel.{}", std::process::id()));
        let out = out_dir.join("vboard_test_kernel");
        let status = Command::new("make")
            .arg("-C")
            .arg(&hls)
            .args(["--no-print-directory", "-B", "test-kernel"])
            .arg(format!("TEST_KERNEL_OUT={}", partial.display()))
            .status()
            .expect("make runs");
        assert!(status.success(), "building the test kernel failed");
        std::fs::rename(&partial, &out).unwrap();
        out
    })
}

/// The plan hash the test instances carry.
pub const PLAN_HASH: u64 = 0x1f2e_3d4c_5b6a_7988;

/// Writes an instance of the test kernel into `dir` (as `fibha-compile build` would) and
/// returns the descriptor.
pub fn instance(dir: &Path, args: &[&str], modelled_cycles: u64, clock_mhz: f64) -> PathBuf {
    instance_with_buffers(dir, args, modelled_cycles, clock_mhz, BTreeMap::new())
}

/// As [`instance`], with the minimum buffer sizes the instance declares.
pub fn instance_with_buffers(
    dir: &Path,
    args: &[&str],
    modelled_cycles: u64,
    clock_mhz: f64,
    buffers: BTreeMap<String, u64>,
) -> PathBuf {
    std::fs::create_dir_all(dir.join("csim")).unwrap();
    std::fs::copy(test_kernel(), dir.join("csim/fibha_kernel")).unwrap();
    InstanceSpec {
        plan_hash: PLAN_HASH,
        executable: PathBuf::from("csim/fibha_kernel"),
        args: args.iter().map(|a| a.to_string()).collect(),
        modelled_cycles,
        clock_mhz,
        buffers,
    }
    .write(dir)
    .unwrap()
}

/// A running `fibha-vboard serve` (stopped when dropped).
pub struct Board {
    process: VboardProcess,
    pub root: Root,
    pub dir: tempfile::TempDir,
}

impl Board {
    /// Starts a board with `args` after `serve --root <tmp> --period-ms 5` and waits for
    /// its `ready` line.
    pub fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command =
            VboardCommand::new(env!("CARGO_BIN_EXE_fibha-vboard"), dir.path().join("root"))
                .args(["--period-ms", "5"])
                .args(args);
        command.ready_timeout = Duration::from_secs(10);
        let process = command.spawn().expect("the board starts and says ready");
        let canonical = dir.path().join("root").canonicalize().unwrap();
        assert_eq!(process.root(), canonical, "the ready line names the root");
        Self {
            root: Root::new(process.root()),
            process,
            dir,
        }
    }

    /// The board's path for an absolute board path.
    pub fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute)
    }

    /// Switches a fault's control file.
    pub fn set_fault(&self, name: &str, active: bool) {
        let file = self.path("/vboard/faults").join(name);
        if active {
            std::fs::write(file, "").unwrap();
        } else {
            std::fs::remove_file(file).unwrap();
        }
    }

    /// Loads the descriptor at `instance` through fpga_manager.
    pub fn load(&self, instance: &Path) -> fibha_board::Result<()> {
        self.load_with(instance, 0)
    }

    /// As [`Board::load`] with fpga_manager `flags`.
    pub fn load_with(&self, instance: &Path, flags: u32) -> fibha_board::Result<()> {
        let options = LoadOptions {
            flags,
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(1),
        };
        FpgaManager::find(&self.root)?.load(instance, &options)
    }

    /// The pid of the board's current kernel process.
    pub fn kernel_pid(&self) -> Option<u32> {
        self.process.kernel_pid()
    }

    /// The board process's pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits for the board process to exit on its own and returns whether it succeeded.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let status = self.process.wait_exit(timeout);
        assert!(
            status.is_some(),
            "the board did not exit within {timeout:?}"
        );
        status.is_some_and(|s| s.success())
    }
}

/// Polls `ready` every millisecond until it holds; panics after `timeout` naming `what`.
pub fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether process `pid` exists (a zombie counts as existing).
pub fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A minimal flattened device tree blob (header only) for overlay tests.
pub fn dtbo(dir: &Path, name: &str) -> PathBuf {
    let mut bytes = vec![0u8; 64];
    bytes[0..4].copy_from_slice(&0xd00d_feedu32.to_be_bytes());
    bytes[4..8].copy_from_slice(&64u32.to_be_bytes());
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
