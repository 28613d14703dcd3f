//! Waiting on a condition by polling, with a deadline.
//!
//! For designs whose interrupt line is not wired, and for sysfs states that change
//! asynchronously. A short spin catches conditions that are already nearly true (an
//! accelerator run of a few microseconds) without paying a scheduler round trip; after
//! that the thread sleeps between checks, so a long wait costs no CPU. Every wait has a
//! deadline: nothing here can hang.

use std::time::{Duration, Instant};

use crate::error::{BoardError, Result};

/// How long [`poll_until`] spins before it starts sleeping between checks.
pub const SPIN_BUDGET: Duration = Duration::from_micros(20);

/// Calls `ready` until it returns `Ok(true)`, an error, or `timeout` passes, sleeping
/// `interval` between calls after a spin of at most [`SPIN_BUDGET`]. Returns the time
/// waited. `ready` is called once more at the deadline before the wait is given up, and
/// its errors end the wait at once (a sysfs state that reports a failure, for instance).
/// `what` names the condition in the timeout error.
pub fn poll_until<F>(
    mut ready: F,
    timeout: Duration,
    interval: Duration,
    what: &str,
) -> Result<Duration>
where
    F: FnMut() -> Result<bool>,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let spin_until = started + SPIN_BUDGET.min(interval);
    let interval = interval.max(Duration::from_micros(1));
    loop {
        if ready()? {
            return Ok(started.elapsed());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(BoardError::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        if now < spin_until {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(interval.min(deadline - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn returns_once_the_condition_holds() {
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let flag = Arc::clone(&flag);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                flag.store(true, Ordering::SeqCst);
            })
        };
        let waited = poll_until(
            || Ok(flag.load(Ordering::SeqCst)),
            Duration::from_secs(5),
            Duration::from_millis(1),
            "flag",
        )
        .unwrap();
        setter.join().unwrap();
        assert!(waited >= Duration::from_millis(15), "{waited:?}");
        assert!(waited < Duration::from_secs(5));
    }

    #[test]
    fn sleeps_instead_of_spinning_and_times_out() {
        let mut calls = 0u32;
        let err = poll_until(
            || {
                calls += 1;
                Ok(false)
            },
            Duration::from_millis(50),
            Duration::from_millis(10),
            "never",
        )
        .unwrap_err();
        assert!(
            matches!(err, BoardError::Timeout { ref what, .. } if what == "never"),
            "{err}"
        );
        // A spin of 20 us plus about five 10 ms sleeps: far fewer calls than a busy loop.
        assert!(calls < 10_000, "{calls} calls");
    }

    #[test]
    fn errors_of_the_condition_end_the_wait() {
        let err = poll_until(
            || Err(BoardError::Sampling("broken".into())),
            Duration::from_secs(5),
            Duration::from_millis(1),
            "x",
        )
        .unwrap_err();
        assert!(matches!(err, BoardError::Sampling(_)));
    }
}
