//! The SEML part's cycle and resource model: what `hls/include/fibha/seml.hpp` instantiates
//! and how long its engine takes, phase by phase, so that the plan charges what the
//! hardware does.
//!
//! The engine runs, per image, the hand-off (the SESL part's output into feature-map
//! memory 0, one word per cycle), every layer, and the copy-out of the last map (one word
//! per cycle). Each phase is one pipelined loop at II=1 whose trip count is the larger of
//! its compute and the parameter absorption of the next phase (two 16-byte beats a cycle,
//! one from each loader), plus the loop's depth:
//! - pointwise, per fold of `pe` output channels: `ceil(P / pp)` pixel groups of
//!   `max(CF, S)` cycles, CF = input words, S = drain steps of a group (`pp x valid words /
//!   rq_words` without a residual, `pp x valid words x 16 / add_lanes` with one), then S
//!   cycles of the last group's write-back;
//! - depthwise: `P_out x ceil(words / kd)` units of `max(K^2, kd / dw_rq_words)` cycles,
//!   then one unit's write-back; the global pooling likewise, its one output pixel's unit
//!   taking a tap per input pixel;
//! - a depthwise layer and the first fold of the pointwise layer after it run as one phase:
//!   the fold takes a pixel group [`LOOP_DEPTH`] cycles after the depthwise engine wrote
//!   its last pixel ([`fused_cycles`] follows both engines group by group); the packer
//!   gives such a pointwise layer a memory the depthwise layer does not read.
//!
//! The DSP slices are one per int8 MAC and [`DSP_PER_WIDE_MULTIPLY`] per 32 x 32-bit
//! multiply: one per requantized lane, four per lane of the residual path (its
//! requantization and the ADD's three rescalings), as `hls/include/fibha/resources.hpp`.
//!
//! Invariant: every function is a pure function of the layers' shapes and the
//! parallelism; the constants mirror the HLS sources named next to them, and the timed C
//! simulation of a build checks the whole against the code (`timing.json`).

use serde::{Deserialize, Serialize};

use crate::network::Shape;

/// Channels per feature-map word (`fibha::kFmLanes`).
pub const FM_LANES: u64 = 16;
/// Depth of the engine's loops (`SemlPart::kDepth`: operand read 2, the requantization
/// with ADD 6 + 12, store 1; `hls/include/fibha/latency.hpp`).
pub const LOOP_DEPTH: u64 = 21;
/// Depth of the copy-out loop (BRAM read 2 + stream write 1).
pub const COPY_DEPTH: u64 = 3;
/// DSP48E2 slices of one 32 x 32-bit multiply (`fibha::kDspPerWideMultiply`).
pub const DSP_PER_WIDE_MULTIPLY: u32 = 4;
/// Feature-map memories.
pub const FM_COUNT: u64 = 4;

/// Words of a pixel of `c` channels.
pub fn words(c: usize) -> u64 {
    (c as u64).div_ceil(FM_LANES)
}

/// The SEML part's parallelism and requantizers (the `SemlPart` template's parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemlPar {
    /// Pointwise pixels per cycle.
    pub pp: u32,
    /// Pointwise output channels per cycle (a multiple of 16).
    pub pe: u32,
    /// Depthwise words per cycle (16 channels each).
    pub kd: u32,
    /// Pointwise words requantized per cycle without a residual.
    pub rq_words: u32,
    /// Pointwise lanes requantized and added per cycle with a residual (divides 16).
    pub add_lanes: u32,
    /// Depthwise words requantized per cycle (divides `kd`).
    pub dw_rq_words: u32,
}

impl SemlPar {
    /// int8 MACs of the pointwise engine.
    pub fn pw_macs(&self) -> u32 {
        self.pp * self.pe * FM_LANES as u32
    }

    /// int8 MACs of the depthwise engine.
    pub fn dw_macs(&self) -> u32 {
        self.kd * FM_LANES as u32
    }

    /// 32 x 32-bit multiplies of the pointwise requantizers.
    pub fn pw_requantizers(&self) -> u32 {
        self.rq_words * FM_LANES as u32 + 4 * self.add_lanes
    }

    /// 32 x 32-bit multiplies of the depthwise requantizers.
    pub fn dw_requantizers(&self) -> u32 {
        self.dw_rq_words * FM_LANES as u32
    }

    /// Drain steps of the depthwise write-back.
    fn dw_steps(&self) -> u64 {
        u64::from(self.kd / self.dw_rq_words)
    }

    /// Drain steps of a pointwise pixel group with `valid` output words.
    fn pw_steps(&self, residual: bool, valid: u64) -> u64 {
        let pp = u64::from(self.pp);
        if residual {
            pp * valid * (FM_LANES / u64::from(self.add_lanes))
        } else {
            (pp * valid).div_ceil(u64::from(self.rq_words))
        }
    }
}

/// One layer as the SEML engines run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemlOp {
    /// On the depthwise engine: a depthwise or a pool layer (else pointwise).
    pub depthwise: bool,
    /// A global average pooling: the window is the whole input map, every weight 1, and
    /// its blob holds no weights.
    pub pool: bool,
    /// A pointwise layer that adds a residual (the ADD after it, fused).
    pub residual: bool,
    /// Input map.
    pub input: Shape,
    /// Output map.
    pub output: Shape,
    /// Kernel size (1 for pointwise).
    pub kernel: usize,
}

impl SemlOp {
    /// Taps of a depthwise-engine unit: K x K, a pool layer's every input pixel.
    fn taps(&self) -> u64 {
        if self.pool {
            self.pixels_in()
        } else {
            (self.kernel * self.kernel) as u64
        }
    }

    /// Weight taps of the blob (`dw_blob_taps`): none for a pool layer.
    fn blob_taps(&self) -> u64 {
        if self.pool { 0 } else { self.taps() }
    }

    fn pixels_in(&self) -> u64 {
        (self.input.h * self.input.w) as u64
    }

    fn pixels_out(&self) -> u64 {
        (self.output.h * self.output.w) as u64
    }

    /// Pointwise folds of `pe` channels.
    fn folds(&self, pe: u32) -> u64 {
        words(self.output.c).div_ceil(u64::from(pe) / FM_LANES)
    }
}

/// Beats of one pointwise fold block (`pw_fold_beats`).
fn pw_fold_beats(pe: u32, cf: u64) -> u64 {
    3 * u64::from(pe / 4) + u64::from(pe) * cf
}

/// Beats of a depthwise block (`dw_block_beats`).
fn dw_block_beats(words: u64, taps: u64) -> u64 {
    (12 * words + taps * words).next_multiple_of(2)
}

/// Beats of a layer's parameter blob.
pub fn blob_beats(op: &SemlOp, pe: u32) -> u64 {
    if op.depthwise {
        dw_block_beats(words(op.input.c), op.blob_taps())
    } else {
        op.folds(pe) * pw_fold_beats(pe, words(op.input.c))
    }
}

/// Pairs of beats of a layer's own first block (a pointwise layer's first fold, or a
/// depthwise layer's blob).
fn own_first_pairs(op: &SemlOp, pe: u32) -> u64 {
    if op.depthwise {
        blob_beats(op, pe) / 2
    } else {
        pw_fold_beats(pe, words(op.input.c)) / 2
    }
}

/// Whether ops `i` and `i + 1` run as one phase (a depthwise layer and the pointwise one
/// after it; never a pool layer, whose output is one pixel).
fn fuses(ops: &[SemlOp], i: usize) -> bool {
    ops[i].depthwise && !ops[i].pool && ops.get(i + 1).is_some_and(|n| !n.depthwise)
}

/// Pairs of beats the phase before layer `j` absorbs for it: its first block, and the
/// first fold of the pointwise layer running with it.
pub fn first_block_pairs(ops: &[SemlOp], j: usize, pe: u32) -> u64 {
    match ops.get(j) {
        None => 0,
        Some(op) if fuses(ops, j) => own_first_pairs(op, pe) + own_first_pairs(&ops[j + 1], pe),
        Some(op) => own_first_pairs(op, pe),
    }
}

/// A pipelined loop of `trips` iterations at II=1.
fn pipelined(trips: u64, depth: u64) -> u64 {
    if trips == 0 { 0 } else { trips - 1 + depth }
}

/// Iterations of a depthwise layer's compute: its units and the last write-back.
fn dw_compute(par: &SemlPar, op: &SemlOp) -> u64 {
    let units = op.pixels_out() * words(op.input.c).div_ceil(u64::from(par.kd));
    units * op.taps().max(par.dw_steps()) + par.dw_steps()
}

/// A pointwise fold's pixel groups, cycles per group and write-back steps.
fn pw_fold_shape(par: &SemlPar, op: &SemlOp, fold: u64) -> (u64, u64, u64) {
    let cf = words(op.input.c);
    let pe_words = u64::from(par.pe) / FM_LANES;
    let valid = (words(op.output.c) - fold * pe_words).min(pe_words);
    let steps = par.pw_steps(op.residual, valid);
    (
        op.pixels_in().div_ceil(u64::from(par.pp)),
        cf.max(steps),
        steps,
    )
}

/// Cycles of pointwise folds `from..` of `op`, the last absorbing `next_pairs`.
fn pw_folds_cycles(par: &SemlPar, op: &SemlOp, from: u64, next_pairs: u64) -> u64 {
    let folds = op.folds(par.pe);
    let own_pairs = own_first_pairs(op, par.pe);
    (from..folds)
        .map(|f| {
            let (groups, span, steps) = pw_fold_shape(par, op, f);
            let pairs = if f + 1 < folds { own_pairs } else { next_pairs };
            pipelined((groups * span + steps).max(pairs), LOOP_DEPTH)
        })
        .sum()
}

/// Cycles of depthwise layer `dw` with the first fold of pointwise layer `pw` running with
/// it, absorbing `pairs`: the fold takes pixel group k when the depthwise engine wrote its
/// pixels [`LOOP_DEPTH`] iterations before, and after its own previous group.
pub fn fused_cycles(par: &SemlPar, dw: &SemlOp, pw: &SemlOp, pairs: u64) -> u64 {
    let wg = words(dw.input.c).div_ceil(u64::from(par.kd));
    let unit = dw.taps().max(par.dw_steps());
    // The iteration after which output pixel q is written.
    let written = |q: u64| (q + 1) * wg * unit + par.dw_steps() - 1;
    let (groups, span, steps) = pw_fold_shape(par, pw, 0);
    let pixels = pw.pixels_in();
    let mut end = 0u64;
    for k in 0..groups {
        let need = ((k + 1) * u64::from(par.pp)).min(pixels);
        end = end.max(written(need - 1) + LOOP_DEPTH) + span;
    }
    let trips = dw_compute(par, dw).max(end + steps).max(pairs);
    pipelined(trips, LOOP_DEPTH)
}

/// Cycles of op `i` of a program (a fused depthwise op's include the pointwise op's first
/// fold; that op's, its other folds), absorbing what the next phase needs.
fn program_op_cycles(par: &SemlPar, ops: &[SemlOp], i: usize) -> u64 {
    let op = &ops[i];
    if op.depthwise {
        if fuses(ops, i) {
            let pw = &ops[i + 1];
            let pairs = if pw.folds(par.pe) > 1 {
                own_first_pairs(pw, par.pe)
            } else {
                first_block_pairs(ops, i + 2, par.pe)
            };
            return fused_cycles(par, op, pw, pairs);
        }
        let pairs = first_block_pairs(ops, i + 1, par.pe);
        return pipelined(dw_compute(par, op).max(pairs), LOOP_DEPTH);
    }
    let fused = i > 0 && fuses(ops, i - 1);
    pw_folds_cycles(
        par,
        op,
        u64::from(fused),
        first_block_pairs(ops, i + 1, par.pe),
    )
}

/// Cycles of one layer on its own (no phase fused with it), absorbing the first block of
/// `next` during its last phase: what the planner's frontiers weigh.
pub fn op_cycles(par: &SemlPar, op: &SemlOp, next: Option<&SemlOp>) -> u64 {
    let next_pairs = next.map_or(0, |n| own_first_pairs(n, par.pe));
    if op.depthwise {
        return pipelined(dw_compute(par, op).max(next_pairs), LOOP_DEPTH);
    }
    pw_folds_cycles(par, op, 0, next_pairs)
}

/// Cycles of the hand-off: the SESL part's map into feature-map memory 0, while the first
/// phase's blocks are absorbed.
pub fn handoff_cycles(par: &SemlPar, handoff: Shape, ops: &[SemlOp]) -> u64 {
    let words = (handoff.h * handoff.w) as u64 * words(handoff.c);
    pipelined(words.max(first_block_pairs(ops, 0, par.pe)), LOOP_DEPTH)
}

/// Cycles of the copy-out of the last layer's map.
pub fn copy_out_cycles(last: &SemlOp) -> u64 {
    pipelined(last.pixels_out() * words(last.output.c), COPY_DEPTH)
}

/// Per-layer cycles of a program and its total per image (hand-off and copy-out
/// included).
pub fn program_cycles(par: &SemlPar, handoff: Shape, ops: &[SemlOp]) -> (Vec<u64>, u64) {
    let per_op: Vec<u64> = (0..ops.len())
        .map(|i| program_op_cycles(par, ops, i))
        .collect();
    let edges = match ops.last() {
        Some(last) => handoff_cycles(par, handoff, ops) + copy_out_cycles(last),
        None => 0,
    };
    let total = per_op.iter().sum::<u64>() + edges;
    (per_op, total)
}

/// The requantizers a program needs at this parallelism: one word a cycle without a
/// residual (layers with fewer input words than drain steps wait for it, as modelled); as
/// few ADD lanes as keep every residual layer's groups within its input words; as few
/// depthwise words as drain a unit within its taps.
pub fn requantizers(pp: u32, pe: u32, kd: u32, ops: &[SemlOp]) -> (u32, u32, u32) {
    let pe_words = u64::from(pe) / FM_LANES;
    let add_lanes = [1u32, 2, 4, 8, 16]
        .into_iter()
        .find(|&lanes| {
            ops.iter().filter(|o| o.residual).all(|o| {
                let valid = words(o.output.c).min(pe_words);
                u64::from(pp) * valid * (FM_LANES / u64::from(lanes)) <= words(o.input.c)
            })
        })
        .unwrap_or(16);
    let min_taps = ops
        .iter()
        .filter(|o| o.depthwise)
        .map(SemlOp::taps)
        .min()
        .unwrap_or(9);
    let dw_rq = (1..=kd)
        .find(|&r| kd.is_multiple_of(r) && u64::from(kd / r) <= min_taps)
        .unwrap_or(kd);
    (1, add_lanes, dw_rq)
}

/// Words per feature-map bank for these maps (pixel groups x word groups of the largest).
pub fn fm_depth(pp: u32, kd: u32, maps: &[Shape]) -> u64 {
    maps.iter()
        .map(|m| ((m.h * m.w) as u64).div_ceil(u64::from(pp)) * words(m.c).div_ceil(u64::from(kd)))
        .max()
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(h: usize, cin: usize, cout: usize, residual: bool) -> SemlOp {
        SemlOp {
            depthwise: false,
            pool: false,
            residual,
            input: Shape::new(h, h, cin),
            output: Shape::new(h, h, cout),
            kernel: 1,
        }
    }

    fn dw(h: usize, c: usize, k: usize, stride: usize) -> SemlOp {
        SemlOp {
            depthwise: true,
            pool: false,
            residual: false,
            input: Shape::new(h, h, c),
            output: Shape::new(h.div_ceil(stride), h.div_ceil(stride), c),
            kernel: k,
        }
    }

    const MNV2: SemlPar = SemlPar {
        pp: 2,
        pe: 48,
        kd: 12,
        rq_words: 1,
        add_lanes: 8,
        dw_rq_words: 2,
    };

    #[test]
    fn pointwise_folds_by_hand() {
        // 14x14x96 -> 576: 196 pixels in 98 groups, CF = 6, 12 folds of 3 words; drain
        // steps 2 x 3 = 6 <= CF, so a group takes 6 cycles: 98 x 6 + 6 = 594 per fold.
        // Its own next fold is 3 x 12 + 48 x 6 = 324 beats = 162 pairs < 594; the last
        // fold absorbs nothing. Each fold is a loop: 593 + 21 = 614 cycles, 12 of them.
        assert_eq!(op_cycles(&MNV2, &pw(14, 96, 576, false), None), 12 * 614);
        // 28x28x32 -> 192: CF = 2 but 6 drain steps: the requantizer sets the pace,
        // 392 x 6 + 6 = 2358 per fold, 4 folds.
        assert_eq!(
            op_cycles(&MNV2, &pw(28, 32, 192, false), None),
            4 * (2357 + 21)
        );
        // 7x7x960 -> 160 with the residual: 8 lanes a cycle, 2 x 3 x 2 = 12 steps <= CF 60;
        // folds of 48, 48, 48, 16 channels; 25 x 60 + 12 = 1512 (last fold: 2 x 1 x 2 = 4
        // steps, 25 x 60 + 4 = 1504); the next fold's 36 + 2880 = 2916 beats are 1458
        // pairs, under 1512.
        assert_eq!(
            op_cycles(&MNV2, &pw(7, 960, 160, true), None),
            3 * (1511 + 21) + (1503 + 21)
        );
    }

    #[test]
    fn depthwise_and_absorption_by_hand() {
        // 14x14x576 3x3/1: 196 pixels x ceil(36 / 12) = 3 units of 9 cycles (drain 6 <= 9)
        // = 5292 + 6 = 5298, loop 5297 + 21.
        assert_eq!(op_cycles(&MNV2, &dw(14, 576, 3, 1), None), 5318);
        // Absorbing a 960-channel project's first fold (36 + 48 x 60 = 2916 beats, 1458
        // pairs) during a 7x7x160 depthwise of 49 x 1 x 9 + 6 = 447 cycles: the absorption
        // sets the length.
        assert_eq!(
            op_cycles(&MNV2, &dw(7, 160, 3, 1), Some(&pw(7, 960, 160, true))),
            1457 + 21
        );
        assert_eq!(blob_beats(&dw(7, 960, 3, 1), 48), 12 * 60 + 9 * 60);
    }

    #[test]
    fn a_depthwise_layer_and_the_first_fold_after_it_run_together() {
        // 14x14x576 3x3/1, then 576 -> 96 (2 folds of 48). Depthwise: 3 units of 9 cycles a
        // pixel, pixel q written after iteration (q + 1) x 27 + 5. The fold takes group k
        // (pixels 2k, 2k + 1) at the later of its previous group's end and 21 iterations
        // after pixel 2k + 1 is written: (2k + 2) x 27 + 5 + 21 = 54k + 80; a group takes 36
        // cycles (CF 36 > 6 steps), less than the 54 the depthwise engine needs for two
        // pixels, so the fold follows it: the last group (k = 97) starts at 5318 and ends at
        // 5354, its write-back at 5360 > the depthwise 5298: 5360 - 1 + 21 = 5380 cycles.
        let (dw, pw) = (dw(14, 576, 3, 1), pw(14, 576, 96, false));
        assert_eq!(fused_cycles(&MNV2, &dw, &pw, 0), 5380);
        // Run apart they take 5318 + 7048 (the fold's 98 x 36 + 6 = 3534, twice).
        assert_eq!(op_cycles(&MNV2, &pw, None), 2 * (3533 + 21));
        let (per_op, _) = program_cycles(&MNV2, Shape::new(14, 14, 576), &[dw, pw]);
        assert_eq!(per_op, [5380, 3533 + 21]);
    }

    #[test]
    fn requantizers_keep_residual_layers_at_their_input_pace() {
        // Residual projects read 192 channels (12 words) at the least: 2 pixels x 3 words x
        // 16 lanes = 96 lanes in 12 cycles needs 8 lanes; 3x3 depthwise drains 12 words in
        // 9 cycles with 2 words a cycle.
        let ops = [
            pw(28, 32, 192, false),
            dw(28, 192, 3, 1),
            pw(28, 192, 32, true),
        ];
        assert_eq!(requantizers(2, 48, 12, &ops), (1, 8, 2));
        assert_eq!(
            MNV2.pw_requantizers() * DSP_PER_WIDE_MULTIPLY,
            4 * (16 + 32)
        );
        assert_eq!(
            fm_depth(2, 12, &[Shape::new(28, 28, 192), Shape::new(7, 7, 960)]),
            392
        );
    }
}
