//! Energy per inference from the board's power rails.
//!
//! The ZCU102's INA226 rails are found through hwmon by I2C bus and address
//! ([`fibha_board::zcu102::hwmon_rails`]); rails that are missing are listed and the
//! measurement goes on with the others; no rail at all is an error. The sampler reads them
//! at a fixed period on its own thread: first an idle baseline, then the run, with a mark
//! at each inference boundary, so each inference's joules are the integral between its
//! marks.
//!
//! On a real board the total per inference is that integral. On the virtual board the
//! rails report a power model in which the fabric is active for each run's modelled time,
//! but the wall time between marks is C-simulation time; there the total per inference is
//! the idle power over the pipeline's modelled period plus the integral's energy above
//! idle, and the report says so.

use std::path::Path;
use std::time::Duration;

use fibha_board::power::{EnergyLog, HwmonRail};
use fibha_board::{BoardError, RailGroup, Root, Sampler, SamplerHandle};

use crate::plot::PowerSeries;
use crate::report::{GroupWatts, PerInference, Phase};

/// Why energy could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// No rail at all.
    #[error(
        "no ZCU102 power rails found under {}: the INA226 monitors need the kernel's ina2xx hwmon driver (CONFIG_SENSORS_INA2XX) and the PMBus nodes of the board's device tree (Xilinx's ZCU102 BSP has both); found no hwmon device named ina226*{}",
        root.display(),
        if unplaced.is_empty() { String::new() } else { format!("; unplaced monitors: {}", unplaced.join(", ")) }
    )]
    NoRails {
        /// The board root.
        root: std::path::PathBuf,
        /// Monitors found but not placed.
        unplaced: Vec<String>,
    },
    /// The board layer failed (a rail went away or read garbage).
    #[error("{context}: {source}")]
    Board {
        /// What was being done.
        context: &'static str,
        /// The board layer's error, naming the rail.
        source: BoardError,
    },
    /// The run left too few marks or samples to attribute energy.
    #[error("cannot attribute energy: {0}")]
    TooShort(String),
}

/// The rails found.
pub struct Rails {
    /// Readers, in table order.
    pub readers: Vec<HwmonRail>,
    /// Rails of the table not found.
    pub missing: Vec<&'static str>,
    /// Monitors that matched no rail, with why.
    pub unplaced: Vec<String>,
}

/// Finds the ZCU102's rails under `root`.
pub fn discover(root: &Root) -> Result<Rails, EnergyError> {
    let found = fibha_board::zcu102::hwmon_rails(root).map_err(|source| EnergyError::Board {
        context: "discovering the power rails",
        source,
    })?;
    let missing = found.missing_names();
    let unplaced: Vec<String> = found
        .unplaced
        .iter()
        .map(|u| format!("{} ({})", u.hwmon_dir.display(), u.reason))
        .collect();
    if found.found.is_empty() {
        return Err(EnergyError::NoRails {
            root: root.path().to_path_buf(),
            unplaced,
        });
    }
    Ok(Rails {
        readers: found.found,
        missing,
        unplaced,
    })
}

/// Starts the sampler on `rails` and samples an idle baseline of `idle` (cut short if
/// `stop` becomes true). Returns the handle and the baseline's end, ns since its epoch.
pub fn start_with_baseline(
    readers: Vec<HwmonRail>,
    period: Duration,
    idle: Duration,
    stop: &dyn Fn() -> bool,
) -> Result<(SamplerHandle, u64), EnergyError> {
    let handle = Sampler::start(readers, period).map_err(|source| EnergyError::Board {
        context: "starting the power sampler",
        source,
    })?;
    let until = handle.epoch() + idle;
    while std::time::Instant::now() < until && !stop() {
        std::thread::sleep(Duration::from_millis(10).min(idle));
    }
    let idle_end = handle.epoch().elapsed().as_nanos() as u64;
    Ok((handle, idle_end))
}

fn board(context: &'static str) -> impl FnOnce(BoardError) -> EnergyError {
    move |source| EnergyError::Board { context, source }
}

/// What the log says about the idle baseline, the run and each inference.
pub struct Analysis {
    /// Idle phase.
    pub idle: Phase,
    /// Run phase as sampled.
    pub active: Phase,
    /// Per inference.
    pub per_inference: PerInference,
}

/// The period between inferences on the virtual board, seconds: the pipeline replayed
/// with the accelerator's modelled time (what [`analyse`] takes there); `None` on a board.
pub fn modelled_period(records: &[crate::pipeline::Record], modelled: bool) -> Option<f64> {
    (modelled && !records.is_empty()).then(|| {
        crate::stats::Timeline::replayed(records, crate::report::accel_modelled)
            .span
            .as_secs_f64()
            / records.len() as f64
    })
}

/// Analyses `log`: idle from its first sample to `idle_end_ns`, the run from the first
/// mark to the last. With `modelled_period_s` (virtual board) the totals are taken over
/// that period instead of the marks' wall time (see the module documentation).
pub fn analyse(
    log: &EnergyLog,
    idle_end_ns: u64,
    modelled_period_s: Option<f64>,
) -> Result<Analysis, EnergyError> {
    let (first, _) = log
        .span_ns()
        .ok_or_else(|| EnergyError::TooShort("no samples".into()))?;
    let idle_w = log
        .average_power_w(first, idle_end_ns)
        .map_err(board("averaging the idle baseline"))?;
    let marks = log.marks();
    let (Some(m0), Some(m1)) = (marks.first(), marks.last()) else {
        return Err(EnergyError::TooShort("no inference finished".into()));
    };
    if marks.len() < 2 || m1.t_ns <= m0.t_ns {
        return Err(EnergyError::TooShort("no inference finished".into()));
    }
    let windows = log
        .per_inference()
        .map_err(board("integrating per inference"))?;
    let n = windows.len() as f64;
    let mut per_group = [0.0f64; 4];
    let mut above_group = [0.0f64; 4];
    let mut wall = 0.0;
    for w in &windows {
        let d = w.energy.duration_s();
        wall += d;
        for g in RailGroup::ALL {
            per_group[g.index()] += w.energy.per_group_j.get(g);
            above_group[g.index()] += w.energy.per_group_j.get(g) - idle_w.get(g) * d;
        }
    }
    let period_s = modelled_period_s.unwrap_or(wall / n);
    let mean_above = GroupWatts::from_fn(|g| above_group[g.index()] / n);
    let mean_total = match modelled_period_s {
        Some(p) => GroupWatts::from_fn(|g| idle_w.get(g) * p + mean_above.get(g)),
        None => GroupWatts::from_fn(|g| per_group[g.index()] / n),
    };
    let active = match modelled_period_s {
        Some(p) => GroupWatts::from_fn(|g| mean_total.get(g) / p),
        None => {
            let w = log
                .average_power_w(m0.t_ns, m1.t_ns)
                .map_err(board("averaging the run"))?;
            GroupWatts::from_fn(|g| w.get(g))
        }
    };
    let total_j = mean_total.total;
    Ok(Analysis {
        idle: Phase {
            duration_s: (idle_end_ns - first) as f64 * 1e-9,
            power_w: GroupWatts::from_fn(|g| idle_w.get(g)),
        },
        active: Phase {
            duration_s: (m1.t_ns - m0.t_ns) as f64 * 1e-9,
            power_w: active,
        },
        per_inference: PerInference {
            total_j,
            above_idle_j: mean_above.total,
            per_group_j: mean_total,
            above_idle_per_group_j: mean_above,
            inferences_per_j: if total_j > 0.0 { 1.0 / total_j } else { 0.0 },
            period_s,
        },
    })
}

/// Power per group over time, for the figure.
pub fn series(log: &EnergyLog) -> Vec<PowerSeries<'static>> {
    RailGroup::ALL
        .iter()
        .filter(|g| log.rails().iter().any(|r| r.group == **g))
        .map(|&g| PowerSeries {
            name: g.name(),
            points: log
                .samples()
                .iter()
                .map(|s| {
                    let uw: u64 = log
                        .rails()
                        .iter()
                        .zip(&s.power_uw)
                        .filter(|(r, _)| r.group == g)
                        .map(|(_, p)| *p)
                        .sum();
                    (s.t_ns as f64 * 1e-9, uw as f64 * 1e-6)
                })
                .collect(),
        })
        .collect()
}

/// Draws the power figure.
pub fn plot(
    path: &Path,
    log: &EnergyLog,
    idle_end_ns: u64,
    modelled: bool,
) -> Result<(), crate::plot::PlotError> {
    let marks: Vec<f64> = log.marks().iter().map(|m| m.t_ns as f64 * 1e-9).collect();
    let caption = if modelled {
        "power per rail group: virtual board (modelled); grey lines mark inferences"
    } else {
        "power per rail group (INA226, measured); grey lines mark inferences"
    };
    crate::plot::power_over_time(
        path,
        &series(log),
        &marks,
        Some(idle_end_ns as f64 * 1e-9),
        caption,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fibha_board::power::{Mark, Sample};

    fn log() -> EnergyLog {
        let rails = fibha_board::zcu102::RAILS;
        let ps = rails.iter().position(|r| r.group == RailGroup::Ps).unwrap();
        let pl = rails.iter().position(|r| r.group == RailGroup::Pl).unwrap();
        let chosen = vec![rails[ps], rails[pl]];
        // PS 1 W throughout; PL 1 W idle for 1 s, then 3 W for 2 s.
        let samples = [(0u64, 1u64), (1_000, 1), (1_001, 3), (3_000, 3)]
            .iter()
            .map(|&(ms, pl_w)| Sample {
                t_ns: ms * 1_000_000,
                power_uw: vec![1_000_000, pl_w * 1_000_000],
            })
            .collect();
        let marks = (0..=4)
            .map(|i| Mark {
                inference: i,
                t_ns: 1_000_000_000 + i * 500_000_000,
            })
            .collect();
        EnergyLog::new(chosen, samples, marks).unwrap()
    }

    #[test]
    fn joules_per_inference_and_above_idle_on_a_measured_log() {
        let a = analyse(&log(), 1_000_000_000, None).unwrap();
        assert!((a.idle.power_w.total - 2.0).abs() < 1e-9);
        // Four windows of 0.5 s; PL at ~3 W, PS 1 W: ~2 J each, ~1 J above idle.
        assert!(
            (a.per_inference.total_j - 2.0).abs() < 0.01,
            "{:?}",
            a.per_inference
        );
        assert!((a.per_inference.above_idle_j - 1.0).abs() < 0.01);
        assert!((a.per_inference.period_s - 0.5).abs() < 1e-9);
        assert!((a.active.power_w.total - 4.0).abs() < 0.01);
    }

    #[test]
    fn a_modelled_period_rescales_the_idle_share_only() {
        let a = analyse(&log(), 1_000_000_000, Some(0.001)).unwrap();
        let above = a.per_inference.above_idle_j;
        assert!((above - 1.0).abs() < 0.01);
        assert!((a.per_inference.total_j - (2.0 * 0.001 + above)).abs() < 1e-9);
    }
}
