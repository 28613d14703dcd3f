//! SVG figures of the reports: the latency distribution of `fibha bench` and the power
//! over time of `fibha energy`, drawn with plotters' SVG backend (text as SVG `<text>`, so
//! no font files are needed).
//!
//! Every figure says in its caption whether its numbers are modelled.

use std::path::Path;

use plotters::prelude::*;

/// Why a figure could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot draw the figure: {detail}", path.display())]
pub struct PlotError {
    /// The SVG file.
    pub path: std::path::PathBuf,
    /// What plotters said.
    pub detail: String,
}

fn fail(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |detail| PlotError {
        path: path.to_path_buf(),
        detail,
    }
}

const SIZE: (u32, u32) = (900, 540);

/// The empirical CDF of `latencies_us` (any order) as an SVG at `path`.
pub fn latency_cdf(path: &Path, latencies_us: &[f64], caption: &str) -> Result<(), PlotError> {
    let err = fail(path);
    let mut sorted = latencies_us.to_vec();
    sorted.sort_by(f64::total_cmp);
    let lo = sorted.first().copied().unwrap_or(0.0);
    let hi = sorted.last().copied().unwrap_or(1.0);
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.01).max(1.0);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..1.0)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("latency per inference (µs)")
        .y_desc("fraction of inferences at or below")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let n = sorted.len().max(1) as f64;
    let steps = sorted
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| [(v, i as f64 / n), (v, (i + 1) as f64 / n)]);
    chart
        .draw_series(LineSeries::new(steps, BLUE.stroke_width(2)))
        .map_err(|e| err(e.to_string()))?
        .label("empirical CDF")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    for (q, colour) in [(0.5, GREEN), (0.9, MAGENTA), (0.99, RED)] {
        let idx = ((q * n).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        if let Some(&v) = sorted.get(idx) {
            chart
                .draw_series(LineSeries::new([(v, 0.0), (v, 1.0)], colour.mix(0.6)))
                .map_err(|e| err(e.to_string()))?
                .label(format!("p{} = {v:.1} µs", (q * 100.0) as u32))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// One line of the power figure.
pub struct PowerSeries<'a> {
    /// Its name (`PS`, `PL`, ...).
    pub name: &'a str,
    /// (seconds, watts) points.
    pub points: Vec<(f64, f64)>,
}

/// Power over time per rail group, with the inference marks as thin vertical lines and the
/// idle baseline's end as a dashed one.
pub fn power_over_time(
    path: &Path,
    series: &[PowerSeries<'_>],
    marks_s: &[f64],
    idle_end_s: Option<f64>,
    caption: &str,
) -> Result<(), PlotError> {
    let err = fail(path);
    let t_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let w_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.4;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..t_max, 0.0..w_max)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("time since sampling started (s)")
        .y_desc("power (W)")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    // Many marks would paint the plot grey; keep at most ~200 evenly spread.
    let stride = marks_s.len().div_ceil(200).max(1);
    chart
        .draw_series(
            marks_s
                .iter()
                .step_by(stride)
                .map(|&t| PathElement::new([(t, 0.0), (t, w_max)], BLACK.mix(0.25))),
        )
        .map_err(|e| err(e.to_string()))?;
    if let Some(t) = idle_end_s {
        chart
            .draw_series(DashedLineSeries::new(
                [(t, 0.0), (t, w_max)],
                6,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(|e| err(e.to_string()))?
            .label("end of the idle baseline")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    }
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_figure_has_labelled_axes_and_its_caption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.svg");
        latency_cdf(&path, &[120.0, 100.0, 140.0, 110.0], "latency (modelled)").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "latency per inference (µs)",
            "fraction of inferences",
            "(modelled)",
            "p50",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
    }

    #[test]
    fn the_power_figure_names_each_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("power.svg");
        let series = [
            PowerSeries {
                name: "PS",
                points: vec![(0.0, 1.0), (1.0, 1.1)],
            },
            PowerSeries {
                name: "PL",
                points: vec![(0.0, 1.7), (1.0, 2.3)],
            },
        ];
        power_over_time(&path, &series, &[0.5, 0.6], Some(0.4), "power").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for text in ["power (W)", "PS", "PL", "idle baseline"] {
            assert!(svg.contains(text), "{text} missing");
        }
    }
}
