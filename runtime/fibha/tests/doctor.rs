//! `fibha doctor` on the virtual board: a healthy board passes every check, and each fault
//! the board can inject fails exactly the check that names it, with its fix.

mod common;

use std::path::Path;

use common::{Board, board_tools, fibha, instance};

/// `fibha doctor --json` on `board` for the shipped MobileNetV2's build.
fn doctor(board: &Board, model: &Path, extra: &[&str]) -> (common::Ran, serde_json::Value) {
    let root = board.root_arg();
    let mut args = vec![
        "doctor",
        "--json",
        "--root",
        root.as_str(),
        "--model",
        model.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let ran = fibha(&args);
    let doc = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", ran.stdout, ran.stderr));
    (ran, doc)
}

/// The checks of `doc` with the verdict `verdict`.
fn with_verdict<'a>(doc: &'a serde_json::Value, verdict: &str) -> Vec<&'a str> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == verdict)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_healthy_virtual_board_passes_every_check() {
    let Some((vboard, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "doctor");
    let board = Board::start(&vboard, &[]);
    let (ran, doc) = doctor(&board, model, &[]);
    assert!(ran.status.success(), "{}", ran.stdout);
    assert_eq!(doc["healthy"], true);
    let names = with_verdict(&doc, "pass");
    assert_eq!(names, fibha::doctor::CHECKS);
    // Each line says what it found.
    let detail = |name: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        detail("uio").contains("driver uio_pdrv_genirq (of_id generic-uio)"),
        "{}",
        detail("uio")
    );
    assert!(detail("design_id").contains("the instance's plan hash"));
    assert!(detail("power_rails").starts_with("18 of 18 rails found"));
    // The text form: one line per check, then the verdict.
    let root = board.root_arg();
    let text = fibha(&[
        "doctor",
        "--root",
        &root,
        "--model",
        model.to_str().unwrap(),
    ]);
    assert!(
        text.ok().ends_with("every check passed\n"),
        "{}",
        text.stdout
    );
}

/// Injects `fault` and checks that `check` alone fails, with a fix, and the exit status is 1.
fn fails_only(fault: &str, check: &str, extra: &[&str]) {
    let Some((vboard, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "doctor");
    let board = Board::start(&vboard, &[]);
    board.set_fault(fault, true);
    let (ran, doc) = doctor(&board, model, extra);
    assert_eq!(ran.status.code(), Some(1), "{fault}: {}", ran.stdout);
    assert_eq!(
        with_verdict(&doc, "fail"),
        [check],
        "{fault}: {}",
        ran.stdout
    );
    let failed = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .unwrap();
    assert_eq!(
        failed["fix"].as_str().unwrap(),
        fibha::doctor::fix(check),
        "{fault}"
    );
}

#[test]
fn a_failing_bitstream_load_fails_the_fpga_manager_check() {
    fails_only("load-fail", "fpga_manager", &[]);
}

#[test]
fn a_hung_kernel_fails_the_kernel_check() {
    fails_only("hang", "kernel", &["--timeout-ms", "800"]);
}

#[test]
fn a_kernel_of_another_plan_fails_the_design_id_check() {
    fails_only("bad-version", "design_id", &[]);
}

#[test]
fn a_lost_interrupt_fails_the_interrupt_check() {
    fails_only("lost-irq", "interrupt", &[]);
}

#[test]
fn a_corrupted_output_fails_the_inference_check() {
    fails_only("corrupt-output", "inference", &[]);
}

#[test]
fn a_missing_rail_fails_the_power_rails_check() {
    fails_only("rail-missing:VCCINT", "power_rails", &[]);
}

#[test]
fn a_rail_reading_garbage_fails_the_power_rails_check() {
    fails_only("rail-garbage:VCCBRAM", "power_rails", &[]);
}

#[test]
fn an_absurd_rail_reading_fails_the_power_rails_check() {
    fails_only("rail-absurd:VCCAUX", "power_rails", &[]);
}
