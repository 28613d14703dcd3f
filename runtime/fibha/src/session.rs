//! Where the accelerator lives: a real ZCU102, a board root given on the command line, or
//! a virtual board this process starts.
//!
//! A real board is recognised by its FPGA manager under `/` (the runtime loads the
//! accelerator itself, so its UIO device appears only then). Without one, the
//! virtual board (`fibha-vboard`, found beside the `fibha` executable or at
//! `$FIBHA_VBOARD`) is started on a fresh root under `/dev/shm` (tmpfs; `/tmp` when absent)
//! with `--exit-with-parent`, in its own process group so that a Ctrl-C meant for `fibha`
//! does not stop the board under a run in flight. The session waits for its `ready` line
//! and, when dropped, asks it to stop through its stop file, then reaps it.
//!
//! The root is private: `fibha-vboard-<pid>-XXXXXX`, mode 0700 (it holds copies of the
//! weights and of the last input). It is removed when the session is dropped (success,
//! error, first Ctrl-C, panic) and on a forced exit (a second Ctrl-C, through
//! [`crate::stop::on_forced_exit`]); a process killed outright cannot clean up, so each new
//! session first removes the roots of this user's sessions whose process is gone.
//!
//! Invariant: a [`BoardSession`] of kind [`BoardKind::Virtual`] owns its board process and
//! root directory and leaves neither behind.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fibha_board::Root;
use fibha_board::vboard::{self, VboardCommand, VboardError, VboardHandle, VboardProcess};
use nix::fcntl::{Flock, FlockArg};

use crate::accelerator::Liveness;

/// The environment variable naming the virtual board's executable.
pub const VBOARD_ENV: &str = "FIBHA_VBOARD";
/// The virtual board's executable name.
pub const VBOARD_EXE: &str = "fibha-vboard";
/// What a session on the virtual board says once on stderr.
pub const VIRTUAL_NOTICE: &str = "no ZCU102 found; using the virtual board (figures are modelled)";
/// How long the virtual board may take to lay out its tree.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a forced exit waits for the board to stop before removing its root.
const FORCED_STOP_TIMEOUT: Duration = Duration::from_secs(1);
/// The name of every virtual board root this runtime makes starts with this.
const ROOT_PREFIX: &str = "fibha-vboard-";

/// Why no board could be had.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The virtual board's executable is not there.
    #[error(
        "no ZCU102 found, and the virtual board {} does not exist: `cargo build --release` builds it beside `fibha` (or set {VBOARD_ENV} to its path)",
        path.display()
    )]
    NoVboard {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// It could not be started or did not get ready.
    #[error("the virtual board {}: {detail}", exe.display())]
    Vboard {
        /// The executable.
        exe: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A temporary root could not be made.
    #[error("cannot create a root directory for the virtual board: {0}")]
    TempRoot(std::io::Error),
}

/// What kind of board a session talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardKind {
    /// A real board under `/`.
    Real,
    /// A virtual board this process started.
    Virtual,
    /// A root given with `--root`: a virtual board when it has `/vboard`, else a board.
    Given,
}

/// A board to run on.
#[derive(Debug)]
pub struct BoardSession {
    root: Root,
    kind: BoardKind,
    virtual_root: bool,
    vboard: Option<VirtualBoard>,
}

impl BoardSession {
    /// The board at `root` when given, else the real board, else a new virtual board.
    pub fn connect(root: Option<&Path>) -> Result<BoardSession, SessionError> {
        if let Some(root) = root {
            return Ok(BoardSession {
                virtual_root: vboard::is_virtual_root(root),
                root: Root::new(root),
                kind: BoardKind::Given,
                vboard: None,
            });
        }
        if real_board_present() {
            return Ok(BoardSession {
                root: Root::system(),
                kind: BoardKind::Real,
                virtual_root: false,
                vboard: None,
            });
        }
        eprintln!("fibha: {VIRTUAL_NOTICE}");
        let vboard = VirtualBoard::start()?;
        Ok(BoardSession {
            root: Root::new(vboard.process.root()),
            kind: BoardKind::Virtual,
            virtual_root: true,
            vboard: Some(vboard),
        })
    }

    /// The root the board's files are under.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Which kind of board.
    pub fn kind(&self) -> BoardKind {
        self.kind
    }

    /// Whether the figures of this board are modelled (a virtual board).
    pub fn is_virtual(&self) -> bool {
        self.virtual_root
    }

    /// A liveness check for the accelerator driver: the board process still runs and still
    /// holds its root.
    pub fn liveness(&self) -> Box<dyn Liveness> {
        Box::new(BoardLiveness {
            board: self.vboard.as_ref().map(|v| v.process.handle().clone()),
            root: self.root.path().to_path_buf(),
        })
    }
}

/// Whether `/` is a Zynq board: it has an FPGA manager. fibha loads its bitstream and
/// overlay itself, so the accelerator's UIO device need not exist yet.
fn real_board_present() -> bool {
    match fibha_board::fpga::FpgaManager::find(&Root::system()) {
        Ok(_) => true,
        Err(err) => {
            tracing::debug!("looking for an FPGA manager: {err}");
            false
        }
    }
}

/// The virtual board's executable.
fn vboard_exe() -> Result<PathBuf, SessionError> {
    let path = match std::env::var_os(VBOARD_ENV) {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(VBOARD_EXE)))
            .unwrap_or_else(|| PathBuf::from(VBOARD_EXE)),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(SessionError::NoVboard { path })
    }
}

/// A `fibha-vboard serve` child process and its private root directory.
#[derive(Debug)]
struct VirtualBoard {
    process: VboardProcess,
    // Dropped after the process is stopped: removes the tree.
    _dir: tempfile::TempDir,
    // Stops the board and removes the tree if the process is made to exit at once.
    _forced_exit: crate::stop::Cleanup,
}

impl VirtualBoard {
    fn start() -> Result<VirtualBoard, SessionError> {
        let exe = vboard_exe()?;
        let dir = temp_root()?;
        let mut command =
            VboardCommand::new(&exe, dir.path().join("root")).args(["--exit-with-parent"]);
        command.own_process_group = true;
        command.ready_timeout = READY_TIMEOUT;
        let process = command.spawn().map_err(|err| SessionError::Vboard {
            exe,
            detail: match err {
                VboardError::Spawn { source, .. } => format!("cannot start it: {source}"),
                VboardError::NotReady { detail, .. } => detail,
            },
        })?;
        let forced_exit = {
            let (board, dir) = (process.handle().clone(), dir.path().to_path_buf());
            crate::stop::on_forced_exit(move || {
                board.stop(FORCED_STOP_TIMEOUT);
                let _ = std::fs::remove_dir_all(&dir);
            })
        };
        Ok(VirtualBoard {
            process,
            _dir: dir,
            _forced_exit: forced_exit,
        })
    }
}

/// A fresh private directory (0700, named after this process) on tmpfs when there is one,
/// after removing the roots of dead sessions there.
fn temp_root() -> Result<tempfile::TempDir, SessionError> {
    let prefix = format!("{ROOT_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .permissions(std::fs::Permissions::from_mode(0o700));
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        remove_dead_roots(shm);
        if let Ok(dir) = builder.tempdir_in(shm) {
            return Ok(dir);
        }
    }
    let tmp = std::env::temp_dir();
    remove_dead_roots(&tmp);
    builder.tempdir_in(tmp).map_err(SessionError::TempRoot)
}

/// Removes the virtual board roots in `parent` that belong to this user and to a process
/// that no longer runs (a `fibha` killed outright). A root whose process runs, or whose
/// name carries no process id, is left alone.
fn remove_dead_roots(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = root_owner(&name.to_string_lossy()) else {
            continue;
        };
        let path = entry.path();
        let mine = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if mine && !process_runs(pid) {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::debug!("removed {} (its fibha, PID {pid}, is gone)", path.display())
                }
                Err(err) => tracing::warn!(
                    "cannot remove the stale virtual board root {}: {err}",
                    path.display()
                ),
            }
        }
    }
}

/// The process id in a root's name `fibha-vboard-<pid>-XXXXXX`.
fn root_owner(name: &str) -> Option<u32> {
    let (pid, suffix) = name.strip_prefix(ROOT_PREFIX)?.split_once('-')?;
    (!suffix.is_empty()).then(|| pid.parse().ok()).flatten()
}

/// Whether process `pid` exists (signal 0 reaches it, or it belongs to someone else).
fn process_runs(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

struct BoardLiveness {
    board: Option<VboardHandle>,
    root: PathBuf,
}

impl Liveness for BoardLiveness {
    fn check(&mut self) -> Result<(), String> {
        if let Some(board) = &self.board
            && let Some(status) = board.exit_status()
        {
            return Err(format!(
                "the virtual board process {} exited ({status})",
                board.pid()
            ));
        }
        if !self.root.join("sys").exists() {
            return Err(format!(
                "{} no longer holds a board's files",
                self.root.display()
            ));
        }
        let lock = Root::new(&self.root).join(vboard::LOCK_FILE);
        if let Ok(file) = std::fs::File::open(&lock) {
            // A board serving this root holds the lock; getting it means none does.
            if Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok() {
                return Err(format!(
                    "no virtual board serves {} any more (its lock {} is free)",
                    self.root.display(),
                    lock.display()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_names_its_process_and_dead_processes_roots_are_removed() {
        assert_eq!(root_owner("fibha-vboard-4242-a1B2c3"), Some(4242));
        assert_eq!(root_owner("fibha-vboard-a1B2c3"), None);
        assert_eq!(root_owner("fibha-vboard-4242-"), None);
        assert_eq!(root_owner("other-4242-a1B2c3"), None);

        let parent = tempfile::tempdir().unwrap();
        // A process that has exited (reaped, so its PID is free) and this one.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let dead = parent.path().join(format!("fibha-vboard-{gone_pid}-xyz"));
        let alive = parent
            .path()
            .join(format!("fibha-vboard-{}-xyz", std::process::id()));
        let unrelated = parent.path().join(format!("notes-{gone_pid}-xyz"));
        for dir in [&dead, &alive, &unrelated] {
            std::fs::create_dir_all(dir.join("root/dev")).unwrap();
        }
        remove_dead_roots(parent.path());
        assert!(!dead.exists());
        assert!(alive.exists() && unrelated.exists());
    }
}
