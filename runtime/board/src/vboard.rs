//! The virtual board's control protocol, both sides of it, and a client that starts and
//! stops one.
//!
//! `fibha-vboard serve --root DIR` lays out a board's device files under `DIR`, prints one
//! line `ready <root>` (the root made absolute) on stdout, and serves until a file
//! [`STOP_FILE`] appears under the root (or a signal, or its parent exits with
//! `--exit-with-parent`). While it serves it holds an exclusive flock on [`LOCK_FILE`]; its
//! own state is in the other files under [`CONTROL_DIR`]. The server (`tools/vboard`), the
//! runtime's board session and every test harness speak it through this module, so the
//! protocol is written once.
//!
//! Invariant: a [`VboardProcess`] never outlives its value: dropping it asks the board to
//! stop through the stop file (so that it reaps its kernel process) and kills it after
//! [`STOP_TIMEOUT`].

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::Root;

/// The board's own control directory, under the root.
pub const CONTROL_DIR: &str = "/vboard";
/// Created by whoever wants the board to stop.
pub const STOP_FILE: &str = "/vboard/stop";
/// Held (flock, exclusive) by the board serving the root.
pub const LOCK_FILE: &str = "/vboard/lock";
/// One file per active fault, named after it.
pub const FAULTS_DIR: &str = "/vboard/faults";
/// The running kernel process's pid, while there is one.
pub const KERNEL_PID_FILE: &str = "/vboard/kernel.pid";
/// Why the last bitstream load failed, until one succeeds (a real fpga_manager says it in
/// the kernel log only).
pub const LOAD_ERROR_FILE: &str = "/vboard/load_error";
/// How long a stopping board may take before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The environment variable that sets the board's log filter.
pub const LOG_ENV: &str = "FIBHA_VBOARD_LOG";

/// The line a board prints once it serves `root`.
pub fn ready_line(root: &Path) -> String {
    format!("ready {}", root.display())
}

/// The root a `ready` line names, `None` for any other line.
pub fn parse_ready_line(line: &str) -> Option<PathBuf> {
    let root = line.strip_prefix("ready ")?.trim_end_matches(['\n', '\r']);
    (!root.is_empty()).then(|| PathBuf::from(root))
}

/// Whether `root` was laid out by a virtual board.
pub fn is_virtual_root(root: &Path) -> bool {
    Root::new(root).join(CONTROL_DIR).is_dir()
}

/// Why a virtual board could not be started.
#[derive(Debug, thiserror::Error)]
pub enum VboardError {
    /// The executable could not be started.
    #[error("the virtual board {}: cannot start it: {source}", exe.display())]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// It started but did not say `ready`.
    #[error("the virtual board {}: {detail}", exe.display())]
    NotReady {
        /// The executable.
        exe: PathBuf,
        /// What it said or did instead.
        detail: String,
    },
}

/// How to start a board: `EXE serve --root ROOT ARGS...`.
#[derive(Clone, Debug)]
pub struct VboardCommand {
    /// The `fibha-vboard` executable.
    pub exe: PathBuf,
    /// The root to lay out and serve (created by the board).
    pub root: PathBuf,
    /// Arguments after `--root ROOT`.
    pub args: Vec<OsString>,
    /// The board's log filter (`error` keeps narrated faults off the console).
    pub log: String,
    /// Start it in its own process group, so that a terminal's Ctrl-C reaches the parent
    /// alone, which then finishes the run in flight before the board is stopped.
    pub own_process_group: bool,
    /// How long it may take to lay out its tree.
    pub ready_timeout: Duration,
}

impl VboardCommand {
    /// `exe serve --root root` with no further arguments, logging errors only.
    pub fn new(exe: impl Into<PathBuf>, root: impl Into<PathBuf>) -> VboardCommand {
        VboardCommand {
            exe: exe.into(),
            root: root.into(),
            args: Vec::new(),
            log: std::env::var(LOG_ENV).unwrap_or_else(|_| "error".into()),
            own_process_group: false,
            ready_timeout: Duration::from_secs(20),
        }
    }

    /// Adds arguments after `--root ROOT`.
    pub fn args<I, S>(mut self, args: I) -> VboardCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Starts the board and waits for its `ready` line.
    pub fn spawn(self) -> Result<VboardProcess, VboardError> {
        let mut command = Command::new(&self.exe);
        command
            .arg("serve")
            .arg("--root")
            .arg(&self.root)
            .args(&self.args)
            .env(LOG_ENV, &self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.own_process_group {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let mut child = command.spawn().map_err(|source| VboardError::Spawn {
            exe: self.exe.clone(),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(self.ready_timeout);
        let mut board = VboardProcess {
            handle: VboardHandle {
                child: Arc::new(Mutex::new(child)),
                root: self.root.clone(),
            },
        };
        let not_ready = |detail: String| VboardError::NotReady {
            exe: self.exe.clone(),
            detail,
        };
        match line {
            Ok(line) => match parse_ready_line(&line) {
                Some(root) => {
                    board.handle.root = root;
                    Ok(board)
                }
                None => {
                    // At the end of its output the program is exiting: give its status
                    // a moment to be there (an emulated exit, under qemu-user, takes longer).
                    let patience = if line.is_empty() {
                        Duration::from_secs(2)
                    } else {
                        Duration::ZERO
                    };
                    let until = Instant::now() + patience;
                    while board.handle.exit_status().is_none() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let exited = match board.handle.exit_status() {
                        Some(status) => format!(", and exited: {status}"),
                        None => String::new(),
                    };
                    Err(not_ready(format!(
                        "it did not say `ready` (it said {line:?}{exited})"
                    )))
                }
            },
            Err(_) => Err(not_ready(format!(
                "it did not say `ready` within {:?}",
                self.ready_timeout
            ))),
        }
    }
}

/// A shared handle on a running board: its root, whether it runs, how to stop it. Clones
/// may outlive the [`VboardProcess`] (a liveness check, a forced-exit hook).
#[derive(Clone, Debug)]
pub struct VboardHandle {
    child: Arc<Mutex<Child>>,
    root: PathBuf,
}

impl VboardHandle {
    /// The root it serves, absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The board process's pid.
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// How it exited, once it has (`None` while it runs).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child().try_wait().ok().flatten()
    }

    /// The pid of its kernel process, while one runs.
    pub fn kernel_pid(&self) -> Option<u32> {
        let file = Root::new(&self.root).join(KERNEL_PID_FILE);
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// Asks the board to stop through its stop file (so that it reaps its kernel process),
    /// and kills it if it has not exited within `timeout`. Returns whether it exited on its
    /// own.
    pub fn stop(&self, timeout: Duration) -> bool {
        let mut child = self.child();
        let _ = std::fs::write(Root::new(&self.root).join(STOP_FILE), "");
        wait_or_kill(&mut child, timeout)
    }

    /// Waits for the board to exit without asking it to; kills it after `timeout`. Returns
    /// its exit status when it exited on its own.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child();
        wait_or_kill(&mut child, timeout).then(|| child.try_wait().ok().flatten())?
    }

    /// Kills the board at once (SIGKILL): a board that disappears.
    pub fn kill(&self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Polls `child` until it exits or `timeout` passes, then kills it; whether it exited.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !matches!(child.try_wait(), Ok(None)) {
            return true;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "the virtual board {} did not exit within {timeout:?}; killing it",
                child.id()
            );
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A `fibha-vboard serve` child process, stopped when dropped.
#[derive(Debug)]
pub struct VboardProcess {
    handle: VboardHandle,
}

impl VboardProcess {
    /// The handle on it.
    pub fn handle(&self) -> &VboardHandle {
        &self.handle
    }

    /// The root it serves, absolute.
    pub fn root(&self) -> &Path {
        self.handle.root()
    }
}

impl std::ops::Deref for VboardProcess {
    type Target = VboardHandle;

    fn deref(&self) -> &VboardHandle {
        &self.handle
    }
}

impl Drop for VboardProcess {
    fn drop(&mut self) {
        self.handle.stop(STOP_TIMEOUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_round_trip_and_other_lines_are_not_ready() {
        let root = Path::new("/dev/shm/fibha-vboard-1-x/root");
        assert_eq!(
            parse_ready_line(&format!("{}\n", ready_line(root))),
            Some(root.to_path_buf())
        );
        assert_eq!(parse_ready_line("ready \n"), None);
        assert_eq!(parse_ready_line("error: cannot lay out"), None);
    }

    #[test]
    fn a_program_that_does_not_say_ready_is_named_with_what_it_said() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("not-a-board");
        std::fs::write(&script, "#!/bin/sh\necho hello\n").unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&script, executable).unwrap();
        let err = VboardCommand::new(&script, dir.path().join("root"))
            .spawn()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did not say `ready` (it said \"hello\\n\""),
            "{err}"
        );

        let err = VboardCommand::new(dir.path().join("missing"), dir.path().join("root"))
            .spawn()
            .unwrap_err()
            .to_string();
        // Under qemu-user the emulated spawn succeeds and the child exits 127 instead.
        assert!(
            err.contains("missing: cannot start it") || err.contains("exit status: 127"),
            "{err}"
        );
    }
}
