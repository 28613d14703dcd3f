//! Exclusive access to the accelerator: one process drives it at a time.
//!
//! Two runtimes driving one kernel interleave their starts, DMA buffers and bitstream
//! reloads, and both report wrong answers as right. So the driver takes an exclusive
//! `flock` on the accelerator's UIO device (`/dev/uioN`; on the virtual board the same path
//! under its root) before it loads the bitstream, and holds it until it is dropped. The lock
//! belongs to the open file, so the kernel releases it however the process ends, a `kill -9`
//! included.
//!
//! A second process is refused at once with the holder named (its PID and command line,
//! read from `/proc/locks` and `/proc/PID/cmdline`), or, asked to wait, tries again every
//! [`RETRY`] until the lock is free or Ctrl-C is pressed.

use std::fs::File;
use std::os::linux::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How often a waiting process tries the lock again.
pub const RETRY: Duration = Duration::from_millis(100);
/// The longest command line quoted for a holder.
const MAX_COMMAND_CHARS: usize = 120;

/// Why the accelerator could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "the accelerator is in use by {holder} (it holds the lock on {}); wait for it with --wait",
        path.display()
    )]
    Busy {
        /// The device locked.
        path: PathBuf,
        /// Who holds it.
        holder: Holder,
    },
    /// Ctrl-C while waiting.
    #[error("stopped while waiting for the accelerator, in use by {holder}")]
    Interrupted {
        /// Who held it.
        holder: Holder,
    },
    /// The device could not be opened or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The device.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The process holding the lock, as far as `/proc` tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its process id, when `/proc/locks` lists the lock.
    pub pid: Option<u32>,
    /// Its command line, when readable.
    pub command: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.pid, &self.command) {
            (Some(pid), Some(command)) => write!(f, "PID {pid} ({command})"),
            (Some(pid), None) => write!(f, "PID {pid}"),
            (None, _) => f.write_str("another process"),
        }
    }
}

/// How to take the lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockWait {
    /// Fail at once when it is held.
    #[default]
    Refuse,
    /// Wait until it is free (or a stop is asked for).
    Wait,
}

/// An exclusive lock on the accelerator, released when dropped.
#[derive(Debug)]
pub struct AccelLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl AccelLock {
    /// Locks `device` (the UIO device file). With [`LockWait::Wait`] a held lock is tried
    /// again every [`RETRY`], saying once on stderr whom it waits for, until `stop` is set.
    pub fn acquire(
        device: &Path,
        wait: LockWait,
        stop: &AtomicBool,
    ) -> Result<AccelLock, LockError> {
        let io = |source| LockError::Io {
            path: device.to_path_buf(),
            source,
        };
        let mut file = File::open(device).map_err(io)?;
        let mut announced = false;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    return Ok(AccelLock {
                        _lock: lock,
                        path: device.to_path_buf(),
                    });
                }
                Err((back, Errno::EWOULDBLOCK)) => file = back,
                Err((_, errno)) => return Err(io(errno.into())),
            }
            let holder = holder(device);
            if wait == LockWait::Refuse {
                return Err(LockError::Busy {
                    path: device.to_path_buf(),
                    holder,
                });
            }
            if stop.load(Ordering::Relaxed) {
                return Err(LockError::Interrupted { holder });
            }
            if !announced {
                eprintln!("fibha: waiting for the accelerator, in use by {holder}");
                announced = true;
            }
            std::thread::sleep(RETRY);
        }
    }

    /// The device locked.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the `flock` on `device`: `/proc/locks` lists each lock with its owner's PID
/// and the file's device and inode.
fn holder(device: &Path) -> Holder {
    let pid = device
        .metadata()
        .ok()
        .zip(std::fs::read_to_string("/proc/locks").ok())
        .and_then(|(meta, locks)| flock_owner(&locks, meta.st_dev(), meta.st_ino()));
    Holder {
        pid,
        command: pid.and_then(command_line),
    }
}

/// The PID owning a granted `FLOCK` on the file `(dev, ino)` in `/proc/locks` text, whose
/// lines read `1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF` (device as hex major:minor;
/// waiters' lines have `->` after the number).
fn flock_owner(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let file = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, id, ..] if *id == file => pid.parse().ok(),
            _ => None,
        }
    })
}

/// A process's command line, arguments joined by spaces, shortened when long.
fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let line = words.join(" ");
    if line.is_empty() {
        return None;
    }
    Some(match line.char_indices().nth(MAX_COMMAND_CHARS) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_give_the_owner_of_this_file_only() {
        let dev = nix::sys::stat::makedev(0, 0x1a);
        let locks = "1: POSIX  ADVISORY  WRITE 11 00:1a:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 22 00:1b:77 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 33 00:1a:77 0 EOF\n\
                     3: -> FLOCK  ADVISORY  WRITE 44 00:1a:77 0 EOF\n";
        assert_eq!(flock_owner(locks, dev, 77), Some(33));
        assert_eq!(flock_owner(locks, dev, 78), None);
    }

    #[test]
    fn a_second_lock_is_refused_naming_this_process_and_waiting_ends_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let device = dir.path().join("uio0");
        std::fs::write(&device, [0u8; 64]).unwrap();
        let never = AtomicBool::new(false);
        let first = AccelLock::acquire(&device, LockWait::Refuse, &never).unwrap();
        assert_eq!(first.path(), device);
        // flock locks belong to open files: a second open in this process conflicts too.
        let err = AccelLock::acquire(&device, LockWait::Refuse, &never).unwrap_err();
        let text = err.to_string();
        let me = std::process::id();
        assert!(
            text.starts_with(&format!("the accelerator is in use by PID {me} (")),
            "{text}"
        );
        assert!(text.contains(&device.display().to_string()), "{text}");
        let stopped = AtomicBool::new(true);
        let err = AccelLock::acquire(&device, LockWait::Wait, &stopped).unwrap_err();
        assert!(matches!(err, LockError::Interrupted { .. }), "{err}");
        drop(first);
        AccelLock::acquire(&device, LockWait::Refuse, &never).unwrap();
    }
}
