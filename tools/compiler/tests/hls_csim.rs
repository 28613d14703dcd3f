//! The HLS C simulation under `cargo test`: `make -C hls csim` (every testbench with
//! `-Wall -Wextra -Werror`, the register-map staleness check of `hls/include/fibha/regmap.hpp`
//! and `runtime/model/src/device.rs`, the Vitis scripts with stubbed commands, the C++14
//! check of the synthesizable sources, the virtual-board kernel adapter, and the MobileNetV2
//! layer goldens where `.venv` has the TFLite interpreter), then `make -C hls csim-asan`
//! (the same testbenches under AddressSanitizer and UndefinedBehaviorSanitizer). About 40 s
//! from a clean `hls/build` on 2 cores; make rebuilds only what changed.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn make(target: &str) {
    let hls = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hls");
    let started = Instant::now();
    let output = Command::new("make")
        .arg("-C")
        .arg(&hls)
        .args(["-j2", "--no-print-directory", target])
        .output()
        .unwrap_or_else(|e| panic!("cannot run make (needed for the HLS C simulation): {e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "make -C hls {target} failed:\n{log}"
    );
    let passed = log.lines().filter(|l| l.ends_with(": PASS")).count();
    println!(
        "timing: make -C hls {target}: {:.1} s, {passed} testbench runs passed",
        started.elapsed().as_secs_f64()
    );
    assert!(passed >= 8, "fewer testbenches than expected ran:\n{log}");
}

#[test]
fn hls_c_simulation_passes_with_and_without_sanitizers() {
    make("csim");
    make("csim-asan");
}
