//! The virtual board's power: a documented model of every rail, and the thread that
//! publishes it through the hwmon files. Every figure here is **modelled**, not measured.
//!
//! Each rail draws a constant idle power, and a constant active power while the
//! accelerator runs. The figures reproduce the published ZCU102 demo logs of FiBHA
//! (../shared/REFERENCE.md, the authors' MobileNetV2 runs at full budget: PL 2.35 W, PS
//! about 1.61 W, MGT about 0.23 W) and split them over the rails:
//!
//! | group | idle W | active W | how |
//! | --- | --- | --- | --- |
//! | PS  | 0.980 | 0.980 | the demo's PS figure less the DDR rails; the A53s poll or sleep the same either way |
//! | DDR | 0.570 | 0.630 | `VCCO_PSDDR_504` + `VCCPSDDRPLL`; +0.06 W while running: ~9.3 MB of off-chip traffic per 15 ms inference at 0.097 nJ/B (MCExplorer's ZCU102 figure) |
//! | PL  | 1.670 | 2.350 | active = the demo's FiBHA full-budget PL figure; idle = the lowest PL figure of the same logs (SEML, quarter budget), an upper bound for loaded-but-idle fabric |
//! | MGT | 0.230 | 0.230 | no transceiver is used |
//!
//! so PS + DDR is 1.55 W idle and 1.61 W active. Within a group the split follows what
//! each rail feeds (`VCCINT` carries most of the PL's dynamic power, `VCCPSINTFP` the A53
//! cluster); the per-rail numbers are in [`MODEL`].
//!
//! The accelerator counts as active from the start it accepts for its *modelled* time,
//! cycles / clock (the instance's model until the kernel reports its own count), however
//! long the C simulation takes. Like an INA226, which averages 16 conversions per update,
//! each published value is the average over the last update interval: the time-weighted
//! mix of idle and active power in that window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use fibha_board::zcu102::RAILS;

use crate::error::Result;
use crate::faults::{Fault, Faults};
use crate::hwmon::{PowerOverride, Published, RailFiles};

/// The modelled power of one rail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RailPower {
    /// The rail's schematic name.
    pub name: &'static str,
    /// Its nominal voltage (ZU9EG -2 data sheet levels; the bus voltage the monitor reads).
    pub volts: f64,
    /// Power with the accelerator idle, in watts.
    pub idle_w: f64,
    /// Power with the accelerator running, in watts.
    pub active_w: f64,
}

const fn rail(name: &'static str, volts: f64, idle_w: f64, active_w: f64) -> RailPower {
    RailPower {
        name,
        volts,
        idle_w,
        active_w,
    }
}

/// Every rail's model, in the order of `fibha_board::zcu102::RAILS`.
pub const MODEL: [RailPower; 18] = [
    rail("VCCPSINTFP", 0.85, 0.560, 0.560),
    rail("VCCPSINTLP", 0.85, 0.190, 0.190),
    rail("VCCPSAUX", 1.8, 0.140, 0.140),
    rail("VCCPSPLL", 1.2, 0.030, 0.030),
    rail("MGTRAVCC", 0.85, 0.060, 0.060),
    rail("MGTRAVTT", 1.8, 0.030, 0.030),
    rail("VCCO_PSDDR_504", 1.2, 0.520, 0.580),
    rail("VCCOPS", 3.3, 0.040, 0.040),
    rail("VCCOPS3", 3.3, 0.020, 0.020),
    rail("VCCPSDDRPLL", 1.8, 0.050, 0.050),
    rail("VCCINT", 0.85, 0.900, 1.520),
    rail("VCCBRAM", 0.85, 0.050, 0.110),
    rail("VCCAUX", 1.8, 0.250, 0.250),
    rail("VCC1V2", 1.2, 0.120, 0.120),
    rail("VCC3V3", 3.3, 0.250, 0.250),
    rail("VADJ_FMC", 1.8, 0.100, 0.100),
    rail("MGTAVCC", 0.9, 0.090, 0.090),
    rail("MGTAVTT", 1.2, 0.050, 0.050),
];

/// What a monitor reports, in the hwmon units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// `power1_input`, microwatts.
    pub power_uw: u64,
    /// `curr1_input`, milliamperes.
    pub current_ma: u64,
    /// Bus voltage, millivolts.
    pub bus_mv: u64,
    /// Shunt voltage, millivolts (the drivers round to whole mV).
    pub shunt_mv: u64,
}

impl RailPower {
    /// The reading when the accelerator was active for `active_fraction` (0 to 1) of the
    /// averaging window, across a shunt of `shunt_uohm`.
    pub fn reading(&self, shunt_uohm: u32, active_fraction: f64) -> Reading {
        let f = active_fraction.clamp(0.0, 1.0);
        let watts = self.idle_w + f * (self.active_w - self.idle_w);
        let amps = watts / self.volts;
        Reading {
            power_uw: (watts * 1e6).round() as u64,
            current_ma: (amps * 1e3).round() as u64,
            bus_mv: (self.volts * 1e3).round() as u64,
            shunt_mv: (amps * f64::from(shunt_uohm) * 1e-3).round() as u64,
        }
    }
}

/// Every rail's idle reading, in table order.
pub fn idle_readings() -> Vec<Reading> {
    RAILS
        .iter()
        .zip(&MODEL)
        .map(|(rail, model)| model.reading(rail.shunt_uohm, 0.0))
        .collect()
}

/// One span of modelled accelerator activity.
#[derive(Debug, Clone, Copy)]
struct Span {
    id: u64,
    start: Instant,
    end: Instant,
}

/// When the accelerator was active: written by the device thread, read by the publisher.
#[derive(Debug, Default)]
pub struct Activity {
    spans: Mutex<(u64, Vec<Span>)>,
}

impl Activity {
    /// A run accepted at `start`, expected to take `modelled`; returns its id.
    pub fn begin(&self, start: Instant, modelled: Duration) -> u64 {
        let mut guard = self.lock();
        let (next, spans) = &mut *guard;
        *next += 1;
        spans.push(Span {
            id: *next,
            start,
            end: start + modelled,
        });
        *next
    }

    /// Run `id` reported its own modelled time.
    pub fn settle(&self, id: u64, modelled: Duration) {
        if let Some(span) = self.lock().1.iter_mut().find(|s| s.id == id) {
            span.end = span.start + modelled;
        }
    }

    /// The fabric was reset at `at`: nothing runs past it.
    pub fn cut(&self, at: Instant) {
        for span in &mut self.lock().1 {
            span.end = span.end.min(at);
        }
    }

    /// The fraction of `from..to` covered by activity; forgets spans that ended before
    /// `from`.
    pub fn active_fraction(&self, from: Instant, to: Instant) -> f64 {
        if to <= from {
            return 0.0;
        }
        let mut guard = self.lock();
        let spans = &mut guard.1;
        spans.retain(|s| s.end > from || s.start >= from);
        let mut clipped: Vec<(Instant, Instant)> = spans
            .iter()
            .map(|s| (s.start.max(from), s.end.min(to)))
            .filter(|(a, b)| a < b)
            .collect();
        clipped.sort_by_key(|&(a, _)| a);
        let mut covered = Duration::ZERO;
        let mut reach = from;
        for (a, b) in clipped {
            let a = a.max(reach);
            if b > a {
                covered += b - a;
                reach = b;
            }
        }
        covered.as_secs_f64() / (to - from).as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<Span>)> {
        // A panic elsewhere leaves a list that is still valid.
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Rewrites every rail's files once per update interval.
#[derive(Debug)]
pub struct Publisher {
    rails: Vec<RailFiles>,
    /// What each rail's files hold; `None` while the rail is absent (its fault).
    published: Vec<Option<Published>>,
    faults: Faults,
    update_interval_ms: u64,
    last: Instant,
}

impl Publisher {
    /// A publisher for `rails` (in table order) whose files hold their idle readings (as
    /// the layout creates them), starting its first window now.
    pub fn new(rails: Vec<RailFiles>, faults: Faults, update_interval_ms: u64) -> Self {
        Self {
            published: idle_readings()
                .iter()
                .map(|r| Some(Published::idle(r)))
                .collect(),
            rails,
            faults,
            update_interval_ms,
            last: Instant::now(),
        }
    }

    /// Publishes the average over the window since the last update, applying rail faults.
    pub fn update(&mut self, activity: &Activity) -> Result<()> {
        let now = Instant::now();
        let fraction = activity.active_fraction(self.last, now);
        self.last = now;
        let faults = self.faults.snapshot();
        for ((files, model), published) in self.rails.iter().zip(&MODEL).zip(&mut self.published) {
            let name = files.rail.name;
            if faults.contains(&Fault::RailMissing(name)) {
                if published.take().is_some() {
                    tracing::info!(rail = name, "fault rail-missing: removing its hwmon device");
                    files.remove()?;
                }
                continue;
            }
            let reading = model.reading(files.rail.shunt_uohm, fraction);
            if published.is_none() {
                files.create(&reading, self.update_interval_ms)?;
                *published = Some(Published::idle(&reading));
            }
            let power = if faults.contains(&Fault::RailGarbage(name)) {
                Some(PowerOverride::Garbage)
            } else if faults.contains(&Fault::RailAbsurd(name)) {
                Some(PowerOverride::Absurd)
            } else {
                None
            };
            files.publish(&reading, power, published.as_ref())?;
            *published = Some(Published { reading, power });
        }
        Ok(())
    }

    /// Updates every interval until `stop` is set.
    pub fn run(mut self, activity: &Activity, stop: &AtomicBool) -> Result<()> {
        let period = Duration::from_millis(self.update_interval_ms);
        let mut due = Instant::now() + period;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now < due {
                // Short naps so a stop is noticed within a few ms whatever the period.
                std::thread::sleep((due - now).min(Duration::from_millis(5)));
                continue;
            }
            self.update(activity)?;
            due += period;
            if due < Instant::now() {
                due = Instant::now() + period;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fibha_board::RailGroup;

    fn group_watts(group: RailGroup, active: bool) -> f64 {
        RAILS
            .iter()
            .zip(&MODEL)
            .filter(|(r, _)| r.group == group)
            .map(|(_, m)| if active { m.active_w } else { m.idle_w })
            .sum()
    }

    #[test]
    fn the_model_reproduces_the_published_group_figures() {
        for (rail, model) in RAILS.iter().zip(&MODEL) {
            assert_eq!(rail.name, model.name);
            assert!(model.active_w >= model.idle_w, "{}", model.name);
        }
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(group_watts(RailGroup::Pl, true), 2.35));
        assert!(close(group_watts(RailGroup::Pl, false), 1.67));
        let ps_ddr =
            |active| group_watts(RailGroup::Ps, active) + group_watts(RailGroup::Ddr, active);
        assert!(close(ps_ddr(true), 1.61));
        assert!(close(ps_ddr(false), 1.55));
        assert!(close(group_watts(RailGroup::Mgt, true), 0.23));
    }

    #[test]
    fn readings_are_consistent_in_hwmon_units() {
        let vccint = &MODEL[10];
        let idle = vccint.reading(2000, 0.0);
        assert_eq!(idle.power_uw, 900_000);
        assert_eq!(idle.bus_mv, 850);
        assert_eq!(idle.current_ma, 1059);
        assert_eq!(idle.shunt_mv, 2); // 1.059 A x 2 mOhm
        assert_eq!(vccint.reading(2000, 1.0).power_uw, 1_520_000);
        assert_eq!(vccint.reading(2000, 0.5).power_uw, 1_210_000);
        assert_eq!(vccint.reading(2000, 7.0).power_uw, 1_520_000);
    }

    #[test]
    fn activity_is_the_union_of_spans_over_the_window() {
        let activity = Activity::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let a = activity.begin(t0, ms(10));
        activity.begin(t0 + ms(5), ms(10)); // overlaps: union is 0..15 ms
        assert!((activity.active_fraction(t0, t0 + ms(30)) - 0.5).abs() < 1e-9);
        activity.settle(a, ms(2));
        assert!((activity.active_fraction(t0, t0 + ms(30)) - 12.0 / 30.0).abs() < 1e-9);
        activity.cut(t0 + ms(8));
        assert!((activity.active_fraction(t0, t0 + ms(10)) - 0.5).abs() < 1e-9);
        assert_eq!(activity.active_fraction(t0 + ms(20), t0 + ms(30)), 0.0);
        assert_eq!(activity.active_fraction(t0, t0), 0.0);
    }
}
