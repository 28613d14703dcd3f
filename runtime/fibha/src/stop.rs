//! Ctrl-C (and SIGTERM, SIGHUP): the first one asks the run to stop after the inference in
//! flight (the reports of what ran are still written); the second one exits at once with
//! status 130, after running the cleanups registered with [`on_forced_exit`] (a virtual
//! board's temporary root is one: it holds copies of the weights and the last input).
//!
//! The `ctrlc` crate runs the handler on its own thread, not in signal context, so the
//! handler may print, run cleanups and exit.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Exit status after an interrupt (128 + SIGINT), as shells report it.
pub const INTERRUPTED_EXIT: u8 = 130;

static STOP: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicU32 = AtomicU32::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// What to do before a forced exit, by registration id.
type Action = Box<dyn Fn() + Send + Sync>;
static CLEANUPS: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT_CLEANUP: AtomicU64 = AtomicU64::new(0);

/// The flag the pipeline reads before each new inference.
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Installs the handler; later calls do nothing.
pub fn install() -> Result<(), ctrlc::Error> {
    if INSTALLED.load(Ordering::SeqCst) {
        return Ok(());
    }
    ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("fibha: interrupted");
            run_cleanups();
            std::process::exit(i32::from(INTERRUPTED_EXIT));
        }
        STOP.store(true, Ordering::SeqCst);
        eprintln!(
            "fibha: stopping after the inference in flight (press Ctrl-C again to exit at once)"
        );
    })?;
    INSTALLED.store(true, Ordering::SeqCst);
    Ok(())
}

/// A cleanup registered with [`on_forced_exit`]; dropping it unregisters it (the normal
/// way out cleans up by itself).
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the cleanup"]
pub struct Cleanup {
    id: u64,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut list = CLEANUPS.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|(id, _)| *id != self.id);
    }
}

/// Runs `action` if the process is made to exit at once (a second Ctrl-C), for as long as
/// the returned guard lives.
pub fn on_forced_exit(action: impl Fn() + Send + Sync + 'static) -> Cleanup {
    let id = NEXT_CLEANUP.fetch_add(1, Ordering::Relaxed);
    CLEANUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, Box::new(action)));
    Cleanup { id }
}

fn run_cleanups() {
    let list = CLEANUPS.lock().unwrap_or_else(PoisonError::into_inner);
    for (_, action) in list.iter() {
        action();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn registered_cleanups_run_until_their_guard_is_dropped() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        let guard = on_forced_exit(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        run_cleanups();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        drop(guard);
        run_cleanups();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }
}
