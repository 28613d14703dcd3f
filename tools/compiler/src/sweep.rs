//! Budget sweeps: modelled throughput of FiBHA, SEML and SESL against the DSP budget, both
//! definitions (`fps_batch1`, one image at a time; `fps_pipelined`, images overlapped), as
//! JSON and an SVG plot.
//!
//! Frontiers are built once per model for the largest budget and reused for every point;
//! models are planned on parallel threads.

use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::board::{Board, Budget};
use crate::models::Model;
use crate::planner::{PlanOptions, Planner};
use crate::report::{Search, plan_document};

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

/// A design's two throughput figures at one budget point (None: it does not fit).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Modelled images/s one image at a time.
    pub fps_batch1: Option<f64>,
    /// Modelled images/s with images overlapped as far as the design allows.
    pub fps_pipelined: Option<f64>,
}

impl Throughput {
    fn of(f: &crate::report::Figures) -> Throughput {
        Throughput {
            fps_batch1: f.batch1(),
            fps_pipelined: f.pipelined(),
        }
    }
}

/// One budget point of one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// DSP slices.
    pub dsp: u32,
    /// FiBHA (the better of SplitCNN and exhaustive).
    pub fibha: Throughput,
    /// SplitCNN's FiBHA design.
    pub splitcnn: Throughput,
    /// The exhaustive search's FiBHA design.
    pub exhaustive: Throughput,
    /// The papers' SEML design.
    pub seml: Throughput,
    /// Pure SESL.
    pub sesl: Throughput,
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
                            let m = &doc.modelled;
                            SweepPoint {
                                dsp,
                                fibha: Throughput::of(&m.fibha),
                                splitcnn: Throughput::of(&m.splitcnn),
                                exhaustive: Throughput::of(&m.exhaustive),
                                seml: Throughput::of(&m.seml),
                                sesl: Throughput::of(&m.sesl),
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
        note: "modelled throughput (analytical model), not board measurements: fps_batch1 one image at a time, fps_pipelined images overlapped".into(),
        models: results,
    })
}

/// A plotted line: label, colour, dashed (batch 1) or solid (pipelined), and the value it
/// takes from a point.
type Series = (&'static str, RGBColor, bool, fn(&SweepPoint) -> Option<f64>);

/// Draws one panel per model: modelled FPS of FiBHA, SEML and SESL against DSP budget,
/// pipelined (solid) and batch 1 (dashed; SEML's two coincide, so it has one line).
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
                "Modelled throughput vs DSP budget on {} ({}), {} BRAM36: solid pipelined, dashed batch 1 - model estimates, not measurements",
                result.board, result.part, result.bram36
            ),
            ("sans-serif", 20),
        )
        .map_err(|e| err(&e))?;
    let panels = body.split_evenly((rows, cols));
    let (red, blue, green) = (
        RGBColor(200, 30, 30),
        RGBColor(30, 90, 200),
        RGBColor(40, 150, 60),
    );
    let series: [Series; 5] = [
        ("FiBHA pipelined", red, false, |p| p.fibha.fps_pipelined),
        ("FiBHA batch 1", red, true, |p| p.fibha.fps_batch1),
        ("SEML baseline", blue, false, |p| p.seml.fps_batch1),
        ("SESL pipelined", green, false, |p| p.sesl.fps_pipelined),
        ("SESL batch 1", green, true, |p| p.sesl.fps_batch1),
    ];
    for (panel, model) in panels.iter().zip(&result.models) {
        let x_max = model.points.iter().map(|p| p.dsp).max().unwrap_or(1);
        let y_max = model
            .points
            .iter()
            .flat_map(|p| series.iter().filter_map(move |(_, _, _, f)| f(p)))
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
        for (name, color, dashed, get) in series {
            let pts: Vec<(u32, f64)> = model
                .points
                .iter()
                .filter_map(|p| get(p).map(|v| (p.dsp, v)))
                .collect();
            let style = color.stroke_width(2);
            let drawn = if dashed {
                chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(pts.iter().copied(), style))
            };
            drawn
                .map_err(|e| err(&e))?
                .label(name)
                .legend(move |(x, y)| {
                    let end = if dashed { x + 8 } else { x + 18 };
                    PathElement::new(vec![(x, y), (end, y)], style)
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

/// A reduction as a signed change: 0.75 -> "-75%", -0.09 -> "+9%".
pub fn signed_reduction(v: f64) -> String {
    let pct = (v * 100.0).round();
    if pct > 0.0 {
        format!("-{pct:.0}%")
    } else {
        format!("+{:.0}%", -pct)
    }
}
