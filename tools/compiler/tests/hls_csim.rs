//! The HLS C simulation under `cargo test`: `make -C hls csim` (every testbench with
//! `-Wall -Wextra -Werror`, the register-map staleness check of `hls/include/fibha/regmap.hpp`
//! and `runtime/model/src/device.rs`, the Vitis scripts with stubbed commands, the C++14
//! check of the synthesizable sources, the virtual-board kernel adapter), then `make -C hls
//! csim-asan` (the same testbenches under AddressSanitizer and UndefinedBehaviorSanitizer);
//! every testbench `make -C hls list-testbenches` names must report PASS. About 40 s from a
//! clean `hls/build` on 2 cores; make rebuilds only what changed.
//!
//! `mobilenet_v2_layers_match_the_tflite_goldens` (ignored by default: it needs the
//! project's virtual environment with ai-edge-litert, `FIBHA_VENV` or `.venv`; scripts/test
//! makes it and runs the ignored tests) exports every MobileNetV2 layer with TFLite's
//! reference kernels and runs each through the testbenches that take it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// One make at a time: the tests share `hls/build`.
static MAKE: Mutex<()> = Mutex::new(());

fn hls() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hls")
}

/// `make -C hls ARGS...`: its log, after checking it succeeded.
fn make(args: &[&str]) -> String {
    let _one = MAKE.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let output = Command::new("make")
        .arg("-C")
        .arg(hls())
        .args(["-j2", "--no-print-directory"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run make (needed for the HLS C simulation): {e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "make -C hls {args:?} failed:\n{log}"
    );
    println!(
        "timing: make -C hls {args:?}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    log
}

/// The testbenches that reported PASS, in order.
fn passed(log: &str) -> Vec<&str> {
    log.lines()
        .filter_map(|l| l.strip_suffix(": PASS"))
        .collect()
}

#[test]
fn hls_c_simulation_passes_with_and_without_sanitizers() {
    let listed = make(&["list-testbenches"]);
    let testbenches: Vec<&str> = listed.split_whitespace().collect();
    assert!(testbenches.len() >= 10, "{listed}");
    for target in ["csim", "csim-asan"] {
        let log = make(&[target, "TFLITE_GOLDENS=no"]);
        assert_eq!(passed(&log), testbenches, "make -C hls {target}:\n{log}");
    }
}

#[test]
#[ignore = "needs the project's virtual environment with ai-edge-litert (FIBHA_VENV or .venv; scripts/test makes it and runs the ignored tests)"]
fn mobilenet_v2_layers_match_the_tflite_goldens() {
    let venv = std::env::var_os("FIBHA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| hls().join("../.venv"));
    let python = venv.join("bin/python");
    let log = make(&[
        "tflite-goldens",
        &format!("VENV_PYTHON={}", python.display()),
    ]);
    // Every exported layer directory went through the SEML or FIRB testbench, and every
    // testbench that took goldens passed.
    let exported: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("export_tflite_goldens: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no export count:\n{log}"));
    let run = |tb: &str| -> usize {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("== {tb} (")))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(run("tb_firb") + run("tb_seml"), exported, "{log}");
    let ok = log
        .lines()
        .filter(|l| l.trim_start().starts_with("ok   golden"))
        .count();
    assert!(
        ok >= exported,
        "{ok} layers compared equal of {exported}:\n{log}"
    );
    assert_eq!(
        passed(&log),
        [
            "tb_firb",
            "tb_seml",
            "tb_sesl_conv",
            "tb_sesl_dw",
            "tb_sesl_pw"
        ],
        "{log}"
    );
}
