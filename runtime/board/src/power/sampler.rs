//! The sampler thread: every rail, at a fixed period, into an [`EnergyLog`].
//!
//! Sample times come from the monotonic clock (`Instant`), taken as the midpoint of the
//! reads of one sample, so they never go back and a slow bus shifts no sample by half its
//! read time. The schedule is absolute (sample k is due at start + k x period), so periods
//! do not drift; a sample that overruns its slot skips the slots it missed rather than
//! bursting to catch up. The first sample is taken before [`Sampler::start`] returns and
//! the last one after [`SamplerHandle::stop`] is called, so every mark made in between lies
//! inside the sampled span.
//!
//! A rail that fails mid-run ends sampling at once; what was sampled before it is kept
//! ([`SamplerHandle::stop_measured`]), [`SamplerHandle::failure`] says so meanwhile (so a
//! run can stop instead of going on unmeasured), and marks after the last sample are
//! dropped, so the log still covers every mark it holds.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{BoardError, Result};
use crate::power::{EnergyLog, Mark, PowerRail, RailReader, Sample};

/// The default sampling period. The INA226 drivers configure 16 averages of two 1.1 ms
/// conversions (35.2 ms per update; older drivers 4 averages, 8.8 ms), and reading 18
/// monitors over a 400 kHz bus takes a few milliseconds, so 8 ms is at or below every
/// update interval and still leaves the bus idle most of the time.
pub const DEFAULT_PERIOD: Duration = Duration::from_millis(8);

/// Starts power sampling threads.
#[derive(Debug)]
pub struct Sampler;

impl Sampler {
    /// Reads every rail once (so an unreadable rail fails here, not later), then keeps
    /// reading them every `period` on a thread until the handle is stopped.
    pub fn start<R: RailReader + 'static>(
        mut rails: Vec<R>,
        period: Duration,
    ) -> Result<SamplerHandle> {
        if rails.is_empty() {
            return Err(BoardError::Sampling("no rails to sample".into()));
        }
        if period.is_zero() {
            return Err(BoardError::Sampling(
                "the sampling period must be longer than zero".into(),
            ));
        }
        let epoch = Instant::now();
        let first = take_sample(&mut rails, epoch)?;
        let specs = rails.iter().map(|r| *r.rail()).collect();
        let (stop_tx, stop_rx) = mpsc::channel();
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        let thread = thread::Builder::new()
            .name("fibha-power".into())
            .spawn(move || run(rails, epoch, period, first, &stop_rx, &failed))
            .map_err(|e| BoardError::Sampling(format!("cannot start the sampler thread: {e}")))?;
        Ok(SamplerHandle {
            epoch,
            rails: specs,
            marks: Mutex::new(Vec::new()),
            stop: Some(stop_tx),
            thread: Some(thread),
            failure,
        })
    }
}

/// A running sampler. Marks may be made from any thread; dropping the handle stops the
/// thread and discards the log.
#[derive(Debug)]
pub struct SamplerHandle {
    epoch: Instant,
    rails: Vec<PowerRail>,
    marks: Mutex<Vec<Mark>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Sampled>>,
    /// The rail error that ended sampling early, as text, once it happened.
    failure: Arc<Mutex<Option<String>>>,
}

/// What the sampler thread returns: the samples, and the error that ended it early.
type Sampled = (Vec<Sample>, Option<BoardError>);

/// What a sampler measured: a log of every sample taken, and the rail error that ended
/// sampling early, if one did (the log then ends at the last good sample).
#[derive(Debug)]
pub struct Measured {
    /// The samples and the marks they cover.
    pub log: EnergyLog,
    /// Why sampling stopped before it was asked to.
    pub failure: Option<BoardError>,
}

impl SamplerHandle {
    /// Marks now as the start of inference `inference` (and the end of the one before).
    pub fn mark(&self, inference: u64) {
        self.mark_at(inference, Instant::now());
    }

    /// Marks `at` (a time the caller measured) as the start of inference `inference`.
    pub fn mark_at(&self, inference: u64, at: Instant) {
        let mark = Mark {
            inference,
            t_ns: nanos_since(self.epoch, at),
        };
        // A panic elsewhere while holding the lock leaves a Vec that is still valid.
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mark);
    }

    /// The instant that sample and mark times count from.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The rails sampled, in the order of each sample's values.
    pub fn rails(&self) -> &[PowerRail] {
        &self.rails
    }

    /// The rail error that stopped sampling early, once it has (as text, for a run to
    /// stop on); [`SamplerHandle::stop_measured`] returns the error itself.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes a last sample, stops the thread, and returns the log. Fails with the rail's
    /// error if a rail failed during sampling.
    pub fn stop(self) -> Result<EnergyLog> {
        let measured = self.stop_measured()?;
        match measured.failure {
            Some(failure) => Err(failure),
            None => Ok(measured.log),
        }
    }

    /// Takes a last sample, stops the thread, and returns what was measured: with a rail
    /// that failed, the samples before it and the marks they cover, and the failure.
    pub fn stop_measured(mut self) -> Result<Measured> {
        let (samples, failure) = self.finish()?;
        let mut marks =
            std::mem::take(self.marks.get_mut().unwrap_or_else(PoisonError::into_inner));
        if failure.is_some() {
            let last = samples.last().map_or(0, |s| s.t_ns);
            marks.retain(|m| m.t_ns <= last);
        }
        let log = EnergyLog::new(std::mem::take(&mut self.rails), samples, marks)?;
        Ok(Measured { log, failure })
    }

    fn finish(&mut self) -> Result<Sampled> {
        // Closing the channel wakes the thread at once, whatever its period.
        drop(self.stop.take());
        let thread = self
            .thread
            .take()
            .ok_or_else(|| BoardError::Sampling("the sampler was stopped already".into()))?;
        thread
            .join()
            .map_err(|_| BoardError::Sampling("the sampler thread panicked".into()))
    }
}

impl Drop for SamplerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // The log is discarded with the handle; so is a rail error it might hold.
            let _discarded = self.finish();
        }
    }
}

fn run<R: RailReader>(
    mut rails: Vec<R>,
    epoch: Instant,
    period: Duration,
    first: Sample,
    stop: &mpsc::Receiver<()>,
    failure: &Mutex<Option<String>>,
) -> Sampled {
    let mut samples = vec![first];
    let mut due = epoch + period;
    loop {
        let stopping = match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        match take_sample(&mut rails, epoch) {
            Ok(sample) => samples.push(sample),
            Err(err) => {
                *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(err.to_string());
                return (samples, Some(err));
            }
        }
        if stopping {
            return (samples, None);
        }
        due += period;
        let now = Instant::now();
        if due <= now {
            let missed = (now - due).as_nanos() / period.as_nanos() + 1;
            tracing::debug!(missed, "power sample overran its period");
            due = match u32::try_from(missed)
                .ok()
                .and_then(|m| period.checked_mul(m))
            {
                Some(skip) => due + skip,
                None => now + period,
            };
        }
    }
}

fn take_sample<R: RailReader>(rails: &mut [R], epoch: Instant) -> Result<Sample> {
    let before = Instant::now();
    let power_uw = rails
        .iter_mut()
        .map(RailReader::read_power_uw)
        .collect::<Result<Vec<_>>>()?;
    let after = Instant::now();
    Ok(Sample {
        t_ns: nanos_since(epoch, before + (after - before) / 2),
        power_uw,
    })
}

fn nanos_since(epoch: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::RailGroup;
    use crate::power::hwmon::tests::{Fixture, fixture_uw};
    use crate::power::{HwmonLayout, discover_hwmon_rails};
    use crate::root::Root;
    use crate::zcu102::RAILS;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A rail that reads a fixed power and can be told to fail after some reads.
    struct FakeRail {
        rail: PowerRail,
        uw: u64,
        reads: Arc<AtomicUsize>,
        fail_after: usize,
    }

    impl FakeRail {
        fn new(name: &str, uw: u64) -> Self {
            Self {
                rail: *RAILS.iter().find(|r| r.name == name).unwrap(),
                uw,
                reads: Arc::default(),
                fail_after: usize::MAX,
            }
        }
    }

    impl RailReader for FakeRail {
        fn rail(&self) -> &PowerRail {
            &self.rail
        }

        fn origin(&self) -> String {
            "fake".into()
        }

        fn read_power_uw(&mut self) -> Result<u64> {
            if self.reads.fetch_add(1, Ordering::SeqCst) >= self.fail_after {
                return Err(BoardError::Rail {
                    rail: self.rail.name,
                    origin: self.origin(),
                    problem: "vanished".into(),
                });
            }
            Ok(self.uw)
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-6)
    }

    #[test]
    fn samples_periodically_and_attributes_marked_inferences() {
        let rails = vec![
            FakeRail::new("VCCINT", 2_000_000),
            FakeRail::new("VCCPSINTFP", 500_000),
        ];
        let reads = Arc::clone(&rails[0].reads);
        let handle = Sampler::start(rails, Duration::from_millis(10)).unwrap();
        for inference in 0..3 {
            handle.mark(inference);
            thread::sleep(Duration::from_millis(30));
        }
        handle.mark(3);
        let log = handle.stop().unwrap();
        let samples = log.samples();
        assert!(samples.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));
        // About 90 ms at 10 ms plus first and last: periodic, and far from a busy loop (the
        // lower bound allows for a loaded CI machine starving the thread).
        assert!(
            (3..=30).contains(&samples.len()),
            "{} samples",
            samples.len()
        );
        assert_eq!(reads.load(Ordering::SeqCst), samples.len());
        let per = log.per_inference().unwrap();
        assert_eq!(
            per.iter().map(|p| p.inference).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        for p in &per {
            let seconds = p.energy.duration_s();
            assert!(seconds >= 0.029, "{seconds}");
            assert!(close(
                p.energy.per_group_j.get(RailGroup::Pl),
                2.0 * seconds
            ));
            assert!(close(
                p.energy.per_group_j.get(RailGroup::Ps),
                0.5 * seconds
            ));
        }
    }

    #[test]
    fn a_rail_failing_mid_run_fails_the_stop_with_its_name() {
        let mut rail = FakeRail::new("VCCBRAM", 100_000);
        rail.fail_after = 3;
        let handle = Sampler::start(vec![rail], Duration::from_millis(1)).unwrap();
        thread::sleep(Duration::from_millis(30));
        let err = handle.stop().unwrap_err().to_string();
        assert_eq!(err, "power rail VCCBRAM (fake): vanished");
    }

    #[test]
    fn a_rail_failing_mid_run_keeps_what_was_measured_before_it() {
        let mut rail = FakeRail::new("VCCBRAM", 100_000);
        // About 0.2 s of good reads: the two marks below come well before the failure.
        rail.fail_after = 200;
        let handle = Sampler::start(vec![rail], Duration::from_millis(1)).unwrap();
        handle.mark(0);
        thread::sleep(Duration::from_millis(5));
        handle.mark(1);
        while handle.failure().is_none() {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            handle.failure().as_deref(),
            Some("power rail VCCBRAM (fake): vanished")
        );
        handle.mark(2);
        let measured = handle.stop_measured().unwrap();
        assert!(measured.failure.unwrap().to_string().contains("VCCBRAM"));
        // Every read before the failure and the marks they cover; the mark after the
        // failure is dropped.
        assert_eq!(measured.log.samples().len(), 200);
        assert_eq!(measured.log.marks().len(), 2);
        let windows = measured.log.per_inference().unwrap();
        assert_eq!(windows.len(), 1);
        assert!(windows[0].energy.duration_s() > 0.0);
    }

    #[test]
    fn a_broken_rail_or_bad_setup_fails_at_start() {
        let mut rail = FakeRail::new("VCCAUX", 1);
        rail.fail_after = 0;
        let message = |r: Result<SamplerHandle>| match r {
            Ok(_) => panic!("a bad setup was accepted"),
            Err(e) => e.to_string(),
        };
        let broken = message(Sampler::start(vec![rail], DEFAULT_PERIOD));
        assert!(
            broken.contains("VCCAUX") && broken.contains("vanished"),
            "{broken}"
        );
        let none = message(Sampler::start(Vec::<FakeRail>::new(), DEFAULT_PERIOD));
        assert!(none.contains("no rails to sample"), "{none}");
        let zero = message(Sampler::start(
            vec![FakeRail::new("VCCAUX", 1)],
            Duration::ZERO,
        ));
        assert!(zero.contains("longer than zero"), "{zero}");
    }

    #[test]
    fn stop_is_prompt_even_with_a_long_period() {
        let handle =
            Sampler::start(vec![FakeRail::new("VCCAUX", 1)], Duration::from_secs(3600)).unwrap();
        let started = Instant::now();
        let log = handle.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(log.samples().len(), 2);
        // Dropping a running handle stops it too.
        drop(Sampler::start(vec![FakeRail::new("VCCAUX", 1)], Duration::from_secs(3600)).unwrap());
    }

    #[test]
    fn hwmon_rails_feed_group_energy() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        Fixture::new(HwmonLayout::Ina2xx, (0..18).rev().collect()).build(&root);
        let found = discover_hwmon_rails(&root, &RAILS).unwrap();
        let handle = Sampler::start(found.found, Duration::from_millis(5)).unwrap();
        thread::sleep(Duration::from_millis(40));
        let log = handle.stop().unwrap();
        let (first, last) = log.span_ns().unwrap();
        let average = log.average_power_w(first, last).unwrap();
        for group in RailGroup::ALL {
            let expected_uw: u64 = (0..18)
                .filter(|&i| RAILS[i].group == group)
                .map(fixture_uw)
                .sum();
            assert!(
                close(average.get(group), expected_uw as f64 * 1e-6),
                "{group}: {}",
                average.get(group)
            );
        }
    }
}
