//! Budget sweeps (modelled throughput of FiBHA, SEML and SESL against the DSP budget, as
//! JSON and an SVG plot) and the multi-model comparison table.
//!
//! Frontiers are built once per model for the largest budget and reused for every point;
//! models are planned on parallel threads.

use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::board::{Board, Budget};
use crate::models::Model;
use crate::planner::{PlanOptions, Planner};
use crate::report::{PlanDoc, Search, plan_document};

/// Why a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Bad sweep parameters.
    #[error("sweep: {0}")]
    Parameters(String),
    /// The plot could not be drawn or written.
    #[error("{path}: cannot draw the sweep plot: {detail}")]
    Plot {
        /// The SVG file.
        path: String,
        /// The drawing backend's message.
        detail: String,
    },
}

/// One budget point of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// DSP slices.
    pub dsp: u32,
    /// FiBHA (best of SplitCNN and exhaustive), modelled FPS; None when it does not fit.
    pub fibha_fps: Option<f64>,
    /// SplitCNN's FiBHA design, modelled FPS.
    pub splitcnn_fps: Option<f64>,
    /// The exhaustive search's FiBHA design, modelled FPS.
    pub exhaustive_fps: Option<f64>,
    /// Pure SEML, modelled FPS.
    pub seml_fps: Option<f64>,
    /// Pure SESL, modelled FPS.
    pub sesl_fps: Option<f64>,
    /// Units in FiBHA's SESL part.
    pub fibha_split_units: usize,
}

/// A model's sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepModel {
    /// Model name.
    pub name: String,
    /// Points, DSP ascending.
    pub points: Vec<SweepPoint>,
}

/// A whole sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Board.
    pub board: String,
    /// Part.
    pub part: String,
    /// BRAM36 budget (fixed over the sweep).
    pub bram36: u32,
    /// The budgets swept, DSP slices.
    pub dsp_budgets: Vec<u32>,
    /// Reminder that these are estimates.
    pub note: String,
    /// Per model.
    pub models: Vec<SweepModel>,
}

fn fps(doc: &crate::report::Figures) -> Option<f64> {
    doc.fits.then_some(doc.fps)
}

/// Runs the sweep: `points` DSP budgets from `from` x to 1 x `budget.dsp`.
pub fn run(
    models: &[Model],
    board: &Board,
    budget: &Budget,
    opts: PlanOptions,
    points: u32,
    from: f64,
) -> Result<SweepResult, SweepError> {
    if points < 2 {
        return Err(SweepError::Parameters(format!(
            "--points is {points}, need at least 2"
        )));
    }
    if !(from > 0.0 && from < 1.0) {
        return Err(SweepError::Parameters(format!(
            "--from is {from}, expected in (0, 1)"
        )));
    }
    let dsp_budgets: Vec<u32> = (0..points)
        .map(|i| {
            let frac = from + (1.0 - from) * f64::from(i) / f64::from(points - 1);
            ((f64::from(budget.dsp) * frac).round() as u32).max(1)
        })
        .collect();
    let results: Vec<SweepModel> = std::thread::scope(|scope| {
        let handles: Vec<_> = models
            .iter()
            .map(|m| {
                let dsp_budgets = &dsp_budgets;
                scope.spawn(move || {
                    let planner = Planner::new(&m.network, budget, opts);
                    let points = dsp_budgets
                        .iter()
                        .map(|&dsp| {
                            let b = budget.with_dsp(dsp);
                            let plans = planner.plan(&b);
                            let doc = plan_document(
                                &m.network,
                                board,
                                &b,
                                &plans,
                                Search::Best,
                                opts.firb,
                            );
                            SweepPoint {
                                dsp,
                                fibha_fps: fps(&doc.modelled.fibha),
                                splitcnn_fps: fps(&doc.modelled.splitcnn),
                                exhaustive_fps: fps(&doc.modelled.exhaustive),
                                seml_fps: fps(&doc.modelled.seml),
                                sesl_fps: fps(&doc.modelled.sesl),
                                fibha_split_units: doc.split.sesl_units,
                            }
                        })
                        .collect();
                    SweepModel {
                        name: m.network.name.clone(),
                        points,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sweep threads do not panic"))
            .collect()
    });
    Ok(SweepResult {
        board: board.name.clone(),
        part: board.part.clone(),
        bram36: budget.bram36,
        dsp_budgets,
        note: "modelled throughput at batch 1 (analytical model), not board measurements".into(),
        models: results,
    })
}

/// A plotted line: label, colour and the value it takes from a point.
type Series = (&'static str, RGBColor, fn(&SweepPoint) -> Option<f64>);

/// Draws one panel per model: modelled FPS of FiBHA, SEML and SESL against DSP budget.
pub fn plot(result: &SweepResult, path: &Path) -> Result<(), SweepError> {
    let err = |e: &dyn std::fmt::Display| SweepError::Plot {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let n = result.models.len().max(1);
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let (w, h) = (560 * cols as u32, 420 * rows as u32 + 60);
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (title, body) = root.split_vertically(60);
    title
        .titled(
            &format!(
                "Modelled throughput vs DSP budget on {} ({}), {} BRAM36, batch 1 - model estimates, not measurements",
                result.board, result.part, result.bram36
            ),
            ("sans-serif", 20),
        )
        .map_err(|e| err(&e))?;
    let panels = body.split_evenly((rows, cols));
    let series: [Series; 3] = [
        ("FiBHA", RGBColor(200, 30, 30), |p| p.fibha_fps),
        ("SEML", RGBColor(30, 90, 200), |p| p.seml_fps),
        ("SESL", RGBColor(40, 150, 60), |p| p.sesl_fps),
    ];
    for (panel, model) in panels.iter().zip(&result.models) {
        let x_max = model.points.iter().map(|p| p.dsp).max().unwrap_or(1);
        let y_max = model
            .points
            .iter()
            .flat_map(|p| series.iter().filter_map(move |(_, _, f)| f(p)))
            .fold(1.0f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(&model.name, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0u32..x_max + x_max / 20, 0f64..y_max)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("DSP slices in the budget")
            .y_desc("modelled images/s")
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| err(&e))?;
        for (name, color, get) in series {
            let pts: Vec<(u32, f64)> = model
                .points
                .iter()
                .filter_map(|p| get(p).map(|v| (p.dsp, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One model's row of the comparison table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// Model.
    pub model: String,
    /// Which search gave FiBHA's design.
    pub search: String,
    /// Units in FiBHA's SESL part.
    pub split_units: usize,
    /// Modelled FPS: FiBHA, SEML, SESL, SESL with FIRB (None: does not fit).
    pub fps: [Option<f64>; 4],
    /// FiBHA / SEML throughput.
    pub fibha_vs_seml: Option<f64>,
    /// FiBHA / SESL throughput.
    pub fibha_vs_sesl: Option<f64>,
    /// FiBHA's feature-map buffer reduction vs SEML.
    pub fm_reduction_vs_seml: Option<f64>,
    /// FIRB buffer reduction in the plan's SESL part.
    pub firb_reduction_plan: Option<f64>,
    /// FIRB buffer reduction with every unit dedicated.
    pub firb_reduction_network: Option<f64>,
    /// Whether SESL streams its weights.
    pub sesl_weights_streamed: bool,
}

impl CompareRow {
    /// The row of a plan document.
    pub fn of(doc: &PlanDoc) -> CompareRow {
        let m = &doc.modelled;
        let c = &doc.comparison;
        CompareRow {
            model: doc.model.name.clone(),
            search: doc.search.clone(),
            split_units: doc.split.sesl_units,
            fps: [fps(&m.fibha), fps(&m.seml), fps(&m.sesl), fps(&m.sesl_firb)],
            fibha_vs_seml: c.fibha_vs_seml_throughput.modelled,
            fibha_vs_sesl: c.fibha_vs_sesl_throughput.modelled,
            fm_reduction_vs_seml: c.fm_buffer_reduction_vs_seml.modelled,
            firb_reduction_plan: c.firb_buffer_reduction_plan.modelled,
            firb_reduction_network: c.firb_buffer_reduction_network.modelled,
            sesl_weights_streamed: m.sesl.weights_streamed,
        }
    }
}

/// A reduction as a signed change: 0.75 -> "-75%", -0.09 -> "+9%".
pub fn signed_reduction(v: f64) -> String {
    let pct = (v * 100.0).round();
    if pct > 0.0 {
        format!("-{pct:.0}%")
    } else {
        format!("+{:.0}%", -pct)
    }
}

/// The comparison of several models on one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareTable {
    /// Board.
    pub board: String,
    /// DSP budget.
    pub dsp: u32,
    /// BRAM36 budget.
    pub bram36: u32,
    /// Reminder that these are estimates.
    pub note: String,
    /// Rows.
    pub rows: Vec<CompareRow>,
}

impl CompareTable {
    /// Text rendering, with the published figures in the last row.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "modelled on {} with {} DSP and {} BRAM36 (batch 1)",
            self.board, self.dsp, self.bram36
        );
        let _ = writeln!(
            o,
            "{:<22} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>9} {:>8} {:>10} {:>10}",
            "model",
            "FiBHA",
            "SEML",
            "SESL",
            "SESL+FIRB",
            "split",
            "vs SEML",
            "vs SESL",
            "FM buf",
            "FIRB plan",
            "FIRB net"
        );
        let f = |v: Option<f64>| v.map_or("no fit".to_string(), |v| format!("{v:.0}"));
        let x = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2}x"));
        let p = |v: Option<f64>| v.map_or("n/a".to_string(), signed_reduction);
        for r in &self.rows {
            let _ = writeln!(
                o,
                "{:<22} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>9} {:>8} {:>10} {:>10}{}",
                r.model,
                f(r.fps[0]),
                f(r.fps[1]),
                f(r.fps[2]),
                f(r.fps[3]),
                r.split_units,
                x(r.fibha_vs_seml),
                x(r.fibha_vs_sesl),
                p(r.fm_reduction_vs_seml),
                p(r.firb_reduction_plan),
                p(r.firb_reduction_network),
                if r.sesl_weights_streamed {
                    "  (SESL streams weights)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(
            o,
            "{:<22} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>9} {:>8} {:>10} {:>10}",
            "published (TACO 2024)",
            "",
            "",
            "",
            "",
            "",
            "<= 2.5x",
            "<= 4x",
            "<= -75%",
            "<= -54%",
            "<= -54%"
        );
        let _ = writeln!(
            o,
            "FPS columns: modelled images/s; split: units in FiBHA's SESL part. {}",
            self.note
        );
        o
    }
}
