//! Plan against code: the instance's C-simulation kernel run on its bundle under the timed
//! C simulation (`fibha_kernel --timing`: one image for the latency and the breakdown,
//! three streaming for the period), and its cycles set beside the plan's per engine, per
//! SEML layer, per image and per image streaming ([`fibha_model::timing::TimingReport`]).
//!
//! The kernel's report names processes by their path in the DATAFLOW tree
//! (`fibha_top/run/.../sesl_chain/e2.firb`: the generated configuration names each SESL
//! process after its plan engine) and the SEML phases by spans (`seml_handoff`,
//! `seml_layer` with the descriptor index, which is the position of the layer among the
//! plan's SEML layers, `seml_copy_out`).

use std::path::Path;
use std::process::Command;

use fibha_model::timing::{
    Cycles, EngineTiming, FORMAT, LayerTiming, PortTraffic, ScheduleFinding, TimingReport,
};
use serde::Deserialize;

use crate::design::Part;
use crate::network::LayerKind;
use crate::report::PlanDoc;

/// Why the timing run failed.
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    /// The kernel could not run or ended badly.
    #[error("running {command}: {detail}")]
    Kernel {
        /// The command line.
        command: String,
        /// What went wrong (its output).
        detail: String,
    },
    /// Its report does not parse or does not match the plan.
    #[error("the timing report of {kernel}: {detail}")]
    Report {
        /// The kernel.
        kernel: String,
        /// What is wrong.
        detail: String,
    },
}

/// `fibha_kernel --timing` output.
#[derive(Debug, Deserialize)]
struct KernelOutput {
    cycle_register: u64,
    first_call_cycle_register: u64,
    stream: StreamJson,
    timing: KernelTiming,
}

/// The streaming run: its images and its cycle register.
#[derive(Debug, Deserialize)]
struct StreamJson {
    images: u32,
    cycle_register: u64,
}

#[derive(Debug, Deserialize)]
struct KernelTiming {
    processes: Vec<ProcessJson>,
    spans: Vec<SpanJson>,
    ports: Vec<PortJson>,
    schedule: Vec<FindingJson>,
}

#[derive(Debug, Deserialize)]
struct ChargeJson {
    cause: String,
    what: String,
    cycles: u64,
}

#[derive(Debug, Deserialize)]
struct ProcessJson {
    path: String,
    charges: Vec<ChargeJson>,
}

#[derive(Debug, Deserialize)]
struct SpanJson {
    kind: String,
    index: u32,
    start: u64,
    end: u64,
    charges: Vec<ChargeJson>,
}

#[derive(Debug, Deserialize)]
struct DirectionJson {
    transactions: u64,
    bytes: u64,
}

#[derive(Debug, Deserialize)]
struct PortJson {
    bundle: String,
    read: DirectionJson,
    write: DirectionJson,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "finding")]
struct FindingJson {
    #[serde(rename = "loop")]
    loop_name: String,
    source: String,
    array: String,
    accesses: u32,
    ports: u32,
    declared_ii: u32,
    effective_ii: u32,
}

/// What bounds a process or span: its largest charge, in words.
fn bound(charges: &[ChargeJson]) -> String {
    let Some(top) = charges.iter().max_by_key(|c| c.cycles) else {
        return "nothing (no cycles)".into();
    };
    let what = |prefix: &str| {
        if top.what.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix} {}", top.what)
        }
    };
    match top.cause.as_str() {
        "issue" => "compute (iterations at their II)".into(),
        "drain" => what("pipeline drains of"),
        "bank conflict" => what("bank conflicts raising the II of"),
        "input stream" => what("its input FIFO (starved):"),
        "output stream" => what("its output FIFO (full):"),
        "m_axi" => what("memory port"),
        "sequential" => "straight-line code between loops".into(),
        "dataflow" => "its DATAFLOW processes".into(),
        other => other.to_string(),
    }
}

fn cycles_of(charges: &[ChargeJson], cause: &str) -> u64 {
    charges
        .iter()
        .filter(|c| c.cause == cause)
        .map(|c| c.cycles)
        .sum()
}

/// Runs `kernel --timing bundle` and sets its figures beside the plan's.
pub fn measure(kernel: &Path, bundle: &Path, doc: &PlanDoc) -> Result<TimingReport, TimingError> {
    let command = format!("{} --timing {}", kernel.display(), bundle.display());
    let output = Command::new(kernel)
        .arg("--timing")
        .arg(bundle)
        .output()
        .map_err(|e| TimingError::Kernel {
            command: command.clone(),
            detail: format!("cannot start: {e}"),
        })?;
    if !output.status.success() {
        return Err(TimingError::Kernel {
            command,
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let parsed: KernelOutput =
        serde_json::from_slice(&output.stdout).map_err(|e| TimingError::Report {
            kernel: kernel.display().to_string(),
            detail: e.to_string(),
        })?;
    compare(doc, &parsed).map_err(|detail| TimingError::Report {
        kernel: kernel.display().to_string(),
        detail,
    })
}

fn compare(doc: &PlanDoc, k: &KernelOutput) -> Result<TimingReport, String> {
    let clock_hz = doc.board.clock_mhz * 1e6;
    let plan = |ms: f64| (ms * 1e-3 * clock_hz).round() as u64;
    let f = &doc.modelled.fibha;
    let span = |kind: &str| k.timing.spans.iter().find(|s| s.kind == kind);
    let span_cycles = |kind: &str| span(kind).map_or(0, |s| s.end - s.start);

    let mut parts = Vec::new();
    let sesl = span("sesl_part");
    parts.push(EngineTiming {
        name: "sesl part".into(),
        cycles: Cycles {
            plan_cycles: plan(f.sesl_ms),
            timed_cycles: span_cycles("sesl_part"),
        },
        bound: sesl.map_or_else(|| "not run".into(), |s| bound(&s.charges)),
    });
    let seml_spans: Vec<&SpanJson> = k
        .timing
        .spans
        .iter()
        .filter(|s| s.kind == "seml_layer")
        .collect();
    // The SEML part's own time: its layers, the copy-out, and the hand-off less the cycles
    // it waited for the SESL part to produce the map.
    let handoff = span("seml_handoff");
    let handoff_own = handoff.map_or(0, |s| {
        (s.end - s.start).saturating_sub(cycles_of(&s.charges, "input stream"))
    });
    let seml_timed: u64 = seml_spans.iter().map(|s| s.end - s.start).sum::<u64>()
        + span_cycles("seml_copy_out")
        + handoff_own;
    let seml_plan = plan(f.seml_ms);
    let mut seml_charges: Vec<ChargeJson> = Vec::new();
    for cause in [
        "issue",
        "drain",
        "bank conflict",
        "m_axi",
        "sequential",
        "input stream",
        "output stream",
        "dataflow",
    ] {
        let cycles = seml_spans
            .iter()
            .map(|s| cycles_of(&s.charges, cause))
            .sum();
        seml_charges.push(ChargeJson {
            cause: cause.into(),
            what: String::new(),
            cycles,
        });
    }
    parts.push(EngineTiming {
        name: "seml part".into(),
        cycles: Cycles {
            plan_cycles: seml_plan,
            timed_cycles: seml_timed,
        },
        bound: bound(&seml_charges),
    });
    parts.push(EngineTiming {
        name: "checks and descriptors".into(),
        cycles: Cycles {
            plan_cycles: 0,
            timed_cycles: span("sesl_part").map_or(k.cycle_register, |s| s.start),
        },
        bound: "descriptor reads (the SESL weights are on chip from the first call)".into(),
    });

    // A dedicated engine's own time: the busiest of its processes (its slowest stage), the
    // cycles it waited on its streams left out.
    let busy = |p: &ProcessJson| -> u64 {
        p.charges
            .iter()
            .filter(|c| {
                !matches!(
                    c.cause.as_str(),
                    "input stream" | "output stream" | "dataflow"
                )
            })
            .map(|c| c.cycles)
            .sum()
    };
    let mut engines = Vec::new();
    for e in doc.engines.iter().filter(|e| e.part == Part::Sesl) {
        let (leaf, inner) = (format!("/{}", e.name), format!("/{}/", e.name));
        let mine: Vec<&ProcessJson> = k
            .timing
            .processes
            .iter()
            .filter(|p| p.path.ends_with(&leaf) || p.path.contains(&inner))
            .collect();
        let slowest = mine
            .iter()
            .max_by_key(|p| busy(p))
            .ok_or_else(|| format!("no process for the plan's engine {}", e.name))?;
        engines.push(EngineTiming {
            name: e.name.clone(),
            cycles: Cycles {
                plan_cycles: e.cycles,
                timed_cycles: busy(slowest),
            },
            bound: format!(
                "{}: {}",
                slowest.path.rsplit('/').next().unwrap_or(""),
                bound(&slowest.charges)
            ),
        });
    }

    let seml_layers: Vec<_> = doc
        .layers
        .iter()
        // One span per descriptor: the residual ADDs run inside their pointwise layers.
        .filter(|l| l.part == Part::Seml && l.kind != LayerKind::Add)
        .collect();
    for e in doc.engines.iter().filter(|e| e.part == Part::Seml) {
        let timed = seml_spans
            .iter()
            .filter(|s| {
                seml_layers
                    .get(s.index as usize)
                    .is_some_and(|l| l.engine == e.name)
            })
            .map(|s| s.end - s.start)
            .sum();
        engines.push(EngineTiming {
            name: e.name.clone(),
            cycles: Cycles {
                plan_cycles: e.cycles,
                timed_cycles: timed,
            },
            bound: "its layers (seml_layer spans)".into(),
        });
    }
    if seml_spans.len() != seml_layers.len() {
        return Err(format!(
            "{} SEML layer spans for the plan's {} SEML layers",
            seml_spans.len(),
            seml_layers.len()
        ));
    }
    let layers = seml_spans
        .iter()
        .map(|s| {
            let l = seml_layers[s.index as usize];
            LayerTiming {
                index: s.index,
                layer: l.name.clone(),
                engine: l.engine.clone(),
                cycles: Cycles {
                    plan_cycles: (l.modelled_us * 1e-6 * clock_hz).round() as u64,
                    timed_cycles: s.end - s.start,
                },
                bound: bound(&s.charges),
            }
        })
        .collect();

    let report = TimingReport {
        format: FORMAT.into(),
        source: "timed C simulation of the instance's HLS code (hls/csim): one image, and a stream of images, on its bundle"
            .into(),
        clock_mhz: doc.board.clock_mhz,
        image: Cycles {
            plan_cycles: plan(f.latency_ms).max(1),
            timed_cycles: k.cycle_register,
        },
        first_call_cycles: k.first_call_cycle_register,
        period: Cycles {
            plan_cycles: plan(f.period_ms).max(1),
            timed_cycles: (k.stream.cycle_register.saturating_sub(k.cycle_register)
                / u64::from(k.stream.images.saturating_sub(1)).max(1))
            .max(1),
        },
        stream_images: k.stream.images,
        parts,
        engines,
        seml_layers: layers,
        schedule: k
            .timing
            .schedule
            .iter()
            .map(|s| ScheduleFinding {
                loop_name: s.loop_name.clone(),
                source: s.source.clone(),
                array: s.array.clone(),
                accesses: s.accesses,
                ports: s.ports,
                declared_ii: s.declared_ii,
                effective_ii: s.effective_ii,
            })
            .collect(),
        ports: k
            .timing
            .ports
            .iter()
            .map(|p| PortTraffic {
                bundle: p.bundle.clone(),
                read_bytes: p.read.bytes,
                read_transactions: p.read.transactions,
                write_bytes: p.write.bytes,
                write_transactions: p.write.transactions,
            })
            .collect(),
    };
    report.validate()?;
    Ok(report)
}
