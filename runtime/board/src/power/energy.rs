//! The record of a power measurement and the energy arithmetic on it.
//!
//! Power between two samples is taken as the straight line joining them, so the energy
//! of a window is the trapezoid sum over the samples inside it, with the power at the
//! window's edges interpolated on the same lines. Inference marks are windows' edges:
//! the energy of inference `k` is the integral from its mark to the next mark, so energy
//! that falls between two samples is split by time, not given wholly to either side.
//!
//! Invariants of an [`EnergyLog`]: sample times never decrease, every sample has one value
//! per rail, marks are sorted by time. Times are nanoseconds of the monotonic clock since
//! the sampler started; power is in microwatts, energy in joules.

use crate::error::{BoardError, Result};
use crate::power::{PowerRail, RailGroup};

/// One reading of every rail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When, in monotonic nanoseconds since the sampler started.
    pub t_ns: u64,
    /// Power per rail in microwatts, in the log's rail order.
    pub power_uw: Vec<u64>,
}

/// An inference boundary: inference `inference` starts at `t_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The inference that starts here.
    pub inference: u64,
    /// When, in monotonic nanoseconds since the sampler started.
    pub t_ns: u64,
}

/// One value per rail group, indexed by [`RailGroup`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupValues([f64; RailGroup::ALL.len()]);

impl GroupValues {
    /// The value of `group`.
    pub fn get(&self, group: RailGroup) -> f64 {
        self.0[group.index()]
    }

    /// The sum over all groups.
    pub fn total(&self) -> f64 {
        self.0.iter().sum()
    }

    /// (group, value) pairs in report order.
    pub fn iter(&self) -> impl Iterator<Item = (RailGroup, f64)> + '_ {
        RailGroup::ALL.iter().map(|&g| (g, self.get(g)))
    }

    fn add(&mut self, group: RailGroup, value: f64) {
        self.0[group.index()] += value;
    }

    fn scaled(mut self, factor: f64) -> Self {
        self.0.iter_mut().for_each(|v| *v *= factor);
        self
    }
}

/// Energy over a time window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEnergy {
    /// Window start, ns.
    pub start_ns: u64,
    /// Window end, ns.
    pub end_ns: u64,
    /// Joules per rail, in the log's rail order.
    pub per_rail_j: Vec<f64>,
    /// Joules per group.
    pub per_group_j: GroupValues,
}

impl WindowEnergy {
    /// Joules over all rails.
    pub fn total_j(&self) -> f64 {
        self.per_group_j.total()
    }

    /// The window's length in seconds.
    pub fn duration_s(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 * 1e-9
    }
}

/// The energy of one inference: from its mark to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceEnergy {
    /// The inference id given to the mark.
    pub inference: u64,
    /// Its energy.
    pub energy: WindowEnergy,
}

/// Everything a sampler recorded.
#[derive(Debug, Clone)]
pub struct EnergyLog {
    rails: Vec<PowerRail>,
    samples: Vec<Sample>,
    marks: Vec<Mark>,
}

/// uW x ns -> J.
const UW_NS_TO_J: f64 = 1e-15;

impl EnergyLog {
    /// A log from its parts; marks may come in any order. Fails when samples go back in
    /// time or do not have one value per rail.
    pub fn new(rails: Vec<PowerRail>, samples: Vec<Sample>, mut marks: Vec<Mark>) -> Result<Self> {
        if let Some(bad) = samples.iter().position(|s| s.power_uw.len() != rails.len()) {
            return Err(BoardError::Sampling(format!(
                "sample {bad} has {} values for {} rails",
                samples[bad].power_uw.len(),
                rails.len()
            )));
        }
        if let Some(bad) = samples.windows(2).position(|w| w[1].t_ns < w[0].t_ns) {
            return Err(BoardError::Sampling(format!(
                "sample {} at {} ns comes before sample {bad} at {} ns",
                bad + 1,
                samples[bad + 1].t_ns,
                samples[bad].t_ns
            )));
        }
        marks.sort_by_key(|m| m.t_ns);
        Ok(Self {
            rails,
            samples,
            marks,
        })
    }

    /// The rails, in the order of each sample's values.
    pub fn rails(&self) -> &[PowerRail] {
        &self.rails
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The inference marks, oldest first.
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// The sampled span, first to last sample, in ns.
    pub fn span_ns(&self) -> Option<(u64, u64)> {
        Some((self.samples.first()?.t_ns, self.samples.last()?.t_ns))
    }

    /// Energy over `start_ns..end_ns`, which must lie inside the sampled span.
    pub fn energy(&self, start_ns: u64, end_ns: u64) -> Result<WindowEnergy> {
        self.check_window(start_ns, end_ns)?;
        let mut per_rail_j = vec![0.0; self.rails.len()];
        // The first segment that ends after the window starts.
        let first = self
            .samples
            .partition_point(|s| s.t_ns <= start_ns)
            .saturating_sub(1);
        for pair in self.samples[first..].windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.t_ns >= end_ns {
                break;
            }
            let lo = start_ns.max(a.t_ns);
            let hi = end_ns.min(b.t_ns);
            if hi <= lo {
                continue;
            }
            let dt = (hi - lo) as f64;
            for (rail, energy) in per_rail_j.iter_mut().enumerate() {
                let p_lo = interpolate(a, b, rail, lo);
                let p_hi = interpolate(a, b, rail, hi);
                *energy += 0.5 * (p_lo + p_hi) * dt * UW_NS_TO_J;
            }
        }
        let mut per_group_j = GroupValues::default();
        for (rail, joules) in self.rails.iter().zip(&per_rail_j) {
            per_group_j.add(rail.group, *joules);
        }
        Ok(WindowEnergy {
            start_ns,
            end_ns,
            per_rail_j,
            per_group_j,
        })
    }

    /// Energy over the whole sampled span.
    pub fn total(&self) -> Result<WindowEnergy> {
        let (first, last) = self
            .span_ns()
            .ok_or_else(|| BoardError::Sampling("the log has no samples".into()))?;
        self.energy(first, last)
    }

    /// Average power per group in watts over `start_ns..end_ns` (a non-empty window inside
    /// the sampled span).
    pub fn average_power_w(&self, start_ns: u64, end_ns: u64) -> Result<GroupValues> {
        if end_ns <= start_ns {
            return Err(self.window_error(start_ns, end_ns));
        }
        let energy = self.energy(start_ns, end_ns)?;
        Ok(energy.per_group_j.scaled(1.0 / energy.duration_s()))
    }

    /// The energy of each inference: the windows between consecutive marks, each under the
    /// id of the mark that opens it. Mark `n + 1` closes inference `n`, so a run of N
    /// inferences takes N + 1 marks.
    pub fn per_inference(&self) -> Result<Vec<InferenceEnergy>> {
        self.marks
            .windows(2)
            .map(|pair| {
                Ok(InferenceEnergy {
                    inference: pair[0].inference,
                    energy: self.energy(pair[0].t_ns, pair[1].t_ns)?,
                })
            })
            .collect()
    }

    fn check_window(&self, start_ns: u64, end_ns: u64) -> Result<()> {
        match self.span_ns() {
            Some((first, last)) if first <= start_ns && start_ns <= end_ns && end_ns <= last => {
                Ok(())
            }
            _ => Err(self.window_error(start_ns, end_ns)),
        }
    }

    fn window_error(&self, start_ns: u64, end_ns: u64) -> BoardError {
        let (first_ns, last_ns) = self.span_ns().unwrap_or((0, 0));
        BoardError::EnergyWindow {
            start_ns,
            end_ns,
            first_ns,
            last_ns,
        }
    }
}

/// Power of `rail` at `t` on the line from sample `a` to sample `b` (`a.t_ns <= t <= b.t_ns`).
fn interpolate(a: &Sample, b: &Sample, rail: usize, t: u64) -> f64 {
    let (pa, pb) = (a.power_uw[rail] as f64, b.power_uw[rail] as f64);
    if b.t_ns == a.t_ns {
        return pa;
    }
    pa + (pb - pa) * (t - a.t_ns) as f64 / (b.t_ns - a.t_ns) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zcu102::RAILS;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;

    fn rail(name: &str) -> PowerRail {
        *RAILS.iter().find(|r| r.name == name).unwrap()
    }

    fn log(rails: &[&str], samples: &[(u64, &[u64])], marks: &[(u64, u64)]) -> EnergyLog {
        EnergyLog::new(
            rails.iter().map(|n| rail(n)).collect(),
            samples
                .iter()
                .map(|(t, p)| Sample {
                    t_ns: *t,
                    power_uw: p.to_vec(),
                })
                .collect(),
            marks
                .iter()
                .map(|&(inference, t_ns)| Mark { inference, t_ns })
                .collect(),
        )
        .unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn constant_two_watts_for_a_second_is_two_joules() {
        let samples: Vec<(u64, Vec<u64>)> =
            (0..=10).map(|i| (i * S / 10, vec![2_000_000])).collect();
        let samples: Vec<(u64, &[u64])> = samples.iter().map(|(t, p)| (*t, p.as_slice())).collect();
        let log = log(&["VCCINT"], &samples, &[]);
        let total = log.total().unwrap();
        assert!(close(total.total_j(), 2.0), "{}", total.total_j());
        assert!(close(total.per_group_j.get(RailGroup::Pl), 2.0));
        assert!(close(
            log.average_power_w(0, S).unwrap().get(RailGroup::Pl),
            2.0
        ));
    }

    #[test]
    fn a_ramp_integrates_to_its_triangle() {
        // 0 W -> 1 W over 1 s on one rail: 0.5 J; with three samples the midpoint is exact.
        let log = log(
            &["VCCPSINTFP"],
            &[(0, &[0]), (S / 2, &[500_000]), (S, &[1_000_000])],
            &[],
        );
        assert!(close(log.total().unwrap().total_j(), 0.5));
        // The first quarter, interpolated at 0.25 s (0.25 W): 0.25 x 0.25 / 2 = 0.03125 J.
        assert!(close(log.energy(0, S / 4).unwrap().total_j(), 0.031_25));
        // The last half averages 0.75 W.
        assert!(close(
            log.average_power_w(S / 2, S).unwrap().get(RailGroup::Ps),
            0.75
        ));
    }

    #[test]
    fn inference_energy_is_split_at_marks_between_samples() {
        // Samples at 0, 1 s, 2 s; PS rail 1 W -> 3 W -> 3 W, DDR rail constant 0.5 W.
        let log = log(
            &["VCCPSINTFP", "VCCO_PSDDR_504"],
            &[
                (0, &[1_000_000, 500_000]),
                (S, &[3_000_000, 500_000]),
                (2 * S, &[3_000_000, 500_000]),
            ],
            &[(8, 3 * S / 2), (7, S / 2), (9, 2 * S)],
        );
        let per = log.per_inference().unwrap();
        assert_eq!(per.iter().map(|p| p.inference).collect::<Vec<_>>(), [7, 8]);
        // Inference 7: 0.5 s..1.5 s. PS: 0.5..1 s ramps 2 W -> 3 W (1.25 J), 1..1.5 s 3 W (1.5 J).
        let seven = &per[0].energy;
        assert!(
            close(seven.per_group_j.get(RailGroup::Ps), 2.75),
            "{seven:?}"
        );
        assert!(close(seven.per_group_j.get(RailGroup::Ddr), 0.5));
        assert!(close(seven.total_j(), 3.25));
        // Inference 8: 1.5 s..2 s at 3 W + 0.5 W.
        assert!(close(per[1].energy.total_j(), 1.75));
        assert!(close(per[1].energy.duration_s(), 0.5));
        // The inferences and the untouched edges add up to the total.
        let edges = log.energy(0, S / 2).unwrap().total_j();
        assert!(close(
            edges + seven.total_j() + per[1].energy.total_j(),
            log.total().unwrap().total_j()
        ));
    }

    #[test]
    fn windows_outside_the_samples_are_refused() {
        let log = log(&["VCCINT"], &[(S, &[1]), (2 * S, &[1])], &[(0, 0), (1, S)]);
        assert!(matches!(
            log.energy(0, S).unwrap_err(),
            BoardError::EnergyWindow { first_ns: S, .. }
        ));
        // Past the last sample; an empty window; a mark (at 0) before the first sample.
        assert!(matches!(
            log.energy(S, 3 * S).unwrap_err(),
            BoardError::EnergyWindow {
                end_ns,
                last_ns,
                ..
            } if end_ns == 3 * S && last_ns == 2 * S
        ));
        assert!(matches!(
            log.average_power_w(S, S).unwrap_err(),
            BoardError::EnergyWindow { start_ns, end_ns, .. } if start_ns == S && end_ns == S
        ));
        assert!(matches!(
            log.per_inference().unwrap_err(),
            BoardError::EnergyWindow {
                start_ns: 0,
                first_ns: S,
                ..
            }
        ));
        let no_samples = EnergyLog::new(vec![rail("VCCINT")], vec![], vec![])
            .unwrap()
            .total()
            .unwrap_err()
            .to_string();
        assert!(no_samples.contains("no samples"), "{no_samples}");
    }

    #[test]
    fn malformed_logs_are_refused() {
        let rails = vec![rail("VCCINT")];
        let wide = vec![Sample {
            t_ns: 0,
            power_uw: vec![1, 2],
        }];
        let e = EnergyLog::new(rails.clone(), wide, vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sample 0 has 2 values for 1 rails"), "{e}");
        let backwards = vec![
            Sample {
                t_ns: 5,
                power_uw: vec![1],
            },
            Sample {
                t_ns: 4,
                power_uw: vec![1],
            },
        ];
        let e = EnergyLog::new(rails, backwards, vec![])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sample 1 at 4 ns comes before sample 0 at 5 ns"),
            "{e}"
        );
    }

    proptest! {
        /// Splitting a window anywhere never changes its energy.
        #[test]
        fn energy_is_additive(
            powers in proptest::collection::vec(0u64..10_000_000, 2..20),
            gaps in proptest::collection::vec(1u64..50_000_000, 19),
            split in 0.0f64..1.0,
        ) {
            let mut t = 0;
            let samples: Vec<Sample> = powers
                .iter()
                .enumerate()
                .map(|(i, &p)| {
                    if i > 0 { t += gaps[i - 1]; }
                    Sample { t_ns: t, power_uw: vec![p] }
                })
                .collect();
            let log = EnergyLog::new(vec![rail("VCCINT")], samples, vec![]).unwrap();
            let (first, last) = log.span_ns().unwrap();
            let cut = first + ((last - first) as f64 * split) as u64;
            let whole = log.energy(first, last).unwrap().total_j();
            let parts = log.energy(first, cut).unwrap().total_j() + log.energy(cut, last).unwrap().total_j();
            prop_assert!((whole - parts).abs() <= 1e-9 * whole.max(1e-9), "{} vs {}", whole, parts);
        }
    }
}
