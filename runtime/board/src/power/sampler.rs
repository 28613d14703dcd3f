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
//!
//! Marks travel from the inference thread to the sampler thread through a fixed-capacity,
//! lock-free single-producer/single-consumer queue ([`MARK_CAPACITY`] marks, a
//! `heapless::spsc` queue): marking never allocates, locks or blocks, and the sampler
//! thread drains the queue after every sample. When the queue is full (the sampler thread
//! fell more than [`MARK_CAPACITY`] marks behind) the mark is dropped and counted
//! ([`Measured::dropped_marks`]): the inference it opens is merged into the one before it.
//! The queue lives for the rest of the process (`heapless` splits a queue into its two
//! ends by borrowing it, and the sampler thread outlives any borrow): 16 KiB per sampler
//! started, and a command starts one.

use std::sync::mpsc::{self, RecvTimeoutError};

use heapless::spsc::{Consumer, Producer, Queue};
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

/// Marks the queue between the inference thread and the sampler thread holds: two
/// seconds at 500 inferences per second between two drains, far more than the default
/// period lets pile up.
pub const MARK_CAPACITY: usize = 1023;

/// The queue's slots (a `heapless::spsc::Queue<T, N>` holds `N - 1`).
const MARK_SLOTS: usize = MARK_CAPACITY + 1;

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
        // Given to the process (see the module documentation): both ends must be 'static
        // to cross to the sampler thread.
        let queue: &'static mut Queue<Mark, MARK_SLOTS> = Box::leak(Box::new(Queue::new()));
        let (marks, mark_rx) = queue.split();
        let thread = thread::Builder::new()
            .name("fibha-power".into())
            .spawn(move || run(rails, epoch, period, first, &stop_rx, &failed, mark_rx))
            .map_err(|e| BoardError::Sampling(format!("cannot start the sampler thread: {e}")))?;
        Ok(SamplerHandle {
            epoch,
            rails: specs,
            marks,
            dropped_marks: 0,
            stop: Some(stop_tx),
            thread: Some(thread),
            failure,
        })
    }
}

/// A running sampler. Marks are made by its owner (one producer: the thread that runs
/// the inferences); dropping the handle stops the thread and discards the log.
pub struct SamplerHandle {
    epoch: Instant,
    rails: Vec<PowerRail>,
    marks: Producer<'static, Mark>,
    /// Marks the full queue turned away.
    dropped_marks: u64,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Sampled>>,
    /// The rail error that ended sampling early, as text, once it happened.
    failure: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for SamplerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamplerHandle")
            .field("epoch", &self.epoch)
            .field("rails", &self.rails)
            .field("queued_marks", &self.marks.len())
            .field("dropped_marks", &self.dropped_marks)
            .finish_non_exhaustive()
    }
}

/// What the sampler thread returns: the samples, the marks it drained, and the error that
/// ended it early.
type Sampled = (Vec<Sample>, Vec<Mark>, Option<BoardError>);

/// What a sampler measured: a log of every sample taken, and the rail error that ended
/// sampling early, if one did (the log then ends at the last good sample).
#[derive(Debug)]
pub struct Measured {
    /// The samples and the marks they cover.
    pub log: EnergyLog,
    /// Why sampling stopped before it was asked to.
    pub failure: Option<BoardError>,
    /// Marks dropped because the queue to the sampler thread was full (each merges its
    /// inference into the one before); zero unless the sampler thread fell behind.
    pub dropped_marks: u64,
}

impl SamplerHandle {
    /// Marks now as the start of inference `inference` (and the end of the one before).
    pub fn mark(&mut self, inference: u64) {
        self.mark_at(inference, Instant::now());
    }

    /// Marks `at` (a time the caller measured) as the start of inference `inference`.
    /// Never blocks: when the queue to the sampler thread is full the mark is dropped and
    /// counted.
    pub fn mark_at(&mut self, inference: u64, at: Instant) {
        let mark = Mark {
            inference,
            t_ns: nanos_since(self.epoch, at),
        };
        // After a rail failure nobody drains the queue, and marks past the last sample
        // are dropped anyway: only a live sampler's full queue counts as a loss.
        if self.marks.enqueue(mark).is_err() && self.failure().is_none() {
            self.dropped_marks += 1;
        }
    }

    /// Marks dropped so far because the queue was full.
    pub fn dropped_marks(&self) -> u64 {
        self.dropped_marks
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
        let (samples, mut marks, failure) = self.finish()?;
        if failure.is_some() {
            let last = samples.last().map_or(0, |s| s.t_ns);
            marks.retain(|m| m.t_ns <= last);
        }
        let log = EnergyLog::new(std::mem::take(&mut self.rails), samples, marks)?;
        Ok(Measured {
            log,
            failure,
            dropped_marks: self.dropped_marks,
        })
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
    mut mark_rx: Consumer<'static, Mark>,
) -> Sampled {
    let mut samples = vec![first];
    let mut marks = Vec::new();
    let mut due = epoch + period;
    loop {
        let stopping = match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        let sampled = take_sample(&mut rails, epoch);
        // Every mark made before the stop was asked for is in the queue by now.
        while let Some(mark) = mark_rx.dequeue() {
            marks.push(mark);
        }
        match sampled {
            Ok(sample) => samples.push(sample),
            Err(err) => {
                *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(err.to_string());
                return (samples, marks, Some(err));
            }
        }
        if stopping {
            return (samples, marks, None);
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
        let mut handle = Sampler::start(rails, Duration::from_millis(10)).unwrap();
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
        let mut handle = Sampler::start(vec![rail], Duration::from_millis(1)).unwrap();
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
    fn a_full_mark_queue_drops_and_counts_instead_of_blocking() {
        // A period of an hour: the sampler thread drains only when stopped, so the queue
        // fills at MARK_CAPACITY marks and the rest are counted, not waited for.
        let mut handle =
            Sampler::start(vec![FakeRail::new("VCCAUX", 1)], Duration::from_secs(3600)).unwrap();
        let extra = 10;
        let started = Instant::now();
        for inference in 0..(MARK_CAPACITY + extra) as u64 {
            handle.mark(inference);
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(handle.dropped_marks(), extra as u64);
        let measured = handle.stop_measured().unwrap();
        assert_eq!(measured.dropped_marks, extra as u64);
        assert_eq!(measured.log.marks().len(), MARK_CAPACITY);
        // The queue kept the oldest marks, in order.
        assert_eq!(
            measured.log.marks()[MARK_CAPACITY - 1].inference,
            MARK_CAPACITY as u64 - 1
        );
    }

    #[test]
    fn marks_drained_while_sampling_are_all_kept() {
        // A short period: the sampler thread drains as it goes, so far more marks than the
        // queue holds pass through without a loss.
        let mut handle =
            Sampler::start(vec![FakeRail::new("VCCAUX", 1)], Duration::from_millis(1)).unwrap();
        let total = 3 * MARK_CAPACITY as u64;
        for inference in 0..total {
            handle.mark(inference);
            if inference % 256 == 255 {
                thread::sleep(Duration::from_millis(5));
            }
        }
        let measured = handle.stop_measured().unwrap();
        assert_eq!(measured.dropped_marks, 0);
        assert_eq!(measured.log.marks().len() as u64, total);
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
