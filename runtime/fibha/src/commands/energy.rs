//! `fibha energy`: an idle baseline, then N inferences with the power rails sampled and
//! each inference marked; power per rail group idle and active, joules per inference
//! (total and above idle), inferences per joule. Writes `energy.json` and
//! `energy-power.svg` under `--out`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use fibha::energy::{self, Analysis};
use fibha::report::{self, EnergyReport, Group, Outcome, PerInference, Phase, RailsInfo};
use fibha::stop;

use super::bench::{self, emit};
use super::{Status, status, write_report_file};
use crate::{InputArgs, ModelArgs, ReportArgs};

/// Runs `fibha energy`.
pub fn run(
    model: &ModelArgs,
    n: u64,
    idle_s: f64,
    period_ms: u64,
    out: &ReportArgs,
    input_args: &InputArgs,
) -> Result<Status> {
    let (mut prepared, inputs) = bench::prepare_with_inputs(model, input_args, false)?;
    let rails = energy::discover(&super::board_root(&prepared, model))?;
    let rails_found: Vec<&'static str> = rails.readers.iter().map(|r| r_name(r)).collect();
    let period = Duration::from_millis(period_ms);
    let (mut handle, idle_end) = energy::start_with_baseline(
        rails.readers,
        period,
        Duration::from_secs_f64(idle_s),
        &stop::requested,
    )?;
    let (sink, outcome) = bench::measure(
        &mut prepared,
        &inputs,
        n,
        0,
        "measuring energy",
        Some(&mut handle),
    );
    let bench::Collect {
        records,
        first_skip,
        ..
    } = sink;
    // A rail that failed mid-run ended the run; the report covers what was measured
    // before it, and the run ends in that error.
    let measured = handle
        .stop_measured()
        .context("the power measurement failed (the run's energy cannot be attributed)")?;
    let log = measured.log;
    let modelled = prepared.info.virtual_board;
    let modelled_period = energy::modelled_period(&records, modelled);
    let mut outcome = outcome;
    if let Some(failure) = measured.failure
        && outcome.error.is_none()
    {
        outcome.error = Some(format!("the power measurement stopped: {failure}"));
    }
    let dropped_marks = measured.dropped_marks;
    let error = outcome.error.clone();
    let analysis = match energy::analyse(&log, idle_end, modelled_period) {
        _ if records.is_empty() => None,
        Ok(analysis) => Some(analysis),
        // The error that ended the run (a rail that failed before any inference was
        // measured) says more than an empty log.
        Err(_) if error.is_some() => None,
        Err(err) => return Err(err.into()),
    };
    let Some(analysis) = analysis else {
        if stop::requested() && error.is_none() {
            eprintln!("fibha: interrupted before any inference; no energy to report");
            return Ok(Status::Interrupted);
        }
        match error {
            Some(err) => bail!("no inference completed: {err}"),
            None => bail!(
                "no inference completed: every input was unreadable ({})",
                first_skip.unwrap_or_default()
            ),
        }
    };
    let mut notes = prepared
        .runner
        .accelerator()
        .map(|a| a.stats().notes())
        .unwrap_or_default();
    notes.extend(report::cycle_note(&prepared.info, &records));
    if dropped_marks > 0 {
        notes.push(format!(
            "{dropped_marks} inference mark(s) were dropped: the sampler thread fell more than {} marks behind (a long --period-ms at a high rate); each dropped mark merges its inference's energy into the one before, so per-inference spread is understated (totals are unaffected)",
            fibha_board::MARK_CAPACITY
        ));
    }
    if !rails.missing.is_empty() {
        notes.push(format!(
            "rails not found (their power is not counted): {}",
            rails.missing.join(", ")
        ));
    }
    notes.extend(
        rails
            .unplaced
            .iter()
            .map(|u| format!("monitor matched no rail: {u}")),
    );
    let mut report = build(
        &prepared.info,
        outcome,
        analysis,
        RailsInfo {
            found: rails_found,
            missing: rails.missing,
            unplaced: rails.unplaced,
            period_ms: period.as_secs_f64() * 1e3,
            samples: log.samples().len(),
        },
        notes,
    );
    report.driver = prepared.runner.accelerator().map(|a| a.stats().clone());
    std::fs::create_dir_all(&out.out)
        .with_context(|| format!("{}: cannot create the report directory", out.out.display()))?;
    let svg = out.out.join("energy-power.svg");
    energy::plot(&svg, &log, idle_end, modelled)?;
    report.files = vec![
        out.out.join("energy.json").display().to_string(),
        svg.display().to_string(),
    ];
    let json = serde_json::to_vec_pretty(&report)?;
    write_report_file(&out.out, "energy.json", &json)?;
    emit(&json, &report.text(), out.json)?;
    if let Some(err) = error {
        bail!("{err}");
    }
    Ok(status())
}

fn r_name(rail: &fibha_board::power::HwmonRail) -> &'static str {
    fibha_board::RailReader::rail(rail).name
}

fn build(
    info: &report::RunInfo,
    outcome: Outcome,
    analysis: Analysis,
    rails: RailsInfo,
    notes: Vec<String>,
) -> EnergyReport {
    let modelled = info.virtual_board;
    let group = |figures: Phase| Group { modelled, figures };
    let per: PerInference = analysis.per_inference;
    EnergyReport {
        command: "energy",
        run: info.clone(),
        outcome,
        modelled,
        modelled_note: modelled.then(|| {
            "virtual board: its rails report the documented power model of tools/vboard (idle and active per rail group, the fabric active for each run's cycle register at the plan's clock: the timed C simulation of the instance's HLS code); joules per inference are the idle power over the pipeline's modelled period plus the modelled energy above idle".to_string()
        }),
        rails,
        idle: group(analysis.idle),
        active: group(analysis.active),
        per_inference: Group {
            modelled,
            figures: per,
        },
        driver: None,
        timing: info.timing.clone(),
        notes,
        peers: report::peers_for(&info.model),
        files: Vec::new(),
    }
}
