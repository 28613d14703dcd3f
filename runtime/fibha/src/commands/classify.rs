//! `fibha classify` and `fibha accuracy`: top-k per image, and top-1/top-5 over a labelled
//! folder.
//!
//! Each image's classes come with the accelerator's time for it (modelled on the virtual
//! board), and the run ends with one line of speed: images, mean and p99 latency, images
//! per second, and joules per image where the board's power rails are found (sampled
//! during the run after a short idle baseline, as `fibha energy` does). `--watch DIR`
//! classifies the folder's images, then each new one as it appears, until Ctrl-C.
//!
//! Unreadable images are skipped and counted; they are listed on stderr once the run is
//! over. When nothing could be classified at all, the first reason is the error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fibha::accuracy::{LabelledSet, Tally};
use fibha::classify::{Prediction, top_k};
use fibha::inputs::{self, ImageSource};
use fibha::pipeline::{FillError, Record, RunnerOptions, Sink};
use fibha::report::accel_modelled;
use fibha::stats::{Timeline, percentiles};
use fibha::{assets, energy, labels, stop};
use fibha_board::SamplerHandle;
use fibha_model::Tensor;
use serde::Serialize;

use super::{Prepared, Status, prepare, progress, status};
use crate::ModelArgs;

/// The idle baseline sampled before a classification whose energy is reported.
const IDLE_BASELINE: Duration = Duration::from_millis(250);
/// The power rails' sampling period during a classification.
const SAMPLE_PERIOD: Duration = Duration::from_millis(8);
/// How often `--watch` looks at its folder.
const WATCH_PERIOD: Duration = Duration::from_millis(200);
/// How long a file must stay unchanged before `--watch` reads it.
const WATCH_QUIET: Duration = Duration::from_secs(1);

/// What to classify.
pub struct Args {
    /// Model and backend.
    pub model: ModelArgs,
    /// Classes per image.
    pub top: usize,
    /// Label file.
    pub labels: Option<PathBuf>,
    /// JSON on stdout.
    pub json: bool,
    /// A labelled folder to measure accuracy on.
    pub accuracy: Option<PathBuf>,
    /// Images or directories.
    pub images: Vec<PathBuf>,
    /// Print each image's classes (text mode).
    pub per_image: bool,
    /// Classify this folder's images as they appear, until Ctrl-C.
    pub watch: Option<PathBuf>,
}

#[derive(Serialize)]
struct ImageResult {
    image: String,
    top: Vec<Prediction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<usize>,
    /// The accelerator's time for this image (board backend), ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    accelerator_ms: Option<f64>,
    /// This image alone, host and accelerator, ms.
    latency_ms: f64,
}

/// The run's speed in one line.
#[derive(Serialize)]
struct Speed {
    images: usize,
    latency_ms_mean: f64,
    latency_ms_p99: f64,
    images_per_s: f64,
    /// The accelerator's share is modelled (virtual board): its cycle register at the
    /// plan's clock, the host's stages measured.
    modelled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    joules_per_image: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    energy_note: Option<String>,
}

#[derive(Serialize)]
struct Skipped {
    image: String,
    error: String,
}

#[derive(Serialize)]
struct AccuracyReport {
    dir: String,
    labels_from: &'static str,
    images: u64,
    top1: u64,
    top5: u64,
    top1_accuracy: f64,
    top5_accuracy: f64,
    unlabelled: Vec<Skipped>,
}

#[derive(Serialize)]
struct ClassifyReport {
    model: String,
    backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    board: Option<fibha::session::BoardKind>,
    results: Vec<ImageResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed: Option<Speed>,
    skipped_count: usize,
    skipped: Vec<Skipped>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy: Option<AccuracyReport>,
    interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

struct ClassifySink<'a> {
    /// The paths of the source being run (its items).
    paths: Vec<PathBuf>,
    gold: Option<&'a [usize]>,
    output: Tensor,
    labels: Vec<String>,
    k: usize,
    print: bool,
    modelled: bool,
    results: Vec<ImageResult>,
    records: Vec<Record>,
    skipped: Vec<Skipped>,
    tally: Tally,
    bar: indicatif::ProgressBar,
    /// Marks each inference's end in this power sampler.
    marks: Option<&'a mut SamplerHandle>,
}

impl Sink for ClassifySink<'_> {
    fn skipped(&mut self, item: usize, error: &FillError) {
        self.bar.inc(1);
        self.skipped.push(Skipped {
            image: self.paths[item].display().to_string(),
            error: error.to_string(),
        });
    }

    fn output(&mut self, record: &Record, output: &[u8]) -> Result<(), FillError> {
        self.bar.inc(1);
        self.records.push(*record);
        if let Some(sampler) = self.marks.as_deref_mut() {
            sampler.mark(self.records.len() as u64);
        }
        let image = &self.paths[record.item];
        let top = top_k(&self.output, output, &self.labels, self.k);
        let label = self.gold.map(|g| g[record.item]);
        if let Some(label) = label {
            self.tally.add(&self.output, output, label);
        }
        let accelerator = record.cycles.map(|_| {
            if self.modelled {
                accel_modelled(record)
            } else {
                record.compute
            }
        });
        let latency = record.host() + accelerator.unwrap_or(record.compute);
        let result = ImageResult {
            image: image.display().to_string(),
            top,
            label,
            accelerator_ms: accelerator.map(|d| d.as_secs_f64() * 1e3),
            latency_ms: latency.as_secs_f64() * 1e3,
        };
        if self.print {
            self.bar
                .suspend(|| print_text(&result, self.modelled))
                .map_err(|e| Box::new(e) as FillError)?;
        }
        self.results.push(result);
        Ok(())
    }
}

/// Runs `fibha classify` (or `fibha accuracy`).
pub fn run(args: Args) -> Result<Status> {
    super::install_stop()?;
    let listed = match (&args.accuracy, &args.watch) {
        (Some(_), _) | (None, Some(_)) => Vec::new(),
        (None, None) if args.images.is_empty() => shipped_photos()?,
        (None, None) => inputs::expand(&args.images)?,
    };
    let input_note = match (&args.accuracy, &args.watch) {
        (Some(dir), _) => format!("labelled folder {}", dir.display()),
        (None, Some(dir)) => format!("images appearing in {}", dir.display()),
        (None, None) => format!("{} image(s)", listed.len()),
    };
    if args.accuracy.is_none() && args.watch.is_none() && listed.is_empty() {
        bail!("no images to classify among the arguments (JPEG, PNG or BMP files)");
    }
    if let Some(dir) = &args.watch
        && !dir.is_dir()
    {
        bail!("{}: --watch needs a folder to watch", dir.display());
    }
    let mut prepared = prepare(
        &args.model,
        RunnerOptions {
            verify: args.model.verify,
            profile: false,
            input_threads: 0,
        },
        input_note,
    )?;
    let output = prepared.runner.graph().output().clone();
    let set = match &args.accuracy {
        Some(dir) => Some((LabelledSet::open(dir, output.len())?, dir.clone())),
        None => None,
    };
    let paths = match &set {
        Some((set, _)) => set.images.clone(),
        None => listed,
    };
    let labels_path = args
        .labels
        .clone()
        .unwrap_or_else(|| assets::asset(assets::DEFAULT_LABELS));
    let labels = labels::load_labels(&labels_path, output.len())?;
    // Energy over a watch would count the waits between images: only for a fixed set.
    let mut power = match args.watch {
        Some(_) => Err("not measured while watching a folder".to_owned()),
        None => start_power(&prepared, &args.model),
    };
    let mut sink = ClassifySink {
        paths: Vec::new(),
        gold: set.as_ref().map(|(s, _)| s.labels.as_slice()),
        k: args.top.min(output.len()),
        output,
        labels,
        print: !args.json && args.per_image,
        modelled: prepared.info.virtual_board,
        results: Vec::with_capacity(paths.len()),
        records: Vec::with_capacity(paths.len()),
        skipped: Vec::new(),
        tally: Tally::default(),
        bar: indicatif::ProgressBar::hidden(),
        marks: power.as_mut().ok().map(|(handle, _)| handle),
    };
    let outcome = match &args.watch {
        Some(dir) => watch(&mut prepared, &mut sink, dir),
        None => {
            sink.bar = progress(paths.len() as u64, "classifying");
            classify(&mut prepared, &mut sink, paths)
        }
    };
    sink.bar.finish_and_clear();
    let ClassifySink {
        results,
        records,
        skipped,
        tally,
        modelled,
        ..
    } = sink;
    if results.is_empty()
        && let Some(first) = skipped.first()
        && outcome.is_ok()
    {
        let more = skipped.len() - 1;
        let tail = if more > 0 {
            format!(" (and {more} more unreadable image(s))")
        } else {
            String::new()
        };
        bail!("{}{tail}", first.error);
    }
    let joules = finish_power(power, &records, modelled);
    let speed = speed(&records, modelled, joules);
    let error = outcome.as_ref().err().map(|e| e.to_string());
    let notes = prepared
        .runner
        .accelerator()
        .map(|a| a.stats().notes())
        .unwrap_or_default();
    let accuracy = set.as_ref().map(|(set, dir)| AccuracyReport {
        dir: dir.display().to_string(),
        labels_from: set.source,
        images: tally.images,
        top1: tally.top1,
        top5: tally.top5,
        top1_accuracy: tally.top1_rate(),
        top5_accuracy: tally.top5_rate(),
        unlabelled: set
            .unlabelled
            .iter()
            .map(|(p, why)| Skipped {
                image: p.display().to_string(),
                error: why.clone(),
            })
            .collect(),
    });
    let report = ClassifyReport {
        model: prepared.info.model.clone(),
        backend: prepared.info.backend,
        board: prepared.info.board,
        skipped_count: skipped.len(),
        skipped,
        results,
        speed,
        accuracy,
        interrupted: stop::requested() && args.watch.is_none(),
        error,
        notes,
    };
    write_report(&report, args.json)?;
    outcome.context("the run stopped")?;
    // Ctrl-C is how a watch ends.
    Ok(if args.watch.is_some() {
        Status::Done
    } else {
        status()
    })
}

/// Classifies `paths` into `sink`.
fn classify(
    prepared: &mut Prepared,
    sink: &mut ClassifySink<'_>,
    paths: Vec<PathBuf>,
) -> Result<()> {
    let input = prepared.runner.graph().input().clone();
    let mut source = ImageSource::new(paths.clone(), &input);
    sink.paths = paths;
    prepared.runner.run(&mut source, sink, stop::flag())?;
    Ok(())
}

/// Classifies the images of `dir`, then each new or changed one once it has been left
/// alone for [`WATCH_QUIET`] (a file still being copied waits), until Ctrl-C.
fn watch(prepared: &mut Prepared, sink: &mut ClassifySink<'_>, dir: &Path) -> Result<()> {
    eprintln!(
        "fibha: watching {} for images (Ctrl-C to stop)",
        dir.display()
    );
    // Per file: its (size, mtime) when last seen, since when it has not changed, and
    // whether that version was classified.
    let mut seen: BTreeMap<PathBuf, (Version, Instant, bool)> = BTreeMap::new();
    while !stop::requested() {
        let mut ready = Vec::new();
        for path in inputs::images_in(dir).unwrap_or_default() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let version = (meta.len(), meta.modified().ok());
            let entry = seen
                .entry(path.clone())
                .or_insert((version, Instant::now(), false));
            if entry.0 != version {
                *entry = (version, Instant::now(), false);
            }
            if !entry.2 && version.0 > 0 && entry.1.elapsed() >= WATCH_QUIET {
                entry.2 = true;
                ready.push(path);
            }
        }
        if !ready.is_empty() {
            classify(prepared, sink, ready)?;
            for s in sink.skipped.drain(..) {
                eprintln!("fibha: skipped {}", s.error);
            }
        }
        std::thread::sleep(WATCH_PERIOD);
    }
    Ok(())
}

/// A file's size and modification time: what tells a finished copy from one under way.
type Version = (u64, Option<std::time::SystemTime>);

/// Starts sampling the board's power rails after a short idle baseline, or says why not.
fn start_power(prepared: &Prepared, model: &ModelArgs) -> Result<(SamplerHandle, u64), String> {
    let rails = energy::discover(&super::board_root(prepared, model)).map_err(|e| e.to_string())?;
    let (handle, idle_end) = energy::start_with_baseline(
        rails.readers,
        SAMPLE_PERIOD,
        IDLE_BASELINE,
        &stop::requested,
    )
    .map_err(|e| e.to_string())?;
    let mut handle = handle;
    handle.mark(0);
    Ok((handle, idle_end))
}

/// Joules per image from the sampler, or why there are none.
fn finish_power(
    power: Result<(SamplerHandle, u64), String>,
    records: &[Record],
    modelled: bool,
) -> Result<f64, String> {
    let (handle, idle_end) = power?;
    let measured = handle.stop_measured().map_err(|e| e.to_string())?;
    if let Some(failure) = measured.failure {
        return Err(format!("the power measurement stopped: {failure}"));
    }
    if measured.dropped_marks > 0 {
        return Err(format!(
            "{} inference mark(s) were dropped (the sampler thread fell behind)",
            measured.dropped_marks
        ));
    }
    let period = (modelled && !records.is_empty()).then(|| {
        Timeline::replayed(records, accel_modelled)
            .span
            .as_secs_f64()
            / records.len() as f64
    });
    energy::analyse(&measured.log, idle_end, period)
        .map(|a| a.per_inference.total_j)
        .map_err(|e| e.to_string())
}

/// The run's speed: each image's latency alone, and the pipeline's images per second
/// (replayed with the modelled accelerator on the virtual board).
fn speed(records: &[Record], modelled: bool, joules: Result<f64, String>) -> Option<Speed> {
    if records.is_empty() {
        return None;
    }
    let board = records.iter().any(|r| r.cycles.is_some());
    let timeline = if modelled {
        Timeline::replayed(records, accel_modelled)
    } else {
        Timeline::measured(records)
    };
    let single = percentiles(records.iter().map(|r| {
        if modelled {
            r.host() + accel_modelled(r)
        } else if board {
            r.host() + r.compute
        } else {
            r.finished - r.started
        }
    }));
    let (joules_per_image, energy_note) = match joules {
        Ok(j) => (Some(j), None),
        Err(why) => (None, Some(why)),
    };
    Some(Speed {
        images: records.len(),
        latency_ms_mean: single.mean / 1e3,
        latency_ms_p99: single.p99 / 1e3,
        images_per_s: timeline.throughput(),
        modelled,
        joules_per_image,
        energy_note,
    })
}

fn write_report(report: &ClassifyReport, json: bool) -> Result<()> {
    for s in &report.skipped {
        eprintln!("fibha: skipped {}", s.error);
    }
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    if report.skipped_count > 0 {
        writeln!(
            out,
            "classified {} image(s); skipped {} unreadable image(s)",
            report.results.len(),
            report.skipped_count
        )?;
    }
    if let Some(a) = &report.accuracy {
        writeln!(
            out,
            "accuracy over {} (labels from {}): top-1 {}/{} = {:.1}%, top-5 {}/{} = {:.1}%",
            a.dir,
            a.labels_from,
            a.top1,
            a.images,
            100.0 * a.top1_accuracy,
            a.top5,
            a.images,
            100.0 * a.top5_accuracy
        )?;
        for u in &a.unlabelled {
            writeln!(out, "  not counted: {}: {}", u.image, u.error)?;
        }
    }
    if let Some(s) = &report.speed {
        let modelled = if s.modelled { " (modelled)" } else { "" };
        let energy = s.joules_per_image.map_or(String::new(), |j| {
            format!(", {:.2} mJ/image{modelled}", j * 1e3)
        });
        writeln!(
            out,
            "{} image(s): latency mean {:.2} ms, p99 {:.2} ms, {:.1} images/s{modelled}{energy}",
            s.images, s.latency_ms_mean, s.latency_ms_p99, s.images_per_s
        )?;
    }
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

fn print_text(result: &ImageResult, modelled: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match result.accelerator_ms {
        Some(ms) => writeln!(
            out,
            "{}  (accelerator {ms:.3} ms{})",
            result.image,
            if modelled { ", modelled" } else { "" }
        )?,
        None => writeln!(out, "{}", result.image)?,
    }
    for p in &result.top {
        writeln!(
            out,
            "  {}. {:<28} {:>6.3}  (class {}, raw {})",
            p.rank, p.label, p.score, p.index, p.raw
        )?;
    }
    Ok(())
}

fn shipped_photos() -> Result<Vec<PathBuf>> {
    let dir = assets::asset("images");
    let photos = inputs::images_in(&dir)
        .with_context(|| format!("{}: cannot list the shipped photos", dir.display()))?;
    if photos.is_empty() {
        bail!("{}: no photos to classify; pass image files", dir.display());
    }
    Ok(photos)
}
