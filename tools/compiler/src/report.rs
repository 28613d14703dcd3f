//! The plan document (`plan.json`, `plan --json`), its text rendering, its hash, and the
//! comparison of the modelled ratios with the FiBHA papers' published ones.
//!
//! Invariants: the document is versioned ([`PLAN_FORMAT_VERSION`]); every performance
//! figure in it sits under a `modelled` key or is named `modelled_*`; the plan hash covers
//! only the hardware ([`crate::hw::plan_hash`] of the document's `hardware`), so it is the
//! hardware ID the kernel's id register and the bundle carry.

use serde::{Deserialize, Serialize};

use crate::board::{Board, Budget};
use crate::cost::{Buffer, Par};
use crate::design::{Bound, DesignSpec, Evaluation, Part, evaluate};
use crate::host::HostShare;
use crate::hw::{self, HwDesign};
use crate::network::{Act, LayerKind, ModelSource, Network, Shape};
use crate::planner::{Candidate, Objective, Plans, SplitStep};

/// Version of the plan document's layout.
pub const PLAN_FORMAT_VERSION: u32 = 5;

/// Which search's design becomes the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// The better of SplitCNN and the exhaustive search.
    Best,
    /// SplitCNN as the papers describe it.
    Splitcnn,
    /// The exhaustive search over split point and PE split.
    Exhaustive,
}

/// The model a plan is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Name.
    pub name: String,
    /// File and hash.
    pub source: ModelSource,
    /// Accelerator layers.
    pub layers: usize,
    /// Multiply-accumulates per image on the accelerator.
    pub macs: u64,
    /// Weight bytes on the accelerator.
    pub weight_bytes: u64,
    /// What runs on the host after the accelerator.
    pub host: Vec<String>,
    /// Operators of the file evaluated at import (shape arithmetic on static shapes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded: Vec<String>,
}

/// The board and budget a plan is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardInfo {
    /// Board name.
    pub name: String,
    /// Vivado part.
    pub part: String,
    /// Clock in MHz.
    pub clock_mhz: f64,
    /// The board's DDR peak in GB/s.
    pub ddr_gbps: f64,
    /// The bandwidth every design's DDR traffic is modelled with, GB/s: the generated
    /// design's ports, capped by the DDR peak ([`Budget::ddr_bytes_per_s`]).
    pub bandwidth_gbps: f64,
    /// How that bandwidth follows from the ports.
    pub bandwidth: String,
    /// The ports to DDR and their m_axi parameters.
    pub ports: crate::board::Ports,
    /// DSP slices available to the accelerator.
    pub dsp: u32,
    /// BRAM36 available to the accelerator.
    pub bram36: u32,
    /// int8 MACs per DSP slice.
    pub macs_per_dsp: u32,
}

/// Where the network is split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// Units (layers or whole bottlenecks) in the SESL part.
    pub sesl_units: usize,
    /// Layers in the SESL part (the first ones).
    pub sesl_layers: usize,
    /// Name of the first layer of the SEML part, if any.
    pub first_seml_layer: Option<String>,
}

/// A compute stage of an engine with its parallelism.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageDoc {
    /// Layer name (`*` for an SEML engine, which runs all its layers with it).
    pub layer: String,
    /// Layer kind.
    pub kind: LayerKind,
    /// Parallelism factors.
    pub parallelism: Par,
    /// PEs.
    pub pes: u32,
    /// Cycles per image.
    pub cycles: u64,
}

/// One engine of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineDoc {
    /// Name (`e3.firb`, `seml.pw`).
    pub name: String,
    /// SESL or SEML part.
    pub part: Part,
    /// `conv`, `dw`, `pw`, `se`, `firb`.
    pub kind: String,
    /// Names of the layers it runs.
    pub layers: Vec<String>,
    /// Their indices.
    pub layer_indices: Vec<usize>,
    /// Stages and parallelism.
    pub stages: Vec<StageDoc>,
    /// Processing elements.
    pub pes: u32,
    /// DSP slices.
    pub dsp: u32,
    /// BRAM36 blocks.
    pub bram36: u32,
    /// Cycles per image (SESL: its slowest stage; SEML: the sum over its layers).
    pub cycles: u64,
    /// Weights streamed from DDR every pass (SESL fallback).
    pub weights_streamed: bool,
    /// On-chip buffers.
    pub buffers: Vec<Buffer>,
}

/// One layer of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerDoc {
    /// Index.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: LayerKind,
    /// Input map.
    pub input: Shape,
    /// Output map.
    pub output: Shape,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding before the first row and column.
    pub pad: [usize; 2],
    /// Activation.
    pub act: Act,
    /// ADD: the layer whose output is the residual (`None`: the network input).
    pub skip: Option<usize>,
    /// SE: squeezed channels.
    pub se_channels: usize,
    /// TFLite operator index.
    pub source_op: Option<usize>,
    /// Part.
    pub part: Part,
    /// Engine name.
    pub engine: String,
    /// PE cycles.
    pub cycles: u64,
    /// Modelled microseconds.
    pub modelled_us: f64,
    /// DDR bytes per image.
    pub ddr_bytes: u64,
    /// Compute- or memory-bound.
    pub bound: Bound,
    /// Feature maps spilled to DDR.
    pub spilled: bool,
}

/// A design's modelled figures: the same names, computed by [`Figures::of`] alone, for
/// every design.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Which design.
    pub design: String,
    /// Whether it fits the budget.
    pub fits: bool,
    /// Why not.
    pub problems: Vec<String>,
    /// Units in the SESL part.
    pub split_units: usize,
    /// Milliseconds from image in to feature map out, one image alone.
    pub latency_ms: f64,
    /// Images per second one image at a time (1 / latency), as a board measures a call
    /// per image.
    pub fps_batch1: f64,
    /// Images per second with images overlapped as far as the design's hardware allows
    /// (FiBHA: its two parts on consecutive images and its SESL pipeline; SESL: its chain;
    /// SEML: none, so equal to `fps_batch1`).
    pub fps_pipelined: f64,
    /// Milliseconds between images when overlapped (1 / `fps_pipelined`).
    pub period_ms: f64,
    /// Images in flight when overlapped (latency / period).
    pub images_in_flight: f64,
    /// SESL part, ms per image (pipeline fill included).
    pub sesl_ms: f64,
    /// SEML part, ms per image.
    pub seml_ms: f64,
    /// PEs.
    pub pes: u32,
    /// DSP slices.
    pub dsp: u32,
    /// BRAM36 blocks.
    pub bram36: u32,
    /// On-chip feature-map buffer bytes.
    pub fm_buffer_bytes: u64,
    /// On-chip weight buffer bytes.
    pub weight_buffer_bytes: u64,
    /// DDR bytes per image.
    pub ddr_bytes_per_image: u64,
    /// Useful MACs / (PEs x cycles of the period).
    pub pe_utilization: f64,
    /// Whether SESL weights are streamed from DDR.
    pub weights_streamed: bool,
}

impl Figures {
    /// The figures of an evaluated design with `split_units` units in its SESL part.
    pub fn of(design: &str, e: &Evaluation, split_units: usize, weights_streamed: bool) -> Figures {
        let per_s = |t: f64| if t > 0.0 { 1.0 / t } else { 0.0 };
        Figures {
            design: design.to_string(),
            fits: e.fits(),
            problems: e.problems.clone(),
            split_units,
            latency_ms: e.latency * 1e3,
            fps_batch1: per_s(e.latency),
            fps_pipelined: per_s(e.period),
            period_ms: e.period * 1e3,
            images_in_flight: if e.period > 0.0 {
                e.latency / e.period
            } else {
                0.0
            },
            sesl_ms: e.t_sesl * 1e3,
            seml_ms: e.t_seml * 1e3,
            pes: e.pes,
            dsp: e.dsp,
            bram36: e.bram36,
            fm_buffer_bytes: e.fm_bytes,
            weight_buffer_bytes: e.weight_bytes,
            ddr_bytes_per_image: e.ddr_bytes,
            pe_utilization: e.utilization,
            weights_streamed,
        }
    }

    /// The figures of a fibha design.
    pub fn of_candidate(design: &str, c: &Candidate) -> Figures {
        Figures::of(
            design,
            &c.eval,
            c.spec.split_units,
            c.spec.sesl.iter().any(|s| s.stream_weights),
        )
    }

    /// `fps_batch1` when the design fits.
    pub fn batch1(&self) -> Option<f64> {
        self.fits.then_some(self.fps_batch1)
    }

    /// `fps_pipelined` when the design fits.
    pub fn pipelined(&self) -> Option<f64> {
        self.fits.then_some(self.fps_pipelined)
    }
}

/// Design names as every report writes them.
pub const SEML_NAME: &str =
    "SEML (papers' design: filter x pixel unrolling, DW overlapped with the next PW, maps on chip)";
/// fibha's own SEML engines as a design of their own.
pub const SEML_FIBHA_NAME: &str = "SEML (fibha's SEML engines alone: FiBHA's SEML part)";

/// All modelled figures of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Modelled {
    /// Reminder that these are estimates.
    pub note: String,
    /// What the searches optimized ([`crate::planner::Objective`]).
    pub objective: Objective,
    /// The plan (FiBHA).
    pub fibha: Figures,
    /// The SEML baseline as the papers define it ([`crate::seml_baseline`]), same budget.
    pub seml: Figures,
    /// fibha's own SEML engines alone, same budget (FiBHA's SEML part as a whole design).
    pub seml_fibha: Figures,
    /// Pure SESL (traditional pipelining) under the same budget.
    pub sesl: Figures,
    /// SplitCNN's FiBHA design.
    pub splitcnn: Figures,
    /// The exhaustive search's FiBHA design.
    pub exhaustive: Figures,
    /// All units dedicated with FIRB engines (the FIRB comparison point).
    pub sesl_firb: Figures,
    /// The host CPU's share of the plan's design: the operators the engines do not run,
    /// added to its latency ([`crate::host`]).
    pub host: HostShare,
}

/// A modelled ratio next to the published one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// What is compared.
    pub what: String,
    /// Our model's value (None when a design does not fit or the case does not arise).
    pub modelled: Option<f64>,
    /// The papers' figure.
    pub published: String,
    /// How ours is computed.
    pub note: String,
}

/// The plan's modelled ratios next to the papers' claims.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// FiBHA / SEML (papers' baseline), `fps_batch1`.
    pub fibha_vs_seml_batch1: Ratio,
    /// FiBHA / SEML (papers' baseline), `fps_pipelined`.
    pub fibha_vs_seml_pipelined: Ratio,
    /// FiBHA / SESL, `fps_batch1`.
    pub fibha_vs_sesl_batch1: Ratio,
    /// FiBHA / SESL, `fps_pipelined`.
    pub fibha_vs_sesl_pipelined: Ratio,
    /// 1 - FiBHA feature-map buffer bytes / SEML's.
    pub fm_buffer_reduction_vs_seml: Ratio,
    /// 1 - buffer bytes of the plan's SESL part with FIRB / with traditional pipelining.
    pub firb_buffer_reduction_plan: Ratio,
    /// The same over the whole network (every unit dedicated).
    pub firb_buffer_reduction_network: Ratio,
}

/// The plan document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanDoc {
    /// Layout version ([`PLAN_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The model.
    pub model: ModelInfo,
    /// The board and budget.
    pub board: BoardInfo,
    /// Which search produced the plan.
    pub search: String,
    /// Whether bottlenecks in the SESL part are FIRB engines.
    pub firb: bool,
    /// The split.
    pub split: SplitInfo,
    /// The engines.
    pub engines: Vec<EngineDoc>,
    /// The layers.
    pub layers: Vec<LayerDoc>,
    /// The plan's design, for tools that re-evaluate it.
    pub design: DesignSpec,
    /// SplitCNN's steps.
    pub splitcnn_steps: Vec<SplitStep>,
    /// Modelled figures of all designs.
    pub modelled: Modelled,
    /// Modelled against published ratios.
    pub comparison: Comparison,
    /// The hardware the plan describes: what the HLS configuration is generated from and
    /// the plan hash covers.
    pub hardware: HwDesign,
    /// The hardware ID: the first 8 bytes of SHA-256 over the canonical JSON of
    /// `hardware`, as 16 hex digits.
    pub plan_hash: String,
}

impl PlanDoc {
    /// The hardware ID as a number.
    pub fn hardware_id(&self) -> u64 {
        plan_hash(self)
    }

    /// The selected design's figures.
    pub fn fits(&self) -> bool {
        self.modelled.fibha.fits
    }
}

/// The plan hash of `doc`: [`hw::plan_hash`] of its hardware.
pub fn plan_hash(doc: &PlanDoc) -> u64 {
    hw::plan_hash(&doc.hardware)
}

/// Engine names: `e{i}.{kind}` for dedicated engines, `seml.{kind}` for reusable ones.
fn engine_names(eval: &Evaluation) -> Vec<String> {
    let mut n = 0;
    eval.engines
        .iter()
        .map(|e| match e.part {
            Part::Sesl => {
                n += 1;
                format!("e{}.{}", n - 1, e.kind)
            }
            Part::Seml => format!("seml.{}", e.kind),
        })
        .collect()
}

fn ratio(num: f64, den: f64, ok: bool) -> Option<f64> {
    (ok && den > 0.0).then_some(num / den)
}

/// SESL-part feature-map buffer bytes of a design.
fn sesl_fm_bytes(eval: &Evaluation) -> u64 {
    eval.engines
        .iter()
        .filter(|e| e.part == Part::Sesl)
        .flat_map(|e| &e.buffers)
        .filter(|b| b.kind.is_feature_map())
        .map(|b| b.bytes)
        .sum()
}

fn firb_reduction(net: &Network, budget: &Budget, c: &Candidate) -> Option<f64> {
    if !c.spec.sesl.iter().any(|e| e.firb) {
        return None;
    }
    let trad = evaluate(net, budget, &c.spec.without_firb(net));
    let (f, t) = (sesl_fm_bytes(&c.eval) as f64, sesl_fm_bytes(&trad) as f64);
    (t > 0.0).then(|| 1.0 - f / t)
}

/// A throughput ratio of two designs' figures under one definition.
fn fps_ratio(
    what: &str,
    fibha: &Figures,
    other: &Figures,
    fps: fn(&Figures) -> Option<f64>,
    published: &str,
    note: &str,
) -> Ratio {
    Ratio {
        what: what.into(),
        modelled: fps(fibha).zip(fps(other)).map(|(a, b)| a / b),
        published: published.into(),
        note: note.into(),
    }
}

/// The comparison with the published figures.
pub fn compare(
    net: &Network,
    budget: &Budget,
    plans: &Plans,
    m: &Modelled,
    chosen: &Candidate,
) -> Comparison {
    const SEML_PUBLISHED: &str = "up to 2.5x (TACO 2024), up to 1.7x (SBAC-PAD 2022)";
    const SESL_PUBLISHED: &str = "up to 4x (TACO 2024), up to 4.1x (SBAC-PAD 2022)";
    let batch1: fn(&Figures) -> Option<f64> = Figures::batch1;
    let pipelined: fn(&Figures) -> Option<f64> = Figures::pipelined;
    let ok = chosen.eval.fits() && plans.seml.eval.fits();
    Comparison {
        fibha_vs_seml_batch1: fps_ratio(
            "FiBHA / SEML, fps_batch1",
            &m.fibha,
            &m.seml,
            batch1,
            SEML_PUBLISHED,
            "one image at a time; SEML = the papers' design, same DSP, BRAM and port bandwidth",
        ),
        fibha_vs_seml_pipelined: fps_ratio(
            "FiBHA / SEML, fps_pipelined",
            &m.fibha,
            &m.seml,
            pipelined,
            SEML_PUBLISHED,
            "images overlapped as far as each design allows (SEML: not at all)",
        ),
        fibha_vs_sesl_batch1: fps_ratio(
            "FiBHA / SESL, fps_batch1",
            &m.fibha,
            &m.sesl,
            batch1,
            SESL_PUBLISHED,
            "one image at a time: each design's pipeline fill charged on every image",
        ),
        fibha_vs_sesl_pipelined: fps_ratio(
            "FiBHA / SESL, fps_pipelined",
            &m.fibha,
            &m.sesl,
            pipelined,
            SESL_PUBLISHED,
            "images overlapped: SESL's chain and FiBHA's two parts at their slowest stage",
        ),
        fm_buffer_reduction_vs_seml: Ratio {
            what: "on-chip feature-map buffering, FiBHA vs SEML (reduction)".into(),
            modelled: ratio(
                plans.seml.eval.fm_bytes as f64 - chosen.eval.fm_bytes as f64,
                plans.seml.eval.fm_bytes as f64,
                ok,
            ),
            published: "up to 75% less (TACO 2024)".into(),
            note: "line, double, skip and frame buffers plus the SEML part's maps, against the papers' SEML design's map store".into(),
        },
        firb_buffer_reduction_plan: Ratio {
            what: "FIRB vs traditional pipelining, plan's SESL part (buffer reduction)".into(),
            modelled: firb_reduction(net, budget, chosen),
            published: "up to 54% less memory (TACO 2024)".into(),
            note: "same engines and parallelism, FIRB bottlenecks split into per-layer engines"
                .into(),
        },
        firb_buffer_reduction_network: Ratio {
            what: "FIRB vs traditional pipelining, every unit dedicated (buffer reduction)".into(),
            modelled: firb_reduction(net, budget, &plans.sesl_firb),
            published: "up to 54% less memory (TACO 2024)".into(),
            note: "whole-network SESL design with FIRB engines vs the same split per layer".into(),
        },
    }
}

/// Builds the plan document for the design `search` selects.
pub fn plan_document(
    net: &Network,
    board: &Board,
    budget: &Budget,
    plans: &Plans,
    search: Search,
    firb: bool,
) -> PlanDoc {
    let (label, chosen) = match search {
        Search::Splitcnn => ("splitcnn", &plans.splitcnn),
        Search::Exhaustive => ("exhaustive", &plans.exhaustive),
        Search::Best => {
            if std::ptr::eq(plans.best(), &plans.splitcnn) {
                ("splitcnn", &plans.splitcnn)
            } else {
                ("exhaustive", &plans.exhaustive)
            }
        }
    };
    let eval = &chosen.eval;
    let names = engine_names(eval);
    let layer_name = |i: usize| net.layers[i].name.clone();
    let engines: Vec<EngineDoc> = eval
        .engines
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(i, (e, name))| {
            let sesl = chosen.spec.sesl.get(i);
            let stages = match e.part {
                Part::Sesl => e
                    .stages
                    .iter()
                    .map(|s| StageDoc {
                        layer: layer_name(s.layer),
                        kind: net.layers[s.layer].kind,
                        parallelism: s.par,
                        pes: s.par.pes(),
                        cycles: crate::cost::layer_cycles(&net.layers[s.layer], s.par),
                    })
                    .collect(),
                Part::Seml => vec![StageDoc {
                    layer: "*".into(),
                    kind: net.layers[e.stages[0].layer].kind,
                    parallelism: e.stages[0].par,
                    pes: e.pes,
                    cycles: e.cycles,
                }],
            };
            EngineDoc {
                name: name.clone(),
                part: e.part,
                kind: e.kind.clone(),
                layers: e.layers.iter().map(|&l| layer_name(l)).collect(),
                layer_indices: e.layers.clone(),
                stages,
                pes: e.pes,
                dsp: e.dsp,
                bram36: e.bram36(),
                cycles: e.cycles,
                weights_streamed: e.part == Part::Sesl && sesl.is_some_and(|s| s.stream_weights),
                buffers: e.buffers.clone(),
            }
        })
        .collect();
    let layers: Vec<LayerDoc> = eval
        .layers
        .iter()
        .map(|le| {
            let l = &net.layers[le.layer];
            LayerDoc {
                index: le.layer,
                name: l.name.clone(),
                kind: l.kind,
                input: l.input,
                output: l.output,
                kernel: l.kernel,
                stride: l.stride,
                pad: l.pad,
                act: l.act,
                skip: l.skip,
                se_channels: l.se_channels,
                source_op: l.source_op,
                part: eval.engines[le.engine].part,
                engine: names[le.engine].clone(),
                cycles: le.cycles,
                modelled_us: le.seconds * 1e6,
                ddr_bytes: le.ddr_bytes,
                bound: le.bound,
                spilled: le.spilled,
            }
        })
        .collect();
    let fibha = Figures::of_candidate(&format!("FiBHA ({label})"), chosen);
    let modelled = Modelled {
        note: "analytical-model estimates (FiBHA's model, see tools/compiler/README.md), not board measurements".into(),
        objective: plans.objective,
        host: crate::host::share(net, board, &fibha),
        fibha,
        seml: Figures::of(SEML_NAME, &plans.seml.eval, 0, false),
        seml_fibha: Figures::of_candidate(SEML_FIBHA_NAME, &plans.seml_fibha),
        sesl: Figures::of_candidate("SESL", &plans.sesl),
        splitcnn: Figures::of_candidate("FiBHA (SplitCNN)", &plans.splitcnn),
        exhaustive: Figures::of_candidate("FiBHA (exhaustive)", &plans.exhaustive),
        sesl_firb: Figures::of_candidate("SESL with FIRB", &plans.sesl_firb),
    };
    let units = net.units();
    let sesl_layers = units
        .iter()
        .take(chosen.spec.split_units)
        .map(|&u| net.unit_layers(u).len())
        .sum::<usize>();
    let hardware = HwDesign::of(
        &engines,
        &layers,
        net.input,
        chosen.eval.seml_part.as_ref(),
        &board.part,
        board.clock.mhz,
    );
    PlanDoc {
        format_version: PLAN_FORMAT_VERSION,
        model: ModelInfo {
            name: net.name.clone(),
            source: net.source.clone(),
            layers: net.layers.len(),
            macs: net.macs(),
            weight_bytes: net.weight_bytes(),
            host: net.host.clone(),
            folded: net.folded.clone(),
        },
        board: BoardInfo {
            name: board.name.clone(),
            part: board.part.clone(),
            clock_mhz: board.clock.mhz,
            ddr_gbps: board.memory.ddr_gbps,
            bandwidth_gbps: budget.ddr_bytes_per_s / 1e9,
            bandwidth: budget.bandwidth_text(board.ports.width_bits),
            ports: board.ports.clone(),
            dsp: budget.dsp,
            bram36: budget.bram36,
            macs_per_dsp: budget.macs_per_dsp,
        },
        search: label.to_string(),
        firb,
        split: SplitInfo {
            sesl_units: chosen.spec.split_units,
            sesl_layers,
            first_seml_layer: net.layers.get(sesl_layers).map(|l| l.name.clone()),
        },
        engines,
        layers,
        design: chosen.spec.clone(),
        splitcnn_steps: plans.splitcnn_steps.clone(),
        comparison: compare(net, budget, plans, &modelled, chosen),
        modelled,
        plan_hash: format!("{:016x}", hw::plan_hash(&hardware)),
        hardware,
    }
}

/// "996.5 FPS pipelined, 2.242 ms" (or why it does not fit).
fn short_figures(f: &Figures) -> String {
    if f.fits {
        format!(
            "{:.1} FPS pipelined, {:.3} ms",
            f.fps_pipelined, f.latency_ms
        )
    } else {
        "does not fit".to_string()
    }
}

fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

fn opt_num(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "n/a".to_string(), f)
}

/// Renders the plan as text tables.
pub fn render_text(doc: &PlanDoc, with_layers: bool) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let m = &doc.modelled;
    let b = &doc.board;
    let _ = writeln!(
        o,
        "fibha-compile plan: {} ({}) on {} ({})",
        doc.model.name,
        doc.model.source.file(),
        b.name,
        b.part
    );
    let _ = writeln!(
        o,
        "budget: {} DSP ({} int8 MAC{} each), {} BRAM36, {} MHz, DDR {}",
        b.dsp,
        b.macs_per_dsp,
        if b.macs_per_dsp == 1 { "" } else { "s" },
        b.bram36,
        b.clock_mhz,
        b.bandwidth
    );
    let (s, e) = (&m.splitcnn, &m.exhaustive);
    let _ = writeln!(
        o,
        "plan: {} search, objective {}; modelled SplitCNN {}, exhaustive {}",
        doc.search,
        m.objective.describe(),
        short_figures(s),
        short_figures(e)
    );
    let sp = &doc.split;
    let seml_engines = doc.engines.iter().filter(|e| e.part == Part::Seml).count();
    let _ = writeln!(
        o,
        "split: {} units / {} layers on {} SESL engines{}; {} layers on {} SEML engines{}",
        sp.sesl_units,
        sp.sesl_layers,
        doc.engines.len() - seml_engines,
        if doc.firb {
            " (bottlenecks as FIRB)"
        } else {
            ""
        },
        doc.model.layers - sp.sesl_layers,
        seml_engines,
        sp.first_seml_layer
            .as_ref()
            .map_or(String::new(), |n| format!(" from {n}"))
    );
    if !doc.model.host.is_empty() {
        let _ = writeln!(o, "host: {}", doc.model.host.join(", "));
    }
    if !doc.model.folded.is_empty() {
        let _ = writeln!(
            o,
            "folded at import (shape arithmetic on static shapes): {}",
            doc.model.folded.join(", ")
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<12} {:<4} {:<5} {:<28} {:>5} {:<26} {:>11} {:>5} {:>6}",
        "engine",
        "part",
        "kind",
        "layers",
        "PEs",
        "parallelism pf.ph.pw.pc",
        "cycles",
        "DSP",
        "BRAM36"
    );
    for e in &doc.engines {
        let layers = if e.layers.len() <= 2 {
            e.layers.join(",")
        } else {
            format!(
                "{}..{} ({})",
                e.layers[0],
                e.layers[e.layers.len() - 1],
                e.layers.len()
            )
        };
        let par = e
            .stages
            .iter()
            .map(|s| {
                let p = s.parallelism;
                format!("{}.{}.{}.{}", p.pf, p.ph, p.pw, p.pc)
            })
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            o,
            "{:<12} {:<4} {:<5} {:<28} {:>5} {:<26} {:>11} {:>5} {:>6}{}",
            e.name,
            match e.part {
                Part::Sesl => "sesl",
                Part::Seml => "seml",
            },
            e.kind,
            layers,
            e.pes,
            par,
            e.cycles,
            e.dsp,
            e.bram36,
            if e.weights_streamed {
                " (weights streamed)"
            } else {
                ""
            }
        );
    }
    let f = &m.fibha;
    let _ = writeln!(
        o,
        "{:<12} {:<4} {:<5} {:<28} {:>5} {:<26} {:>11} {:>5} {:>6}",
        "total", "", "", "", f.pes, "", "", f.dsp, f.bram36
    );
    let _ = writeln!(
        o,
        "budget       {:>66} {:>5} {:>6}  ({})",
        "",
        b.dsp,
        b.bram36,
        if f.fits { "fits" } else { "DOES NOT FIT" }
    );
    for p in &f.problems {
        let _ = writeln!(o, "  problem: {p}");
    }
    if with_layers {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:>3} {:<16} {:<4} {:<12} {:<12} {:>2} {:>2} {:<12} {:>10} {:>10} {:>10} {:<7}",
            "#",
            "layer",
            "kind",
            "input",
            "output",
            "k",
            "s",
            "engine",
            "cycles",
            "model us",
            "DDR B",
            "bound"
        );
        for l in &doc.layers {
            let _ = writeln!(
                o,
                "{:>3} {:<16} {:<4} {:<12} {:<12} {:>2} {:>2} {:<12} {:>10} {:>10.1} {:>10} {:<7}{}",
                l.index,
                l.name,
                l.kind.short(),
                l.input.to_string(),
                l.output.to_string(),
                l.kernel,
                l.stride,
                l.engine,
                l.cycles,
                l.modelled_us,
                l.ddr_bytes,
                match l.bound {
                    Bound::Compute => "compute",
                    Bound::Memory => "memory",
                },
                if l.spilled { " spilled" } else { "" }
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "modelled                          FiBHA        SEML  SEML fibha        SESL"
    );
    let designs = [&m.fibha, &m.seml, &m.seml_fibha, &m.sesl];
    let row = |o: &mut String, name: &str, cell: &dyn Fn(&Figures) -> String| {
        let _ = write!(o, "{name:<28}");
        for d in designs {
            let _ = write!(
                o,
                " {:>11}",
                if d.fits {
                    cell(d)
                } else {
                    "no fit".to_string()
                }
            );
        }
        let _ = writeln!(o);
    };
    row(&mut o, "latency (ms)", &|d| format!("{:.3}", d.latency_ms));
    row(&mut o, "fps_batch1 (1/latency)", &|d| {
        format!("{:.1}", d.fps_batch1)
    });
    row(&mut o, "fps_pipelined", &|d| {
        format!("{:.1}", d.fps_pipelined)
    });
    row(&mut o, "images in flight", &|d| {
        format!("{:.2}", d.images_in_flight)
    });
    row(&mut o, "SESL / SEML part (ms)", &|d| {
        format!("{:.2}/{:.2}", d.sesl_ms, d.seml_ms)
    });
    row(&mut o, "on-chip FM buffers (KiB)", &|d| {
        kib(d.fm_buffer_bytes)
    });
    row(&mut o, "on-chip weights (KiB)", &|d| {
        kib(d.weight_buffer_bytes)
    });
    row(&mut o, "DSP", &|d| d.dsp.to_string());
    row(&mut o, "BRAM36", &|d| d.bram36.to_string());
    row(&mut o, "DDR per image (MB)", &|d| {
        format!("{:.2}", d.ddr_bytes_per_image as f64 / 1e6)
    });
    row(&mut o, "PE utilization", &|d| {
        format!("{:.0}%", d.pe_utilization * 100.0)
    });
    let _ = writeln!(
        o,
        "  SEML: {}; SEML fibha: {}",
        m.seml.design, m.seml_fibha.design
    );
    o.push_str(&render_host(&m.host, &m.fibha));
    for d in designs {
        if !d.fits {
            let _ = writeln!(o, "  {} does not fit: {}", d.design, d.problems.join("; "));
        }
        if d.fits && d.weights_streamed {
            let _ = writeln!(
                o,
                "  {}: weights streamed from DDR every pass (on chip they do not fit, or leave too little BRAM for parallel banks)",
                d.design
            );
        }
    }
    let _ = writeln!(o);
    o.push_str(&render_comparison(&doc.comparison));
    let _ = writeln!(
        o,
        "All figures are modelled (analytical model), not board measurements. plan hash {}",
        doc.plan_hash
    );
    o
}

/// The host's share of the plan, in two lines.
fn render_host(host: &HostShare, fibha: &Figures) -> String {
    let h = match host {
        HostShare::NotModelled { why } => return format!("  host share: not modelled ({why})\n"),
        HostShare::Modelled(h) => h,
    };
    let unmodelled = if h.unmodelled.is_empty() {
        String::new()
    } else {
        format!("; no rate for {}, not counted", h.unmodelled.join(", "))
    };
    format!(
        "  host ({}, modelled): {:.3} ms before + {:.3} ms after the accelerator ({:.3}-{:.3} ms by IPC){unmodelled}\n  \
         one image end to end {:.3} ms (accelerator {:.3}); overlapped {:.1} images/s, bound: {}\n",
        h.model,
        h.before_ms,
        h.after_ms,
        h.range_ms[0],
        h.range_ms[1],
        h.latency_ms,
        fibha.latency_ms,
        h.fps_pipelined,
        h.bound
    )
}

/// Renders the modelled-versus-published table.
pub fn render_comparison(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<72} {:>9}  published",
        "modelled vs published", "modelled"
    );
    let times = |v: f64| format!("{v:.2}x");
    let pct = crate::sweep::signed_reduction;
    for (r, f) in [
        (&c.fibha_vs_seml_batch1, &times as &dyn Fn(f64) -> String),
        (&c.fibha_vs_seml_pipelined, &times),
        (&c.fibha_vs_sesl_batch1, &times),
        (&c.fibha_vs_sesl_pipelined, &times),
        (&c.fm_buffer_reduction_vs_seml, &pct),
        (&c.firb_buffer_reduction_plan, &pct),
        (&c.firb_buffer_reduction_network, &pct),
    ] {
        let _ = writeln!(
            o,
            "{:<72} {:>9}  {}",
            r.what,
            opt_num(r.modelled, f),
            r.published
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Board, Overrides};
    use crate::design::sesl_engines;
    use crate::network::tests::layer;
    use crate::seml::{self, SemlOp};
    use crate::seml_baseline;

    /// Three layers: a 3x3 convolution 16x16x8 -> 16x16x16, then a bottleneck without
    /// expansion (3x3 depthwise, pointwise 16 -> 16), so two units.
    fn toy() -> Network {
        let m = Shape::new(16, 16, 16);
        let layers = vec![
            layer(LayerKind::Conv, Shape::new(16, 16, 8), 16, 3, 1),
            layer(LayerKind::Depthwise, m, 0, 3, 1),
            layer(LayerKind::Pointwise, m, 16, 1, 1),
        ];
        let src = ModelSource::Topology {
            file: "toy".into(),
            sha256: String::new(),
            reference: String::new(),
        };
        Network::new("toy".into(), src, Shape::new(16, 16, 8), layers, vec![]).unwrap()
    }

    fn zcu102() -> Budget {
        Budget::new(&Board::resolve("zcu102").unwrap(), Overrides::default()).unwrap()
    }

    fn par(pf: u32, p: u32, pc: u32) -> Par {
        Par {
            pf,
            ph: p,
            pw: p,
            pc,
        }
    }

    const F: f64 = 200e6;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs()
    }

    #[test]
    fn sesl_figures_by_hand() {
        // Per-layer engines: conv pf 4 pc 2: 16/4 * 16 * 16 * 8/2 * 9 = 36,864 cycles;
        // DW pf 4: 16/4 * 256 * 9 = 9,216; PW pf 4 pc 4: 4 * 256 * 4 = 4,096.
        // 16 passes (output rows): fill = 36,864/16 + 36,864/16 = 4,608; one image alone
        // 4,608 + 36,864 = 41,472 cycles; images overlapped, the slowest stage: 36,864.
        // DDR: the image in (16*16*8 = 2,048) and the map out (4,096); weights on chip.
        let net = toy();
        let budget = zcu102();
        let mut engines = sesl_engines(&net, &net.units(), false);
        for (e, p) in engines
            .iter_mut()
            .zip([par(4, 1, 2), par(4, 1, 1), par(4, 1, 4)])
        {
            e.stages[0].par = p;
        }
        let spec = DesignSpec {
            split_units: 2,
            sesl: engines,
            seml: vec![],
        };
        let f = Figures::of("SESL", &evaluate(&net, &budget, &spec), 2, false);
        assert!(f.fits, "{:?}", f.problems);
        assert!(close(f.latency_ms, 41_472.0 / F * 1e3), "{f:?}");
        assert!(close(f.fps_batch1, F / 41_472.0), "{f:?}");
        assert!(close(f.fps_pipelined, F / 36_864.0), "{f:?}");
        assert!(close(f.images_in_flight, 41_472.0 / 36_864.0), "{f:?}");
        assert_eq!(f.ddr_bytes_per_image, 2_048 + 4_096);
    }

    #[test]
    fn papers_seml_figures_by_hand() {
        // conv 8 x 2x2 pixels x 2 channels: 16/8 * 8 * 8 * 8/2 * 9 = 4,608 cycles;
        // DW 8 x 2x2: 2 * 64 * 9 = 1,152; PW 8 x 2x2 x 4: 2 * 64 * 16/4 = 512.
        // The DW runs overlapped with the PW after it: 4,608 + max(1,152, 512) = 5,760
        // cycles an image, and no second image overlaps: both rates are 200e6 / 5,760.
        // DDR: conv 9*8*16 + 9*16 params + image 2,048 = 3,344; DW 144 + 144 = 288;
        // PW 256 + 144 + map out 4,096 = 4,496; 8,128 in all (each below its layer's
        // compute time at 12.8 GB/s). Maps live at once: conv 2,048 + 4,096, DW+PW
        // 4,096 + 4,096 = 8,192 bytes. Requantizers: conv 32 lanes every 9 * 4 cycles,
        // 1; PW 32 every 4, 8; DW 32 every 9, 4: 13 x 4 DSP on 224 MACs = 276 DSP.
        let net = toy();
        let budget = zcu102();
        let b = seml_baseline::evaluate(
            &net,
            &budget,
            vec![
                (LayerKind::Conv, par(8, 2, 2)),
                (LayerKind::Pointwise, par(8, 2, 4)),
                (LayerKind::Depthwise, par(8, 2, 1)),
            ],
        );
        let f = Figures::of(SEML_NAME, &b.eval, 0, false);
        assert!(f.fits, "{:?}", f.problems);
        assert!(close(f.latency_ms, 5_760.0 / F * 1e3), "{f:?}");
        assert!(close(f.fps_batch1, F / 5_760.0) && f.fps_pipelined == f.fps_batch1);
        assert_eq!(f.ddr_bytes_per_image, 8_128);
        assert_eq!(f.fm_buffer_bytes, 8_192);
        assert_eq!((f.pes, f.dsp), (224, 276));
        // The search finds a design at least as fast within the same budget.
        let best = seml_baseline::plan(&net, &budget);
        assert!(best.eval.latency <= b.eval.latency && best.eval.fits());
    }

    #[test]
    fn hybrid_figures_follow_their_definitions() {
        // The conv on a dedicated engine (36,864 cycles, one stage: no fill), the
        // bottleneck on fibha's SEML engines (pp 1, pe 16, kd 2), whose phases
        // `seml::program_cycles` gives. One image alone: both parts one after the other,
        // less the hand-off the SEML part takes in while the conv produces it; images
        // overlapped: the slower part. DDR: image in, SEML parameters, map out.
        let net = toy();
        let budget = zcu102();
        let mut sesl = sesl_engines(&net, &net.units()[..1], true);
        sesl[0].stages[0].par = par(4, 1, 2);
        let spec = DesignSpec {
            split_units: 1,
            sesl,
            seml: vec![
                (LayerKind::Pointwise, par(16, 1, 16)),
                (LayerKind::Depthwise, par(32, 1, 1)),
            ],
        };
        let e = evaluate(&net, &budget, &spec);
        let f = Figures::of("FiBHA", &e, 1, false);
        let part = e.seml_part.as_ref().unwrap();
        let (ops, _) = crate::design::seml_ops(&net, &[1, 2]);
        let ops: Vec<SemlOp> = ops.into_iter().map(|(_, op)| op).collect();
        let handoff = net.layers[0].output;
        let (_, seml_cycles) = seml::program_cycles(&part.par, handoff, &ops);
        let taken_in = seml::handoff_cycles(&part.par, handoff, &ops);
        let latency = (36_864 + seml_cycles - taken_in) as f64;
        let period = (36_864u64.max(seml_cycles)) as f64;
        assert!(close(f.latency_ms, latency / F * 1e3), "{f:?} vs {latency}");
        assert!(close(f.fps_batch1, F / latency), "{f:?}");
        assert!(close(f.fps_pipelined, F / period), "{f:?}");
        let params: u64 = ops
            .iter()
            .map(|o| seml::blob_beats(o, part.par.pe) * 16)
            .sum();
        assert_eq!(f.ddr_bytes_per_image, 2_048 + params + 4_096);
    }
}
