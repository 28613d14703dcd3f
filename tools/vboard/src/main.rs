//! `fibha-vboard`: the virtual ZCU102 as a process.
//!
//! `serve` lays out the board's device files under `--root`, prints `ready <root>` on
//! stdout once they are in place (the only stdout line, so a parent can wait for it), and
//! serves until SIGINT/SIGTERM/SIGHUP or until `<root>/vboard/stop` appears. `layout` lays
//! the files out in their boot state and exits. Logs go to stderr (`-v` for more,
//! or `FIBHA_VBOARD_LOG` with tracing's filter syntax).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fibha_vboard::layout::{DEFAULT_UPDATE_INTERVAL_MS, merge_buffers, parse_buffers};
use fibha_vboard::serve::{ServeOptions, lay_out, serve};
use fibha_vboard::{Fault, RailLayout};

#[derive(Parser, Debug)]
#[command(
    name = "fibha-vboard",
    version,
    about = "The virtual ZCU102: the board's device files under a root directory, an accelerator run in C simulation, modelled power rails, injectable faults"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output on stderr (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lay out the board and serve it until stopped.
    Serve(ServeArgs),
    /// Lay out the board's files in their boot state and exit.
    Layout(BoardArgs),
}

#[derive(Args, Debug)]
struct BoardArgs {
    /// The directory that stands for the board's `/` (created if missing).
    #[arg(long)]
    root: PathBuf,
    /// Inject a fault (repeatable): hang, lost-irq, bad-version, corrupt-output, load-fail,
    /// rail-missing:<RAIL>, rail-garbage:<RAIL>, rail-absurd:<RAIL>. Faults can also be
    /// switched while serving by creating or removing <root>/vboard/faults/<NAME>.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<String>,
    /// hwmon layout of the INA226 rails: `legacy` (ina2xx driver, PetaLinux) or
    /// `mainline` (iio-hwmon).
    #[arg(long, default_value = "legacy")]
    rails: String,
    /// INA226 update interval in ms: how often the rails are rewritten (the drivers'
    /// default, 16 averages of 2 x 1.1 ms, is 35).
    #[arg(long = "period-ms", default_value_t = DEFAULT_UPDATE_INTERVAL_MS)]
    period_ms: u64,
    /// DMA buffer sizes overriding or adding to the defaults, e.g.
    /// `fibha_in0=150528,fibha_weights=16M` (defaults: fibha_in0/in1 602112, fibha_out0/out1
    /// 250880, fibha_weights 8M).
    #[arg(long)]
    buffers: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    board: BoardArgs,
    /// Stop when the parent process exits (for a runtime that starts the board).
    #[arg(long)]
    exit_with_parent: bool,
    /// Interval in microseconds at which the control register is polled while the
    /// accelerator is in use (a longer one costs less CPU and adds start latency).
    #[arg(long = "poll-us", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    poll_us: u64,
}

impl BoardArgs {
    fn options(&self) -> anyhow::Result<ServeOptions> {
        let mut options = ServeOptions::new(&self.root);
        options.layout.rails = self.rails.parse::<RailLayout>()?;
        options.layout.update_interval_ms = self.period_ms;
        if let Some(buffers) = &self.buffers {
            options.layout.buffers = merge_buffers(&parse_buffers(buffers)?);
        }
        options.faults = self
            .faults
            .iter()
            .map(|f| f.parse::<Fault>())
            .collect::<Result<_, _>>()?;
        Ok(options)
    }
}

fn main() -> ExitCode {
    // Read before anything slow: a parent that exits while the board lays out must be seen.
    let parent = std::os::unix::process::parent_id();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli.command, parent) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fibha-vboard: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, parent: u32) -> anyhow::Result<()> {
    match command {
        Command::Layout(args) => {
            let options = args.options()?;
            let layout = lay_out(&options).with_context(|| {
                format!("laying out a virtual board under {}", args.root.display())
            })?;
            println!("{}", layout.root().display());
            Ok(())
        }
        Command::Serve(args) => {
            let mut options = args.board.options()?;
            options.exit_with_parent = args.exit_with_parent.then_some(parent);
            options.timing.hot_poll = std::time::Duration::from_micros(args.poll_us);
            let shutdown = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&shutdown);
            ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
                .context("installing the SIGINT/SIGTERM handler")?;
            serve(&options, &shutdown, |root| {
                let mut out = std::io::stdout().lock();
                // A parent that stopped reading is not our failure; it will stop us.
                let _ = writeln!(out, "{}", fibha_board::vboard::ready_line(root))
                    .and_then(|()| out.flush());
            })
            .with_context(|| {
                format!(
                    "serving the virtual board under {}",
                    args.board.root.display()
                )
            })
        }
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("FIBHA_VBOARD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
