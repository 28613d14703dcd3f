//! Running the virtual board: lay out, start the device and power threads, say `ready`,
//! serve until told to stop, clean up.
//!
//! Stop requests: the caller's `shutdown` flag (the binary sets it on SIGINT, SIGTERM and
//! SIGHUP), the file `<root>/vboard/stop` appearing, the parent process going away (with
//! `exit_with_parent`), or a worker thread failing (its error is returned). On the way out
//! the kernel process is killed and reaped, both threads are joined and the interrupt
//! FIFOs are removed; the rest of the tree stays for the caller to inspect or delete.
//!
//! One board per root: `<root>/vboard/lock` is held (flock) while serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use fibha_board::vboard;
use nix::fcntl::{Flock, FlockArg};

use crate::attr;
use crate::device::{Device, Timing};
use crate::error::{Error, Result};
use crate::faults::{Fault, Faults};
use crate::hwmon::rail_files;
use crate::layout::{Layout, LayoutOptions, join, prepare_root};
use crate::power::{Activity, Publisher};

/// How often the main thread looks for a stop request.
const STOP_CHECK: Duration = Duration::from_millis(10);

/// What to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The root directory.
    pub root: PathBuf,
    /// What to lay out.
    pub layout: LayoutOptions,
    /// Faults active for the board's whole life.
    pub faults: Vec<Fault>,
    /// Stop when the parent process changes from this pid (it exited and the board was
    /// re-parented). Capture it first thing in `main`: a parent that exits before it is
    /// read cannot be noticed.
    pub exit_with_parent: Option<u32>,
    /// Poll intervals of the device thread.
    pub timing: Timing,
}

impl ServeOptions {
    /// Defaults for `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            layout: LayoutOptions::default(),
            faults: Vec::new(),
            exit_with_parent: None,
            timing: Timing::default(),
        }
    }
}

/// Lays out the tree for `options` and publishes the rails once (applying rail faults),
/// without serving: what `fibha-vboard layout` does.
pub fn lay_out(options: &ServeOptions) -> Result<Layout> {
    let _lock = lock_root(&options.root)?;
    lay_out_with_rails(options).map(|(layout, _)| layout)
}

/// As [`lay_out`], also returning the rails' publisher, which knows what their files hold.
fn lay_out_with_rails(options: &ServeOptions) -> Result<(Layout, Publisher)> {
    let layout = Layout::create(&options.root, &options.layout)?;
    let faults = Faults::new(options.faults.clone(), &layout.faults_dir());
    let mut rails = publisher(&layout, faults);
    rails.update(&Activity::default())?;
    Ok((layout, rails))
}

fn publisher(layout: &Layout, faults: Faults) -> Publisher {
    Publisher::new(
        rail_files(layout.root(), layout.rails()),
        faults,
        layout.update_interval_ms(),
    )
}

/// Serves the board under `options.root` until a stop request; calls `ready` with the
/// root once everything is in place.
pub fn serve(
    options: &ServeOptions,
    shutdown: &AtomicBool,
    ready: impl FnOnce(&Path),
) -> Result<()> {
    let _lock = lock_root(&options.root)?;
    let (layout, power) = lay_out_with_rails(options)?;
    let faults = Faults::new(options.faults.clone(), &layout.faults_dir());
    let activity = Arc::new(Activity::default());
    let device = Device::new(
        layout.clone(),
        faults,
        Arc::clone(&activity),
        options.timing,
    )?;

    let stop = Arc::new(AtomicBool::new(false));
    let device_thread = spawn("vboard-device", &stop, move |stop| device.run(stop))?;
    let power_thread = {
        let activity = Arc::clone(&activity);
        spawn("vboard-power", &stop, move |stop| {
            power.run(&activity, stop)
        })
    };
    let power_thread = match power_thread {
        Ok(handle) => handle,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            let _ = device_thread.join();
            return Err(e);
        }
    };

    ready(layout.root());
    loop {
        if shutdown.load(Ordering::Relaxed) {
            tracing::info!("stop requested by signal");
            break;
        }
        if layout.stop_file().exists() {
            tracing::info!("stop requested through {}", layout.stop_file().display());
            break;
        }
        if options
            .exit_with_parent
            .is_some_and(|parent| std::os::unix::process::parent_id() != parent)
        {
            tracing::info!("the parent process exited");
            break;
        }
        if device_thread.is_finished() || power_thread.is_finished() {
            break;
        }
        std::thread::sleep(STOP_CHECK);
    }
    stop.store(true, Ordering::Relaxed);
    let results = [
        join_thread("vboard-device", device_thread),
        join_thread("vboard-power", power_thread),
    ];
    let cleaned = layout.remove_fifos();
    for result in results {
        result?;
    }
    cleaned
}

/// Takes `<root>/vboard/lock`, so that no other board lays out or serves this root.
fn lock_root(root: &Path) -> Result<Flock<std::fs::File>> {
    let root = prepare_root(root)?;
    attr::create_dir(&join(&root, vboard::CONTROL_DIR))?;
    lock(&join(&root, vboard::LOCK_FILE))
}

fn lock(path: &Path) -> Result<Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => Error::Busy {
            lock: path.to_path_buf(),
        },
        other => Error::io("lock", path)(other.into()),
    })
}

fn spawn(
    name: &'static str,
    stop: &Arc<AtomicBool>,
    body: impl FnOnce(&AtomicBool) -> Result<()> + Send + 'static,
) -> Result<JoinHandle<Result<()>>> {
    let stop = Arc::clone(stop);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || body(&stop))
        .map_err(|e| Error::Thread {
            thread: name,
            problem: format!("cannot start: {e}"),
        })
}

fn join_thread(name: &'static str, handle: JoinHandle<Result<()>>) -> Result<()> {
    handle.join().map_err(|_| Error::Thread {
        thread: name,
        problem: "panicked".into(),
    })?
}
