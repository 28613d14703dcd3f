//! Figures from the records of a run: percentiles from an HDR histogram, per-stage
//! breakdowns, and the pipeline's timeline.
//!
//! On a real board (and the CPU backend) latency and throughput are the wall clock's. On the
//! virtual board the accelerator's wall time is C-simulation time, which says nothing about
//! the hardware, so the run is replayed: the host stages as measured here, the accelerator
//! for its modelled time (cycle register at the plan's clock), in exactly the order the
//! pipeline issues them (see [`crate::pipeline`]). Figures computed that way are marked
//! modelled.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::pipeline::Record;

/// Percentiles of one quantity, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many values.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

/// Percentiles of `durations` (recorded in nanoseconds, three significant digits).
pub fn percentiles(durations: impl IntoIterator<Item = Duration>) -> Percentiles {
    // 1 ns to an hour at three significant digits: a fixed-size histogram, no resizing.
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("static histogram bounds are valid");
    for d in durations {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        h.saturating_record(ns);
    }
    if h.is_empty() {
        return Percentiles::default();
    }
    let us = |ns: u64| ns as f64 / 1e3;
    Percentiles {
        count: h.len(),
        mean: h.mean() / 1e3,
        p50: us(h.value_at_quantile(0.50)),
        p90: us(h.value_at_quantile(0.90)),
        p99: us(h.value_at_quantile(0.99)),
        max: us(h.max()),
    }
}

/// The pipeline's timeline: per inference its latency, and the span of the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Latency of each inference, first pre to last post.
    pub latencies: Vec<Duration>,
    /// From the first inference's pre to the last one's post.
    pub span: Duration,
}

impl Timeline {
    /// Inferences per second over the span.
    pub fn throughput(&self) -> f64 {
        if self.span.is_zero() {
            0.0
        } else {
            self.latencies.len() as f64 / self.span.as_secs_f64()
        }
    }

    /// The wall clock's timeline of `records`.
    pub fn measured(records: &[Record]) -> Timeline {
        let latencies = records.iter().map(|r| r.finished - r.started).collect();
        let span = match (records.first(), records.last()) {
            (Some(first), Some(last)) => last.finished.saturating_duration_since(first.started),
            _ => Duration::ZERO,
        };
        Timeline { latencies, span }
    }

    /// The board pipeline replayed with each accelerator run taking `accel(record)`:
    /// `pre(0) start(0) | pre(n+1) wait(n) start(n+1) post(n) | ...`.
    ///
    /// With input workers (`Record::workers` = W > 0), the pipeline thread's pre of item
    /// `i` waits until its input is made: worker `i mod W` decodes it for `fill` once its
    /// previous item is made and the buffer it reuses (that of the item
    /// [`crate::prefetch::DEPTH`] x W before) has been taken by the pipeline thread; the
    /// pipeline thread's own part of pre is `pre - waited`. (The measured wait is left out:
    /// on the virtual board the C simulation gives the workers time no board would.)
    /// Latency then runs from the start of the item's decode.
    pub fn replayed(records: &[Record], accel: impl Fn(&Record) -> Duration) -> Timeline {
        let n = records.len();
        let mut latencies = Vec::with_capacity(n);
        if n == 0 {
            return Timeline {
                latencies,
                span: Duration::ZERO,
            };
        }
        let workers = usize::from(records[0].workers);
        let depth = crate::prefetch::DEPTH;
        let mut began = vec![Duration::ZERO; n];
        let mut done = vec![Duration::ZERO; n];
        let mut made = vec![Duration::ZERO; n];
        let mut taken = vec![Duration::ZERO; n];
        // The pipeline thread's pre of item i from time t: when it ends.
        let mut pre = |i: usize, t: Duration, began: &mut [Duration]| -> Duration {
            let r = &records[i];
            if workers == 0 {
                began[i] = t;
                return t + r.pre;
            }
            let mut start = Duration::ZERO;
            if i >= workers {
                start = start.max(made[i - workers]);
            }
            if i >= workers * depth {
                start = start.max(taken[i - workers * depth]);
            }
            made[i] = start + r.fill;
            taken[i] = t.max(made[i]) + r.pre.saturating_sub(r.waited);
            began[i] = start.min(t);
            taken[i]
        };
        let mut t = pre(0, Duration::ZERO, &mut began);
        t += records[0].io;
        done[0] = t + accel(&records[0]);
        for i in 0..n {
            if i + 1 < n {
                t = pre(i + 1, t, &mut began);
            }
            t = t.max(done[i]);
            if i + 1 < n {
                t += records[i + 1].io;
                done[i + 1] = t + accel(&records[i + 1]);
            }
            t += records[i].post;
            latencies.push(t - began[i]);
        }
        Timeline { latencies, span: t }
    }
}

/// Mean of `values`, zero when empty.
pub fn mean(values: impl IntoIterator<Item = Duration>) -> Duration {
    let (sum, count) = values
        .into_iter()
        .fold((Duration::ZERO, 0u32), |(s, c), d| (s + d, c + 1));
    if count == 0 {
        Duration::ZERO
    } else {
        sum / count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn record(pre: u64, io: u64, post: u64) -> Record {
        let now = Instant::now();
        Record {
            item: 0,
            pre: Duration::from_micros(pre),
            fill: Duration::ZERO,
            waited: Duration::ZERO,
            workers: 0,
            io: Duration::from_micros(io),
            compute: Duration::ZERO,
            cycles: None,
            accel_modelled: None,
            post: Duration::from_micros(post),
            started: now,
            finished: now,
        }
    }

    #[test]
    fn percentiles_of_a_known_set() {
        let p = percentiles((1..=100).map(Duration::from_micros));
        assert_eq!(p.count, 100);
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p90 - 90.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        assert!((p.mean - 50.5).abs() < 0.1, "{p:?}");
        assert_eq!(percentiles([]), Percentiles::default());
    }

    #[test]
    fn an_accelerator_bound_pipeline_runs_at_the_accelerators_pace() {
        // Host 10 + 1 + 5 us per image, accelerator 100 us: after the first image the
        // accelerator never waits for the host, so N images take about N x 100 us.
        let records: Vec<Record> = (0..10).map(|_| record(10, 1, 5)).collect();
        let t = Timeline::replayed(&records, |_| Duration::from_micros(100));
        // pre 10 + io 1, then 10 runs of 100 (the next start follows each done after its
        // io of 1), then the last post 5.
        assert_eq!(t.span, Duration::from_micros(10 + 1 + 10 * 100 + 9 + 5));
        // The first image: pre, io, run, then the start of the second (io 1), its post.
        assert_eq!(t.latencies[0], Duration::from_micros(10 + 1 + 100 + 1 + 5));
        assert!((t.throughput() - 10.0 / 1025e-6).abs() < 1.0);
    }

    #[test]
    fn input_workers_divide_the_decode_time() {
        // Decode 400 us per image, pipeline-thread pre 10, post 5, accelerator 100: one
        // worker bounds the run at 400 us per image, four at 100 us (the accelerator's).
        let run = |workers: u16| {
            let records: Vec<Record> = (0..40)
                .map(|_| Record {
                    fill: Duration::from_micros(400),
                    workers,
                    ..record(10, 0, 5)
                })
                .collect();
            Timeline::replayed(&records, |_| Duration::from_micros(100)).span
        };
        let one = run(1).as_secs_f64() * 1e6;
        let four = run(4).as_secs_f64() * 1e6;
        assert!((one / 40.0 - 400.0).abs() < 15.0, "{one}");
        assert!((four / 40.0 - 110.0).abs() < 15.0, "{four}");
        // The same decode inline is on the pipeline thread: pre 410 per image.
        let inline: Vec<Record> = (0..40).map(|_| record(410, 0, 5)).collect();
        let span = Timeline::replayed(&inline, |_| Duration::from_micros(100)).span;
        assert!(span.as_secs_f64() * 1e6 / 40.0 > 410.0);
    }

    #[test]
    fn a_host_bound_pipeline_runs_at_the_hosts_pace() {
        // Accelerator 1 us, host 100 + 0 + 50 us: the host's pre and post set the pace.
        let records: Vec<Record> = (0..4).map(|_| record(100, 0, 50)).collect();
        let t = Timeline::replayed(&records, |_| Duration::from_micros(1));
        assert_eq!(t.span, Duration::from_micros(4 * 150));
    }
}
