//! The subcommands, and what they share: resolving the model and the backend into a ready
//! [`Runner`], and the process status of a run.

pub mod bench;
pub mod classify;
pub mod doctor;
pub mod energy;
pub mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use fibha::accelerator::{Accelerator, DriverOptions, WaitMode};
use fibha::instance::Instance;
use fibha::lock::LockWait;
use fibha::pipeline::{BoardRunner, CpuRunner, Runner, RunnerOptions};
use fibha::report::RunInfo;
use fibha::session::BoardSession;
use fibha::{assets, stop};
use fibha_board::Root;

use crate::{Backend, ModelArgs};

/// How a command ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It ran to the end.
    Done,
    /// Ctrl-C stopped it early; its reports were written.
    Interrupted,
    /// It ran to the end and found a problem it reported (`doctor`).
    Unhealthy,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        match status {
            Status::Done => ExitCode::SUCCESS,
            Status::Interrupted => ExitCode::from(stop::INTERRUPTED_EXIT),
            Status::Unhealthy => ExitCode::FAILURE,
        }
    }
}

/// The status after a run: interrupted if Ctrl-C was pressed.
pub fn status() -> Status {
    if stop::requested() {
        Status::Interrupted
    } else {
        Status::Done
    }
}

/// Inference timeout on a board when none is given: generous against the modelled time.
fn board_timeout(plan_latency_s: f64) -> Duration {
    Duration::from_secs(1).max(Duration::from_secs_f64(100.0 * plan_latency_s))
}

/// Inference timeout on the virtual board: its kernel is a C simulation of every engine,
/// orders of magnitude slower than the hardware, and a busy 2-core machine slows it more.
const VIRTUAL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the virtual board may take to load an instance (it starts the kernel process
/// and waits up to 10 s for its hello).
const VIRTUAL_LOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// The same on a board (a full ZU9EG bitstream loads in well under a second).
const BOARD_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// A model on a backend, ready to run.
pub struct Prepared {
    /// The pipeline. Declared before the session: it must be dropped (the accelerator
    /// stopped) before the board it runs on.
    pub runner: Runner,
    /// What is running, for reports.
    pub info: RunInfo,
    /// The board session (board backend).
    pub session: Option<BoardSession>,
}

impl Prepared {
    /// The board root, when on the board backend.
    pub fn root(&self) -> Option<&Root> {
        self.session.as_ref().map(BoardSession::root)
    }
}

/// Where the board's files are (its power rails among them): the board backend's session,
/// else `--root`, else `/`.
pub fn board_root(prepared: &Prepared, model: &ModelArgs) -> Root {
    match (prepared.root(), &model.root) {
        (Some(root), _) => root.clone(),
        (None, Some(dir)) => Root::new(dir),
        (None, None) => Root::system(),
    }
}

/// A usage error (exit status 2) for a combination clap cannot express.
pub fn usage_error(message: &str) -> ! {
    crate::Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// Resolves `args` into a runner.
pub fn prepare(args: &ModelArgs, options: RunnerOptions, input: String) -> Result<Prepared> {
    match args.backend {
        Backend::Cpu => {
            if args.verify {
                usage_error(
                    "--verify compares the board backend with the cpu backend; it needs --backend board",
                );
            }
            prepare_cpu(args, options, input)
        }
        Backend::Board => prepare_board(args, options, input),
    }
}

fn prepare_cpu(args: &ModelArgs, options: RunnerOptions, input: String) -> Result<Prepared> {
    let path = args
        .model
        .clone()
        .unwrap_or_else(|| assets::asset(assets::DEFAULT_MODEL));
    let graph = if path.is_dir() {
        Arc::clone(&Instance::open(&path)?.graph)
    } else {
        Arc::new(fibha_model::tflite::load(&path)?)
    };
    let runner = CpuRunner::new(Arc::clone(&graph), options)
        .with_context(|| format!("{}: cannot prepare the CPU engine", path.display()))?;
    Ok(Prepared {
        runner: Runner::Cpu(runner),
        info: RunInfo {
            model: graph.source.clone(),
            backend: "cpu",
            board: None,
            virtual_board: false,
            instance: None,
            clock_mhz: None,
            plan_latency_us: None,
            input,
            timing: None,
        },
        session: None,
    })
}

/// The build directory the board backend runs.
pub fn instance_dir(args: &ModelArgs) -> Result<PathBuf> {
    match &args.model {
        Some(path) if path.is_file() => bail!(
            "{}: the board backend runs a build directory of `fibha-compile build`, not a model file; build one with `fibha-compile build {} --board zcu102 -o DIR` and pass --model DIR, or use --backend cpu",
            path.display(),
            path.display()
        ),
        Some(path) => Ok(path.clone()),
        None => {
            let dir = assets::asset(assets::DEFAULT_INSTANCE);
            if !dir.is_dir() {
                bail!(
                    "{}: the shipped accelerator instance is missing; build one with `fibha-compile build {} --board zcu102 -o DIR` and pass --model DIR, or use --backend cpu",
                    dir.display(),
                    assets::asset(assets::DEFAULT_MODEL).display()
                );
            }
            Ok(dir)
        }
    }
}

fn prepare_board(args: &ModelArgs, options: RunnerOptions, input: String) -> Result<Prepared> {
    let dir = instance_dir(args)?;
    let instance = Instance::open(&dir)?;
    let session = BoardSession::connect(args.root.as_deref())?;
    let virtual_board = session.is_virtual();
    let driver = driver_options(args, &session, &instance);
    let accel = Accelerator::open(session.root(), &instance, driver)
        .with_context(|| board_place(&session, &dir))?;
    let runner = BoardRunner::new(&instance, accel, options)
        .with_context(|| format!("{}: cannot prepare the host's CPU engine", dir.display()))?;
    Ok(Prepared {
        runner: Runner::Board(Box::new(runner)),
        info: RunInfo {
            model: instance.graph.source.clone(),
            backend: "board",
            board: Some(session.kind()),
            virtual_board,
            instance: Some(dir.display().to_string()),
            clock_mhz: Some(instance.manifest.clock_mhz),
            plan_latency_us: Some(instance.modelled.latency_s * 1e6),
            input,
            timing: instance.timing.clone(),
        },
        session: Some(session),
    })
}

/// How the driver runs `instance` on `session`'s board, from the command's flags.
pub fn driver_options(
    args: &ModelArgs,
    session: &BoardSession,
    instance: &Instance,
) -> DriverOptions {
    let virtual_board = session.is_virtual();
    let timeout = match (args.timeout_ms, virtual_board) {
        (Some(ms), _) => Duration::from_millis(ms),
        (None, true) => VIRTUAL_TIMEOUT,
        (None, false) => board_timeout(instance.modelled.latency_s),
    };
    DriverOptions {
        wait: if args.poll {
            WaitMode::Poll
        } else {
            WaitMode::Interrupt
        },
        timeout,
        load_timeout: if virtual_board {
            VIRTUAL_LOAD_TIMEOUT
        } else {
            BOARD_LOAD_TIMEOUT
        },
        liveness: Some(session.liveness()),
        lock: if args.wait {
            LockWait::Wait
        } else {
            LockWait::Refuse
        },
    }
}

fn board_place(session: &BoardSession, dir: &Path) -> String {
    let board = if session.is_virtual() {
        "the virtual board"
    } else {
        "the board"
    };
    format!(
        "{}: bringing up the accelerator on {board} at {}",
        dir.display(),
        session.root().path().display()
    )
}

/// Writes `bytes` to `dir/name`, creating `dir`; returns the path as text.
pub fn write_report_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<String> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the report directory", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(path.display().to_string())
}

/// A progress bar on stderr for `len` steps (hidden when stderr is not a terminal or for a
/// single step).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    if len < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style);
    }
    bar
}

/// Installs the Ctrl-C handler.
pub fn install_stop() -> Result<()> {
    stop::install().context("cannot install the Ctrl-C handler")
}
