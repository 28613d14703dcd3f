//! The one error type of the virtual board.
//!
//! Each variant names the file, option or process involved and what was expected, so that
//! a message on the runtime's console (which inherits the board's stderr) is enough to act
//! on.

use std::io;
use std::path::{Path, PathBuf};

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the virtual board.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory of the layout could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "write", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A command-line value that does not mean anything to the board.
    #[error("{option} {value:?}: {problem}")]
    BadOption {
        /// The option (`--buffers`, `--fault`, ...).
        option: &'static str,
        /// What was given.
        value: String,
        /// What is expected.
        problem: String,
    },

    /// Another virtual board already serves this root.
    #[error("another fibha-vboard holds the lock {}; stop it first or use another root", lock.display())]
    Busy {
        /// The lock file.
        lock: PathBuf,
    },

    /// The C-simulation kernel process failed to start or broke the line protocol.
    #[error("kernel process {}: {problem}", executable.display())]
    Kernel {
        /// The executable.
        executable: PathBuf,
        /// What went wrong.
        problem: String,
    },

    /// A worker thread of the board stopped.
    #[error("virtual board thread {thread}: {problem}")]
    Thread {
        /// The thread's name.
        thread: &'static str,
        /// Why it stopped.
        problem: String,
    },
}

impl Error {
    /// A `map_err` adapter for I/O on `path`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
