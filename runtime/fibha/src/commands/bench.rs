//! `fibha bench`: warm-up, then N inferences; latency percentiles, throughput, the
//! per-stage breakdown, the host's overhead against the accelerator, and where the host's
//! time goes; then, on the board backend, the accelerator alone with images streaming
//! through one call (its throughput next to one image's latency). Writes `bench.json` and
//! `bench-latency.svg` under `--out`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use fibha::inputs::{self, ImageSource, TensorSource};
use fibha::pipeline::{FillError, Record, Runner, RunnerOptions, Sink, Source};
use fibha::report::{self, OpTime, Outcome};
use fibha::{assets, plot, stop, tensor_file};
use fibha_board::SamplerHandle;
use fibha_model::Tensor;
use fibha_model::host_cost::A53Model;

use super::{Prepared, Status, prepare, progress, status, write_report_file};
use crate::{InputArgs, ModelArgs, ReportArgs};

/// Collects the records of counted inferences (and marks each in a power sampler).
pub struct Collect<'a> {
    /// The records, in completion order.
    pub records: Vec<Record>,
    /// Inputs skipped, with the first reason.
    pub skipped: u64,
    /// The first skip's reason.
    pub first_skip: Option<String>,
    /// Progress.
    pub bar: indicatif::ProgressBar,
    /// Marks the end of each inference (the start of the next) in this sampler.
    pub marks: Option<&'a mut SamplerHandle>,
}

impl<'a> Collect<'a> {
    /// Room for `n` records, so the run itself does not reallocate.
    pub fn new(n: u64, bar: indicatif::ProgressBar, marks: Option<&'a mut SamplerHandle>) -> Self {
        Collect {
            records: Vec::with_capacity(usize::try_from(n).unwrap_or(0)),
            skipped: 0,
            first_skip: None,
            bar,
            marks,
        }
    }
}

impl Sink for Collect<'_> {
    fn skipped(&mut self, _item: usize, error: &FillError) {
        self.skipped += 1;
        self.first_skip.get_or_insert_with(|| error.to_string());
        self.bar.inc(1);
    }

    fn output(&mut self, record: &Record, _output: &[u8]) -> Result<(), FillError> {
        self.records.push(*record);
        self.bar.inc(1);
        if let Some(sampler) = self.marks.as_deref_mut() {
            sampler.mark(self.records.len() as u64);
            // A rail that failed ends the run: what follows could not be measured.
            if let Some(problem) = sampler.failure() {
                return Err(format!("the power measurement stopped: {problem}").into());
            }
        }
        Ok(())
    }
}

/// What the inputs are: a raw tensor repeated, or image files cycled.
pub enum Inputs {
    /// One raw tensor.
    Tensor(Vec<u8>),
    /// Image files.
    Images(Vec<std::path::PathBuf>),
}

impl Inputs {
    /// Resolves `--input` / image arguments (default: the shipped photos).
    pub fn resolve(args: &InputArgs) -> Result<(Inputs, String)> {
        if args.input.is_some() {
            return Ok((Inputs::Tensor(Vec::new()), String::new()));
        }
        let paths = if args.images.is_empty() {
            let dir = assets::asset("images");
            inputs::images_in(&dir)?
        } else {
            inputs::expand(&args.images)?
        };
        if paths.is_empty() {
            bail!("no images among the arguments (JPEG, PNG or BMP files)");
        }
        let note = format!(
            "{} photo(s), decoded and resized every inference ({})",
            paths.len(),
            paths
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok((Inputs::Images(paths), note))
    }

    /// Loads the tensor of `--input` once the model's input is known.
    pub fn load_tensor(&mut self, args: &InputArgs, input: &Tensor) -> Result<()> {
        if let (Inputs::Tensor(data), Some(path)) = (self, &args.input) {
            *data = tensor_file::read_npy(path, input, "input")?;
        }
        Ok(())
    }

    /// A source of `count` items.
    pub fn source(&self, input: &Tensor, count: u64) -> Box<dyn Source> {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        match self {
            Inputs::Tensor(data) => Box::new(TensorSource::new(vec![data.clone()], count)),
            Inputs::Images(paths) => Box::new(ImageSource::cycling(paths.clone(), input, count)),
        }
    }
}

/// The input description of a raw tensor argument.
pub fn tensor_note(args: &InputArgs) -> Option<String> {
    args.input
        .as_ref()
        .map(|p| format!("raw tensor {} (no image decoding)", p.display()))
}

/// Runs `warmup` uncounted then `n` counted inferences; returns the counted records and
/// how the run ended. With `marks`, inference 0 is marked just before the counted run and
/// each later boundary as an inference finishes.
pub fn measure<'a>(
    prepared: &mut Prepared,
    inputs: &Inputs,
    n: u64,
    warmup: u64,
    what: &str,
    mut marks: Option<&'a mut SamplerHandle>,
) -> (Collect<'a>, Outcome) {
    let input = prepared.runner.graph().input().clone();
    let mut outcome = Outcome {
        requested: n,
        ..Outcome::default()
    };
    if warmup > 0 {
        let mut sink = Collect::new(warmup, progress(warmup, "warm-up"), None);
        let result =
            prepared
                .runner
                .run(&mut *inputs.source(&input, warmup), &mut sink, stop::flag());
        sink.bar.finish_and_clear();
        if let Err(err) = result {
            outcome.error = Some(format!("during the warm-up: {err}"));
            return (
                Collect::new(0, indicatif::ProgressBar::hidden(), None),
                outcome,
            );
        }
    }
    prepared.runner.reset_profile();
    if let Some(sampler) = marks.as_deref_mut() {
        sampler.mark(0);
    }
    let mut sink = Collect::new(n, progress(n, what), marks);
    let result = prepared
        .runner
        .run(&mut *inputs.source(&input, n), &mut sink, stop::flag());
    sink.bar.finish_and_clear();
    outcome.completed = sink.records.len() as u64;
    outcome.skipped = sink.skipped;
    outcome.interrupted = stop::requested();
    outcome.error = result.err().map(|e| e.to_string());
    (sink, outcome)
}

/// Mean host time per inference of each operator kind the host ran.
pub fn host_operators(runner: &Runner, completed: u64) -> Vec<OpTime> {
    let Some(profile) = runner.host_profile() else {
        return Vec::new();
    };
    let mut by_op: BTreeMap<&'static str, (usize, f64)> = BTreeMap::new();
    for node in &profile {
        let entry = by_op.entry(node.op).or_default();
        entry.0 += 1;
        entry.1 += node.total.as_secs_f64();
    }
    let mut ops: Vec<OpTime> = by_op
        .into_iter()
        .map(|(op, (nodes, total))| OpTime {
            op,
            nodes,
            us: if completed == 0 {
                0.0
            } else {
                total * 1e6 / completed as f64
            },
        })
        .collect();
    ops.sort_by(|a, b| b.us.total_cmp(&a.us));
    ops
}

/// Installs the Ctrl-C handler, resolves the inputs and prepares the model (with
/// per-operator profiling when `profile`), the inputs loaded for its input tensor.
pub fn prepare_with_inputs(
    model: &ModelArgs,
    input_args: &InputArgs,
    profile: bool,
) -> Result<(Prepared, Inputs)> {
    super::install_stop()?;
    let (mut inputs, note) = Inputs::resolve(input_args)?;
    let note = tensor_note(input_args).unwrap_or(note);
    let prepared = prepare(
        model,
        RunnerOptions {
            verify: model.verify,
            profile,
            input_threads: input_args.input_threads(),
        },
        note,
    )?;
    inputs.load_tensor(input_args, prepared.runner.graph().input())?;
    Ok((prepared, inputs))
}

/// Runs one host stage `n` times (the hidden `fibha bench --host-stage`): what
/// `scripts/measure-a53-host` counts the instructions of under qemu-aarch64.
pub fn host_stage(
    model: &ModelArgs,
    stage: fibha::host_model::HostStage,
    n: u64,
    input_args: &InputArgs,
) -> Result<Status> {
    let instance = fibha::instance::Instance::open(&super::instance_dir(model)?)?;
    let images = match Inputs::resolve(input_args)? {
        (Inputs::Images(paths), _) => paths,
        (Inputs::Tensor(_), _) => Vec::new(),
    };
    let sum = fibha::host_model::run_stage(stage, &instance, &images, n)?;
    println!("{stage:?} x {n}: checksum {sum:016x}");
    Ok(status())
}

/// The A53 host estimate for a board run whose accelerator took `accelerator_ms` per
/// image, or a note saying why there is none.
fn a53_estimate(
    runner: &Runner,
    threads: usize,
    accelerator_ms: f64,
    decoding: bool,
) -> Result<fibha::host_model::A53Estimate, String> {
    let split = runner
        .split()
        .ok_or("the CPU backend runs no accelerator")?;
    let a53 = A53Model::load(&fibha::host_model::shipped()).map_err(|e| e.to_string())?;
    let ops = fibha::host_model::split_cost(&a53, runner.graph(), split);
    Ok(fibha::host_model::estimate(
        &a53,
        ops,
        threads,
        accelerator_ms,
        decoding,
    ))
}

/// Streaming calls `fibha bench` measures throughput with.
const STREAM_CALLS: u32 = 3;

/// Runs `fibha bench`.
pub fn run(
    model: &ModelArgs,
    n: u64,
    warmup: u64,
    out: &ReportArgs,
    input_args: &InputArgs,
) -> Result<Status> {
    let (mut prepared, inputs) = prepare_with_inputs(model, input_args, true)?;
    let (sink, outcome) = measure(&mut prepared, &inputs, n, warmup, "benchmarking", None);
    if sink.records.is_empty()
        && outcome.error.is_none()
        && let Some(first) = &sink.first_skip
    {
        bail!("no inference completed: every input was unreadable (first: {first})");
    }
    // The accelerator alone with images streaming through it (after the pipeline's run,
    // which left an image in slot 0).
    let stream_runs = if outcome.error.is_none() && !sink.records.is_empty() {
        prepared.runner.stream(STREAM_CALLS)?
    } else {
        None
    };
    let driver = prepared.runner.accelerator().map(|a| a.stats().clone());
    let ops = host_operators(&prepared.runner, outcome.completed);
    let error = outcome.error.clone();
    let mut report = report::bench_report(
        prepared.info.clone(),
        warmup,
        outcome,
        &sink.records,
        ops,
        driver,
    );
    if let Some(runs) = &stream_runs {
        let modelled = report.run.virtual_board;
        let single = fibha::stats::mean(sink.records.iter().map(|r| {
            if modelled {
                report::accel_modelled(r)
            } else {
                r.compute
            }
        }));
        report.stream = Some(report::Stream::of(
            runs,
            single.as_secs_f64() * 1e6,
            modelled,
        ));
    }
    if report.run.backend == "board" && !sink.records.is_empty() {
        let accel = fibha::stats::mean(sink.records.iter().map(|r| {
            if report.run.virtual_board {
                report::accel_modelled(r)
            } else {
                r.compute
            }
        }));
        let decoding = matches!(inputs, Inputs::Images(_));
        match a53_estimate(
            &prepared.runner,
            input_args.input_threads(),
            accel.as_secs_f64() * 1e3,
            decoding,
        ) {
            Ok(estimate) => report.a53_host = Some(estimate),
            Err(why) => report.notes.push(format!("no A53 host estimate: {why}")),
        }
    }
    if !sink.records.is_empty() {
        let svg = out.out.join("bench-latency.svg");
        let caption = format!(
            "latency per inference, {}{}",
            report.run.model,
            if report.latency_us.modelled {
                " (modelled)"
            } else {
                ""
            }
        );
        std::fs::create_dir_all(&out.out).with_context(|| {
            format!("{}: cannot create the report directory", out.out.display())
        })?;
        plot::latency_cdf(
            &svg,
            &report::latencies_us(&report.run, &sink.records),
            &caption,
        )?;
        report.files.push(svg.display().to_string());
    }
    let json_path = out.out.join("bench.json");
    report.files.insert(0, json_path.display().to_string());
    let json = serde_json::to_vec_pretty(&report)?;
    write_report_file(&out.out, "bench.json", &json)?;
    emit(&json, &report.text(), out.json)?;
    if let Some(err) = error {
        bail!("{err}");
    }
    Ok(status())
}

/// Prints the JSON document or the text summary on stdout.
pub fn emit(json: &[u8], text: &str, as_json: bool) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if as_json {
        stdout.write_all(json)?;
        writeln!(stdout)?;
    } else {
        stdout.write_all(text.as_bytes())?;
    }
    Ok(())
}
