//! `fibha classify` and `fibha accuracy`: top-k per image, and top-1/top-5 over a labelled
//! folder.
//!
//! Unreadable images are skipped and counted; they are listed on stderr once the run is
//! over. When nothing could be classified at all, the first reason is the error.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fibha::accuracy::{LabelledSet, Tally};
use fibha::classify::{Prediction, top_k};
use fibha::inputs::{self, ImageSource};
use fibha::pipeline::{FillError, Record, RunnerOptions, Sink};
use fibha::{assets, labels, stop};
use fibha_model::Tensor;
use serde::Serialize;

use super::{Status, prepare, progress, status};
use crate::ModelArgs;

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
}

#[derive(Serialize)]
struct ImageResult {
    image: String,
    top: Vec<Prediction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<usize>,
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
    paths: &'a [PathBuf],
    gold: Option<&'a [usize]>,
    output: Tensor,
    labels: Vec<String>,
    k: usize,
    print: bool,
    results: Vec<ImageResult>,
    skipped: Vec<Skipped>,
    tally: Tally,
    bar: indicatif::ProgressBar,
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
        let image = &self.paths[record.item];
        let top = top_k(&self.output, output, &self.labels, self.k);
        let label = self.gold.map(|g| g[record.item]);
        if let Some(label) = label {
            self.tally.add(&self.output, output, label);
        }
        if self.print {
            self.bar
                .suspend(|| print_text(image, &top))
                .map_err(|e| Box::new(e) as FillError)?;
        }
        self.results.push(ImageResult {
            image: image.display().to_string(),
            top,
            label,
        });
        Ok(())
    }
}

/// Runs `fibha classify` (or `fibha accuracy`).
pub fn run(args: Args) -> Result<Status> {
    super::install_stop()?;
    let listed = match &args.accuracy {
        Some(_) => Vec::new(),
        None if args.images.is_empty() => shipped_photos()?,
        None => inputs::expand(&args.images)?,
    };
    let input_note = match &args.accuracy {
        Some(dir) => format!("labelled folder {}", dir.display()),
        None => format!("{} image(s)", listed.len()),
    };
    if args.accuracy.is_none() && listed.is_empty() {
        bail!("no images to classify among the arguments (JPEG, PNG or BMP files)");
    }
    let mut prepared = prepare(
        &args.model,
        RunnerOptions {
            verify: args.model.verify,
            profile: false,
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
    let input = prepared.runner.graph().input().clone();
    let mut source = ImageSource::new(paths.clone(), &input);
    let mut sink = ClassifySink {
        paths: &paths,
        gold: set.as_ref().map(|(s, _)| s.labels.as_slice()),
        k: args.top.min(output.len()),
        output,
        labels,
        print: !args.json && args.per_image,
        results: Vec::with_capacity(paths.len()),
        skipped: Vec::new(),
        tally: Tally::default(),
        bar: progress(paths.len() as u64, "classifying"),
    };
    let outcome = prepared.runner.run(&mut source, &mut sink, stop::flag());
    sink.bar.finish_and_clear();
    if sink.results.is_empty()
        && let Some(first) = sink.skipped.first()
        && outcome.is_ok()
    {
        let more = sink.skipped.len() - 1;
        let tail = if more > 0 {
            format!(" (and {more} more unreadable image(s))")
        } else {
            String::new()
        };
        bail!("{}{tail}", first.error);
    }
    let error = outcome.as_ref().err().map(|e| e.to_string());
    let notes = prepared
        .runner
        .accelerator()
        .map(|a| a.stats().notes())
        .unwrap_or_default();
    let accuracy = set.as_ref().map(|(set, dir)| AccuracyReport {
        dir: dir.display().to_string(),
        labels_from: set.source,
        images: sink.tally.images,
        top1: sink.tally.top1,
        top5: sink.tally.top5,
        top1_accuracy: sink.tally.top1_rate(),
        top5_accuracy: sink.tally.top5_rate(),
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
        skipped_count: sink.skipped.len(),
        skipped: sink.skipped,
        results: sink.results,
        accuracy,
        interrupted: stop::requested(),
        error,
        notes,
    };
    write_report(&report, args.json)?;
    outcome.context("the run stopped")?;
    Ok(status())
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
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

fn print_text(image: &Path, top: &[Prediction]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", image.display())?;
    for p in top {
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
