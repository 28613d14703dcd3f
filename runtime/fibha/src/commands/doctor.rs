//! `fibha doctor`: the board checked for a run, one line per check, each failure with its
//! fix (`fibha::doctor`); exit status 1 when any check fails.

use std::io::Write;

use anyhow::Result;
use fibha::doctor;
use fibha::instance::Instance;
use fibha::session::{BoardKind, BoardSession};
use serde::Serialize;

use super::{Status, driver_options, instance_dir};
use crate::ModelArgs;

#[derive(Serialize)]
struct DoctorReport<'a> {
    command: &'static str,
    board: BoardKind,
    root: String,
    instance: String,
    healthy: bool,
    checks: &'a [doctor::Check],
}

/// Runs `fibha doctor`.
pub fn run(args: &ModelArgs, json: bool) -> Result<Status> {
    super::install_stop()?;
    let dir = instance_dir(args)?;
    let session = BoardSession::connect(args.root.as_deref())?;
    let report = doctor::examine(session.root(), &dir, |instance: &Instance| {
        driver_options(args, &session, instance)
    });
    let mut out = std::io::stdout().lock();
    if json {
        let doc = DoctorReport {
            command: "doctor",
            board: session.kind(),
            root: session.root().path().display().to_string(),
            instance: dir.display().to_string(),
            healthy: report.healthy(),
            checks: &report.checks,
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        let board = if session.is_virtual() {
            "the virtual board (figures are modelled)"
        } else {
            "the board"
        };
        writeln!(
            out,
            "fibha doctor: {board} at {}, instance {}",
            session.root().path().display(),
            dir.display()
        )?;
        write!(out, "{}", doctor::render(&report))?;
    }
    Ok(if report.healthy() {
        super::status()
    } else {
        Status::Unhealthy
    })
}
