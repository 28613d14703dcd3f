//! The timing report of a build directory (`timing.json`): the plan's modelled cycles
//! next to the cycles the timed C simulation of the instance's HLS code takes, per engine,
//! per SEML layer and per image, with what bounds each, the schedule check's findings and
//! the traffic on every m_axi port.
//!
//! `fibha-compile build` writes it (it runs the instance's C-simulation kernel once on the
//! bundle); `fibha bench` and `fibha energy` read it from the build directory to print the
//! plan against the code. Both figures are modelled: the plan's by the compiler's
//! analytical model, the timed ones by the timed C simulation (hls/README.md). Neither is a
//! measurement on a board.
//!
//! Invariant: a report that [`TimingReport::validate`] accepts has the current format tag,
//! a positive clock, a positive cycle count per image and finite ratios.

use serde::{Deserialize, Serialize};

/// The report's file name in a build directory.
pub const FILE_NAME: &str = crate::manifest::layout::TIMING;
/// The format tag a report carries.
pub const FORMAT: &str = "fibha-timing/2";
/// How far the timed C simulation may exceed the plan, for one image, for the period of
/// images streaming and for every engine, before `fibha-compile build` refuses the plan.
pub const PLAN_TOLERANCE: f64 = 1.25;

/// A pair of cycle counts: the plan's and the timed C simulation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cycles {
    /// The compiler's analytical model.
    pub plan_cycles: u64,
    /// The timed C simulation of the instance's HLS code.
    pub timed_cycles: u64,
}

impl Cycles {
    /// timed / plan (infinite when the plan charges nothing).
    pub fn ratio(&self) -> f64 {
        self.timed_cycles as f64 / self.plan_cycles as f64
    }
}

/// One engine of the SESL part, or one part of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineTiming {
    /// The plan's engine name (`e2.firb`) or the part (`sesl part`).
    pub name: String,
    /// Cycles per image. For an engine of the SESL chain the timed figure is the engine's
    /// own time: the busiest of its processes (its slowest stage), less the cycles it
    /// waited for its input or its output; for an SEML engine, its layers' spans.
    #[serde(flatten)]
    pub cycles: Cycles,
    /// What bounds it in the timed C simulation (its largest charge).
    pub bound: String,
}

/// One SEML layer (one descriptor of the bundle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerTiming {
    /// Descriptor index.
    pub index: u32,
    /// The plan's layer name (`op19.dw`).
    pub layer: String,
    /// The engine that runs it (`seml.dw`).
    pub engine: String,
    /// Cycles of the layer.
    #[serde(flatten)]
    pub cycles: Cycles,
    /// What bounds it in the timed C simulation.
    pub bound: String,
}

/// A pipelined loop whose II the schedule check raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFinding {
    /// The loop's label.
    pub loop_name: String,
    /// `file:line` of the loop.
    pub source: String,
    /// The array whose bank is oversubscribed.
    pub array: String,
    /// Accesses to one bank in one iteration.
    pub accesses: u32,
    /// The bank's ports.
    pub ports: u32,
    /// The II the pragma declares.
    pub declared_ii: u32,
    /// The II the accesses need.
    pub effective_ii: u32,
}

/// Traffic of one m_axi bundle per image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortTraffic {
    /// The bundle (`gmem0`).
    pub bundle: String,
    /// Bytes read.
    pub read_bytes: u64,
    /// Read transactions.
    pub read_transactions: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Write transactions.
    pub write_transactions: u64,
}

/// `timing.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingReport {
    /// [`FORMAT`].
    pub format: String,
    /// What produced the timed figures.
    pub source: String,
    /// The accelerator clock both figures are counted in, MHz.
    pub clock_mhz: f64,
    /// One image, from ap_start to ap_done (the cycle register), the SESL weights already
    /// on chip from an earlier call with the bundle: the latency.
    pub image: Cycles,
    /// The first call with a bundle, which loads the SESL weights (timed C simulation).
    pub first_call_cycles: u64,
    /// Cycles per image with images streaming through one run (the SESL part on image
    /// n + 1 while the SEML part computes image n): the inverse of the throughput.
    pub period: Cycles,
    /// Images of the streaming run the period comes from.
    pub stream_images: u32,
    /// The parts of a run (checks and weight loads, the SESL part, the SEML part).
    pub parts: Vec<EngineTiming>,
    /// The SESL part's engines.
    pub engines: Vec<EngineTiming>,
    /// The SEML layers, in descriptor order.
    pub seml_layers: Vec<LayerTiming>,
    /// Loops whose II the schedule check raised.
    pub schedule: Vec<ScheduleFinding>,
    /// m_axi traffic per bundle.
    pub ports: Vec<PortTraffic>,
}

impl TimingReport {
    /// Checks the invariants; the error says which field is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, expected {FORMAT:?}", self.format));
        }
        if !(self.clock_mhz > 0.0 && self.clock_mhz.is_finite()) {
            return Err(format!("clock_mhz is {}, expected > 0", self.clock_mhz));
        }
        if self.image.plan_cycles == 0 || self.image.timed_cycles == 0 {
            return Err("image: plan_cycles and timed_cycles must be positive".into());
        }
        if self.period.plan_cycles == 0 || self.period.timed_cycles == 0 || self.stream_images < 2 {
            return Err(
                "period: plan_cycles and timed_cycles must be positive, from at least 2 images"
                    .into(),
            );
        }
        Ok(())
    }

    /// Where the timed figure exceeds the plan's by more than [`PLAN_TOLERANCE`]: the
    /// image, the period and every engine, each with both figures.
    pub fn exceeding(&self) -> Vec<String> {
        let whole = [("one image", &self.image), ("period", &self.period)];
        whole
            .into_iter()
            .chain(self.engines.iter().map(|e| (e.name.as_str(), &e.cycles)))
            .filter(|(_, c)| c.plan_cycles > 0 && c.ratio() > PLAN_TOLERANCE)
            .map(|(name, c)| {
                format!(
                    "{name}: the timed C simulation takes {} cycles, the plan {} ({:.2}x, more than {PLAN_TOLERANCE}x)",
                    c.timed_cycles,
                    c.plan_cycles,
                    c.ratio()
                )
            })
            .collect()
    }

    /// Milliseconds of `cycles` at the report's clock.
    pub fn ms(&self, cycles: u64) -> f64 {
        cycles as f64 / (self.clock_mhz * 1e3)
    }

    /// The plan-against-code table, for a terminal.
    pub fn table(&self) -> String {
        let r = self;
        let mut o = String::new();
        let ratio = |c: &Cycles| {
            if c.plan_cycles == 0 {
                "-".to_string()
            } else {
                format!("{:.2}x", c.ratio())
            }
        };
        let mut row = |name: &str, c: &Cycles, bound: &str| {
            o.push_str(&format!(
                "  {name:<34} {:>12} {:>12} {:>8}  {bound}\n",
                c.plan_cycles,
                c.timed_cycles,
                ratio(c)
            ));
        };
        row("image (cycle register)", &r.image, "");
        row(
            "first call (loads the SESL weights)",
            &Cycles {
                plan_cycles: 0,
                timed_cycles: r.first_call_cycles,
            },
            "",
        );
        row(
            &format!("period ({} images streaming)", r.stream_images),
            &r.period,
            "",
        );
        for p in &r.parts {
            row(&p.name, &p.cycles, &p.bound);
        }
        for e in &r.engines {
            row(&e.name, &e.cycles, &e.bound);
        }
        for l in &r.seml_layers {
            row(&format!("{} on {}", l.layer, l.engine), &l.cycles, &l.bound);
        }
        let mut head = format!(
            "timing: plan (analytical model) against code (timed C simulation), cycles at {} MHz\n  {:<34} {:>12} {:>12} {:>8}  bound (timed)\n",
            r.clock_mhz, "", "plan", "timed", "ratio"
        );
        head.push_str(&o);
        for f in &r.schedule {
            head.push_str(&format!(
                "  schedule check: {} ({}) on {}: {} accesses to a {}-port bank per iteration, II {} -> {}\n",
                f.loop_name, f.source, f.array, f.accesses, f.ports, f.declared_ii, f.effective_ii
            ));
        }
        for p in &r.ports {
            head.push_str(&format!(
                "  m_axi {}: {} B read in {} transactions, {} B written in {}\n",
                p.bundle, p.read_bytes, p.read_transactions, p.write_bytes, p.write_transactions
            ));
        }
        head
    }
}
