//! Models made the way users make theirs today: Keras application models converted by
//! TensorFlow's converter to full int8 (`tests/models/README.md` says how). Each is built
//! by `fibha-compile build`, its directory copied to a fresh folder and the original
//! deleted, and run there, alone, on the virtual board and on the CPU engine, bit-exact
//! with TFLite's reference kernels (the committed goldens, which the oracle's own test
//! regenerates from the interpreter) on a photo and a random input.

mod common;

use std::path::Path;

use common::{board_tools, copy_dir, fibha, root, sha256_hex};

/// The SHA-256 TFLite's reference kernels give the model's output for `input`.
fn golden_output(stem: &str, input: &str) -> String {
    let path = root().join(format!("tests/goldens/{stem}.json"));
    let golden: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let output = golden["operators"].as_array().unwrap().last().unwrap()["outputs"][0]
        .as_u64()
        .unwrap();
    golden["inputs"][input][output.to_string()]["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The data bytes of a `.npy` file fibha wrote (its header is padded to 64 bytes).
fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let header = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    bytes[10 + header..].to_vec()
}

fn builds_moves_and_runs_bit_exact(stem: &str) {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let built = tempfile::tempdir().unwrap();
    let model = root().join(format!("tests/models/{stem}.tflite"));
    common::compile(&compile, &model, &built.path().join(stem), &[]);
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().join(stem);
    copy_dir(&built.path().join(stem), &dir);
    drop(built);
    for input in ["cat", "random_0"] {
        let x = root().join(format!("tests/goldens/{stem}/inputs/{input}.npy"));
        for backend in ["board", "cpu"] {
            let y = elsewhere.path().join(format!("{input}_{backend}.npy"));
            fibha(&[
                "run",
                "--backend",
                backend,
                "--model",
                dir.to_str().unwrap(),
                "--input",
                x.to_str().unwrap(),
                "--output",
                y.to_str().unwrap(),
            ])
            .ok();
            assert_eq!(
                sha256_hex(&npy_data(&y)),
                golden_output(stem, input),
                "{stem} on {input}, {backend} backend: not TFLite's output"
            );
        }
    }
}

/// MobileNet (v1), width 0.25, 128x128, int8 in and out: its classifier reshape is the
/// converter's SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, folded at import.
#[test]
fn keras_mobilenet_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_mobilenet_0.25_128");
}

/// MobileNetV2, width 0.35, 96x96, int8 in and out.
#[test]
fn keras_mobilenet_v2_narrow_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_mobilenet_v2_0.35_96");
}

/// MobileNetV2, width 0.5, 96x96, float in and out (the converter's QUANTIZE and
/// DEQUANTIZE at the edges run on the host).
#[test]
fn keras_mobilenet_v2_float_io_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_mobilenet_v2_0.5_96");
}
