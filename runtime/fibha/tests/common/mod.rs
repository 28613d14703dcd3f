//! Shared by the integration tests: the `fibha` command with a deadline, the virtual board
//! as a child process, and an accelerator instance built by `fibha-compile build`.
//!
//! The virtual board and the compiler are other crates' binaries. `cargo test --workspace`
//! builds them beside `fibha`; a test that needs them and does not find them says so and
//! passes, unless `FIBHA_REQUIRE_VBOARD=1` (as the project's test script sets), where it
//! fails. Every process a test starts has a deadline and is killed in `Drop`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fibha_board::Root;
use fibha_board::vboard::{self, VboardCommand, VboardProcess};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped int8 MobileNetV2.
pub const MODEL: &str = "assets/models/tf2_mobilenet_v2_1.0_224_ptq.tflite";
/// Its golden inputs.
pub fn golden_input(name: &str) -> PathBuf {
    root().join(format!(
        "tests/goldens/tf2_mobilenet_v2_1.0_224_ptq/inputs/{name}.npy"
    ))
}

/// How long any one `fibha` process may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The `fibha` command, run through `$FIBHA_TEST_RUNNER` when set (qemu-user).
pub fn fibha_command(args: &[&str]) -> Command {
    let runner = std::env::var("FIBHA_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_fibha"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_fibha")),
    };
    command
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG");
    command
}

/// What a finished process said.
pub struct Ran {
    /// Its exit status.
    pub status: ExitStatus,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Ran {
    /// Stdout of a successful run.
    pub fn ok(&self) -> &str {
        assert!(self.status.success(), "failed: {}", self.stderr);
        &self.stdout
    }

    /// The single error line of a failed run.
    pub fn error_line(&self) -> String {
        assert!(
            !self.status.success(),
            "expected a failure:\n{}",
            self.stdout
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("fibha: ") && !l.contains("using the virtual board"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line, got: {}", self.stderr);
        errors[0].to_string()
    }

    /// Stdout as a JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

/// A running process whose output is collected by threads, killed if dropped.
pub struct Running {
    child: Option<Child>,
    stdout_lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr_lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Running {
    /// Starts `command` with piped output.
    pub fn start(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx_out, rx_out) = mpsc::channel();
        std::thread::spawn(move || {
            // Lines with their newlines, so that they join back into stdout as written.
            let mut out = BufReader::new(out);
            loop {
                let mut line = String::new();
                match out.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx_out.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let (tx_err, rx_err) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx_err.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child: Some(child),
            stdout_lines: rx_out,
            stdout: Vec::new(),
            stderr_lines: rx_err,
            stderr: Vec::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits until a stderr line contains `text`; panics after `timeout`.
    pub fn wait_for_stderr(&mut self, text: &str, timeout: Duration) {
        wait_for_line(
            &self.stderr_lines,
            &mut self.stderr,
            text,
            timeout,
            "stderr",
        );
    }

    /// Waits until a stdout line contains `text`; panics after `timeout`.
    pub fn wait_for_stdout(&mut self, text: &str, timeout: Duration) {
        wait_for_line(
            &self.stdout_lines,
            &mut self.stdout,
            text,
            timeout,
            "stdout",
        );
    }

    /// Sends the process `signal` (SIGINT: Ctrl-C in a terminal).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), signal).unwrap();
    }

    /// Waits for the process to exit; panics (after killing it) at the deadline.
    pub fn finish(mut self, timeout: Duration) -> Ran {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the process did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stdout = self.stdout.concat();
        while let Ok(line) = self.stdout_lines.recv_timeout(Duration::from_secs(10)) {
            stdout.push_str(&line);
        }
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr.push(line);
        }
        Ran {
            status,
            stdout,
            stderr: self.stderr.join("\n"),
        }
    }
}

/// Receives lines from `lines` into `kept` until one contains `text`; panics after
/// `timeout`, showing what `stream` said so far.
fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    kept: &mut Vec<String>,
    text: &str,
    timeout: Duration,
    stream: &str,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(text);
                kept.push(line);
                if found {
                    return;
                }
            }
            Err(_) => panic!(
                "no {stream} line with {text:?} within {timeout:?}; {stream} so far:\n{}",
                kept.join("\n")
            ),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `fibha args` to the end, within [`DEADLINE`].
pub fn fibha(args: &[&str]) -> Ran {
    Running::start(fibha_command(args)).finish(DEADLINE)
}

/// A binary built beside `fibha` (the workspace's other tools).
fn sibling(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_fibha"))
        .parent()
        .unwrap()
        .join(name)
}

/// The SHA-256 of `bytes` in lower-case hex, as the goldens and manifests write it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The virtual board and the compiler, or `None` (after saying why) when they were not
/// built; with `FIBHA_REQUIRE_VBOARD=1` their absence fails the test.
pub fn board_tools() -> Option<(PathBuf, PathBuf)> {
    let vboard = sibling("fibha-vboard");
    let compile = sibling("fibha-compile");
    let runner = std::env::var("FIBHA_TEST_RUNNER").unwrap_or_default();
    if vboard.is_file() && compile.is_file() && runner.is_empty() {
        return Some((vboard, compile));
    }
    let why = if runner.is_empty() {
        format!(
            "{} or {} is not built (`cargo build --workspace` builds them)",
            vboard.display(),
            compile.display()
        )
    } else {
        "the virtual board's tests run on the host, not under a test runner".to_string()
    };
    assert!(
        std::env::var("FIBHA_REQUIRE_VBOARD").as_deref() != Ok("1") || !runner.is_empty(),
        "FIBHA_REQUIRE_VBOARD=1 but {why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// Runs `fibha-compile build MODEL --board zcu102 -o DIR extra...`.
pub fn compile(compile: &Path, model: &Path, dir: &Path, extra: &[&str]) {
    let mut command = Command::new(compile);
    command
        .arg("build")
        .arg(model)
        .args(["--board", "zcu102", "-o"])
        .arg(dir)
        .args(extra)
        .current_dir(root());
    let ran = Running::start(command).finish(DEADLINE);
    assert!(
        ran.status.success(),
        "fibha-compile build failed: {}",
        ran.stderr
    );
}

/// The build flags of the tests' instances, as `scripts/classify` builds the shipped one:
/// the fastest design within 2.5 ms an image.
pub const BUILD_FLAGS: &[&str] = &["--max-latency-ms", "2.5"];

/// The shipped MobileNetV2 built for the ZCU102 once per test binary, into a directory
/// of its own (`name` keeps the binaries apart).
pub fn instance(compile_exe: &Path, name: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fibha-{name}-mobilenet_v2"));
        let _ = std::fs::remove_dir_all(&dir);
        compile(compile_exe, &root().join(MODEL), &dir, BUILD_FLAGS);
        dir
    })
}

/// Copies a build directory (files and subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A watch over the board's kernel processes ([`Board::watch_kernels`]).
pub struct KernelWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u32>>,
}

impl KernelWatch {
    /// The kernel processes seen, in order.
    pub fn stop(self) -> Vec<u32> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().expect("the watch does not panic")
    }
}

/// A `fibha-vboard serve` of the test's own, on a tmpfs root when there is one (stopped
/// when dropped).
pub struct Board {
    process: Option<VboardProcess>,
    /// The root it serves.
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Board {
    /// Starts a board with `args` after `serve --root DIR --period-ms 5`.
    pub fn start(vboard: &Path, args: &[&str]) -> Board {
        let dir = match Path::new("/dev/shm").is_dir() {
            true => tempfile::Builder::new()
                .prefix("fibha-test-")
                .tempdir_in("/dev/shm")
                .unwrap(),
            false => tempfile::tempdir().unwrap(),
        };
        let mut command = VboardCommand::new(vboard, dir.path().join("root"))
            .args(["--period-ms", "5"])
            .args(args);
        command.log = "error".into();
        let process = command.spawn().expect("the board starts and says ready");
        Board {
            root: process.root().to_path_buf(),
            process: Some(process),
            _dir: dir,
        }
    }

    /// The root as a string, for `--root`.
    pub fn root_arg(&self) -> String {
        self.root.display().to_string()
    }

    /// Switches a fault's control file.
    pub fn set_fault(&self, name: &str, active: bool) {
        let file = self.root.join("vboard/faults").join(name);
        if active {
            std::fs::write(file, "").unwrap();
        } else {
            let _ = std::fs::remove_file(file);
        }
    }

    /// The 32-bit register at `offset` of the accelerator (the register file is shared).
    pub fn register(&self, offset: u32) -> u32 {
        let bytes = std::fs::read(self.root.join("dev/uio0")).unwrap();
        let at = offset as usize;
        u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    /// The fpga_manager's state.
    pub fn fpga_state(&self) -> String {
        std::fs::read_to_string(self.root.join("sys/class/fpga_manager/fpga0/state"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// The running kernel process (`/vboard/kernel.pid`), if there is one.
    pub fn kernel_pid(&self) -> Option<u32> {
        self.process.as_ref()?.kernel_pid()
    }

    /// Watches the kernel process from now until [`KernelWatch::stop`]: every process
    /// that ran, in order (a reset replaces it).
    pub fn watch_kernels(&self) -> KernelWatch {
        let file = Root::new(&self.root).join(vboard::KERNEL_PID_FILE);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen: Vec<u32> = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                let pid = std::fs::read_to_string(&file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                if let Some(pid) = pid
                    && seen.last() != Some(&pid)
                {
                    seen.push(pid);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            seen
        });
        KernelWatch { stop, thread }
    }

    /// Kills the board process at once (SIGKILL): a board that disappears.
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }
}
