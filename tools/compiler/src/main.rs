//! `fibha-compile`: plans, sweeps and builds FiBHA accelerator instances.
//!
//! `--json` prints exactly one JSON document on stdout; everything else (progress,
//! timings) goes to stderr. Errors print their whole cause chain once and exit non-zero.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use fibha_compiler::board::{Board, Budget, Overrides};
use fibha_compiler::build::{BuildOptions, EngineResources};
use fibha_compiler::models;
use fibha_compiler::planner::{Objective, PlanOptions, Planner};
use fibha_compiler::report::{self, Search};

/// FiBHA compiler: SplitCNN plans, budget sweeps and accelerator builds.
#[derive(Parser)]
#[command(name = "fibha-compile", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plan a FiBHA accelerator for MODEL and compare it with pure SEML and SESL designs.
    Plan(PlanArgs),
    /// Modelled throughput against DSP budget for several models: sweep.json and sweep.svg.
    Sweep(SweepArgs),
    /// Modelled FiBHA/SEML/SESL ratios of several models next to the published ones.
    Compare(CompareArgs),
    /// Build a deployable directory: plan, HLS configuration, weight bundle, Vitis and
    /// Vivado scripts, device-tree overlay, manifest and the virtual board's kernel.
    Build(BuildArgs),
}

/// Board and budget flags shared by every command.
#[derive(Args, Clone)]
struct BudgetArgs {
    /// Board name (zcu102, zc706, kcu105) or path of a board TOML file [default: zcu102;
    /// compare: all, the three shipped boards; compare also takes a comma-separated list].
    #[arg(long)]
    board: Option<String>,
    /// DSP slices for the accelerator (default: the board file's share).
    #[arg(long)]
    dsp: Option<u32>,
    /// BRAM36 blocks for the accelerator (default: the board file's share).
    #[arg(long)]
    bram: Option<u32>,
    /// Pack two int8 MACs into one DSP48E2 slice (operand sharing).
    #[arg(long)]
    pack_int8: bool,
    /// Per-layer engines in the SESL part instead of FIRB engines for bottlenecks.
    #[arg(long)]
    no_firb: bool,
    /// PE-split grid points per split point in the exhaustive search.
    #[arg(long, default_value_t = 64)]
    pe_steps: u32,
    /// The longest latency of one image (ms) the hybrid design may have: the fastest
    /// design within it becomes the plan.
    #[arg(long)]
    max_latency_ms: Option<f64>,
    /// What SplitCNN and the exhaustive search optimize: pipelined throughput, or the
    /// latency of one image alone (stated in the plan).
    #[arg(long, value_enum, default_value = "throughput")]
    objective: Objective,
}

impl BudgetArgs {
    fn resolve(&self) -> Result<(Board, Budget)> {
        self.resolve_board(self.board.as_deref().unwrap_or("zcu102"))
    }

    fn resolve_board(&self, name: &str) -> Result<(Board, Budget)> {
        let board = Board::resolve(name)?;
        let budget = Budget::new(
            &board,
            Overrides {
                dsp: self.dsp,
                bram36: self.bram,
                pack_int8: self.pack_int8,
            },
        )?;
        Ok((board, budget))
    }

    /// The boards of `compare`: `all` (the default) or a comma-separated list.
    fn resolve_boards(&self) -> Result<Vec<(Board, Budget)>> {
        let names: Vec<&str> = match self.board.as_deref() {
            None | Some("all") => Board::shipped_names(),
            Some(list) => list.split(',').map(str::trim).collect(),
        };
        names.into_iter().map(|n| self.resolve_board(n)).collect()
    }

    fn options(&self) -> PlanOptions {
        PlanOptions {
            firb: !self.no_firb,
            pe_steps: self.pe_steps,
            max_latency_ms: self.max_latency_ms,
            objective: self.objective,
        }
    }
}

#[derive(Args)]
struct PlanArgs {
    /// A .tflite model, a topology file, or a shipped topology's name (e.g. mobilenet_v2).
    model: String,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Which search's design becomes the plan.
    #[arg(long, value_enum, default_value = "best")]
    search: Search,
    /// Print one JSON document (the plan) on stdout.
    #[arg(long)]
    json: bool,
    /// Also print the per-layer table.
    #[arg(long)]
    layers: bool,
    /// Print how long planning took (stderr).
    #[arg(long)]
    timing: bool,
}

#[derive(Args)]
struct SweepArgs {
    /// Models (default: the five shipped topologies).
    #[arg(long, num_args = 1..)]
    models: Vec<String>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Number of DSP budgets, evenly spaced from --from to 100% of the board.
    #[arg(long, default_value_t = 20)]
    points: u32,
    /// Smallest budget as a fraction of the board's DSP slices.
    #[arg(long, default_value_t = 0.1)]
    from: f64,
    /// Output directory.
    #[arg(long, short = 'o')]
    out: PathBuf,
}

#[derive(Args)]
struct CompareArgs {
    /// Models (default: the five shipped topologies).
    #[arg(long, num_args = 1..)]
    models: Vec<String>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BuildArgs {
    /// A quantized .tflite model.
    model: String,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Which search's design becomes the plan.
    #[arg(long, value_enum, default_value = "best")]
    search: Search,
    /// Output directory (created).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Skip the virtual board's executable form (the C-simulation kernel compiled by g++)
    /// and its timed run.
    #[arg(long)]
    no_vboard: bool,
    /// fibha's HLS sources (default: FIBHA_HLS_DIR, else found beside this executable).
    #[arg(long, value_name = "DIR")]
    hls_dir: Option<PathBuf>,
    /// Print one JSON document (files, resources, timing) on stdout; the report goes to stderr.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(a) => plan(a),
        Command::Sweep(a) => sweep(a),
        Command::Compare(a) => compare(a),
        Command::Build(a) => build(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fibha-compile: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_models(args: &[String]) -> Result<Vec<models::Model>> {
    if args.is_empty() {
        return Ok(models::shipped()?);
    }
    args.iter()
        .map(|m| models::load(m).with_context(|| format!("loading model {m}")))
        .collect()
}

fn plan(a: PlanArgs) -> Result<()> {
    let (board, budget) = a.budget.resolve()?;
    let model = models::load(&a.model).with_context(|| format!("loading model {}", a.model))?;
    let started = Instant::now();
    let planner = Planner::new(&model.network, &budget, a.budget.options());
    let plans = planner.plan(&budget);
    let doc = report::plan_document(
        &model.network,
        &board,
        &budget,
        &plans,
        a.search,
        a.budget.options().firb,
    );
    let elapsed = started.elapsed();
    if a.timing {
        eprintln!(
            "fibha-compile: planned {} ({} layers) in {:.1} ms",
            model.network.name,
            model.network.layers.len(),
            elapsed.as_secs_f64() * 1e3
        );
    }
    if !doc.fits() {
        bail!(
            "no design fits the budget of {} DSP / {} BRAM36 on {}: fibha's SEML engines alone: {}; FiBHA: {}",
            budget.dsp,
            budget.bram36,
            board.name,
            doc.modelled.seml_fibha.problems.join("; "),
            doc.modelled.fibha.problems.join("; ")
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", report::render_text(&doc, a.layers));
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<()> {
    let boards = a.budget.resolve_boards()?;
    let models = load_models(&a.models)?;
    let started = Instant::now();
    let doc = fibha_compiler::comparison::CompareDoc {
        note: "Every fibha figure is modelled (analytical model), not a board measurement; the published figures are the papers' (model or board, as named).".into(),
        boards: boards
            .iter()
            .map(|(board, budget)| {
                fibha_compiler::comparison::compare_board(&models, board, budget, a.budget.options())
            })
            .collect(),
    };
    eprintln!(
        "fibha-compile: compared {} models on {} boards in {:.2} s",
        models.len(),
        boards.len(),
        started.elapsed().as_secs_f64()
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", doc.render());
    }
    Ok(())
}

fn sweep(a: SweepArgs) -> Result<()> {
    let (board, budget) = a.budget.resolve()?;
    let models = load_models(&a.models)?;
    let started = Instant::now();
    let result = fibha_compiler::sweep::run(
        &models,
        &board,
        &budget,
        a.budget.options(),
        a.points,
        a.from,
    )?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("creating output directory {}", a.out.display()))?;
    let json_path = a.out.join("sweep.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let svg_path = a.out.join("sweep.svg");
    fibha_compiler::sweep::plot(&result, &svg_path)
        .with_context(|| format!("writing {}", svg_path.display()))?;
    eprintln!(
        "fibha-compile: swept {} models x {} budgets in {:.2} s; wrote {} and {}",
        models.len(),
        a.points,
        started.elapsed().as_secs_f64(),
        json_path.display(),
        svg_path.display()
    );
    Ok(())
}

fn build(a: BuildArgs) -> Result<()> {
    let (board, budget) = a.budget.resolve()?;
    let model = models::load(&a.model).with_context(|| format!("loading model {}", a.model))?;
    let started = Instant::now();
    let hls_dir = match a.hls_dir.clone() {
        Some(dir) => dir,
        None => fibha_compiler::build::find_hls_dir()?,
    };
    let bopts = BuildOptions {
        vboard: !a.no_vboard,
        ..BuildOptions::with_hls_dir(hls_dir)
    };
    let out = fibha_compiler::build::build(
        &model,
        &board,
        &budget,
        a.budget.options(),
        a.search,
        &a.out,
        &bopts,
    )
    .with_context(|| format!("building {} into {}", a.model, a.out.display()))?;
    eprintln!(
        "fibha-compile: built {} for {} (plan hash {:016x}) in {} ({:.1} s{})",
        model.network.name,
        board.name,
        out.hardware_id,
        a.out.display(),
        started.elapsed().as_secs_f64(),
        match (out.compile_seconds, out.timing_seconds) {
            (Some(c), Some(t)) => format!(
                ", of which {c:.1} s compiling the C-simulation kernel and {t:.1} s timing it"
            ),
            _ => String::new(),
        }
    );
    for f in &out.files {
        eprintln!("  {}", f.display());
    }
    match &out.resources {
        Some(rows) => eprint!("{}", render_resources(rows)),
        None => eprintln!("resources: not read back (built with --no-vboard)"),
    }
    match &out.timing {
        Some(t) => eprint!("{}", t.table()),
        None => eprintln!("timing: not run (built with --no-vboard)"),
    }
    if a.json {
        let doc = serde_json::json!({
            "out": a.out,
            "plan_hash": format!("{:016x}", out.hardware_id),
            "files": out.files,
            "resources": out.resources,
            "timing": out.timing,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(())
}

/// The resource sanity check: each engine's multipliers and DSP slices as its template
/// instantiates them (read from the compiled kernel) next to what the model charged.
fn render_resources(rows: &[EngineResources]) -> String {
    use std::fmt::Write as _;
    let mut o = String::from(
        "resources (modelled): int8 multipliers per cycle and DSP slices (with the 32 x 32-bit requantizers, 4 slices each), template vs the compiler's model\n",
    );
    let _ = writeln!(
        o,
        "  {:<10} {:>9} {:>9} {:>9} {:>9}  check",
        "engine", "template", "model PE", "tmpl DSP", "model DSP"
    );
    for r in rows {
        let agree = r.template_macs == r.modelled_pes && r.template_dsp == r.modelled_dsp;
        let _ = writeln!(
            o,
            "  {:<10} {:>9} {:>9} {:>9} {:>9}  {}",
            r.engine,
            r.template_macs,
            r.modelled_pes,
            r.template_dsp,
            r.modelled_dsp,
            if agree { "agree" } else { "DIFFER" }
        );
    }
    o
}
