//! SplitCNN and the searches around it: how to split a CNN and a fixed PE budget between
//! the SESL and SEML parts.
//!
//! - SplitCNN, as the FiBHA papers describe it: start from the SEML baseline; move the
//!   next unit (a layer, or a whole bottleneck, which becomes a FIRB engine) into the SESL
//!   part; give each part PEs in proportion to its work (MACs) and, inside the SESL part,
//!   each stage PEs in proportion to its work, rounded down to a valid parallelism, with
//!   what rounding leaves going to the slowest stage; estimate; keep going while the
//!   throughput estimate improves.
//! - Exhaustive: every split point, and for each a grid of PE splits between the parts
//!   (SESL stages balanced as above) and every pace the SESL stages can take (each stage
//!   at its cheapest parallelism within it), the SEML engines chosen optimally among their
//!   Pareto frontiers with the PEs left; the best fitting design.
//! - fibha's SEML engines alone (one engine per kind, optimal PE split: SplitCNN's start),
//!   the papers' SEML baseline ([`crate::seml_baseline`]) and pure SESL (one engine per
//!   layer, traditional pipelining, PEs scaled down until the buffers fit the BRAM).
//!
//! What "better" means is the objective ([`Objective`]): pipelined throughput (images
//! overlapped as far as the design allows) or the latency of one image alone.
//!
//! Invariant: every returned design was evaluated by [`crate::design::evaluate`] under the
//! budget it is reported with; a design that does not fit is reported as such, never dropped
//! silently.

use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::board::Budget;
use crate::cost::{self, Frontier, Par, Point};
use crate::design::{DesignSpec, Evaluation, SeslEngine, evaluate, sesl_engine, sesl_engines};
use crate::network::{LayerKind, Network, Unit};
use crate::seml;
use crate::seml_baseline::{self, SemlBaseline};

/// What the searches optimize.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Pipelined throughput (`fps_pipelined`: the period between images as far as the
    /// design overlaps them), then latency.
    #[default]
    Throughput,
    /// The latency of one image alone (`latency_ms`, so `fps_batch1`), then the period.
    Latency,
}

impl Objective {
    /// How reports name it.
    pub fn describe(self) -> &'static str {
        match self {
            Objective::Throughput => "pipelined throughput (fps_pipelined), then latency",
            Objective::Latency => "latency of one image alone (fps_batch1), then period",
        }
    }
}

/// Options of the search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanOptions {
    /// Fuse bottlenecks in the SESL part into FIRB engines (TACO 2024); off: per-layer
    /// engines as in SBAC-PAD 2022.
    pub firb: bool,
    /// Points of the PE-split grid the exhaustive search tries per split point.
    pub pe_steps: u32,
    /// The longest latency of one image a hybrid design may have, ms (none: throughput
    /// alone decides).
    pub max_latency_ms: Option<f64>,
    /// What SplitCNN and the exhaustive search optimize.
    pub objective: Objective,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            firb: true,
            pe_steps: 64,
            max_latency_ms: None,
            objective: Objective::Throughput,
        }
    }
}

/// A design with its evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// The design.
    pub spec: DesignSpec,
    /// Its modelled figures.
    pub eval: Evaluation,
}

impl Candidate {
    /// Whether `self` is better than `other` for `objective`: fitting first, then the
    /// objective's figure, then the other one.
    pub fn beats(&self, other: &Candidate, objective: Objective) -> bool {
        let key = |c: &Candidate| match objective {
            Objective::Throughput => (c.eval.period, c.eval.latency),
            Objective::Latency => (c.eval.latency, c.eval.period),
        };
        match (self.eval.fits(), other.eval.fits()) {
            (true, false) => true,
            (false, true) => false,
            _ => {
                let ((a, a2), (b, b2)) = (key(self), key(other));
                a < b * (1.0 - 1e-9) || (a <= b * (1.0 + 1e-9) && a2 < b2)
            }
        }
    }
}

/// One step of SplitCNN's loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitStep {
    /// Units in the SESL part after this step.
    pub sesl_units: usize,
    /// PEs given to the SESL part.
    pub sesl_pes: u32,
    /// Modelled pipelined throughput, images per second (0 when the design does not fit).
    pub fps_pipelined: f64,
    /// Modelled latency of one image alone, ms (0 when the design does not fit).
    pub latency_ms: f64,
    /// Whether the step was kept.
    pub kept: bool,
}

/// Everything the planner found for one budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Plans {
    /// What the searches optimized.
    pub objective: Objective,
    /// The SEML baseline as the papers define it: the comparison's SEML design.
    pub seml: SemlBaseline,
    /// fibha's own SEML engines alone (every map on chip): SplitCNN's starting point.
    pub seml_fibha: Candidate,
    /// Pure SESL (traditional per-layer engines).
    pub sesl: Candidate,
    /// Every unit dedicated, bottlenecks as FIRB engines: the FIRB comparison point.
    pub sesl_firb: Candidate,
    /// SplitCNN's FiBHA design.
    pub splitcnn: Candidate,
    /// SplitCNN's steps.
    pub splitcnn_steps: Vec<SplitStep>,
    /// The exhaustive search's FiBHA design.
    pub exhaustive: Candidate,
}

impl Plans {
    /// The better of the two FiBHA designs (exhaustive on ties).
    pub fn best(&self) -> &Candidate {
        if self.splitcnn.beats(&self.exhaustive, self.objective) {
            &self.splitcnn
        } else {
            &self.exhaustive
        }
    }
}

/// Precomputed frontiers for one network on one board; plans any DSP budget up to the
/// board's.
pub struct Planner<'a> {
    net: &'a Network,
    units: Vec<Unit>,
    opts: PlanOptions,
    max_pes: u32,
    layer_frontiers: Vec<Frontier>,
    /// Per layer: for the expand layer of a bottleneck, the joint frontier of its FIRB
    /// engine's expand and depthwise stages ([`cost::firb_front_frontier`]).
    firb_front_frontiers: Vec<Option<Frontier>>,
    /// Per split point (units in SESL), the SEML engine kinds needed and their frontiers
    /// (cost: seconds over the SEML part's layers of that kind).
    seml_frontiers: Vec<Vec<(LayerKind, Frontier)>>,
}

/// What the SESL allocation sets at once: one stage, or a FIRB engine's expand and
/// depthwise stages (`coupled`), with the frontier it chooses from.
struct SeslItem<'p> {
    engine: usize,
    stage: usize,
    coupled: bool,
    frontier: &'p Frontier,
    macs: u64,
}

impl SeslItem<'_> {
    /// Sets the item's stages to the frontier point `par` (the depthwise stage of a
    /// coupled item takes the expand's `pf`).
    fn set(&self, engines: &mut [SeslEngine], par: Par) {
        let stages = &mut engines[self.engine].stages;
        stages[self.stage].par = par;
        if self.coupled {
            stages[self.stage + 1].par = Par {
                pf: par.pf,
                ..Par::ONE
            };
        }
    }
}

impl<'a> Planner<'a> {
    /// Builds the frontiers for `net` with at most `max_budget`'s PEs.
    pub fn new(net: &'a Network, max_budget: &Budget, opts: PlanOptions) -> Planner<'a> {
        let max_pes = max_budget.pes();
        let mpd = max_budget.macs_per_dsp;
        let units = net.units();
        // A projection whose block ends with the residual ADD requantizes and adds.
        let residual = |name: &str| {
            net.blocks
                .iter()
                .any(|b| b.add.is_some() && net.layers[b.project].name == name)
        };
        let layer_frontiers = net
            .layers
            .iter()
            .map(|l| {
                if l.kind == LayerKind::Add {
                    Frontier::default()
                } else {
                    cost::layer_frontier(l, max_pes, residual(l.name.as_str()), mpd)
                }
            })
            .collect();
        let mut firb_front_frontiers = vec![None; net.layers.len()];
        for b in &net.blocks {
            if let Some(expand) = b.expand {
                firb_front_frontiers[expand] = Some(cost::firb_front_frontier(
                    &net.layers[expand],
                    &net.layers[b.dw],
                    max_pes,
                    mpd,
                ));
            }
        }
        let seml_frontiers = seml_frontiers(net, &units, max_budget, max_pes);
        Planner {
            net,
            units,
            opts,
            max_pes,
            layer_frontiers,
            firb_front_frontiers,
            seml_frontiers,
        }
    }

    /// Switches what the searches optimize; the frontiers do not depend on it.
    pub fn set_objective(&mut self, objective: Objective) {
        self.opts.objective = objective;
    }

    /// The scheduling units.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// All designs for `budget` (whose PEs must not exceed the planner's maximum).
    pub fn plan(&self, budget: &Budget) -> Plans {
        assert!(
            budget.pes() <= self.max_pes,
            "planner built for {} PEs, asked for {}",
            self.max_pes,
            budget.pes()
        );
        let seml_fibha = self.pure_seml(budget);
        let sesl = self.pure_sesl(budget, false);
        let sesl_firb = self.pure_sesl(budget, true);
        let (splitcnn, splitcnn_steps) = self.splitcnn(budget, &seml_fibha);
        let exhaustive = self.exhaustive(budget, &seml_fibha);
        Plans {
            objective: self.opts.objective,
            seml: seml_baseline::plan(self.net, budget),
            seml_fibha,
            sesl,
            sesl_firb,
            splitcnn,
            splitcnn_steps,
            exhaustive,
        }
    }

    fn candidate(&self, budget: &Budget, spec: DesignSpec) -> Candidate {
        let eval = evaluate(self.net, budget, &spec);
        Candidate { spec, eval }
    }

    /// The hybrid candidate with `s` units in the SESL part, which must also keep the
    /// latency bound.
    fn hybrid_candidate(
        &self,
        budget: &Budget,
        s: usize,
        sesl: Vec<SeslEngine>,
        seml: Vec<(LayerKind, Par)>,
    ) -> Candidate {
        let spec = DesignSpec {
            split_units: s,
            sesl,
            seml,
        };
        let mut c = self.candidate(budget, spec);
        if let Some(limit) = self.opts.max_latency_ms
            && c.eval.latency * 1e3 > limit
        {
            c.eval.problems.push(format!(
                "its latency of {:.3} ms is over the bound of {limit} ms",
                c.eval.latency * 1e3
            ));
        }
        c
    }

    /// One reusable engine per layer kind, all PEs.
    pub fn pure_seml(&self, budget: &Budget) -> Candidate {
        let seml = self.alloc_seml(0, budget.pes()).unwrap_or_default();
        self.candidate(
            budget,
            DesignSpec {
                split_units: 0,
                sesl: Vec::new(),
                seml,
            },
        )
    }

    /// Every unit in the SESL part: the better of weights on chip (PEs limited by what the
    /// BRAM left can bank) and weights streamed from DDR every pass (FiBHA's analytical
    /// model's fallback); reported as not fitting when neither fits.
    pub fn pure_sesl(&self, budget: &Budget, firb: bool) -> Candidate {
        let engines = sesl_engines(self.net, &self.units, firb);
        self.fit_sesl_only(budget, engines)
    }

    fn fit_sesl_only(&self, budget: &Budget, engines: Vec<SeslEngine>) -> Candidate {
        // A classifier head still runs on an SEML part (of the default parallelism): its
        // PEs and BRAM are not the SESL part's to take. Without a head it has none.
        let head = self.candidate(
            budget,
            DesignSpec {
                split_units: self.units.len(),
                sesl: Vec::new(),
                seml: Vec::new(),
            },
        );
        // Its DSP slices, requantizers included, in PEs.
        let pes = budget
            .pes()
            .saturating_sub(head.eval.dsp * budget.macs_per_dsp);
        let bram = budget.bram36.saturating_sub(head.eval.bram36);
        let attempt = |stream: bool| {
            let mut engines = engines.clone();
            engines.iter_mut().for_each(|e| e.stream_weights = stream);
            let ok = self.alloc_sesl(budget, &mut engines, pes, bram);
            let c = self.candidate(
                budget,
                DesignSpec {
                    split_units: self.units.len(),
                    sesl: engines,
                    seml: Vec::new(),
                },
            );
            (ok, c)
        };
        let (ok, on_chip) = attempt(false);
        let (ok_streamed, streamed) = attempt(true);
        let on_chip_fits = ok && on_chip.eval.fits();
        let streamed_fits = ok_streamed && streamed.eval.fits();
        match (on_chip_fits, streamed_fits) {
            (true, true) if streamed.beats(&on_chip, self.opts.objective) => return streamed,
            (true, _) => return on_chip,
            (false, true) => return streamed,
            (false, false) => {}
        }
        let stages: usize = engines.iter().map(|e| e.stages.len()).sum();
        let mut c = if ok { on_chip } else { streamed };
        if stages as u64 > u64::from(budget.pes()) {
            c.eval.problems.insert(
                0,
                format!(
                    "{stages} pipeline stages need at least one PE each, the budget has {}",
                    budget.pes()
                ),
            );
        } else if c.eval.problems.is_empty() {
            c.eval
                .problems
                .push("even one PE per stage does not fit the BRAM budget".into());
        }
        c
    }

    /// SplitCNN: grow the SESL part one unit at a time while the estimate improves (or
    /// while no design so far fits).
    pub fn splitcnn(&self, budget: &Budget, baseline: &Candidate) -> (Candidate, Vec<SplitStep>) {
        let total_work = self.net.macs() as f64;
        let mut best = baseline.clone();
        let mut steps = Vec::new();
        let mut sesl_work = 0.0;
        for s in 1..self.units.len() {
            sesl_work += self.unit_macs(self.units[s - 1]) as f64;
            let sesl_pes = (budget.pes() as f64 * sesl_work / total_work).round() as u32;
            let cand = self.hybrid(budget, s, sesl_pes);
            let kept = cand
                .as_ref()
                .is_some_and(|c| c.eval.fits() && c.beats(&best, self.opts.objective));
            steps.push(SplitStep {
                sesl_units: s,
                sesl_pes,
                fps_pipelined: cand
                    .as_ref()
                    .filter(|c| c.eval.fits())
                    .map_or(0.0, |c| c.eval.fps_pipelined()),
                latency_ms: cand
                    .as_ref()
                    .filter(|c| c.eval.fits())
                    .map_or(0.0, |c| c.eval.latency * 1e3),
                kept,
            });
            match cand {
                Some(c) if kept => best = c,
                // From a baseline that does not fit (a network whose first maps the SEML
                // part cannot hold), moving units on is what can make it fit.
                _ if !best.eval.fits() => {}
                _ => break,
            }
        }
        (best, steps)
    }

    /// Exhaustive search over split points (both parts non-empty): a grid of PE splits
    /// (SESL stages balanced as SplitCNN does), and every SESL pace `T` a stage can take
    /// (each stage at its cheapest parallelism within `T`, the SEML part the rest); the
    /// SEML baseline when no hybrid beats it.
    pub fn exhaustive(&self, budget: &Budget, baseline: &Candidate) -> Candidate {
        let mut best = baseline.clone();
        let pes = budget.pes();
        let n = self.units.len();
        let mut consider = |c: Option<Candidate>| {
            if let Some(c) = c
                && c.beats(&best, self.opts.objective)
            {
                best = c;
            }
        };
        for s in 1..n {
            let steps = self.opts.pe_steps.max(2);
            let mut last = None;
            for g in 1..steps {
                let sesl_pes = (u64::from(pes) * u64::from(g) / u64::from(steps)) as u32;
                if last == Some(sesl_pes) {
                    continue;
                }
                last = Some(sesl_pes);
                consider(self.hybrid(budget, s, sesl_pes));
            }
            for pace in self.sesl_paces(s) {
                consider(self.hybrid_at_pace(budget, s, pace));
            }
        }
        best
    }

    /// The distinct cycle counts the SESL stages of split `s` can take.
    fn sesl_paces(&self, s: usize) -> Vec<u64> {
        let engines = sesl_engines(self.net, &self.units[..s], self.opts.firb);
        let mut paces: Vec<u64> = self
            .sesl_items(&engines)
            .iter()
            .flat_map(|it| it.frontier.points.iter().map(|p| p.cost as u64))
            .collect();
        paces.sort_unstable();
        paces.dedup();
        paces
    }

    /// A hybrid design with `s` units in the SESL part, each stage at its cheapest
    /// parallelism no slower than `pace` cycles, the SEML part given every PE left.
    fn hybrid_at_pace(&self, budget: &Budget, s: usize, pace: u64) -> Option<Candidate> {
        let mut engines = sesl_engines(self.net, &self.units[..s], self.opts.firb);
        let items = self.sesl_items(&engines);
        let mut used = 0u32;
        for it in &items {
            let point = it.frontier.points.iter().find(|p| p.cost as u64 <= pace)?;
            it.set(&mut engines, point.par);
            used += point.pes;
        }
        let seml_pes = budget.pes().checked_sub(used)?;
        let seml = self.alloc_seml(s, seml_pes)?;
        Some(self.hybrid_candidate(budget, s, engines, seml))
    }

    fn unit_macs(&self, u: Unit) -> u64 {
        self.net
            .unit_layers(u)
            .iter()
            .map(|&l| self.net.layers[l].macs())
            .sum()
    }

    /// A hybrid design with `s` units in the SESL part and `sesl_pes` PEs for it.
    fn hybrid(&self, budget: &Budget, s: usize, sesl_pes: u32) -> Option<Candidate> {
        let mut engines = sesl_engines(self.net, &self.units[..s], self.opts.firb);
        let seml_pes = budget.pes().checked_sub(sesl_pes)?;
        if !self.alloc_sesl(budget, &mut engines, sesl_pes, budget.bram36) {
            return None;
        }
        let seml = if s < self.units.len() {
            self.alloc_seml(s, seml_pes)?
        } else {
            Vec::new()
        };
        Some(self.hybrid_candidate(budget, s, engines, seml))
    }

    /// Gives the SESL stages `pes` PEs and at most `bram` BRAM36: in proportion to their
    /// MACs, rounded down to the best parallelism within each share, then what is left to
    /// the slowest stage, one frontier step at a time, while PEs and BRAM allow (wider
    /// parallelism splits buffers into more BRAM columns). False when even one PE per
    /// stage does not fit.
    fn alloc_sesl(&self, budget: &Budget, engines: &mut [SeslEngine], pes: u32, bram: u32) -> bool {
        let items = self.sesl_items(engines);
        if items.is_empty() {
            return true;
        }
        // A stage with no parallelism within the planner's budget has no design either.
        if items.len() as u64 > u64::from(pes)
            || items.iter().any(|it| it.frontier.points.is_empty())
        {
            return false;
        }
        let frontier = |i: usize| items[i].frontier;
        let total: f64 = items.iter().map(|it| it.macs as f64).sum::<f64>().max(1.0);
        let mut choice: Vec<usize> = items
            .iter()
            .map(|it| {
                let share = ((f64::from(pes) * it.macs as f64 / total).floor() as u32).max(1);
                it.frontier.best_within(share).unwrap_or(0)
            })
            .collect();
        let apply = |engines: &mut [SeslEngine], choice: &[usize]| {
            for (i, it) in items.iter().enumerate() {
                it.set(engines, frontier(i).points[choice[i]].par);
            }
        };
        let engine_bram = |e: &SeslEngine| sesl_engine(self.net, budget, e).bram36();
        let pes_of = |i: usize, c: usize| frontier(i).points[c].pes;
        apply(engines, &choice);
        let mut used: u32 = choice.iter().enumerate().map(|(i, &c)| pes_of(i, c)).sum();
        let mut brams: Vec<u32> = engines.iter().map(engine_bram).collect();
        if used > pes || brams.iter().sum::<u32>() > bram {
            choice.iter_mut().for_each(|c| *c = 0);
            apply(engines, &choice);
            used = (0..items.len()).map(|i| pes_of(i, 0)).sum();
            if used > pes {
                return false;
            }
            brams = engines.iter().map(engine_bram).collect();
            if brams.iter().sum::<u32>() > bram {
                return false;
            }
        }
        let mut used_bram: u32 = brams.iter().sum();
        let mut heap: BinaryHeap<(u64, usize)> = choice
            .iter()
            .enumerate()
            .map(|(i, &c)| (frontier(i).points[c].cost as u64, i))
            .collect();
        while let Some((_, i)) = heap.pop() {
            let fr = frontier(i);
            let c = choice[i];
            let Some(next) = fr.points.get(c + 1) else {
                break;
            };
            let extra = next.pes - fr.points[c].pes;
            if used + extra > pes {
                break;
            }
            let e = items[i].engine;
            items[i].set(engines, next.par);
            let new_bram = engine_bram(&engines[e]);
            if used_bram - brams[e] + new_bram > bram {
                items[i].set(engines, fr.points[c].par);
                break;
            }
            used_bram = used_bram - brams[e] + new_bram;
            brams[e] = new_bram;
            used += extra;
            choice[i] = c + 1;
            heap.push((next.cost as u64, i));
        }
        true
    }

    /// The independently chosen parts of the SESL engines' parallelism: one per stage,
    /// except a FIRB engine's expand and depthwise stages, which share their `pf` and are
    /// one item.
    fn sesl_items<'p>(&'p self, engines: &[SeslEngine]) -> Vec<SeslItem<'p>> {
        let mut items = Vec::new();
        for (e, en) in engines.iter().enumerate() {
            let mut s = 0;
            while s < en.stages.len() {
                let layer = en.stages[s].layer;
                let joint = self.firb_front_frontiers[layer]
                    .as_ref()
                    .filter(|_| en.firb && s + 1 < en.stages.len());
                let (frontier, span) = match joint {
                    Some(f) => (f, 2),
                    None => (&self.layer_frontiers[layer], 1),
                };
                let macs = en.stages[s..s + span]
                    .iter()
                    .map(|st| self.net.layers[st.layer].macs())
                    .sum();
                items.push(SeslItem {
                    engine: e,
                    stage: s,
                    coupled: span == 2,
                    frontier,
                    macs,
                });
                s += span;
            }
        }
        items
    }

    /// The best parallelism for the SEML engines of split `s` with `pes` PEs in all: a
    /// choice of one point per engine frontier minimizing the summed time.
    fn alloc_seml(&self, s: usize, pes: u32) -> Option<Vec<(LayerKind, Par)>> {
        let fronts = &self.seml_frontiers[s];
        let mut best: Option<(f64, Vec<(LayerKind, Par)>)> = None;
        let mut consider = |cost: f64, pick: Vec<(LayerKind, Par)>| {
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, pick));
            }
        };
        match fronts.as_slice() {
            [] => return Some(Vec::new()),
            [(k, f)] => {
                let p = f.points[f.best_within(pes)?];
                consider(p.cost, vec![(*k, p.par)]);
            }
            [(ka, fa), (kb, fb)] => {
                for a in fa.points.iter().take_while(|a| a.pes < pes) {
                    if let Some(ib) = fb.best_within(pes - a.pes) {
                        let b = fb.points[ib];
                        consider(a.cost + b.cost, vec![(*ka, a.par), (*kb, b.par)]);
                    }
                }
            }
            [(ka, fa), (kb, fb), (kc, fc)] => {
                for a in fa.points.iter().take_while(|a| a.pes + 1 < pes) {
                    for b in fb.points.iter().take_while(|b| a.pes + b.pes < pes) {
                        if let Some(ic) = fc.best_within(pes - a.pes - b.pes) {
                            let c = fc.points[ic];
                            consider(
                                a.cost + b.cost + c.cost,
                                vec![(*ka, a.par), (*kb, b.par), (*kc, c.par)],
                            );
                        }
                    }
                }
            }
            _ => unreachable!("at most three SEML engine kinds"),
        }
        best.map(|(_, pick)| pick)
    }
}

/// The SEML part's configurations of one engine kind: pointwise `pe` (a multiple of 16)
/// x `pp` pixels x 16, or depthwise `kd` words of 16 channels, as a [`Par`] (pointwise:
/// `pf = pe`, `pw = pp`, `pc = 16`; depthwise: `pf = 16 kd`).
fn seml_configs(kind: LayerKind, max_pes: u32) -> Vec<Par> {
    let mut out = Vec::new();
    if kind == LayerKind::Depthwise {
        for kd in 2..=(max_pes / 16) {
            out.push(Par {
                pf: 16 * kd,
                ..Par::ONE
            });
        }
        return out;
    }
    for pe in (16..=max_pes / 16).step_by(16) {
        for pp in 1..=8 {
            if pp * pe * 16 <= max_pes {
                out.push(Par {
                    pf: pe,
                    ph: 1,
                    pw: pp,
                    pc: 16,
                });
            }
        }
    }
    out
}

/// For every split point, the frontier of each SEML engine (pointwise, depthwise) over the
/// layers the SEML part runs: cost = the seconds of those layers' engine phases
/// ([`crate::seml::op_cycles`], without the next layer's parameters), PEs = its MACs and
/// requantizers in MAC units.
fn seml_frontiers(
    net: &Network,
    units: &[Unit],
    budget: &Budget,
    max_pes: u32,
) -> Vec<Vec<(LayerKind, Frontier)>> {
    let n = units.len();
    // The classifier head runs on the SEML part whatever the split: charge it with the
    // last unit, which the SEML part holds at every split point.
    let mut unit_of = vec![n.saturating_sub(1); net.layers.len()];
    for (u, &unit) in units.iter().enumerate() {
        for l in net.unit_layers(unit) {
            unit_of[l] = u;
        }
    }
    let all: Vec<usize> = (0..net.layers.len()).collect();
    let (ops, _) = crate::design::seml_ops(net, &all);
    let plain: Vec<seml::SemlOp> = ops.iter().map(|(_, o)| *o).collect();
    let mut out: Vec<Vec<(LayerKind, Frontier)>> = vec![Vec::new(); n + 1];
    for kind in [LayerKind::Pointwise, LayerKind::Depthwise] {
        let depthwise = kind == LayerKind::Depthwise;
        let mine: Vec<&(usize, seml::SemlOp)> = ops
            .iter()
            .filter(|(_, o)| o.depthwise == depthwise)
            .collect();
        let last_unit = mine.last().map_or(0, |(l, _)| unit_of[*l]);
        let mut points: Vec<Vec<Point>> = vec![Vec::new(); last_unit + 1];
        let mut unit_cost = vec![0.0f64; n];
        for par in seml_configs(kind, max_pes) {
            let (pp, pe, kd) = if depthwise {
                (1, 16, par.pf / 16)
            } else {
                (par.pw, par.pf, 2)
            };
            let (rq, add, dw_rq) = seml::requantizers(pp, pe, kd, &plain);
            let sp = seml::SemlPar {
                pp,
                pe,
                kd,
                rq_words: rq,
                add_lanes: add,
                dw_rq_words: dw_rq,
            };
            let (macs, wide) = if depthwise {
                (sp.dw_macs(), sp.dw_requantizers())
            } else {
                (sp.pw_macs(), sp.pw_requantizers())
            };
            let pes = macs + cost::wide_pes(wide, budget.macs_per_dsp);
            if pes > max_pes {
                continue;
            }
            unit_cost.iter_mut().for_each(|c| *c = 0.0);
            for (l, op) in &mine {
                unit_cost[unit_of[*l]] += seml::op_cycles(&sp, op, None) as f64 / budget.clock_hz;
            }
            let mut acc = 0.0;
            for s in (0..=last_unit).rev() {
                acc += unit_cost[s];
                points[s].push(Point {
                    pes,
                    cost: acc,
                    par,
                });
            }
        }
        for (s, mut p) in points.into_iter().enumerate() {
            p.sort_by(|a, b| (a.pes, u32::MAX - a.par.pf).cmp(&(b.pes, u32::MAX - b.par.pf)));
            out[s].push((kind, Frontier::from_sorted(p)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Board, Overrides};
    use crate::network::tests::layer;
    use crate::network::{ModelSource, Shape};

    /// Three layers: a wide 3x3 conv on a big map, then two tiny PWs on 1x1 maps.
    fn toy() -> Network {
        let layers = vec![
            layer(LayerKind::Conv, Shape::new(64, 64, 8), 16, 3, 1),
            layer(LayerKind::Pointwise, Shape::new(64, 64, 16), 16, 1, 1),
            layer(LayerKind::Pointwise, Shape::new(64, 64, 16), 16, 1, 1),
        ];
        let src = ModelSource::Topology {
            file: "toy".into(),
            sha256: String::new(),
            reference: String::new(),
        };
        Network::new("toy".into(), src, Shape::new(64, 64, 8), layers, vec![]).unwrap()
    }

    fn budget(dsp: u32) -> Budget {
        let board = Board::resolve("zcu102").unwrap();
        Budget::new(
            &board,
            Overrides {
                dsp: Some(dsp),
                ..Overrides::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn an_seml_part_costs_at_least_its_smallest_engines() {
        // The smallest SEML part: a pointwise engine of 1 pixel x 16 channels x 16 = 256
        // MACs with one word of requantizers (16) and one ADD lane (4 multiplies), and a
        // depthwise engine of 2 words = 32 MACs with one word of requantizers (16): 288
        // MACs and 36 multiplies of 4 DSP slices, 432 DSP in all. Below that no design
        // with an SEML part fits; at 432 the SEML baseline does, with exactly those.
        let net = toy();
        let short = budget(431);
        let plans = Planner::new(&net, &short, PlanOptions::default()).plan(&short);
        assert!(!plans.seml_fibha.eval.fits());
        let b = budget(432);
        let plans = Planner::new(&net, &b, PlanOptions::default()).plan(&b);
        assert!(
            plans.seml_fibha.eval.fits(),
            "{:?}",
            plans.seml_fibha.eval.problems
        );
        assert_eq!(
            (plans.seml_fibha.eval.pes, plans.seml_fibha.eval.dsp),
            (288, 432)
        );
    }

    #[test]
    fn dedicated_engines_are_charged_their_requantizers() {
        let net = toy();
        let b = budget(1000);
        let plans = Planner::new(&net, &b, PlanOptions::default()).plan(&b);
        for c in [&plans.exhaustive, &plans.splitcnn, &plans.sesl] {
            for (e, spec) in c.eval.engines.iter().zip(&c.spec.sesl) {
                let wide: u32 = spec
                    .stages
                    .iter()
                    .map(|s| cost::stage_requantizers(&net.layers[s.layer], s.par, false))
                    .sum();
                assert_eq!(e.dsp, e.pes + cost::DSP_PER_WIDE_MULTIPLY * wide, "{e:?}");
            }
            assert!(c.eval.dsp <= 1000 || !c.eval.fits());
        }
    }

    #[test]
    fn sesl_allocation_balances_stages() {
        let net = toy();
        let b = budget(96);
        let planner = Planner::new(&net, &b, PlanOptions::default());
        let mut engines = sesl_engines(&net, planner.units(), false);
        assert!(planner.alloc_sesl(&b, &mut engines, 96, b.bram36));
        let used: u32 = engines
            .iter()
            .flat_map(|e| &e.stages)
            .map(|s| s.par.pes())
            .sum();
        assert!(used <= 96);
        let cycles: Vec<u64> = engines
            .iter()
            .map(|e| crate::cost::layer_cycles(&net.layers[e.stages[0].layer], e.stages[0].par))
            .collect();
        // Conv has 4.5x a PW's work: it must get the most PEs and not be far slower.
        let max = *cycles.iter().max().unwrap() as f64;
        let min = *cycles.iter().min().unwrap() as f64;
        assert!(max / min < 2.5, "{cycles:?}");
        let mut few = sesl_engines(&net, planner.units(), false);
        assert!(
            !planner.alloc_sesl(&b, &mut few, 2, b.bram36),
            "three stages need three PEs"
        );
        let mut tight = sesl_engines(&net, planner.units(), false);
        assert!(
            !planner.alloc_sesl(&b, &mut tight, 96, 1),
            "the line buffers need BRAM"
        );
    }
}
