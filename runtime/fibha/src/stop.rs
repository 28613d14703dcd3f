//! Ctrl-C: the first one asks the run to stop after the inference in flight (the reports of
//! what ran are still written); the second one exits at once with status 130.
//!
//! The `ctrlc` crate runs the handler on its own thread, not in signal context, so the
//! handler may print and exit.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Exit status after an interrupt (128 + SIGINT), as shells report it.
pub const INTERRUPTED_EXIT: u8 = 130;

static STOP: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicU32 = AtomicU32::new(0);

/// The flag the pipeline reads before each new inference.
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Installs the handler (once per process).
pub fn install() -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("fibha: interrupted");
            std::process::exit(i32::from(INTERRUPTED_EXIT));
        }
        STOP.store(true, Ordering::SeqCst);
        eprintln!(
            "fibha: stopping after the inference in flight (press Ctrl-C again to exit at once)"
        );
    })
}
