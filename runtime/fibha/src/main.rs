//! `fibha`: classify images, run raw tensors, benchmark and measure energy, on the FiBHA
//! accelerator (a ZCU102, or the virtual board) or on the CPU.
//!
//! This file defines the command line (each flag once, with its help) and the process's
//! outcome; `commands/` holds what each subcommand does. Exit status: 0 success, 1 an
//! error (one line on stderr: `fibha: <error and causes>`), 2 a usage error, 130 a run
//! stopped by Ctrl-C (its reports are still written).

#![forbid(unsafe_code)]

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Runs int8 CNNs on the FiBHA accelerator (or its virtual board) and on the CPU.
#[derive(Parser)]
#[command(name = "fibha", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log each stage and its time to stderr (-vv: the board layer too); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// Where inference runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The FiBHA accelerator: the ZCU102 when one is found, else the virtual board.
    Board,
    /// The int8 reference engine on the CPU (bit-exact with TFLite's reference kernels).
    Cpu,
}

/// Which model, where, and how to drive the board.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// A build directory of `fibha-compile build` (either backend) or a quantized .tflite
    /// file (cpu backend). Default: the shipped MobileNetV2 instance (board) or model (cpu).
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Backend::Board)]
    pub backend: Backend,
    /// Use the board (real or virtual) whose files are under this directory instead of
    /// looking for one or starting a virtual board.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Poll the kernel's done bit instead of waiting for its interrupt.
    #[arg(long)]
    pub poll: bool,
    /// How long one image may take before the kernel counts as hung and is reset; a call
    /// that streams n images waits n times this (default: max(1 s, 100 x the plan's
    /// modelled latency) on a board, longer on the virtual board, whose kernel is a C
    /// simulation).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: Option<u64>,
    /// Also run every input on the CPU engine and compare the board's bytes with it; the
    /// first difference is an error (board backend).
    #[arg(long)]
    pub verify: bool,
    /// When another process is using the accelerator, wait until it is done instead of
    /// failing at once (board backend).
    #[arg(long)]
    pub wait: bool,
}

/// Where reports go.
#[derive(clap::Args, Clone, Debug)]
pub struct ReportArgs {
    /// Print one JSON document on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// Directory for the JSON report and the SVG figure.
    #[arg(long, value_name = "DIR", default_value = "fibha-report")]
    pub out: PathBuf,
}

/// What to feed a benchmark.
#[derive(clap::Args, Clone, Debug)]
pub struct InputArgs {
    /// A raw input tensor (.npy, the model's input dtype and shape) to run each time
    /// instead of images.
    #[arg(long, value_name = "X.npy", conflicts_with = "images")]
    pub input: Option<PathBuf>,
    /// Images or directories of images, cycled through (default: the shipped photos,
    /// decoded and resized every inference as a real pipeline would).
    pub images: Vec<PathBuf>,
    /// Worker threads that decode and resize the images ahead of the accelerator (default:
    /// the available cores minus one, at least 1: the pipeline thread, which feeds the
    /// accelerator and runs the host operators, keeps a core). Raw tensors (`--input`) are
    /// copied on the pipeline thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

impl InputArgs {
    /// The input worker threads to run: `--threads`, or the available cores minus one.
    pub fn input_threads(&self) -> usize {
        match self.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Classify images: top-k labels and scores per image.
    Classify {
        #[command(flatten)]
        model: ModelArgs,
        /// How many classes to report per image.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=4096))]
        top: u16,
        /// Label file, one per output class (default: the shipped ImageNet labels).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// Also measure top-1/top-5 accuracy over this folder of labelled images (labels
        /// from its labels.csv, or file names `<class>_*.jpg`); classifies its images.
        #[arg(long, value_name = "DIR", conflicts_with = "images")]
        accuracy: Option<PathBuf>,
        /// Classify this folder's images, then each new one as it appears, until Ctrl-C.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["images", "accuracy"])]
        watch: Option<PathBuf>,
        /// JPEG, PNG or BMP files, or directories of them (default: the shipped photos).
        images: Vec<PathBuf>,
    },
    /// Top-1/top-5 accuracy over a folder of labelled images (see `classify --accuracy`).
    Accuracy {
        #[command(flatten)]
        model: ModelArgs,
        /// Label file, one per output class (default: the shipped ImageNet labels).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// The folder.
        dir: PathBuf,
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
    /// Latency percentiles, throughput and a per-stage breakdown over N inferences.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Inferences to measure.
        #[arg(short = 'n', default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        n: u64,
        /// Inferences to run first and not count.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=100_000))]
        warmup: u64,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        inputs: InputArgs,
        /// Run only this host stage -n times and print a checksum (for counting its
        /// instructions: scripts/measure-a53-host).
        #[arg(long, value_enum, hide = true)]
        host_stage: Option<fibha::host_model::HostStage>,
    },
    /// Check the board for a run, one line per check (the build directory, fpga_manager,
    /// overlay, UIO device, DMA buffers, kernel, design ID, interrupt, an inference against
    /// the CPU engine, power rails), each failure with its fix; exit status 1 when any fails.
    Doctor {
        /// The build directory to check the board for (default: the shipped instance).
        #[arg(long, short)]
        model: Option<PathBuf>,
        /// Check the board (real or virtual) whose files are under this directory instead
        /// of looking for one or starting a virtual board.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// How long a run may take before the kernel counts as hung (as for `run`).
        #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
        timeout_ms: Option<u64>,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Power per rail group and joules per inference, after an idle baseline.
    Energy {
        #[command(flatten)]
        model: ModelArgs,
        /// Inferences to measure.
        #[arg(short = 'n', default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        n: u64,
        /// Seconds of idle baseline before the run.
        #[arg(long, value_name = "S", default_value_t = 2.0, value_parser = parse_idle_seconds)]
        idle_s: f64,
        /// Sampling period of the power rails in milliseconds.
        #[arg(long, value_name = "P", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        period_ms: u64,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        inputs: InputArgs,
    },
}

/// A positive number of seconds, at most an hour.
fn parse_idle_seconds(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if s.is_finite() && s > 0.0 && s <= 3600.0 {
        Ok(s)
    } else {
        Err(format!(
            "{text} must be more than 0 and at most 3600 seconds"
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Classify {
            model,
            top,
            labels,
            json,
            accuracy,
            watch,
            images,
        } => commands::classify::run(commands::classify::Args {
            model,
            top: usize::from(top),
            labels,
            json,
            accuracy,
            images,
            per_image: true,
            watch,
        }),
        Command::Accuracy {
            model,
            labels,
            json,
            dir,
        } => commands::classify::run(commands::classify::Args {
            model,
            top: 5,
            labels,
            json,
            accuracy: Some(dir),
            images: Vec::new(),
            per_image: false,
            watch: None,
        }),
        Command::Run {
            model,
            input,
            output,
        } => commands::run::run(&model, &input, &output),
        Command::Bench {
            model,
            n,
            inputs,
            host_stage: Some(stage),
            ..
        } => commands::bench::host_stage(&model, stage, n, &inputs),
        Command::Bench {
            model,
            n,
            warmup,
            report,
            inputs,
            host_stage: None,
        } => commands::bench::run(&model, n, warmup, &report, &inputs),
        Command::Doctor {
            model,
            root,
            timeout_ms,
            json,
        } => commands::doctor::run(
            &ModelArgs {
                model,
                backend: Backend::Board,
                root,
                poll: false,
                timeout_ms,
                verify: false,
                wait: false,
            },
            json,
        ),
        Command::Energy {
            model,
            n,
            idle_s,
            period_ms,
            report,
            inputs,
        } => commands::energy::run(&model, n, idle_s, period_ms, &report, &inputs),
    };
    match result {
        Ok(status) => status.into(),
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
    line.replace('\n', " ")
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let default = match verbose {
        0 => "warn",
        1 => "warn,fibha=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
