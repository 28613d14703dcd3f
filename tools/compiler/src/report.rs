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
use crate::hw::{self, HwDesign};
use crate::network::{Act, LayerKind, ModelSource, Network, Shape};
use crate::planner::{Candidate, Plans, SplitStep};

/// Version of the plan document's layout.
pub const PLAN_FORMAT_VERSION: u32 = 3;

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
    /// DDR bandwidth in GB/s.
    pub ddr_gbps: f64,
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

/// A design's modelled figures.
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
    /// Images per second at batch 1.
    pub fps: f64,
    /// Milliseconds from image in to feature map out.
    pub latency_ms: f64,
    /// Milliseconds between images.
    pub period_ms: f64,
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
    /// Useful MACs / (PEs x cycles).
    pub pe_utilization: f64,
    /// Whether SESL weights are streamed from DDR.
    pub weights_streamed: bool,
}

impl Figures {
    /// The figures of a candidate.
    pub fn of(design: &str, c: &Candidate) -> Figures {
        let e = &c.eval;
        Figures {
            design: design.to_string(),
            fits: e.fits(),
            problems: e.problems.clone(),
            split_units: c.spec.split_units,
            fps: if e.period > 0.0 { 1.0 / e.period } else { 0.0 },
            latency_ms: e.latency * 1e3,
            period_ms: e.period * 1e3,
            sesl_ms: e.t_sesl * 1e3,
            seml_ms: e.t_seml * 1e3,
            pes: e.pes,
            dsp: e.dsp,
            bram36: e.bram36,
            fm_buffer_bytes: e.fm_bytes,
            weight_buffer_bytes: e.weight_bytes,
            ddr_bytes_per_image: e.ddr_bytes,
            pe_utilization: e.utilization,
            weights_streamed: c.spec.sesl.iter().any(|s| s.stream_weights),
        }
    }
}

/// All modelled figures of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Modelled {
    /// Reminder that these are estimates.
    pub note: String,
    /// The plan (FiBHA).
    pub fibha: Figures,
    /// Pure SEML under the same budget.
    pub seml: Figures,
    /// Pure SESL (traditional pipelining) under the same budget.
    pub sesl: Figures,
    /// SplitCNN's FiBHA design.
    pub splitcnn: Figures,
    /// The exhaustive search's FiBHA design.
    pub exhaustive: Figures,
    /// All units dedicated with FIRB engines (the FIRB comparison point).
    pub sesl_firb: Figures,
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
    /// FiBHA throughput / SEML throughput.
    pub fibha_vs_seml_throughput: Ratio,
    /// FiBHA throughput / SESL throughput.
    pub fibha_vs_sesl_throughput: Ratio,
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

/// The comparison with the published figures.
pub fn compare(net: &Network, budget: &Budget, plans: &Plans, chosen: &Candidate) -> Comparison {
    let ok = chosen.eval.fits();
    Comparison {
        fibha_vs_seml_throughput: Ratio {
            what: "FiBHA / SEML throughput".into(),
            modelled: ratio(
                plans.seml.eval.period,
                chosen.eval.period,
                ok && plans.seml.eval.fits(),
            ),
            published: "up to 2.5x (TACO 2024), up to 1.7x (SBAC-PAD 2022)".into(),
            note: "same DSP and BRAM budget, batch 1".into(),
        },
        fibha_vs_sesl_throughput: Ratio {
            what: "FiBHA / SESL throughput".into(),
            modelled: ratio(
                plans.sesl.eval.period,
                chosen.eval.period,
                ok && plans.sesl.eval.fits(),
            ),
            published: "up to 4x (TACO 2024), up to 4.1x (SBAC-PAD 2022)".into(),
            note: "SESL: one engine per layer, traditional pipelining, PEs scaled to the budget"
                .into(),
        },
        fm_buffer_reduction_vs_seml: Ratio {
            what: "on-chip feature-map buffering, FiBHA vs SEML (reduction)".into(),
            modelled: ratio(
                plans.seml.eval.fm_bytes as f64 - chosen.eval.fm_bytes as f64,
                plans.seml.eval.fm_bytes as f64,
                ok,
            ),
            published: "up to 75% less (TACO 2024)".into(),
            note: "line, double, skip and frame buffers plus the SEML feature-map store".into(),
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
        },
        board: BoardInfo {
            name: board.name.clone(),
            part: board.part.clone(),
            clock_mhz: board.clock.mhz,
            ddr_gbps: board.memory.ddr_gbps,
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
        modelled: Modelled {
            note: "analytical-model estimates (FiBHA's model, see tools/compiler/README.md), not board measurements".into(),
            fibha: Figures::of(&format!("FiBHA ({label})"), chosen),
            seml: Figures::of("SEML", &plans.seml),
            sesl: Figures::of("SESL", &plans.sesl),
            splitcnn: Figures::of("FiBHA (SplitCNN)", &plans.splitcnn),
            exhaustive: Figures::of("FiBHA (exhaustive)", &plans.exhaustive),
            sesl_firb: Figures::of("SESL with FIRB", &plans.sesl_firb),
        },
        comparison: compare(net, budget, plans, chosen),
        plan_hash: format!("{:016x}", hw::plan_hash(&hardware)),
        hardware,
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
        "budget: {} DSP ({} int8 MAC{} each), {} BRAM36, {} MHz, DDR {} GB/s",
        b.dsp,
        b.macs_per_dsp,
        if b.macs_per_dsp == 1 { "" } else { "s" },
        b.bram36,
        b.clock_mhz,
        b.ddr_gbps
    );
    let (s, e) = (&m.splitcnn, &m.exhaustive);
    let better = if s.fits && e.fits && s.fps > 0.0 {
        format!("exhaustive / SplitCNN = {:.3}x", e.fps / s.fps)
    } else {
        "one of them does not fit".to_string()
    };
    let _ = writeln!(
        o,
        "plan: {} search; modelled SplitCNN {:.1} FPS, exhaustive {:.1} FPS ({better})",
        doc.search, s.fps, e.fps
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
        "modelled, batch 1                FiBHA        SEML        SESL"
    );
    let designs = [&m.fibha, &m.seml, &m.sesl];
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
    row(&mut o, "throughput (FPS)", &|d| format!("{:.1}", d.fps));
    row(&mut o, "latency (ms)", &|d| format!("{:.3}", d.latency_ms));
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
        (
            &c.fibha_vs_seml_throughput,
            &times as &dyn Fn(f64) -> String,
        ),
        (&c.fibha_vs_sesl_throughput, &times),
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
