//! `fibha`: classify images and run raw tensors on the FiBHA accelerator or the CPU.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use fibha::classify::{Prediction, top_k};
use fibha::{assets, labels, preprocess, tensor_file};
use fibha_kernels::CpuEngine;
use fibha_model::Graph;
use serde::Serialize;

/// Runs int8 CNNs on the FiBHA accelerator (or its virtual board) and on the CPU.
#[derive(Parser)]
#[command(name = "fibha", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log each stage to stderr (repeat for more detail); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Where inference runs.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    /// The int8 reference engine on the CPU (bit-exact with TFLite's reference kernels).
    Cpu,
}

#[derive(clap::Args)]
struct ModelArgs {
    /// A quantized .tflite model (default: the shipped MobileNetV2 int8 model).
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images: top-k labels and scores per image.
    Classify {
        #[command(flatten)]
        model: ModelArgs,
        /// How many classes to report per image.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
        top: u16,
        /// Label file, one per output class (default: the shipped ImageNet labels).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// JPEG, PNG or BMP files (default: the shipped photos).
        images: Vec<PathBuf>,
    },
    /// Run one raw input tensor (.npy) and write the raw output tensor (.npy).
    Run {
        #[command(flatten)]
        model: ModelArgs,
        /// Input tensor: the model's input dtype and shape.
        #[arg(long, short)]
        input: PathBuf,
        /// Where to write the output tensor.
        #[arg(long, short)]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fibha: {}", render_error(&err));
            ExitCode::FAILURE
        }
    }
}

/// Whether the reader of stdout went away (`fibha classify | head`): not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            == broken
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == broken
    })
}

/// The error and its causes on one line, leaving out a cause whose text the line already
/// holds (library errors often quote the operating system's error they wrap).
fn render_error(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Classify {
            model,
            top,
            labels,
            json,
            images,
        } => classify(&model, usize::from(top), labels, json, images),
        Command::Run {
            model,
            input,
            output,
        } => run_tensor(&model, &input, &output),
    }
}

/// The model and an engine ready to run it.
struct Loaded {
    graph: std::sync::Arc<Graph>,
    engine: CpuEngine,
}

fn load(args: &ModelArgs) -> Result<Loaded> {
    let path = args
        .model
        .clone()
        .unwrap_or_else(|| assets::asset(assets::DEFAULT_MODEL));
    let graph = std::sync::Arc::new(fibha_model::tflite::load(&path)?);
    let engine = match args.backend {
        Backend::Cpu => CpuEngine::new(graph.clone())
            .with_context(|| format!("{}: cannot prepare the CPU engine", path.display()))?,
    };
    Ok(Loaded { graph, engine })
}

fn run_tensor(args: &ModelArgs, input: &Path, output: &Path) -> Result<()> {
    let mut loaded = load(args)?;
    let data = tensor_file::read_npy(input, loaded.graph.input(), "input")?;
    let out = loaded.engine.run(&data)?;
    tensor_file::write_npy(output, loaded.graph.output(), out)?;
    Ok(())
}

#[derive(Serialize)]
struct ImageResult {
    image: String,
    top: Vec<Prediction>,
}

#[derive(Serialize)]
struct ClassifyReport<'a> {
    model: &'a str,
    backend: Backend,
    results: Vec<ImageResult>,
}

fn classify(
    args: &ModelArgs,
    k: usize,
    labels: Option<PathBuf>,
    json: bool,
    mut images: Vec<PathBuf>,
) -> Result<()> {
    let mut loaded = load(args)?;
    let output = loaded.graph.output().clone();
    let labels_path = labels.unwrap_or_else(|| assets::asset(assets::DEFAULT_LABELS));
    let labels = labels::load_labels(&labels_path, output.len())?;
    if images.is_empty() {
        images = shipped_photos()?;
    }
    let mut input = vec![0u8; loaded.graph.input().byte_len()];
    let mut results = Vec::with_capacity(images.len());
    for image in &images {
        preprocess::load_image_into(image, loaded.graph.input(), &mut input)?;
        let out = loaded.engine.run(&input)?;
        let top = top_k(&output, out, &labels, k);
        if !json {
            print_text(image, &top)?;
        }
        results.push(ImageResult {
            image: image.display().to_string(),
            top,
        });
    }
    if json {
        let report = ClassifyReport {
            model: &loaded.graph.source,
            backend: args.backend,
            results,
        };
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
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
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: cannot list the shipped photos", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    photos.sort();
    if photos.is_empty() {
        bail!("{}: no photos to classify; pass image files", dir.display());
    }
    Ok(photos)
}
