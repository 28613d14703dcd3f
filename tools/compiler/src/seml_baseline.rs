//! The SEML baseline as the FiBHA papers define it, the design FiBHA is compared with.
//!
//! One reusable engine per layer kind the network has (standard convolution, pointwise,
//! depthwise), each unrolling output filters `pf`, output rows `ph` and columns `pw` (a
//! square pixel tile, as the authors' pointwise engine's 8 filters x 4 x 4 pixels) and, for
//! the convolutions, input channels `pc`; cycles by FiBHA's per-layer formula
//! ([`cost::conv_cycles`]). What it shares with fibha's own designs: the budget, the
//! requantizers charged as DSP slices by the same rule as a dedicated stage's
//! ([`cost::requant_lanes`] over the engine's fastest output vector, four multiplies a lane
//! for the pointwise engine of a network with residual ADDs), the BRAM mapping and the
//! DDR bandwidth of the generated design's ports.
//!
//! - Feature maps stay on chip (why FiBHA cuts the SEML design's feature-map buffering):
//!   the store holds, at its fullest, the maps live while a layer (or an overlapped pair)
//!   runs: its input, its output, and every residual input held for a later ADD.
//! - Each depthwise layer runs overlapped with the pointwise layer that consumes it (the
//!   authors' SEML does): the pair takes the slower of the two. Every other layer runs
//!   alone, one after another; an ADD is fused into the write-back of the layer before it.
//! - Weights and per-channel parameters are read from DDR once per image, into a
//!   double-buffered tile of `pf` filters per engine; a layer takes the longer of its
//!   compute and its DDR traffic at the ports' bandwidth (the image in and the last map out
//!   count too).
//! - One image at a time: the engines are shared by all layers, so no second image can
//!   enter before the first leaves, and the pipelined throughput equals the batch-1 one.
//!
//! The search takes the parallelism of the three engines that minimizes the latency within
//! the PEs of the budget (requantizers counted in MAC units, as the planner counts them).

use crate::board::Budget;
use crate::cost::{self, BufKind, Buffer, Frontier, PARAM_BYTES_PER_CHANNEL, Par, Point};
use crate::design::{Bound, EngineEval, Evaluation, LayerEval, Part, Stage};
use crate::network::{LayerKind, Network, Shape};

/// The engine kinds of the baseline, in the order their parallelism is chosen.
const KINDS: [LayerKind; 3] = [LayerKind::Conv, LayerKind::Pointwise, LayerKind::Depthwise];

/// Pixel tiles (`ph` = `pw`) the engines may unroll: the divisors of the 7-multiples a
/// compact CNN's maps have, and the powers of two.
const PIXEL_TILES: [u32; 6] = [1, 2, 4, 7, 8, 14];

/// The baseline's design: one parallelism per engine kind the network has.
#[derive(Clone, Debug, PartialEq)]
pub struct SemlBaseline {
    /// Each engine's kind and parallelism.
    pub engines: Vec<(LayerKind, Par)>,
    /// Its modelled figures.
    pub eval: Evaluation,
}

/// One piece of a layer's work: (engine kind, F, Ho, Wo, Ci, K), see [`cost::pieces`].
type Piece = (LayerKind, usize, usize, usize, usize, usize);

/// The network as the baseline runs it: each layer's pieces and DDR bytes, and which
/// layers run as overlapped pairs.
struct Workload<'n> {
    net: &'n Network,
    pieces: Vec<Vec<Piece>>,
    ddr: Vec<u64>,
    /// Layer index ranges run as one step: a single layer, or a depthwise layer and the
    /// pointwise layer that consumes it.
    steps: Vec<(usize, usize)>,
    residual: bool,
}

impl<'n> Workload<'n> {
    fn new(net: &'n Network) -> Workload<'n> {
        let n = net.layers.len();
        let pieces: Vec<Vec<Piece>> = net.layers.iter().map(cost::pieces).collect();
        let mut ddr: Vec<u64> = net
            .layers
            .iter()
            .map(|l| l.weight_bytes() + PARAM_BYTES_PER_CHANNEL * l.param_channels())
            .collect();
        if let Some(first) = ddr.first_mut() {
            *first += net.input.bytes();
        }
        // The last map leaves while the last layer that computes writes it (an ADD after
        // it is fused into that write-back).
        if let (Some(last), Some(l)) = (
            (0..n).rev().find(|&i| !pieces[i].is_empty()),
            net.layers.last(),
        ) {
            ddr[last] += l.output.bytes();
        }
        let mut steps = Vec::new();
        let mut i = 0;
        while i < n {
            let l = &net.layers[i];
            let pairs = l.kind == LayerKind::Depthwise
                && net.layers.get(i + 1).is_some_and(|next| {
                    next.kind == LayerKind::Pointwise && next.input == l.output
                });
            let end = if pairs { i + 1 } else { i };
            steps.push((i, end));
            i = end + 1;
        }
        Workload {
            net,
            pieces,
            ddr,
            steps,
            residual: net.layers.iter().any(|l| l.kind == LayerKind::Add),
        }
    }

    fn kinds(&self) -> Vec<LayerKind> {
        KINDS
            .into_iter()
            .filter(|k| self.pieces.iter().flatten().any(|p| p.0 == *k))
            .collect()
    }

    /// Cycles of layer `l` with the engines at `pars` (indexed like [`KINDS`]).
    fn layer_cycles(&self, l: usize, pars: &[Par; 3]) -> u64 {
        self.pieces[l]
            .iter()
            .map(|&(kind, f, ho, wo, ci, k)| {
                cost::conv_cycles(f, ho, wo, ci, k, pars[kind_index(kind)])
            })
            .sum()
    }

    /// Seconds of layer `l`: its compute or its DDR traffic, whichever is longer.
    fn layer_seconds(&self, l: usize, pars: &[Par; 3], budget: &Budget) -> (u64, f64, Bound) {
        let cycles = self.layer_cycles(l, pars);
        let compute = cycles as f64 / budget.clock_hz;
        let memory = self.ddr[l] as f64 / budget.ddr_bytes_per_s;
        if memory > compute {
            (cycles, memory, Bound::Memory)
        } else {
            (cycles, compute, Bound::Compute)
        }
    }

    /// Seconds of one image: the steps one after another, a pair's layers overlapped.
    fn latency(&self, pars: &[Par; 3], budget: &Budget) -> f64 {
        self.steps
            .iter()
            .map(|&(a, b)| {
                (a..=b)
                    .map(|l| self.layer_seconds(l, pars, budget).1)
                    .fold(0.0, f64::max)
            })
            .sum()
    }

    /// Cycles the engine of `kind` has to requantize one output vector, at its fastest.
    fn cycles_per_vector(&self, kind: LayerKind, p: Par) -> u64 {
        self.pieces
            .iter()
            .flatten()
            .filter(|piece| piece.0 == kind)
            .map(|&(_, _, _, _, ci, k)| {
                let ci = if kind == LayerKind::Depthwise { 1 } else { ci };
                (k * k) as u64 * ci.div_ceil(p.pc as usize) as u64
            })
            .min()
            .unwrap_or(1)
    }

    /// 32 x 32-bit multiplies of the engine of `kind` at `p`.
    fn requantizers(&self, kind: LayerKind, p: Par) -> u32 {
        let lanes = p.pf * p.ph * p.pw;
        let adds = self.residual && kind == LayerKind::Pointwise;
        cost::requant_lanes(lanes, self.cycles_per_vector(kind, p)) * if adds { 4 } else { 1 }
    }

    /// The frontier of one engine: cost = the cycles of its pieces alone, PEs with its
    /// requantizers.
    fn frontier(&self, kind: LayerKind, budget: &Budget) -> Frontier {
        let depthwise = kind == LayerKind::Depthwise;
        let powers: Vec<u32> = (0..=10).map(|e| 1u32 << e).collect();
        let mut points = Vec::new();
        for &pf in &powers {
            for &tile in &PIXEL_TILES {
                for &pc in if depthwise { &powers[..1] } else { &powers[..] } {
                    let par = Par {
                        pf,
                        ph: tile,
                        pw: tile,
                        pc,
                    };
                    let pes = par.pes()
                        + cost::wide_pes(self.requantizers(kind, par), budget.macs_per_dsp);
                    if pes > budget.pes() {
                        continue;
                    }
                    points.push(Point {
                        pes,
                        cost: self.engine_cycles(kind, par, 0..self.pieces.len()) as f64,
                        par,
                    });
                }
            }
        }
        points.sort_by(|a, b| (a.pes, u32::MAX - a.par.pf).cmp(&(b.pes, u32::MAX - b.par.pf)));
        Frontier::from_sorted(points)
    }

    /// Cycles the engine of `kind` at `p` spends on `layers`' pieces.
    fn engine_cycles(
        &self,
        kind: LayerKind,
        p: Par,
        layers: impl IntoIterator<Item = usize>,
    ) -> u64 {
        layers
            .into_iter()
            .flat_map(|l| &self.pieces[l])
            .filter(|piece| piece.0 == kind)
            .map(|&(_, f, ho, wo, ci, k)| cost::conv_cycles(f, ho, wo, ci, k, p))
            .sum()
    }

    /// Bytes of the maps live while step (a, b) runs: its input and output, and every
    /// residual input a later ADD still needs.
    fn live_bytes(&self, (a, b): (usize, usize)) -> u64 {
        let layers = &self.net.layers;
        let held: u64 = layers
            .iter()
            .enumerate()
            .filter(|(j, l)| l.kind == LayerKind::Add && *j > b)
            .filter_map(|(_, add)| match add.skip {
                None if a > 0 => Some(self.net.input),
                Some(s) if s + 1 < a => Some(layers[s].output),
                _ => None,
            })
            .map(Shape::bytes)
            .sum();
        layers[a].input.bytes() + layers[b].output.bytes() + held
    }
}

fn kind_index(kind: LayerKind) -> usize {
    match kind {
        LayerKind::Conv => 0,
        LayerKind::Pointwise => 1,
        _ => 2,
    }
}

/// The fastest baseline within `budget`, or the smallest one (reported as not fitting)
/// when none fits.
pub fn plan(net: &Network, budget: &Budget) -> SemlBaseline {
    let w = Workload::new(net);
    let kinds = w.kinds();
    let fronts: Vec<(LayerKind, Frontier)> =
        kinds.iter().map(|&k| (k, w.frontier(k, budget))).collect();
    let mut best: Option<(f64, [Par; 3])> = None;
    let mut pars = [Par::ONE; 3];
    search(&w, budget, &fronts, budget.pes(), &mut pars, &mut best);
    let pars = best.map_or([Par::ONE; 3], |(_, p)| p);
    let engines = kinds.iter().map(|&k| (k, pars[kind_index(k)])).collect();
    evaluate_workload(&w, budget, engines)
}

/// Tries every frontier point of the first engine in `fronts` and recurses; the last
/// engine takes its best point within the PEs left (more PEs never slow it).
fn search(
    w: &Workload,
    budget: &Budget,
    fronts: &[(LayerKind, Frontier)],
    pes: u32,
    pars: &mut [Par; 3],
    best: &mut Option<(f64, [Par; 3])>,
) {
    let Some(((kind, front), rest)) = fronts.split_first() else {
        let t = w.latency(pars, budget);
        if best.as_ref().is_none_or(|(b, _)| t < *b) {
            *best = Some((t, *pars));
        }
        return;
    };
    if rest.is_empty() {
        if let Some(i) = front.best_within(pes) {
            pars[kind_index(*kind)] = front.points[i].par;
            search(w, budget, rest, 0, pars, best);
        }
        return;
    }
    for p in front.points.iter().take_while(|p| p.pes < pes) {
        pars[kind_index(*kind)] = p.par;
        search(w, budget, rest, pes - p.pes, pars, best);
    }
}

/// The baseline's figures with its engines at `engines`.
pub fn evaluate(net: &Network, budget: &Budget, engines: Vec<(LayerKind, Par)>) -> SemlBaseline {
    evaluate_workload(&Workload::new(net), budget, engines)
}

fn evaluate_workload(
    w: &Workload,
    budget: &Budget,
    engines: Vec<(LayerKind, Par)>,
) -> SemlBaseline {
    let net = w.net;
    let mut pars = [Par::ONE; 3];
    for &(k, p) in &engines {
        pars[kind_index(k)] = p;
    }
    let mut layers = Vec::new();
    let mut engine_evals: Vec<EngineEval> = Vec::new();
    for &(kind, par) in &engines {
        let mine: Vec<usize> = (0..net.layers.len())
            .filter(|&l| w.pieces[l].iter().any(|p| p.0 == kind))
            .collect();
        let per_filter = mine
            .iter()
            .map(|&l| {
                let layer = &net.layers[l];
                layer.weight_bytes() / layer.param_channels().max(1) + PARAM_BYTES_PER_CHANNEL
            })
            .max()
            .unwrap_or(0);
        let width = if kind == LayerKind::Depthwise {
            u64::from(par.pf)
        } else {
            par.weight_width()
        };
        let wide = w.requantizers(kind, par);
        engine_evals.push(EngineEval {
            part: Part::Seml,
            kind: kind.short().to_string(),
            stages: vec![Stage {
                layer: mine.first().copied().unwrap_or(0),
                par,
            }],
            cycles: w.engine_cycles(kind, par, mine.iter().copied()),
            layers: mine,
            pes: par.pes(),
            dsp: budget.dsp_for(par.pes()) + wide * cost::DSP_PER_WIDE_MULTIPLY,
            buffers: vec![Buffer::new(
                BufKind::Weights,
                2 * u64::from(par.pf) * per_filter,
                width,
            )],
        });
    }
    let engine_of = |l: usize| {
        let kind = w.pieces[l].first().map_or(LayerKind::Pointwise, |p| p.0);
        engines.iter().position(|(k, _)| *k == kind).unwrap_or(0)
    };
    for l in 0..net.layers.len() {
        let (cycles, seconds, bound) = w.layer_seconds(l, &pars, budget);
        layers.push(LayerEval {
            layer: l,
            engine: engine_of(l),
            cycles,
            ddr_bytes: w.ddr[l],
            seconds,
            bound,
            spilled: false,
        });
    }
    // The feature-map store, read and written as wide as the widest engine's tile.
    let fm_width = engines
        .iter()
        .map(|&(k, p)| p.input_width(k).max(p.output_width()))
        .max()
        .unwrap_or(1);
    let fm_bytes = w.steps.iter().map(|&s| w.live_bytes(s)).max().unwrap_or(0);
    let store = Buffer::new(BufKind::FeatureMaps, fm_bytes, fm_width);
    if let Some(first) = engine_evals.first_mut() {
        first.buffers.insert(0, store);
    }
    let latency = w.latency(&pars, budget);
    let pes: u32 = engine_evals.iter().map(|e| e.pes).sum();
    let dsp: u32 = engine_evals.iter().map(|e| e.dsp).sum();
    let bram36: u32 = engine_evals.iter().map(EngineEval::bram36).sum();
    let weight_bytes = engine_evals
        .iter()
        .flat_map(|e| &e.buffers)
        .filter(|b| b.kind == BufKind::Weights)
        .map(|b| b.bytes)
        .sum();
    let mut problems = Vec::new();
    if dsp > budget.dsp {
        problems.push(format!(
            "needs {dsp} DSP slices ({pes} PEs), budget is {}",
            budget.dsp
        ));
    }
    if bram36 > budget.bram36 {
        problems.push(format!(
            "its on-chip feature maps ({} KiB in {} BRAM36) and weight tiles need {bram36} BRAM36, budget is {}",
            fm_bytes / 1024,
            store.bram36,
            budget.bram36
        ));
    }
    let utilization = if pes > 0 && latency > 0.0 {
        net.macs() as f64 / (f64::from(pes) * latency * budget.clock_hz)
    } else {
        0.0
    };
    SemlBaseline {
        engines,
        eval: Evaluation {
            engines: engine_evals,
            layers,
            t_sesl: 0.0,
            t_sesl_steady: 0.0,
            t_seml: latency,
            period: latency,
            latency,
            pes,
            dsp,
            bram36,
            fm_bytes,
            weight_bytes,
            ddr_bytes: w.ddr.iter().sum(),
            utilization,
            problems,
            seml_part: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Board, Overrides};
    use crate::network::ModelSource;
    use crate::network::tests::layer;

    /// One MobileNetV2 bottleneck 56x56x24, t = 6, stride 1, with its residual ADD.
    fn bottleneck() -> Network {
        let i = Shape::new(56, 56, 24);
        let e = Shape::new(56, 56, 144);
        let layers = vec![
            layer(LayerKind::Pointwise, i, 144, 1, 1),
            layer(LayerKind::Depthwise, e, 0, 3, 1),
            layer(LayerKind::Pointwise, e, 24, 1, 1),
            layer(LayerKind::Add, i, 24, 1, 1),
        ];
        let src = ModelSource::Topology {
            file: "b".into(),
            sha256: String::new(),
            reference: String::new(),
        };
        Network::new("b".into(), src, i, layers, vec![]).unwrap()
    }

    #[test]
    fn residual_inputs_stay_live_and_adds_cost_multiplies() {
        // Expand: 56*56*24 = 75,264 in, 56*56*144 = 451,584 out. DW overlapped with the
        // projection: 451,584 in, 75,264 out, and the block input held for the ADD,
        // 75,264: 602,112 bytes at the fullest.
        let net = bottleneck();
        let budget = Budget::new(&Board::resolve("zcu102").unwrap(), Overrides::default()).unwrap();
        let p = Par {
            pf: 8,
            ph: 1,
            pw: 1,
            pc: 8,
        };
        let dw = Par { pf: 8, ..Par::ONE };
        let b = evaluate(
            &net,
            &budget,
            vec![(LayerKind::Pointwise, p), (LayerKind::Depthwise, dw)],
        );
        assert_eq!(b.eval.fm_bytes, 602_112);
        // PW: 8 lanes every 24/8 = 3 cycles need 4 requantizers, each with the ADD's three
        // more multiplies: 16 x 4 DSP; DW: 8 lanes every 9 cycles, 1 requantizer: 4 DSP.
        assert_eq!(b.eval.engines[0].dsp, 64 + 16 * 4);
        assert_eq!(b.eval.engines[1].dsp, 8 + 4);
        // The ADD is fused: it costs no cycles of its own.
        assert_eq!(b.eval.layers[3].cycles, 0);
        // Expand 144/8 * 56 * 56 * 24/8 = 169,344; DW 18 * 3,136 * 9 = 508,032 overlapped
        // with the projection 3 * 3,136 * 18 = 169,344: 677,376 cycles.
        assert!((b.eval.latency - 677_376.0 / 200e6).abs() < 1e-12);
    }
}
