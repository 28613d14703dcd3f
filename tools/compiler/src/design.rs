//! Designs and their evaluation: which engine runs which layers with which parallelism,
//! and the modelled throughput, latency, DSP, BRAM and buffer bytes that follow.
//!
//! A design has an SESL part (dedicated, pipelined engines for the first units) and an SEML
//! part (one reusable engine per layer kind for the rest); pure SEML and pure SESL are the
//! two ends. The model (README "Model"):
//! - SESL part: engines form a row pipeline. With `passes` = output rows of the last engine
//!   and per-pass time tau_i = cycles_i / passes, the part takes
//!   fill + max_i cycles_i, fill = sum over i < n of max_{j <= i} tau_j (FiBHA's model).
//!   A squeeze-and-excitation engine needs its whole input before it can scale it, so it
//!   ends a pipeline segment; segments run one after the other.
//! - SEML part: the engines of `hls/include/fibha/seml.hpp`, modelled phase by phase in
//!   [`crate::seml`]: the hand-off, each layer (pointwise folds, depthwise units, each
//!   absorbing the next phase's parameters from two 128-bit loaders) and the copy-out, one
//!   after another; feature maps stay on chip in four memories (a design whose maps do
//!   not fit the BRAM left does not fit).
//! - Hybrid: latency = T_SESL + T_SEML - the hand-off (taken in while the SESL part
//!   produces it); throughput = 1 / max(slowest SESL stage, T_SEML, DDR bytes per image /
//!   bandwidth), since the parts work on consecutive images (and the SESL part streams
//!   them through its pipeline) and share the DDR.
//! - DSP slices: one per int8 MAC, and four per 32 x 32-bit multiply of the requantizers
//!   and ADD rescaling each engine instantiates ([`cost::stage_requantizers`],
//!   [`SemlPar`]).
//! - Pure SESL: throughput from the slowest stage (the pipeline overlaps images), latency
//!   with the fill, as FiBHA's model does.
//! - DDR: every design's traffic shares one bandwidth, the generated design's ports
//!   capped by the board's DDR ([`Budget::ddr_bytes_per_s`]).
//!
//! [`Evaluation::latency`] and [`Evaluation::period`] are what `report::Figures::of` turns
//! into the named figures (`latency_ms`, `fps_batch1`, `fps_pipelined`) of every design.
//!
//! Invariant: evaluation never fails; a design that does not fit the budget says why in
//! [`Evaluation::problems`].

use serde::{Deserialize, Serialize};

use crate::board::Budget;
use crate::cost::{
    self, BufKind, Buffer, PARAM_BYTES_PER_CHANNEL, Par, double_buffer, drain_buffer, frame_buffer,
    layer_cycles, line_buffer, skip_buffer, weight_buffer,
};
use crate::network::{LayerKind, Network, Shape, Unit};
use crate::seml::{self, SemlOp, SemlPar};

/// Which part of the accelerator an engine belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Dedicated, pipelined engines (single engine, single layer).
    Sesl,
    /// Reusable engines (single engine, multiple layers).
    Seml,
}

/// One compute stage of a dedicated engine: a layer and its parallelism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Layer index.
    pub layer: usize,
    /// Parallelism.
    pub par: Par,
}

/// A dedicated engine: one layer (with a fused ADD), or a FIRB running a whole bottleneck.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeslEngine {
    /// Whether this is a FIRB engine (fused expand -> DW -> project pipeline).
    pub firb: bool,
    /// All layers it runs, including a fused ADD.
    pub layers: Vec<usize>,
    /// The compute stages (ADD has none).
    pub stages: Vec<Stage>,
    /// Weights streamed from DDR on every pipeline pass instead of held on chip (the
    /// fallback of FiBHA's analytical model when a pure SESL design's weights do not fit).
    #[serde(default)]
    pub stream_weights: bool,
}

/// Everything needed to evaluate a design.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignSpec {
    /// Units (in [`Network::units`] order) run by the SESL part.
    pub split_units: usize,
    /// The SESL part's engines, in pipeline order.
    pub sesl: Vec<SeslEngine>,
    /// The SEML part's engines: one parallelism per layer kind it runs.
    pub seml: Vec<(LayerKind, Par)>,
}

/// The dedicated engines for the first `split` units, with minimal parallelism.
///
/// Bottlenecks become FIRB engines when `firb` is set and they contain no SE (which needs
/// a frame buffer between DW and projection, so it cannot be fused row by row); otherwise
/// each layer gets its own engine, with an ADD fused into the projection's engine.
pub fn sesl_engines(net: &Network, units: &[Unit], firb: bool) -> Vec<SeslEngine> {
    let mut engines = Vec::new();
    for &unit in units {
        let layers = net.unit_layers(unit);
        let fusable = match unit {
            Unit::Bottleneck { block } => firb && net.blocks[block].se.is_none(),
            Unit::Layer { .. } => false,
        };
        if fusable {
            let stages = compute_stages(net, &layers);
            engines.push(SeslEngine {
                firb: true,
                layers,
                stages,
                stream_weights: false,
            });
            continue;
        }
        for &l in &layers {
            if net.layers[l].kind == LayerKind::Add
                && let Some(prev) = engines.last_mut()
            {
                prev.layers.push(l);
                continue;
            }
            engines.push(SeslEngine {
                firb: false,
                layers: vec![l],
                stages: compute_stages(net, &[l]),
                stream_weights: false,
            });
        }
    }
    engines
}

fn compute_stages(net: &Network, layers: &[usize]) -> Vec<Stage> {
    layers
        .iter()
        .filter(|&&l| net.layers[l].kind != LayerKind::Add)
        .map(|&l| Stage {
            layer: l,
            par: Par::ONE,
        })
        .collect()
}

impl DesignSpec {
    /// The same design with every FIRB engine split into per-layer engines that keep the
    /// stages' parallelism: traditional inter-layer pipelining of the same bottlenecks.
    pub fn without_firb(&self, net: &Network) -> DesignSpec {
        let mut sesl = Vec::new();
        for e in &self.sesl {
            if !e.firb {
                sesl.push(e.clone());
                continue;
            }
            for st in &e.stages {
                sesl.push(SeslEngine {
                    firb: false,
                    layers: vec![st.layer],
                    stages: vec![*st],
                    stream_weights: e.stream_weights,
                });
            }
            if let Some(&add) = e
                .layers
                .iter()
                .find(|&&l| net.layers[l].kind == LayerKind::Add)
            {
                sesl.last_mut().expect("a FIRB has stages").layers.push(add);
            }
        }
        DesignSpec {
            sesl,
            ..self.clone()
        }
    }
}

/// What limits a layer's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// PE cycles.
    Compute,
    /// DDR traffic.
    Memory,
}

/// An engine after evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineEval {
    /// Part.
    pub part: Part,
    /// For SESL: FIRB or single layer; for SEML: the layer kind it runs.
    pub kind: String,
    /// Layers it runs.
    pub layers: Vec<usize>,
    /// Stages with their parallelism (SEML: one stage, `layer` is the first it runs).
    pub stages: Vec<Stage>,
    /// Cycles per image: the slowest stage (SESL) or the sum over its layers (SEML).
    pub cycles: u64,
    /// Processing elements.
    pub pes: u32,
    /// DSP slices.
    pub dsp: u32,
    /// On-chip buffers.
    pub buffers: Vec<Buffer>,
}

impl EngineEval {
    /// BRAM36 blocks of its buffers.
    pub fn bram36(&self) -> u32 {
        self.buffers.iter().map(|b| b.bram36).sum()
    }
}

/// A layer after evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerEval {
    /// Layer index.
    pub layer: usize,
    /// Index of the engine that runs it.
    pub engine: usize,
    /// PE cycles on that engine.
    pub cycles: u64,
    /// DDR bytes it moves per image.
    pub ddr_bytes: u64,
    /// Modelled seconds (SEML: max of compute and traffic; SESL: compute alone, the part
    /// overlaps its layers).
    pub seconds: f64,
    /// What limits it.
    pub bound: Bound,
    /// Whether its feature maps spill to DDR (SEML).
    pub spilled: bool,
}

/// A design's modelled figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The engines, SESL part first.
    pub engines: Vec<EngineEval>,
    /// Per layer.
    pub layers: Vec<LayerEval>,
    /// Seconds per image in the SESL part, pipeline fill included.
    pub t_sesl: f64,
    /// Seconds per image in the SESL part once the pipeline is full (slowest stage, or
    /// its DDR traffic).
    pub t_sesl_steady: f64,
    /// Seconds per image in the SEML part.
    pub t_seml: f64,
    /// Seconds between images at batch 1 (inverse throughput).
    pub period: f64,
    /// Seconds from image in to feature map out.
    pub latency: f64,
    /// Processing elements.
    pub pes: u32,
    /// DSP slices.
    pub dsp: u32,
    /// BRAM36 blocks.
    pub bram36: u32,
    /// On-chip feature-map buffer bytes (line, double, skip, frame, SEML maps and tiles).
    pub fm_bytes: u64,
    /// On-chip weight bytes (SESL weights, SEML weight tiles).
    pub weight_bytes: u64,
    /// DDR bytes per image.
    pub ddr_bytes: u64,
    /// PE utilization: useful MACs / (PEs x cycles per period).
    pub utilization: f64,
    /// Why it does not fit the budget (empty when it fits).
    pub problems: Vec<String>,
    /// The SEML part's hardware (none without an SEML part).
    pub seml_part: Option<SemlPartHw>,
}

/// What the SEML part instantiates: its parallelism and the maximums its memories are
/// sized for (the `SemlPart` template's parameters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemlPartHw {
    /// Parallelism and requantizers.
    pub par: SemlPar,
    /// The largest map, pixels.
    pub max_pixels: u64,
    /// The largest pixel, 16-channel words.
    pub max_words: u64,
    /// Words per feature-map bank.
    pub fm_depth: u64,
    /// The largest depthwise window, taps.
    pub max_taps: u64,
    /// The hand-off FIFO, words.
    pub handoff_words: u64,
    /// Why the HLS engines cannot run this part (a model-only design point), if so.
    pub unsupported: Option<String>,
}

impl Evaluation {
    /// Whether the design fits its budget.
    pub fn fits(&self) -> bool {
        self.problems.is_empty()
    }

    /// Images per second with images overlapped as far as the design allows (1 / period).
    pub fn fps_pipelined(&self) -> f64 {
        1.0 / self.period
    }
}

/// Evaluates `spec` for `net` under `budget`.
pub fn evaluate(net: &Network, budget: &Budget, spec: &DesignSpec) -> Evaluation {
    let f = budget.clock_hz;
    let bw = budget.ddr_bytes_per_s;
    let units = net.units();
    let split_layer = units
        .get(spec.split_units)
        .map_or(net.head_start(), |&u| net.unit_layers(u)[0]);
    let mut problems = Vec::new();
    let mut engines = Vec::new();
    let mut layers = Vec::new();

    // SESL part.
    for e in &spec.sesl {
        let idx = engines.len();
        let eval = sesl_engine(net, budget, e);
        for &l in &e.layers {
            let cycles = e
                .stages
                .iter()
                .find(|s| s.layer == l)
                .map_or(0, |s| layer_cycles(&net.layers[l], s.par));
            layers.push(LayerEval {
                layer: l,
                engine: idx,
                cycles,
                ddr_bytes: 0,
                seconds: cycles as f64 / f,
                bound: Bound::Compute,
                spilled: false,
            });
        }
        engines.push(eval);
    }
    let sesl_cycles = sesl_pipeline_cycles(net, &spec.sesl, &engines);
    let slowest = engines.iter().map(|e| e.cycles).max().unwrap_or(0);
    if !spec.sesl.is_empty() {
        if let Some(first) = layers.first_mut() {
            first.ddr_bytes += net.input.bytes();
        }
        // The SESL part's output goes to DDR only without an SEML part (the hand-off to
        // the SEML part is an on-chip FIFO).
        if let Some(last) = layers.last_mut()
            && split_layer == net.layers.len()
        {
            last.ddr_bytes += net.layers[split_layer - 1].output.bytes();
        }
        // Streamed weights are read once per pass of the pipeline.
        let passes = net.layers[split_layer - 1].output.h as u64;
        for (e, ev) in spec.sesl.iter().zip(&engines) {
            if e.stream_weights {
                let bytes: u64 = e
                    .stages
                    .iter()
                    .map(|s| cost::weight_buffer(&net.layers[s.layer], s.par).bytes)
                    .sum();
                let first = ev.layers[0];
                if let Some(le) = layers.iter_mut().find(|l| l.layer == first) {
                    le.ddr_bytes += bytes * passes;
                }
            }
        }
    }
    let sesl_ddr: u64 = layers.iter().map(|l| l.ddr_bytes).sum();
    let t_sesl = (sesl_cycles as f64 / f).max(sesl_ddr as f64 / bw);
    let t_sesl_steady = (slowest as f64 / f).max(sesl_ddr as f64 / bw);

    // SEML part.
    let sesl_bram: u32 = engines.iter().map(EngineEval::bram36).sum();
    let (t_seml, t_handoff, seml_hw) = if split_layer < net.layers.len() {
        seml_part(
            net,
            budget,
            spec,
            split_layer,
            sesl_bram,
            &mut engines,
            &mut layers,
            &mut problems,
        )
    } else {
        (0.0, 0.0, None)
    };

    let pes: u32 = engines.iter().map(|e| e.pes).sum();
    let dsp: u32 = engines.iter().map(|e| e.dsp).sum();
    let bram: u32 = engines.iter().map(EngineEval::bram36).sum();
    let all_buffers = || engines.iter().flat_map(|e| e.buffers.iter());
    let fm_bytes = all_buffers()
        .filter(|b| b.kind.is_feature_map())
        .map(|b| b.bytes)
        .sum();
    let weight_bytes = all_buffers()
        .filter(|b| !b.kind.is_feature_map())
        .map(|b| b.bytes)
        .sum();
    let ddr_bytes: u64 = layers.iter().map(|l| l.ddr_bytes).sum();
    if dsp > budget.dsp {
        problems.push(format!(
            "needs {dsp} DSP slices ({pes} PEs), budget is {}",
            budget.dsp
        ));
    }
    if bram > budget.bram36 && problems.is_empty() {
        problems.push(format!(
            "needs {bram} BRAM36 ({} for weights, {} for feature maps), budget is {}",
            engines
                .iter()
                .flat_map(|e| &e.buffers)
                .filter(|b| !b.kind.is_feature_map())
                .map(|b| b.bram36)
                .sum::<u32>(),
            engines
                .iter()
                .flat_map(|e| &e.buffers)
                .filter(|b| b.kind.is_feature_map())
                .map(|b| b.bram36)
                .sum::<u32>(),
            budget.bram36
        ));
    }
    // The SESL part streams images through its pipeline (image n + 1 enters its first
    // engines while image n leaves its last ones), so its share of the period is its
    // slowest stage, in a hybrid as in a pure SESL design (FiBHA's model).
    let period = t_sesl_steady.max(t_seml).max(ddr_bytes as f64 / bw);
    let utilization = if pes > 0 {
        net.macs() as f64 / (f64::from(pes) * period * f)
    } else {
        0.0
    };
    layers.sort_by_key(|l| l.layer);
    Evaluation {
        engines,
        layers,
        t_sesl,
        t_sesl_steady,
        t_seml,
        period,
        // The SEML part takes in the hand-off while the SESL part produces it; an image's
        // DDR traffic takes at least its time at the ports' bandwidth.
        latency: (t_sesl + t_seml - t_handoff).max(ddr_bytes as f64 / bw),
        pes,
        dsp,
        bram36: bram,
        fm_bytes,
        weight_bytes,
        ddr_bytes,
        utilization,
        problems,
        seml_part: seml_hw,
    }
}

/// Buffers, cycles and resources of one dedicated engine.
pub(crate) fn sesl_engine(net: &Network, budget: &Budget, e: &SeslEngine) -> EngineEval {
    let mut buffers = Vec::new();
    let layer = |i: usize| &net.layers[i];
    for (si, st) in e.stages.iter().enumerate() {
        let l = layer(st.layer);
        match l.kind {
            LayerKind::SqueezeExcite => buffers.push(frame_buffer(l, st.par)),
            // FIRB: the expansion reads single pixels, the DW keeps its line buffer, and
            // no buffer sits between expand, DW and project.
            LayerKind::Pointwise if e.firb && si > 0 => {}
            _ => buffers.push(line_buffer(l, st.par)),
        }
        if e.firb && l.kind == LayerKind::Depthwise {
            buffers.push(drain_buffer(l, st.par));
        }
        if !e.firb || si + 1 == e.stages.len() {
            buffers.push(double_buffer(l, st.par));
        }
        buffers.push(if e.stream_weights {
            streamed_weight_buffer(l, st.par)
        } else {
            weight_buffer(l, st.par)
        });
    }
    if let Some(&add) = e.layers.iter().find(|&&l| layer(l).kind == LayerKind::Add) {
        let block = net
            .blocks
            .iter()
            .find(|b| b.add == Some(add))
            .expect("an ADD in a SESL engine closes a bottleneck");
        let last = e.stages.last().expect("the ADD follows a projection").par;
        buffers.push(skip_buffer(
            layer(block.first()).input,
            layer(block.dw).kernel,
            last.output_width(),
        ));
    }
    let cycles = e
        .stages
        .iter()
        .map(|s| layer_cycles(layer(s.layer), s.par))
        .max()
        .unwrap_or(0);
    let pes: u32 = e.stages.iter().map(|s| s.par.pes()).sum();
    let residual = e.layers.iter().any(|&l| layer(l).kind == LayerKind::Add);
    let wide: u32 = e
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            cost::stage_requantizers(layer(s.layer), s.par, residual && i + 1 == e.stages.len())
        })
        .sum();
    let dsp = budget.dsp_for(pes) + wide * cost::DSP_PER_WIDE_MULTIPLY;
    let kind = if e.firb {
        "firb".to_string()
    } else {
        e.stages
            .first()
            .map_or("add", |s| layer(s.layer).kind.short())
            .to_string()
    };
    EngineEval {
        part: Part::Sesl,
        kind,
        layers: e.layers.clone(),
        stages: e.stages.clone(),
        cycles,
        pes,
        dsp,
        buffers,
    }
}

/// A double-buffered tile of `pf` filters' weights, for an engine that streams them.
fn streamed_weight_buffer(l: &crate::network::Layer, p: Par) -> Buffer {
    let per_filter = match l.kind {
        LayerKind::Depthwise => (l.kernel * l.kernel) as u64,
        _ => l.weight_bytes() / l.output.c.max(1) as u64,
    } + PARAM_BYTES_PER_CHANNEL;
    let width = if l.kind == LayerKind::Depthwise {
        u64::from(p.pf)
    } else {
        p.weight_width()
    };
    Buffer::new(BufKind::Weights, 2 * u64::from(p.pf) * per_filter, width)
}

/// Cycles of the SESL pipeline per image (FiBHA's fill + slowest-stage model, split into
/// segments at squeeze-and-excitation barriers).
pub fn sesl_pipeline_cycles(net: &Network, spec: &[SeslEngine], evals: &[EngineEval]) -> u64 {
    let mut total = 0.0;
    let mut segment: Vec<(f64, usize)> = Vec::new();
    let mut flush = |segment: &mut Vec<(f64, usize)>| {
        let Some(&(_, rows)) = segment.last() else {
            return;
        };
        let passes = rows.max(1) as f64;
        let mut fill = 0.0;
        let mut slowest = 0.0f64;
        for (i, &(cycles, _)) in segment.iter().enumerate() {
            slowest = slowest.max(cycles);
            if i + 1 < segment.len() {
                fill += slowest / passes;
            }
        }
        total += fill + slowest;
        segment.clear();
    };
    for (e, ev) in spec.iter().zip(evals) {
        let last_layer = *e.layers.last().expect("engines run at least one layer");
        segment.push((ev.cycles as f64, net.layers[last_layer].output.h));
        let barrier = e
            .stages
            .iter()
            .any(|s| net.layers[s.layer].kind == LayerKind::SqueezeExcite);
        if barrier {
            flush(&mut segment);
        }
    }
    flush(&mut segment);
    total.ceil() as u64
}

/// The SEML part's layers as its engines run them: an ADD fused into the pointwise layer
/// before it; a standard convolution as a pointwise layer over its K x K x C windows and a
/// squeeze-and-excitation as its two FCs and its scaling (both for the model's design
/// points only: the HLS engines run neither, `SemlPartHw::unsupported` says so).
pub(crate) fn seml_ops(net: &Network, layers: &[usize]) -> (Vec<(usize, SemlOp)>, Option<String>) {
    let mut ops: Vec<(usize, SemlOp)> = Vec::new();
    let mut unsupported = None;
    let pw = |input: Shape, output: Shape| SemlOp {
        depthwise: false,
        pool: false,
        residual: false,
        input,
        output,
        kernel: 1,
    };
    for &l in layers {
        let layer = &net.layers[l];
        let (i, o) = (layer.input, layer.output);
        match layer.kind {
            LayerKind::Pointwise => ops.push((l, pw(i, o))),
            LayerKind::Depthwise => ops.push((
                l,
                SemlOp {
                    depthwise: true,
                    pool: false,
                    residual: false,
                    input: i,
                    output: o,
                    kernel: layer.kernel,
                },
            )),
            LayerKind::GlobalPool => ops.push((
                l,
                SemlOp {
                    depthwise: true,
                    pool: true,
                    residual: false,
                    input: i,
                    output: o,
                    kernel: 1,
                },
            )),
            LayerKind::Conv => {
                unsupported.get_or_insert(format!(
                    "layer {} is a standard convolution, which the SEML engines do not run",
                    layer.name
                ));
                ops.push((
                    l,
                    pw(Shape::new(o.h, o.w, layer.kernel * layer.kernel * i.c), o),
                ));
            }
            LayerKind::SqueezeExcite => {
                unsupported.get_or_insert(format!(
                    "layer {} is a squeeze-and-excitation, which the SEML engines do not run",
                    layer.name
                ));
                let squeezed = Shape::new(1, 1, layer.se_channels);
                ops.push((l, pw(Shape::new(1, 1, i.c), squeezed)));
                ops.push((l, pw(squeezed, Shape::new(1, 1, i.c))));
                ops.push((
                    l,
                    SemlOp {
                        depthwise: true,
                        pool: false,
                        residual: false,
                        input: i,
                        output: o,
                        kernel: 1,
                    },
                ));
            }
            LayerKind::Add => match ops.last_mut() {
                Some((prev, op)) if !op.depthwise && layer.skip.is_some() && *prev + 1 == l => {
                    op.residual = true;
                }
                _ => {
                    unsupported.get_or_insert(format!(
                        "layer {} is an ADD that does not follow a pointwise layer, which the SEML engines do not fuse",
                        layer.name
                    ));
                }
            },
        }
    }
    (ops, unsupported)
}

/// The SEML part's parallelism from the design's engines.
fn seml_par(spec: &DesignSpec, ops: &[(usize, SemlOp)]) -> SemlPar {
    let par_of = |kind: LayerKind| spec.seml.iter().find(|(k, _)| *k == kind).map(|(_, p)| *p);
    let pw = par_of(LayerKind::Pointwise).unwrap_or(Par {
        pf: 16,
        ph: 1,
        pw: 1,
        pc: 16,
    });
    let dw = par_of(LayerKind::Depthwise).unwrap_or(Par { pf: 32, ..Par::ONE });
    let (pp, pe, kd) = (
        pw.pw.max(1),
        pw.pf.next_multiple_of(16),
        (dw.pf / 16).max(2),
    );
    let plain: Vec<SemlOp> = ops.iter().map(|(_, op)| *op).collect();
    let (rq_words, add_lanes, dw_rq_words) = seml::requantizers(pp, pe, kd, &plain);
    SemlPar {
        pp,
        pe,
        kd,
        rq_words,
        add_lanes,
        dw_rq_words,
    }
}

#[allow(clippy::too_many_arguments)]
fn seml_part(
    net: &Network,
    budget: &Budget,
    spec: &DesignSpec,
    split_layer: usize,
    sesl_bram: u32,
    engines: &mut Vec<EngineEval>,
    layers: &mut Vec<LayerEval>,
    problems: &mut Vec<String>,
) -> (f64, f64, Option<SemlPartHw>) {
    let f = budget.clock_hz;
    let seml_layers: Vec<usize> = (split_layer..net.layers.len()).collect();
    let (ops, unsupported) = seml_ops(net, &seml_layers);
    let par = seml_par(spec, &ops);
    let handoff = if split_layer == 0 {
        net.input
    } else {
        net.layers[split_layer - 1].output
    };
    let plain: Vec<SemlOp> = ops.iter().map(|(_, op)| *op).collect();
    // Feature maps: every map the part holds; the hand-off too.
    let mut maps: Vec<Shape> = vec![handoff];
    maps.extend(plain.iter().flat_map(|o| [o.input, o.output]));
    let depth = seml::fm_depth(par.pp, par.kd, &maps);
    let banks = seml::FM_COUNT * u64::from(par.pp * par.kd);
    let fm = Buffer::new(
        BufKind::FeatureMaps,
        banks * depth * seml::FM_LANES,
        banks * seml::FM_LANES,
    );
    let max_words = maps.iter().map(|m| seml::words(m.c)).max().unwrap_or(1);
    let max_taps = plain
        .iter()
        .filter(|o| o.depthwise)
        .map(|o| (o.kernel * o.kernel) as u64)
        .max()
        .unwrap_or(1);
    let pw_tiles = Buffer::new(
        BufKind::Weights,
        2 * u64::from(par.pe) * max_words * seml::FM_LANES,
        2 * u64::from(par.pe) * seml::FM_LANES,
    );
    let dw_weights = Buffer::new(
        BufKind::Weights,
        max_taps * max_words.div_ceil(u64::from(par.kd)) * u64::from(par.kd) * seml::FM_LANES,
        u64::from(par.kd) * seml::FM_LANES,
    );
    let handoff_words = (handoff.h * handoff.w) as u64 * seml::words(handoff.c);
    let handoff_fifo = Buffer::new(
        BufKind::Double,
        handoff_words * seml::FM_LANES,
        seml::FM_LANES,
    );
    let (per_op, total) = seml::program_cycles(&par, handoff, &plain);
    let handoff_cycles = if plain.is_empty() {
        0
    } else {
        seml::handoff_cycles(&par, handoff, &plain)
    };
    // Engines: the pointwise one holds the maps and the hand-off FIFO.
    let first_engine = engines.len();
    let kind_cycles = |depthwise: bool| -> u64 {
        plain
            .iter()
            .zip(&per_op)
            .filter(|(o, _)| o.depthwise == depthwise)
            .map(|(_, c)| *c)
            .sum()
    };
    let mine = |depthwise: bool| -> Vec<usize> {
        let mut v: Vec<usize> = ops
            .iter()
            .filter(|(_, o)| o.depthwise == depthwise)
            .map(|(l, _)| *l)
            .collect();
        v.dedup();
        v
    };
    for (kind, depthwise, macs, wide, buffers) in [
        (
            LayerKind::Pointwise,
            false,
            par.pw_macs(),
            par.pw_requantizers(),
            vec![fm, handoff_fifo, pw_tiles],
        ),
        (
            LayerKind::Depthwise,
            true,
            par.dw_macs(),
            par.dw_requantizers(),
            vec![dw_weights],
        ),
    ] {
        let layers_of = mine(depthwise);
        let stage_par = if depthwise {
            Par {
                pf: par.kd * 16,
                ..Par::ONE
            }
        } else {
            Par {
                pf: par.pe,
                ph: 1,
                pw: par.pp,
                pc: 16,
            }
        };
        engines.push(EngineEval {
            part: Part::Seml,
            kind: kind.short().to_string(),
            stages: vec![Stage {
                layer: layers_of.first().copied().unwrap_or(split_layer),
                par: stage_par,
            }],
            layers: layers_of,
            cycles: kind_cycles(depthwise),
            pes: macs,
            dsp: budget.dsp_for(macs) + wide * cost::DSP_PER_WIDE_MULTIPLY,
            buffers,
        });
    }
    let seml_bram: u32 = engines[first_engine..].iter().map(EngineEval::bram36).sum();
    if sesl_bram + seml_bram > budget.bram36 {
        problems.push(format!(
            "the SEML part's on-chip feature maps ({} KiB in {} BRAM36) and weight tiles need {seml_bram} BRAM36; \
             the budget of {} leaves {} after the SESL part's {sesl_bram}",
            fm.bytes / 1024,
            fm.bram36,
            budget.bram36,
            budget.bram36.saturating_sub(sesl_bram)
        ));
    }
    // Per layer: its engine phases, and the DDR its parameters move.
    let mut by_layer: Vec<(usize, u64, u64)> = Vec::new();
    for ((l, op), cycles) in ops.iter().zip(&per_op) {
        let bytes = seml::blob_beats(op, par.pe) * 16;
        match by_layer.last_mut() {
            Some(last) if last.0 == *l => {
                last.1 += cycles;
                last.2 += bytes;
            }
            _ => by_layer.push((*l, *cycles, bytes)),
        }
    }
    for (l, cycles, bytes) in by_layer {
        let engine = if matches!(
            net.layers[l].kind,
            LayerKind::Depthwise | LayerKind::GlobalPool
        ) {
            first_engine + 1
        } else {
            first_engine
        };
        layers.push(LayerEval {
            layer: l,
            engine,
            cycles,
            ddr_bytes: bytes,
            seconds: cycles as f64 / f,
            bound: Bound::Compute,
            spilled: false,
        });
    }
    for &l in &seml_layers {
        if net.layers[l].kind == LayerKind::Add {
            layers.push(LayerEval {
                layer: l,
                engine: first_engine,
                cycles: 0,
                ddr_bytes: 0,
                seconds: 0.0,
                bound: Bound::Compute,
                spilled: false,
            });
        }
    }
    if let Some(last) = layers
        .iter_mut()
        .rev()
        .find(|le| le.engine >= first_engine && le.cycles > 0)
    {
        // Whole 16-channel words per pixel.
        last.ddr_bytes += plain.last().map_or(0, |o| {
            (o.output.h * o.output.w) as u64 * seml::words(o.output.c) * seml::FM_LANES
        });
    }
    let hw = SemlPartHw {
        par,
        max_pixels: maps.iter().map(|m| (m.h * m.w) as u64).max().unwrap_or(1),
        max_words,
        fm_depth: depth,
        max_taps,
        handoff_words,
        unsupported,
    };
    (total as f64 / f, handoff_cycles as f64 / f, Some(hw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Board, Overrides};
    use crate::network::tests::layer;
    use crate::network::{ModelSource, Shape};

    /// One MobileNetV2 bottleneck 56x56x24, t = 6, stride 1, with its residual.
    fn bottleneck_net() -> Network {
        let i = Shape::new(56, 56, 24);
        let e = Shape::new(56, 56, 144);
        let mut add = layer(LayerKind::Add, i, 24, 1, 1);
        add.skip = None;
        let layers = vec![
            layer(LayerKind::Pointwise, i, 144, 1, 1),
            layer(LayerKind::Depthwise, e, 0, 3, 1),
            layer(LayerKind::Pointwise, e, 24, 1, 1),
            add,
        ];
        let src = ModelSource::Topology {
            file: "b".into(),
            sha256: String::new(),
            reference: String::new(),
        };
        Network::new("b".into(), src, i, layers, vec![]).unwrap()
    }

    fn fm_bytes(ev: &Evaluation) -> u64 {
        ev.fm_bytes
    }

    #[test]
    fn firb_versus_traditional_buffers_by_hand() {
        // With one PE per stage (ph = 1):
        // traditional: expand line 24 + expand double 2*1*56*144 = 16,128
        //   + DW line (2*56 + 3)*144 = 16,560 + DW double 16,128
        //   + project line 144 + project double 2*1*56*24 = 2,688
        //   + skip (3-1)/2+1 = 2 rows * 56 * 24 = 2,688            = 54,360 bytes
        // FIRB: expand line 24 + DW line 16,560 + DW drain (SAME pads 2 rows, 1 below)
        //   1 * 56 * 144 = 8,064 + project double 2,688 + skip 2,688  = 30,024 bytes
        // FIRB saves 24,336 / 54,360 = 44.8 %.
        let net = bottleneck_net();
        let budget = Budget::new(&Board::resolve("zcu102").unwrap(), Overrides::default()).unwrap();
        let units = net.units();
        let firb = DesignSpec {
            split_units: 1,
            sesl: sesl_engines(&net, &units, true),
            seml: vec![],
        };
        let trad = firb.without_firb(&net);
        assert_eq!(firb.sesl.len(), 1);
        assert_eq!(trad.sesl.len(), 3);
        assert_eq!(
            trad,
            DesignSpec {
                sesl: sesl_engines(&net, &units, false),
                ..firb.clone()
            }
        );
        let ef = evaluate(&net, &budget, &firb);
        let et = evaluate(&net, &budget, &trad);
        assert_eq!(fm_bytes(&et), 54_360);
        assert_eq!(fm_bytes(&ef), 30_024);
        // Weights are the same: 24*144 + 9*144 + 144*9 + 9*144 + 144*24 + 9*24.
        assert_eq!(ef.weight_bytes, et.weight_bytes);
        assert_eq!(ef.weight_bytes, 3456 + 1296 + 1296 + 1296 + 3456 + 216);
    }

    #[test]
    fn sesl_pipeline_time_by_hand() {
        // The bottleneck as three single-PE engines, passes = 56 output rows:
        // expand 144*56*56*24 = 10,838,016; DW 144*56*56*9 = 4,064,256;
        // project 24*56*56*144 = 10,838,016 cycles.
        // fill = max(e)/56 + max(e, dw)/56 = 2 * 193,536 = 387,072; slowest 10,838,016.
        let net = bottleneck_net();
        let budget = Budget::new(&Board::resolve("zcu102").unwrap(), Overrides::default()).unwrap();
        let spec = DesignSpec {
            split_units: 1,
            sesl: sesl_engines(&net, &net.units(), false),
            seml: vec![],
        };
        let ev = evaluate(&net, &budget, &spec);
        let cycles: Vec<u64> = ev.engines.iter().map(|e| e.cycles).collect();
        assert_eq!(cycles, [10_838_016, 4_064_256, 10_838_016]);
        assert_eq!(
            sesl_pipeline_cycles(&net, &spec.sesl, &ev.engines),
            11_225_088
        );
        assert!((ev.t_sesl - 11_225_088.0 / 200e6).abs() < 1e-12);
        assert_eq!(ev.latency, ev.t_sesl);
        // A pure SESL design overlaps images: its period is the slowest stage alone.
        assert!((ev.period - 10_838_016.0 / 200e6).abs() < 1e-12);
    }
}
