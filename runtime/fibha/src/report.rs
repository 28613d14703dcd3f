//! The reports of `fibha bench` and `fibha energy`: one JSON document each (the `--json`
//! output and the file under `--out`) and a text summary.
//!
//! Every figure group carries `modelled`: true when any part of it comes from a model (on
//! the virtual board the accelerator's time is its cycle register at the plan's clock, its
//! power the board's documented power model), false when it is a measurement of this run.
//! Peers' figures are quoted from their publications, with the source, never measured here.

use std::fmt::Write as _;
use std::time::Duration;

use fibha_board::RailGroup;
use fibha_model::timing::TimingReport;
use serde::Serialize;

use crate::accelerator::DriverStats;
use crate::pipeline::{Record, StreamRuns};
use crate::session::BoardKind;
use crate::stats::{Percentiles, Timeline, mean, percentiles};

/// Overhead target of the host per inference against the accelerator's modelled time.
pub const HOST_OVERHEAD_TARGET: f64 = 0.05;

/// What a run was.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    /// The model (file name of the graph).
    pub model: String,
    /// `board` or `cpu`.
    pub backend: &'static str,
    /// On the board backend, which board.
    pub board: Option<BoardKind>,
    /// Whether the board is virtual (its accelerator time and power are modelled).
    pub virtual_board: bool,
    /// The build directory, on the board backend.
    pub instance: Option<String>,
    /// The plan's accelerator clock, MHz.
    pub clock_mhz: Option<f64>,
    /// The plan's modelled latency of one image, µs.
    pub plan_latency_us: Option<f64>,
    /// What the inputs were.
    pub input: String,
    /// The build's plan against the timed C simulation (reports carry it at their top).
    #[serde(skip)]
    pub timing: Option<TimingReport>,
}

/// How a run ended.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    /// Inferences asked for (after the warm-up).
    pub requested: u64,
    /// Inferences that finished and are counted.
    pub completed: u64,
    /// Inputs skipped because they could not be read.
    pub skipped: u64,
    /// Whether Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// The error that ended the run early, if any.
    pub error: Option<String>,
}

/// A figure group and whether it is modelled.
#[derive(Clone, Debug, Serialize)]
pub struct Group<T> {
    /// True when the group's numbers come from a model, not a measurement of this run.
    pub modelled: bool,
    /// The figures.
    #[serde(flatten)]
    pub figures: T,
}

/// Throughput.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Throughput {
    /// Inferences per second.
    pub inferences_per_s: f64,
}

/// The accelerator alone with images streaming through it: one call runs several images,
/// the SESL part on image n + 1 while the SEML part computes image n.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stream {
    /// Images per call.
    pub images_per_call: u32,
    /// Calls measured.
    pub calls: u32,
    /// Accelerator time per image in a call (the call's time over its images), µs.
    pub us_per_image: f64,
    /// Images per second.
    pub images_per_s: f64,
    /// The accelerator time of one image alone (its cycle register or wall time), µs.
    pub single_image_us: f64,
    /// Time between consecutive images once both parts are busy: a call less one image
    /// alone, over the images after the first, µs (0 with one image a call).
    pub period_us: f64,
    /// Images per second with images overlapped: 1 / `period_us`.
    pub overlapped_images_per_s: f64,
}

impl Stream {
    /// Figures of the streaming calls `runs` next to single-image accelerator times
    /// `single` (cycle registers on a virtual board, wall times on a board).
    pub fn of(runs: &StreamRuns, single_us: f64, modelled: bool) -> Group<Stream> {
        let per_call_us: Vec<f64> = if modelled {
            runs.cycles
                .iter()
                .map(|&c| c as f64 / runs.clock_hz * 1e6)
                .collect()
        } else {
            runs.wall.iter().map(|w| w.as_secs_f64() * 1e6).collect()
        };
        let mean_call = per_call_us.iter().sum::<f64>() / per_call_us.len().max(1) as f64;
        let us_per_image = mean_call / f64::from(runs.images.max(1));
        let period_us = if runs.images > 1 {
            ((mean_call - single_us) / f64::from(runs.images - 1)).max(0.0)
        } else {
            0.0
        };
        let rate = |us: f64| if us > 0.0 { 1e6 / us } else { 0.0 };
        Group {
            modelled,
            figures: Stream {
                images_per_call: runs.images,
                calls: per_call_us.len() as u32,
                us_per_image,
                images_per_s: rate(us_per_image),
                single_image_us: single_us,
                period_us,
                overlapped_images_per_s: rate(period_us),
            },
        }
    }
}

/// One stage of the per-inference breakdown.
#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    /// `host_pre`, `make_input` (the part of host pre that decodes and resizes an image or
    /// copies a tensor), `dma_sync`, `accelerator`, `host_post`, `cpu_inference`.
    pub name: &'static str,
    /// Whether its times are modelled.
    pub modelled: bool,
    /// Percentiles in µs.
    #[serde(flatten)]
    pub us: Percentiles,
}

/// The host's time against the accelerator's.
#[derive(Clone, Debug, Serialize)]
pub struct HostOverhead {
    /// The host's measured time per inference (pre + DMA/sync + post), µs.
    pub host_us: Percentiles,
    /// The accelerator's time per inference, µs.
    pub accelerator_us_mean: f64,
    /// Whether that accelerator time is modelled.
    pub accelerator_modelled: bool,
    /// Mean host time over mean accelerator time.
    pub ratio: f64,
    /// The target ratio.
    pub target: f64,
    /// Host time of the tensor path alone: without decoding and resizing an image, µs.
    pub host_without_decode_us_mean: f64,
    /// Its ratio to the accelerator's time.
    pub ratio_without_decode: f64,
    /// The plan's modelled latency of one image (the compiler's analytical model), µs.
    pub plan_latency_us: Option<f64>,
    /// Mean host time over the plan's modelled latency.
    pub ratio_to_plan: Option<f64>,
    /// The same without decoding.
    pub ratio_to_plan_without_decode: Option<f64>,
}

/// Mean time of one operator kind the host ran, per inference.
#[derive(Clone, Debug, Serialize)]
pub struct OpTime {
    /// TFLite operator name.
    pub op: &'static str,
    /// How many nodes of that kind ran per inference.
    pub nodes: usize,
    /// Mean µs per inference.
    pub us: f64,
}

/// A published figure of another system, for comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    /// The system.
    pub system: &'static str,
    /// The figure as published.
    pub figure: &'static str,
    /// Where it was published.
    pub source: &'static str,
}

/// Published figures for MobileNetV2 on the ZCU102 (shared/REFERENCE.md).
pub fn mobilenet_v2_peers() -> Vec<Peer> {
    vec![
        Peer {
            system: "Vitis AI 1.4 DPUCZDX8G (3 x B4096 @ 281 MHz), tf MobileNetV2 1.0 224",
            figure: "244.7 FPS and 4.08 ms latency on 1 thread; 694.9 FPS multi-threaded",
            source: "Vitis AI 1.4 model zoo performance table (ZCU102)",
        },
        Peer {
            system: "Vitis AI 2.5 DPUCZDX8G, tf MobileNetV2 1.0 224",
            figure: "268.07 FPS on 1 thread; 707.03 FPS multi-threaded",
            source: "Vitis AI 2.5 model zoo performance table (ZCU102)",
        },
        Peer {
            system: "FiBHA authors' ZCU102 demo, full budget, int8 MobileNetV2",
            figure: "accelerator 15 ms + FC on the CPU 2 ms per image (whole ms); PL 2.35 W",
            source: "fqararyah/cnn_layers, fibha_demo/out/raw",
        },
        Peer {
            system: "FiBHA authors' ZCU102 demo, SEML, full budget",
            figure: "accelerator 21 ms + FC on the CPU 2 ms per image; PL 1.87 W",
            source: "fqararyah/cnn_layers, fibha_demo/out/raw",
        },
        Peer {
            system: "FiBHA authors' ZCU102 demo, quarter budget (630 DSP)",
            figure: "accelerator 33 ms + FC on the CPU 2 ms per image; PL 1.88 W",
            source: "fqararyah/cnn_layers, fibha_demo/out/raw",
        },
    ]
}

/// Peers for `model` when published figures exist for it.
pub fn peers_for(model: &str) -> Vec<Peer> {
    if model.to_ascii_lowercase().contains("mobilenet_v2") {
        mobilenet_v2_peers()
    } else {
        Vec::new()
    }
}

/// `fibha bench`'s report.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// `bench`.
    pub command: &'static str,
    /// What ran.
    pub run: RunInfo,
    /// Warm-up inferences (not counted).
    pub warmup: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// What is modelled, in words (absent when nothing is).
    pub modelled_note: Option<String>,
    /// Latency per inference in the pipeline: from its host pre to its host post, waits for
    /// the image ahead of it included.
    pub latency_us: Group<Percentiles>,
    /// Latency of one image alone: its host pre, DMA/sync, accelerator and host post.
    pub single_latency_us: Group<Percentiles>,
    /// Throughput.
    pub throughput: Group<Throughput>,
    /// The accelerator alone with images streaming through it (board backend).
    pub stream: Option<Group<Stream>>,
    /// Per-stage breakdown.
    pub stages_us: Vec<Stage>,
    /// Host time against the accelerator's (board backend).
    pub host_overhead: Option<HostOverhead>,
    /// Where the host's operator time goes.
    pub host_operators: Vec<OpTime>,
    /// The host's time per image on the ZCU102's Cortex-A53 (modelled from instruction
    /// counts, see [`crate::host_model`]) against the accelerator's (board backend).
    pub a53_host: Option<crate::host_model::A53Estimate>,
    /// Input worker threads that decoded the images (0: the pipeline thread did).
    pub input_workers: u16,
    /// What the driver recovered from.
    pub driver: Option<DriverStats>,
    /// The plan's cycles against the timed C simulation's, per engine, SEML layer and image
    /// (from the build directory's timing.json; both modelled).
    pub timing: Option<TimingReport>,
    /// Notes (recoveries, caveats).
    pub notes: Vec<String>,
    /// Published figures of other systems.
    pub peers: Vec<Peer>,
    /// Files written.
    pub files: Vec<String>,
}

/// Builds the bench report from the counted records.
pub fn bench_report(
    run: RunInfo,
    warmup: u64,
    outcome: Outcome,
    records: &[Record],
    host_operators: Vec<OpTime>,
    driver: Option<DriverStats>,
) -> BenchReport {
    let modelled = run.virtual_board;
    let board = run.backend == "board";
    let timeline = if modelled {
        Timeline::replayed(records, accel_modelled)
    } else {
        Timeline::measured(records)
    };
    let stage = |name, modelled, f: &dyn Fn(&Record) -> Duration| Stage {
        name,
        modelled,
        us: percentiles(records.iter().map(f)),
    };
    let stages_us = if board {
        vec![
            stage("host_pre", false, &|r| r.pre),
            stage("make_input", false, &|r| r.fill),
            stage("input_wait", false, &|r| r.waited),
            stage("dma_sync", false, &|r| r.io),
            if modelled {
                stage("accelerator", true, &accel_modelled)
            } else {
                stage("accelerator", false, &|r| r.compute)
            },
            stage("host_post", false, &|r| r.post),
        ]
    } else {
        vec![
            stage("host_pre", false, &|r| r.pre),
            stage("cpu_inference", false, &|r| r.compute),
        ]
    };
    let host_overhead = board.then(|| {
        let accel = mean(records.iter().map(accel_modelled)).as_secs_f64() * 1e6;
        let host = percentiles(records.iter().map(Record::host));
        let without_decode =
            mean(records.iter().map(|r| r.host().saturating_sub(r.fill))).as_secs_f64() * 1e6;
        let ratio = |x: f64| if accel > 0.0 { x / accel } else { 0.0 };
        let plan = run.plan_latency_us.filter(|p| *p > 0.0);
        HostOverhead {
            accelerator_us_mean: accel,
            accelerator_modelled: true,
            ratio: ratio(host.mean),
            target: HOST_OVERHEAD_TARGET,
            ratio_without_decode: ratio(without_decode),
            host_without_decode_us_mean: without_decode,
            plan_latency_us: plan,
            ratio_to_plan: plan.map(|p| host.mean / p),
            ratio_to_plan_without_decode: plan.map(|p| without_decode / p),
            host_us: host,
        }
    });
    let mut notes = driver.as_ref().map(DriverStats::notes).unwrap_or_default();
    if let Some(note) = cycle_note(&run, records) {
        notes.push(note);
    }
    if board && !modelled {
        notes.push(
            "accelerator wall time runs from the start write until completion is seen; host pre of the next image overlaps it, so it is an upper bound"
                .into(),
        );
    }
    BenchReport {
        command: "bench",
        modelled_note: modelled.then(|| {
            format!(
                "virtual board: the accelerator's time is its cycle register at the plan's {} MHz clock (modelled: timed C simulation of the instance's HLS code); host stages are measured on this machine; latency and throughput replay the pipeline with both",
                run.clock_mhz.unwrap_or_default()
            )
        }),
        peers: peers_for(&run.model),
        timing: run.timing.clone(),
        latency_us: Group {
            modelled,
            figures: percentiles(timeline.latencies.iter().copied()),
        },
        single_latency_us: Group {
            modelled,
            figures: percentiles(records.iter().map(|r| {
                r.host() + if modelled { accel_modelled(r) } else { r.compute }
            })),
        },
        throughput: Group {
            modelled,
            figures: Throughput {
                inferences_per_s: timeline.throughput(),
            },
        },
        stream: None,
        run,
        warmup,
        outcome,
        stages_us,
        host_overhead,
        host_operators,
        a53_host: None,
        input_workers: records.first().map_or(0, |r| r.workers),
        driver,
        notes,
        files: Vec::new(),
    }
}

/// A note when the kernel's cycle register and the plan's modelled latency disagree by more
/// than a factor of two: both are models, of different things (the template's pipelined
/// iterations, the compiler's analytical model), and a reader should know which was used.
pub fn cycle_note(run: &RunInfo, records: &[Record]) -> Option<String> {
    let plan = run.plan_latency_us?;
    let kernel = mean(records.iter().map(accel_modelled)).as_secs_f64() * 1e6;
    if plan <= 0.0 || kernel <= 0.0 || (kernel / plan).max(plan / kernel) <= 2.0 {
        return None;
    }
    Some(format!(
        "the kernel's cycle register gives {kernel:.1} µs per run, the plan's analytical model {plan:.1} µs ({:.1}x apart); the accelerator figures above use the cycle register",
        kernel / plan
    ))
}

/// The accelerator's modelled time of a record (zero on the CPU backend).
pub fn accel_modelled(r: &Record) -> Duration {
    r.accel_modelled.unwrap_or_default()
}

/// The latencies the report's percentiles came from, µs (for the figure).
pub fn latencies_us(run: &RunInfo, records: &[Record]) -> Vec<f64> {
    let timeline = if run.virtual_board {
        Timeline::replayed(records, accel_modelled)
    } else {
        Timeline::measured(records)
    };
    timeline
        .latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .collect()
}

fn modelled_tag(modelled: bool) -> &'static str {
    if modelled { " (modelled)" } else { "" }
}

fn header(out: &mut String, command: &str, run: &RunInfo, outcome: &Outcome, warmup: Option<u64>) {
    let place = match (run.backend, run.board) {
        ("cpu", _) => "on the CPU (int8 reference kernels)".to_string(),
        (_, Some(BoardKind::Real)) => "on the ZCU102".to_string(),
        _ if run.virtual_board => "on the virtual board".to_string(),
        _ => "on the board".to_string(),
    };
    let _ = writeln!(
        out,
        "fibha {command}: {} {place}, {} inference(s){}",
        run.model,
        outcome.completed,
        warmup.map_or(String::new(), |w| format!(" after {w} warm-up"))
    );
    let _ = writeln!(out, "input: {}", run.input);
    if outcome.skipped > 0 {
        let _ = writeln!(out, "skipped: {} unreadable input(s)", outcome.skipped);
    }
    if outcome.interrupted {
        let _ = writeln!(
            out,
            "interrupted: stopped by Ctrl-C after {} of {} inference(s)",
            outcome.completed, outcome.requested
        );
    }
    if let Some(err) = &outcome.error {
        let _ = writeln!(
            out,
            "stopped by an error after {} inference(s): {err}",
            outcome.completed
        );
    }
}

fn row(out: &mut String, name: &str, p: &Percentiles) {
    let _ = writeln!(
        out,
        "  {name:<26} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
        p.mean, p.p50, p.p90, p.p99, p.max
    );
}

impl BenchReport {
    /// The text summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "bench",
            &self.run,
            &self.outcome,
            Some(self.warmup),
        );
        if let Some(note) = &self.modelled_note {
            let _ = writeln!(out, "modelled: {note}");
        }
        let _ = writeln!(
            out,
            "  {:<26} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "µs per inference", "mean", "p50", "p90", "p99", "max"
        );
        row(
            &mut out,
            &format!(
                "latency in the pipeline{}",
                modelled_tag(self.latency_us.modelled)
            ),
            &self.latency_us.figures,
        );
        row(
            &mut out,
            &format!(
                "one image alone{}",
                modelled_tag(self.single_latency_us.modelled)
            ),
            &self.single_latency_us.figures,
        );
        for s in &self.stages_us {
            let name = match s.name {
                "make_input" => "  input (decode + resize, or copy)".to_string(),
                "dma_sync" => "DMA / sync".to_string(),
                other => format!("{}{}", other.replace('_', " "), modelled_tag(s.modelled)),
            };
            row(&mut out, &name, &s.us);
        }
        let _ = writeln!(
            out,
            "throughput{}: {:.1} inferences/s ({})",
            modelled_tag(self.throughput.modelled),
            self.throughput.figures.inferences_per_s,
            match self.input_workers {
                0 => "inputs made on the pipeline thread".to_string(),
                n => format!("images decoded on {n} input worker thread(s)"),
            }
        );
        if let Some(a53) = &self.a53_host {
            let _ = writeln!(out, "{}", a53.line());
        }
        if let Some(s) = &self.stream {
            let f = &s.figures;
            let _ = writeln!(
                out,
                "accelerator alone{}: one image {:.1} µs ({:.1} images/s); {} images streaming per call: {:.1} µs per image = {:.1} images/s ({} calls); images overlapped (the call less one image alone, over the {} after the first): one every {:.1} µs = {:.1} images/s",
                modelled_tag(s.modelled),
                f.single_image_us,
                if f.single_image_us > 0.0 {
                    1e6 / f.single_image_us
                } else {
                    0.0
                },
                f.images_per_call,
                f.us_per_image,
                f.images_per_s,
                f.calls,
                f.images_per_call.saturating_sub(1),
                f.period_us,
                f.overlapped_images_per_s
            );
        }
        if let Some(h) = &self.host_overhead {
            let _ = writeln!(
                out,
                "host overhead: {:.1} µs per inference = {:.1}% of the accelerator's {:.1} µs{} (target < {:.0}%); without image decoding {:.1} µs = {:.1}%",
                h.host_us.mean,
                100.0 * h.ratio,
                h.accelerator_us_mean,
                modelled_tag(h.accelerator_modelled),
                100.0 * h.target,
                h.host_without_decode_us_mean,
                100.0 * h.ratio_without_decode
            );
            if let (Some(plan), Some(r), Some(rd)) = (
                h.plan_latency_us,
                h.ratio_to_plan,
                h.ratio_to_plan_without_decode,
            ) {
                let _ = writeln!(
                    out,
                    "  against the plan's modelled latency of {plan:.1} µs: {:.1}%, without image decoding {:.1}%",
                    100.0 * r,
                    100.0 * rd
                );
            }
        }
        if !self.host_operators.is_empty() {
            let ops: Vec<String> = self
                .host_operators
                .iter()
                .map(|o| format!("{} {:.1} µs", o.op, o.us))
                .collect();
            let _ = writeln!(out, "host operators per inference: {}", ops.join(", "));
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if let Some(t) = &self.timing {
            out.push_str(&t.table());
        }
        peers_text(&mut out, &self.peers);
        files_text(&mut out, &self.files);
        out
    }
}

fn peers_text(out: &mut String, peers: &[Peer]) {
    if peers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "published figures of peers (quoted, not measured here):"
    );
    for p in peers {
        let _ = writeln!(out, "  {}: {} [{}]", p.system, p.figure, p.source);
    }
}

fn files_text(out: &mut String, files: &[String]) {
    if !files.is_empty() {
        let _ = writeln!(out, "report: {}", files.join(", "));
    }
}

/// Watts per rail group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupWatts {
    /// Processing system.
    #[serde(rename = "PS")]
    pub ps: f64,
    /// Programmable logic.
    #[serde(rename = "PL")]
    pub pl: f64,
    /// PS DDR.
    #[serde(rename = "DDR")]
    pub ddr: f64,
    /// Transceivers.
    #[serde(rename = "MGT")]
    pub mgt: f64,
    /// Sum.
    pub total: f64,
}

impl GroupWatts {
    /// From one value per group.
    pub fn from_fn(f: impl Fn(RailGroup) -> f64) -> GroupWatts {
        let [ps, pl, ddr, mgt] = RailGroup::ALL.map(&f);
        GroupWatts {
            ps,
            pl,
            ddr,
            mgt,
            total: ps + pl + ddr + mgt,
        }
    }

    /// The value of `group`.
    pub fn get(&self, group: RailGroup) -> f64 {
        match group {
            RailGroup::Ps => self.ps,
            RailGroup::Pl => self.pl,
            RailGroup::Ddr => self.ddr,
            RailGroup::Mgt => self.mgt,
        }
    }
}

/// Which rails were read.
#[derive(Clone, Debug, Serialize)]
pub struct RailsInfo {
    /// Rails found, by name.
    pub found: Vec<&'static str>,
    /// Rails of the board's table that were not found.
    pub missing: Vec<&'static str>,
    /// Monitors that matched no rail.
    pub unplaced: Vec<String>,
    /// Sampling period, ms.
    pub period_ms: f64,
    /// Samples taken.
    pub samples: usize,
}

/// Power of a phase.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    /// Its length, s.
    pub duration_s: f64,
    /// Average power per group, W.
    pub power_w: GroupWatts,
}

/// Energy per inference.
#[derive(Clone, Debug, Serialize)]
pub struct PerInference {
    /// Joules per inference, all rails.
    pub total_j: f64,
    /// Joules per inference above the idle baseline.
    pub above_idle_j: f64,
    /// Joules per inference per group.
    pub per_group_j: GroupWatts,
    /// Above idle, per group.
    pub above_idle_per_group_j: GroupWatts,
    /// Inferences per joule (of the total).
    pub inferences_per_j: f64,
    /// The period per inference the total is taken over, s.
    pub period_s: f64,
}

/// `fibha energy`'s report.
#[derive(Clone, Debug, Serialize)]
pub struct EnergyReport {
    /// `energy`.
    pub command: &'static str,
    /// What ran.
    pub run: RunInfo,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether the power figures are modelled (virtual board).
    pub modelled: bool,
    /// What is modelled, in words.
    pub modelled_note: Option<String>,
    /// The rails.
    pub rails: RailsInfo,
    /// The idle baseline.
    pub idle: Group<Phase>,
    /// While inferring.
    pub active: Group<Phase>,
    /// Per inference.
    pub per_inference: Group<PerInference>,
    /// What the driver recovered from.
    pub driver: Option<DriverStats>,
    /// The plan's cycles against the timed C simulation's (from the build directory).
    pub timing: Option<TimingReport>,
    /// Notes.
    pub notes: Vec<String>,
    /// Published figures of other systems.
    pub peers: Vec<Peer>,
    /// Files written.
    pub files: Vec<String>,
}

impl EnergyReport {
    /// The text summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        header(&mut out, "energy", &self.run, &self.outcome, None);
        if let Some(note) = &self.modelled_note {
            let _ = writeln!(out, "modelled: {note}");
        }
        let _ = writeln!(
            out,
            "rails: {} read every {} ms ({} samples){}",
            self.rails.found.len(),
            self.rails.period_ms,
            self.rails.samples,
            if self.rails.missing.is_empty() {
                String::new()
            } else {
                format!("; missing: {}", self.rails.missing.join(", "))
            }
        );
        let tag = modelled_tag(self.modelled);
        let _ = writeln!(
            out,
            "  {:<8} {:>12} {:>12} {:>16}",
            "group",
            format!("idle W{tag}"),
            format!("active W{tag}"),
            "J / inference"
        );
        for group in RailGroup::ALL {
            let _ = writeln!(
                out,
                "  {:<8} {:>12.3} {:>12.3} {:>16.6}",
                group.name(),
                self.idle.figures.power_w.get(group),
                self.active.figures.power_w.get(group),
                self.per_inference.figures.per_group_j.get(group)
            );
        }
        let p = &self.per_inference.figures;
        let _ = writeln!(
            out,
            "  {:<8} {:>12.3} {:>12.3} {:>16.6}",
            "total", self.idle.figures.power_w.total, self.active.figures.power_w.total, p.total_j
        );
        let _ = writeln!(
            out,
            "energy per inference{tag}: {:.3} mJ total, {:.3} mJ above idle, over a period of {:.1} µs; {:.1} inferences per joule",
            p.total_j * 1e3,
            p.above_idle_j * 1e3,
            p.period_s * 1e6,
            p.inferences_per_j
        );
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        peers_text(&mut out, &self.peers);
        files_text(&mut out, &self.files);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_figures_by_hand() {
        // Calls of 4 images at 1 MHz: 1000 and 1200 cycles, mean 1100 µs a call; one image
        // alone 500 µs. Per image 275 µs (3636.4/s); overlapped (1100 - 500) / 3 = 200 µs.
        let runs = StreamRuns {
            images: 4,
            cycles: vec![1000, 1200],
            wall: vec![Duration::from_secs(1); 2],
            clock_hz: 1e6,
        };
        let g = Stream::of(&runs, 500.0, true);
        let f = g.figures;
        assert!(g.modelled);
        assert_eq!((f.images_per_call, f.calls), (4, 2));
        assert!((f.us_per_image - 275.0).abs() < 1e-9);
        assert!((f.images_per_s - 1e6 / 275.0).abs() < 1e-6);
        assert!((f.period_us - 200.0).abs() < 1e-9);
        assert!((f.overlapped_images_per_s - 5000.0).abs() < 1e-6);
        // One image a call has no overlap to measure.
        let one = StreamRuns { images: 1, ..runs };
        assert_eq!(Stream::of(&one, 500.0, true).figures.period_us, 0.0);
        // On a board: wall times.
        let board = Stream::of(
            &StreamRuns {
                images: 2,
                cycles: vec![],
                wall: vec![Duration::from_micros(900)],
                clock_hz: 1e6,
            },
            500.0,
            false,
        );
        assert!((board.figures.period_us - 400.0).abs() < 1e-9);
    }
}
