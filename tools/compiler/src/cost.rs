//! The per-layer performance and resource model: compute cycles from an engine's
//! parallelism, on-chip buffer sizes, and the mapping of buffers onto block RAM.
//!
//! - A processing element (PE) performs one int8 multiply-accumulate per cycle and occupies
//!   one DSP slice (two PEs per DSP48E2 with the operand-sharing packing, an option).
//! - An engine's parallelism [`Par`] unrolls output filters (`pf`), output rows (`ph`),
//!   output columns (`pw`) and input channels (`pc`); the KxK window is walked sequentially
//!   (`Pk = 1`). Cycles = ceil(F/pf) * ceil(Ho/ph) * ceil(Wo/pw) * ceil(Ci/pc) * K^2, with
//!   Ci = 1 for depthwise layers (their engines have `pc = 1`). This is FiBHA's analytical
//!   model (shared/REFERENCE.md) with Pk fixed at 1.
//! - The candidates the planner chooses from are the parallelism the HLS templates
//!   implement: output channels (`t_Pe`, and `t_Simd` of a depthwise engine) times input
//!   channels (`t_Simd`), one output pixel at a time, so `ph = pw = 1`; a dedicated engine's
//!   factors divide its layer's channel counts (the templates `static_assert` it), a
//!   reusable engine's need not (its tiles handle ragged edges). A FIRB engine's expand
//!   stage writes one line-buffer word per pass, so its `pf` equals the depthwise stage's
//!   ([`firb_front_frontier`]).
//! - Requantizers: each stage turns its accumulators into int8 with as few requantizers
//!   as keep up (`requant_lanes`: one vector of `pf` lanes every K^2 x Ci / pc cycles), one
//!   32 x 32-bit multiply each, and a residual ADD three more per lane; a 32 x 32-bit
//!   multiply occupies [`DSP_PER_WIDE_MULTIPLY`] DSP slices. A frontier point's PEs count
//!   them in MAC units, so the planner trades them against multiply-accumulates.
//! - Buffers map onto BRAM36 blocks used as 512 x 72-bit memories, 8 data bytes per word:
//!   a buffer read `width` bytes per cycle is split into ceil(width / 8) columns, each
//!   column needs ceil(bytes per column / 4096) BRAM36; a column of at most 64 words is left
//!   to LUTRAM and costs no BRAM.
//!
//! Invariant: every function here is pure and total for non-zero shapes and parallelism.

use serde::{Deserialize, Serialize};

use crate::network::{Layer, LayerKind};

/// Data bytes a BRAM36 holds in 512 x 72 (or 4K x 9) mode, parity bits unused.
pub const BRAM36_BYTES: u64 = 4096;
/// Data bytes one BRAM36 port delivers per cycle (72-bit port, 64 data bits).
pub const BRAM36_PORT_BYTES: u64 = 8;
/// Columns of at most this many 8-byte words go to LUTRAM instead of BRAM.
pub const LUTRAM_MAX_WORDS: u64 = 64;
/// Bytes of per-output-channel parameters kept next to the weights: int32 bias, int32
/// multiplier, int8 shift.
pub const PARAM_BYTES_PER_CHANNEL: u64 = 9;

/// DSP48E2 slices of one 32 x 32-bit multiply (a requantizer's, or an ADD's rescaling):
/// 2 x 2 partial products of the slice's 27 x 18 multiplier (AMD UG579), as
/// `hls/include/fibha/resources.hpp`'s `kDspPerWideMultiply`.
pub const DSP_PER_WIDE_MULTIPLY: u32 = 4;

/// The fewest requantizers (a divisor of `lanes`) that keep up with one vector of `lanes`
/// every `cycles` cycles (`fibha::requant_lanes`).
pub fn requant_lanes(lanes: u32, cycles: u64) -> u32 {
    (1..lanes)
        .find(|&r| lanes.is_multiple_of(r) && u64::from(lanes / r) <= cycles)
        .unwrap_or(lanes)
}

/// 32 x 32-bit multiplies of a dedicated stage's requantizer for layer `l` at `p`: one per
/// requantizer, four with the residual ADD (`Requant::kMultipliersPerCycle`).
pub fn stage_requantizers(l: &Layer, p: Par, residual: bool) -> u32 {
    let cycles_per_vector = match l.kind {
        LayerKind::Depthwise => (l.kernel * l.kernel) as u64,
        _ => ((l.kernel * l.kernel * l.input.c) as u64).div_ceil(u64::from(p.pc)),
    };
    requant_lanes(p.pf, cycles_per_vector) * if residual { 4 } else { 1 }
}

/// PE-equivalents (int8 MACs per cycle) of `wide` 32 x 32-bit multiplies: the DSP slices
/// they occupy, times the MACs one slice performs.
pub fn wide_pes(wide: u32, macs_per_dsp: u32) -> u32 {
    wide * DSP_PER_WIDE_MULTIPLY * macs_per_dsp
}

/// Parallelism of an engine (or of one stage of a FIRB engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Par {
    /// Output filters (channels for depthwise) in parallel.
    pub pf: u32,
    /// Output rows in parallel (rows per pass).
    pub ph: u32,
    /// Output columns in parallel.
    pub pw: u32,
    /// Input channels in parallel (1 for depthwise).
    pub pc: u32,
}

impl Par {
    /// One PE.
    pub const ONE: Par = Par {
        pf: 1,
        ph: 1,
        pw: 1,
        pc: 1,
    };

    /// Processing elements.
    pub fn pes(self) -> u32 {
        self.pf * self.ph * self.pw * self.pc
    }

    /// Bytes of input activations read per cycle.
    pub fn input_width(self, kind: LayerKind) -> u64 {
        let lanes = if kind == LayerKind::Depthwise {
            self.pf
        } else {
            self.pc
        };
        u64::from(self.ph * self.pw * lanes)
    }

    /// Bytes of output activations written per cycle at most.
    pub fn output_width(self) -> u64 {
        u64::from(self.ph * self.pw * self.pf)
    }

    /// Bytes of weights read per cycle.
    pub fn weight_width(self) -> u64 {
        u64::from(self.pf * self.pc)
    }
}

impl std::fmt::Display for Par {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}x{}", self.pf, self.ph, self.pw, self.pc)
    }
}

fn cdiv(a: usize, b: u32) -> u64 {
    a.div_ceil(b as usize) as u64
}

/// Cycles of a convolution-like loop nest: F filters, Ho x Wo outputs, Ci inputs, KxK.
pub fn conv_cycles(f: usize, ho: usize, wo: usize, ci: usize, k: usize, p: Par) -> u64 {
    cdiv(f, p.pf) * cdiv(ho, p.ph) * cdiv(wo, p.pw) * cdiv(ci, p.pc) * (k * k) as u64
}

/// The pieces of a layer's computation, as (engine kind, F, Ho, Wo, Ci, K).
///
/// A squeeze-and-excitation layer is two 1x1 FCs on a 1x1 map (PW work) and a per-channel
/// scaling of the map (a 1x1 depthwise with the excitation as weights); the global average
/// is accumulated as the map streams in and costs no PE cycles.
pub fn pieces(l: &Layer) -> Vec<(LayerKind, usize, usize, usize, usize, usize)> {
    let (o, i) = (l.output, l.input);
    match l.kind {
        LayerKind::Conv | LayerKind::Pointwise => {
            vec![(l.kind, o.c, o.h, o.w, i.c, l.kernel)]
        }
        LayerKind::Depthwise => vec![(l.kind, o.c, o.h, o.w, 1, l.kernel)],
        LayerKind::Add => Vec::new(),
        // One tap per input pixel and channel, as the SE's scaling.
        LayerKind::GlobalPool => vec![(LayerKind::Depthwise, i.c, i.h, i.w, 1, 1)],
        LayerKind::SqueezeExcite => vec![
            (LayerKind::Pointwise, l.se_channels, 1, 1, o.c, 1),
            (LayerKind::Pointwise, o.c, 1, 1, l.se_channels, 1),
            (LayerKind::Depthwise, o.c, o.h, o.w, 1, 1),
        ],
    }
}

/// Cycles of a layer on a dedicated engine with parallelism `p` (0 for ADD, which is fused
/// into the write-back of the projection before it).
pub fn layer_cycles(l: &Layer, p: Par) -> u64 {
    pieces(l)
        .into_iter()
        .map(|(kind, f, ho, wo, ci, k)| {
            let p = if kind == LayerKind::Depthwise {
                Par { pc: 1, ..p }
            } else {
                p
            };
            conv_cycles(f, ho, wo, ci, k, p)
        })
        .sum()
}

/// Cycles of the pieces of layer `l` that an engine of kind `engine` runs (SEML engines
/// share a layer's pieces: an SE's FCs on the PW engine, its scaling on the DW engine).
pub fn piece_cycles(l: &Layer, engine: LayerKind, p: Par) -> u64 {
    pieces(l)
        .into_iter()
        .filter(|piece| piece.0 == engine)
        .map(|(_, f, ho, wo, ci, k)| conv_cycles(f, ho, wo, ci, k, p))
        .sum()
}

/// The engine kinds that run a layer's pieces.
pub fn engine_kinds(l: &Layer) -> Vec<LayerKind> {
    let mut kinds: Vec<LayerKind> = pieces(l).into_iter().map(|p| p.0).collect();
    kinds.sort_by_key(|k| *k as u8);
    kinds.dedup();
    kinds
}

/// BRAM36 blocks for a buffer of `bytes` accessed `width` bytes per cycle.
pub fn bram36(bytes: u64, width: u64) -> u32 {
    if bytes == 0 {
        return 0;
    }
    let cols = width.div_ceil(BRAM36_PORT_BYTES).max(1);
    let per_col = bytes.div_ceil(cols);
    if per_col.div_ceil(BRAM36_PORT_BYTES) <= LUTRAM_MAX_WORDS {
        return 0;
    }
    (cols * per_col.div_ceil(BRAM36_BYTES)) as u32
}

/// What a buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufKind {
    /// Sliding-window line buffer: (K-1) rows plus K pixels of the input, all channels.
    Line,
    /// Ping-pong buffer of one pass of output rows between pipelined engines.
    Double,
    /// Residual: the bottleneck's input rows held until the ADD.
    Skip,
    /// FIRB: the depthwise input rows the expansion writes while the window generator
    /// emits the previous image's last output rows over the SAME padding below it.
    Drain,
    /// A whole feature map (SE needs the complete map before it can scale it).
    Frame,
    /// Weights and per-channel parameters.
    Weights,
    /// SEML: the on-chip feature-map store shared by the reusable engines.
    FeatureMaps,
    /// SEML: double-buffered row tiles of layers whose maps are spilled to DDR.
    SpillTiles,
}

impl BufKind {
    /// Whether the buffer holds activations (feature maps) rather than weights.
    pub fn is_feature_map(self) -> bool {
        self != BufKind::Weights
    }
}

/// One on-chip buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffer {
    /// What it holds.
    pub kind: BufKind,
    /// Bytes.
    pub bytes: u64,
    /// Bytes accessed per cycle (sets the BRAM column count).
    pub width: u64,
    /// BRAM36 blocks.
    pub bram36: u32,
}

impl Buffer {
    /// A buffer and its BRAM cost.
    pub fn new(kind: BufKind, bytes: u64, width: u64) -> Buffer {
        Buffer {
            kind,
            bytes,
            width,
            bram36: bram36(bytes, width),
        }
    }
}

/// Line buffer of a KxK window over the layer's input: ((K-1) * W + K) * C bytes.
pub fn line_buffer(l: &Layer, p: Par) -> Buffer {
    let i = l.input;
    let bytes = ((l.kernel - 1) * i.w + l.kernel) as u64 * i.c as u64;
    Buffer::new(BufKind::Line, bytes, p.input_width(l.kind))
}

/// The drain buffer of a FIRB's depthwise layer: its bottom padding rows of input (SAME:
/// the larger half of the padding, as the FIRB's window geometry puts it), all channels. Without it the expansion stalls while the window generator finishes an image
/// over its bottom padding, and the next image's first rows come that much later: the
/// timed C simulation put ProxylessNAS-Mobile's 18-engine SESL chain (7x7 and 5x5
/// kernels) at 141,261 cycles an image instead of its slowest engine's 73,738.
pub fn drain_buffer(l: &Layer, p: Par) -> Buffer {
    let i = l.input;
    let total = ((l.output.h - 1) * l.stride + l.kernel).saturating_sub(i.h);
    let rows = (total - total / 2) as u64;
    Buffer::new(
        BufKind::Drain,
        rows * (i.w * i.c) as u64,
        p.input_width(l.kind),
    )
}

/// Output double buffer: two passes of `ph` output rows.
pub fn double_buffer(l: &Layer, p: Par) -> Buffer {
    let o = l.output;
    let bytes = 2 * u64::from(p.ph) * (o.w * o.c) as u64;
    Buffer::new(BufKind::Double, bytes, p.output_width())
}

/// Skip buffer of a residual bottleneck whose depthwise has kernel `k`: the rows of the
/// bottleneck input between entering the bottleneck and leaving it, (K-1)/2 + 1 rows.
pub fn skip_buffer(block_input: crate::network::Shape, k: usize, width: u64) -> Buffer {
    let rows = ((k - 1) / 2 + 1) as u64;
    Buffer::new(
        BufKind::Skip,
        rows * (block_input.w * block_input.c) as u64,
        width,
    )
}

/// All weights and per-channel parameters of a layer, on chip (SESL).
pub fn weight_buffer(l: &Layer, p: Par) -> Buffer {
    let bytes = l.weight_bytes() + PARAM_BYTES_PER_CHANNEL * l.param_channels();
    let width = if l.kind == LayerKind::Depthwise {
        u64::from(p.pf)
    } else {
        p.weight_width()
    };
    Buffer::new(BufKind::Weights, bytes, width)
}

/// A frame buffer of the layer's whole input (SE).
pub fn frame_buffer(l: &Layer, p: Par) -> Buffer {
    Buffer::new(BufKind::Frame, l.input.bytes(), p.output_width())
}

/// Useful values of one parallelism factor for dimensions of sizes `dims`: with
/// `divisors_only`, the values that divide every one of them (a dedicated engine's
/// templates need whole channel groups); otherwise each one's divisors and the powers of
/// two below it (a reusable engine tiles them evenly or nearly).
pub fn factor_candidates(dims: &[usize], divisors_only: bool) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::new();
    if divisors_only {
        let max = dims.iter().copied().max().unwrap_or(1).max(1);
        v.extend(
            (1..=max)
                .filter(|&c| dims.iter().all(|&d| d.max(1) % c == 0))
                .map(|c| c as u32),
        );
        return v;
    }
    for &d in dims {
        let d = d.max(1);
        for c in 1..=d {
            if d % c == 0 {
                v.push(c as u32);
            }
        }
        let mut p = 1usize;
        while p < d {
            v.push(p as u32);
            p *= 2;
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// One point of a Pareto frontier: a parallelism and its cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Processing elements.
    pub pes: u32,
    /// Cost (cycles or seconds, as the frontier's builder defines).
    pub cost: f64,
    /// The parallelism.
    pub par: Par,
}

/// The configurations of an engine that are not dominated: sorted by PEs, each strictly
/// cheaper than the one before.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frontier {
    /// The points, PEs ascending, cost strictly descending.
    pub points: Vec<Point>,
}

impl Frontier {
    /// Builds the frontier from points sorted by PEs (ties: preferred first).
    pub fn from_sorted(sorted: impl IntoIterator<Item = Point>) -> Frontier {
        let mut b = FrontierBuilder::default();
        for pt in sorted {
            b.add(pt);
        }
        b.finish()
    }

    /// Index of the cheapest point using at most `pes` PEs.
    pub fn best_within(&self, pes: u32) -> Option<usize> {
        let n = self.points.partition_point(|p| p.pes <= pes);
        n.checked_sub(1)
    }
}

/// Builds a [`Frontier`] from points fed in order of PEs, keeping memory to the frontier.
#[derive(Clone, Debug, Default)]
pub struct FrontierBuilder {
    points: Vec<Point>,
    pending: Option<Point>,
}

impl FrontierBuilder {
    /// Feeds the next point; PEs must not decrease.
    pub fn add(&mut self, pt: Point) {
        match self.pending {
            Some(p) if p.pes == pt.pes => {
                if pt.cost < p.cost {
                    self.pending = Some(pt);
                }
            }
            _ => {
                self.flush();
                self.pending = Some(pt);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(p) = self.pending.take()
            && self.points.last().is_none_or(|l| p.cost < l.cost)
        {
            self.points.push(p);
        }
    }

    /// The frontier of the points fed.
    pub fn finish(mut self) -> Frontier {
        self.flush();
        Frontier {
            points: self.points,
        }
    }
}

/// All parallelism choices (output and input channels, `ph = pw = 1`: the templates
/// compute one output pixel at a time) for the given dimension lists with at most
/// `max_pes` PEs, sorted by PEs and, at equal PEs, preferring output-channel parallelism
/// so that ties resolve the same way every time.
pub fn configs(
    f_dims: &[usize],
    c_dims: &[usize],
    depthwise: bool,
    divisors_only: bool,
    max_pes: u32,
) -> Vec<Par> {
    let fs = factor_candidates(f_dims, divisors_only);
    let cs = if depthwise {
        vec![1]
    } else {
        factor_candidates(c_dims, divisors_only)
    };
    let mut out = Vec::new();
    for &pf in &fs {
        if pf > max_pes {
            break;
        }
        for &pc in &cs {
            if pf * pc > max_pes {
                break;
            }
            out.push(Par {
                pf,
                ph: 1,
                pw: 1,
                pc,
            });
        }
    }
    out.sort_by_key(|p| (p.pes(), u32::MAX - p.pf));
    out
}

/// Builds a frontier from unsorted points (ties: the preferred parallelism first).
fn frontier_of(mut points: Vec<Point>) -> Frontier {
    points.sort_by(|a, b| (a.pes, u32::MAX - a.par.pf).cmp(&(b.pes, u32::MAX - b.par.pf)));
    Frontier::from_sorted(points)
}

/// The frontier of one layer on a dedicated engine, cost in cycles; a point's PEs include
/// its requantizers (with the residual ADD when `residual`).
pub fn layer_frontier(l: &Layer, max_pes: u32, residual: bool, macs_per_dsp: u32) -> Frontier {
    let dw_only = pieces(l).iter().all(|p| p.0 == LayerKind::Depthwise);
    let ps = pieces(l);
    let f: Vec<usize> = ps.iter().map(|p| p.1).collect();
    let c: Vec<usize> = ps.iter().map(|p| p.4).collect();
    let points = configs(&f, &c, dw_only, true, max_pes)
        .into_iter()
        .map(|par| Point {
            pes: par.pes() + wide_pes(stage_requantizers(l, par, residual), macs_per_dsp),
            cost: layer_cycles(l, par) as f64,
            par,
        })
        .filter(|p| p.pes <= max_pes)
        .collect();
    frontier_of(points)
}

/// The frontier of a FIRB engine's expand and depthwise stages as one item: the expand's
/// output-channel parallelism is the depthwise's (one expand pass fills one line-buffer
/// word), so they are chosen together. A point's `par` is the expand stage's; the
/// depthwise stage runs `Par { pf, ..Par::ONE }`. Cost: the slower stage's cycles; PEs:
/// both stages' MACs and requantizers.
pub fn firb_front_frontier(
    expand: &Layer,
    dw: &Layer,
    max_pes: u32,
    macs_per_dsp: u32,
) -> Frontier {
    let mut points: Vec<Point> = Vec::new();
    for pf in factor_candidates(&[expand.output.c, dw.output.c], true) {
        for pc in factor_candidates(&[expand.input.c], true) {
            let par = Par {
                pf,
                ph: 1,
                pw: 1,
                pc,
            };
            let dw_par = Par { pf, ..Par::ONE };
            let wide =
                stage_requantizers(expand, par, false) + stage_requantizers(dw, dw_par, false);
            let pes = pf * pc + pf + wide_pes(wide, macs_per_dsp);
            if pes > max_pes {
                continue;
            }
            let cost = layer_cycles(expand, par).max(layer_cycles(dw, dw_par));
            points.push(Point {
                pes,
                cost: cost as f64,
                par,
            });
        }
    }
    frontier_of(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tests::layer;
    use crate::network::{LayerKind, Shape};

    #[test]
    fn first_mobilenet_conv_by_hand() {
        // 224x224x3 -> 112x112x32, 3x3, stride 2, Par pf=8 ph=2 pw=2 pc=1 (32 PEs):
        // ceil(32/8)=4 * ceil(112/2)=56 * ceil(112/2)=56 * ceil(3/1)=3 * 9 = 338,688 cycles.
        let l = layer(LayerKind::Conv, Shape::new(224, 224, 3), 32, 3, 2);
        let p = Par {
            pf: 8,
            ph: 2,
            pw: 2,
            pc: 1,
        };
        assert_eq!(p.pes(), 32);
        assert_eq!(layer_cycles(&l, p), 338_688);
        // 1 PE: every MAC in sequence = 112*112*32*3*9 = 10,838,016 = the layer's MACs.
        assert_eq!(layer_cycles(&l, Par::ONE), 10_838_016);
        assert_eq!(layer_cycles(&l, Par::ONE), l.macs());
        // Line buffer ((3-1)*224 + 3) * 3 = 1,353 bytes, read 4 bytes/cycle: one column of
        // 170 words (> 64, so BRAM), ceil(1353/4096) = 1 BRAM36.
        let lb = line_buffer(&l, p);
        assert_eq!((lb.bytes, lb.bram36), (1353, 1));
        // Output double buffer 2 * 2 rows * 112 * 32 = 14,336 bytes written 32 bytes/cycle:
        // 4 columns of 3,584 bytes, 1 BRAM36 each = 4.
        let db = double_buffer(&l, p);
        assert_eq!((db.bytes, db.bram36), (14_336, 4));
        // Weights 3*3*3*32 = 864 + 9 bytes x 32 channels = 1,152 bytes, 8 bytes/cycle:
        // 144 words > 64 -> 1 BRAM36.
        let wb = weight_buffer(&l, p);
        assert_eq!((wb.bytes, wb.bram36), (1152, 1));
    }

    #[test]
    fn depthwise_ignores_input_channel_parallelism() {
        let l = layer(LayerKind::Depthwise, Shape::new(56, 56, 144), 0, 3, 1);
        // 144/16 = 9 * 56/4 = 14 * 56/4 = 14 * 9 = 15,876 cycles, pc forced to 1.
        let p = Par {
            pf: 16,
            ph: 4,
            pw: 4,
            pc: 8,
        };
        assert_eq!(layer_cycles(&l, p), 15_876);
    }

    #[test]
    fn requantizers_as_the_templates_choose_them() {
        // 32 lanes every 27 cycles (3x3x3 / pc 1): one requantizer would take 32 > 27
        // cycles, two take 16; every 9 cycles: 4 (8 each); every cycle: all 32.
        assert_eq!(requant_lanes(32, 27), 2);
        assert_eq!(requant_lanes(32, 9), 4);
        assert_eq!(requant_lanes(32, 1), 32);
        assert_eq!(requant_lanes(24, 5), 6);
        // A projection 144 -> 24 at pf 8, pc 12: 12 cycles per vector, 1 requantizer; with
        // the ADD, 4 multiplies.
        let l = layer(LayerKind::Pointwise, Shape::new(56, 56, 144), 24, 1, 1);
        let p = Par {
            pf: 8,
            ph: 1,
            pw: 1,
            pc: 12,
        };
        assert_eq!(stage_requantizers(&l, p, false), 1);
        assert_eq!(stage_requantizers(&l, p, true), 4);
        assert_eq!(wide_pes(4, 1), 16);
    }

    #[test]
    fn bram_mapping_uses_columns_and_lutram() {
        assert_eq!(bram36(0, 8), 0);
        assert_eq!(bram36(512, 8), 0); // 64 words: LUTRAM
        assert_eq!(bram36(520, 8), 1);
        assert_eq!(bram36(4096, 8), 1);
        assert_eq!(bram36(4097, 8), 2);
        // 64 bytes/cycle = 8 columns: 32 KiB is 4 KiB per column (8 blocks), 64 KiB is 16.
        assert_eq!(bram36(32_768, 64), 8);
        assert_eq!(bram36(65_536, 64), 16);
    }

    #[test]
    fn frontier_is_monotone_and_reaches_full_unroll() {
        let l = layer(LayerKind::Pointwise, Shape::new(7, 7, 160), 960, 1, 1);
        let fr = layer_frontier(&l, 4096, false, 1);
        assert!(
            fr.points
                .windows(2)
                .all(|w| w[0].pes < w[1].pes && w[0].cost > w[1].cost)
        );
        // One PE and its one requantizer (4 DSP slices).
        assert_eq!(fr.points[0].par, Par::ONE);
        assert_eq!(fr.points[0].pes, 1 + DSP_PER_WIDE_MULTIPLY);
        assert_eq!(fr.points[0].cost, l.macs() as f64);
        // With 4096 PEs the best point must be at least as good as 960 filters x ... bound.
        let best = fr.points.last().unwrap();
        assert!(best.cost <= (l.macs() as f64 / 4096.0) * 2.0, "{best:?}");
        assert_eq!(fr.best_within(4), None);
        assert_eq!(fr.best_within(5), Some(0));
    }
}
