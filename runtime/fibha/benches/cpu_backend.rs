//! `cargo bench -p fibha --bench cpu_backend`: the CPU backend against the TFLite interpreter.
//!
//! Times fibha's int8 engine on both shipped MobileNetV2 models and, in the same run and on
//! the same input, the TFLite interpreter with XNNPACK on one thread and with its reference
//! kernels (through `tests/oracle/tflite_oracle.py bench` in the project's venv), then prints
//! the ratios. Host CPU timings: not board figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use fibha_kernels::CpuEngine;

const WARMUP: usize = 5;
const ITERS: usize = 30;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Median and mean milliseconds of `ITERS` runs after `WARMUP`.
fn time_engine(engine: &mut CpuEngine, input: &[u8]) -> (f64, f64) {
    for _ in 0..WARMUP {
        engine.run(input).expect("inference");
    }
    let mut ms: Vec<f64> = (0..ITERS)
        .map(|_| {
            let t = Instant::now();
            engine.run(input).expect("inference");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[ITERS / 2], ms.iter().sum::<f64>() / ITERS as f64)
}

/// The interpreter's medians (XNNPACK 1 thread, reference kernels), if the venv is there.
fn time_interpreter(model: &Path, input: &Path) -> Option<(f64, f64)> {
    let python = std::env::var_os("FIBHA_VENV")
        .map_or_else(|| root().join(".venv"), PathBuf::from)
        .join("bin/python");
    let out = Command::new(&python)
        .arg(root().join("tests/oracle/tflite_oracle.py"))
        .args([
            "bench",
            "--iters",
            &ITERS.to_string(),
            "--warmup",
            &WARMUP.to_string(),
        ])
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(input)
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "interpreter bench failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        Err(e) => {
            eprintln!(
                "{}: {e}; run scripts/test once to create the venv",
                python.display()
            );
            return None;
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let median = |k: &str| v[k]["median"].as_f64();
    Some((median("xnnpack_1thread_ms")?, median("builtin_ref_ms")?))
}

fn main() {
    println!("host CPU timings (not board figures), median of {ITERS} after {WARMUP} warm-up runs");
    for stem in ["tf2_mobilenet_v2_1.0_224_ptq", "mobilenet_v2_1.0_224_quant"] {
        let model = root().join(format!("assets/models/{stem}.tflite"));
        let input_npy = root().join(format!("tests/goldens/{stem}/inputs/cat.npy"));
        let graph = Arc::new(fibha_model::tflite::load(&model).expect("shipped model"));
        let input =
            fibha::tensor_file::read_npy(&input_npy, graph.input(), "input").expect("input");
        let mut engine = CpuEngine::new(graph).expect("engine");
        let (median, mean) = time_engine(&mut engine, &input);
        println!("{stem}");
        println!("  fibha cpu backend          median {median:8.2} ms  mean {mean:8.2} ms");
        if let Some((xnn, reference)) = time_interpreter(&model, &input_npy) {
            println!(
                "  TFLite XNNPACK, 1 thread   median {xnn:8.2} ms  fibha / XNNPACK = {:.2}x",
                median / xnn
            );
            println!(
                "  TFLite reference kernels   median {reference:8.2} ms  fibha / reference = {:.3}x",
                median / reference
            );
        }
    }
}
