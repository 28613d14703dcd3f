//! Models made the way users make theirs today: the zoo of `tests/models/` (Keras models
//! converted by TensorFlow's converter to full int8, per-tensor uint8 models as TensorFlow
//! 1's quantization-aware training made them; `tests/models/README.md` says how) and the
//! shipped uint8 MobileNetV2. Each is built by `fibha-compile build`, its directory copied
//! to a fresh folder and the original deleted, and run there, alone, on the virtual board
//! and on the CPU engine, bit-exact with TFLite's reference kernels (the committed goldens,
//! which the oracle's own test regenerates from the interpreter) on a photo and a random
//! input.

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
    builds_moves_and_runs_bit_exact_then(stem, &[], |_| {});
}

/// `fibha run --backend BACKEND --model MODEL` on the golden input `input` of `stem` (its
/// output written under `scratch`) gives TFLite's output.
fn runs_as_tflite(backend: &str, model: &Path, stem: &str, input: &str, scratch: &Path) {
    let x = root().join(format!("tests/goldens/{stem}/inputs/{input}.npy"));
    let y = scratch.join(format!("{input}_{backend}.npy"));
    fibha(&[
        "run",
        "--backend",
        backend,
        "--model",
        model.to_str().unwrap(),
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

/// The model's `.tflite`: in the zoo, or shipped.
fn model_file(stem: &str) -> std::path::PathBuf {
    let zoo = root().join(format!("tests/models/{stem}.tflite"));
    if zoo.exists() {
        zoo
    } else {
        root().join(format!("assets/models/{stem}.tflite"))
    }
}

/// [`builds_moves_and_runs_bit_exact`] with extra `fibha-compile build` flags, then `then`
/// with the moved build directory.
fn builds_moves_and_runs_bit_exact_then(stem: &str, flags: &[&str], then: impl FnOnce(&Path)) {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let built = tempfile::tempdir().unwrap();
    common::compile(&compile, &model_file(stem), &built.path().join(stem), flags);
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().join(stem);
    copy_dir(&built.path().join(stem), &dir);
    drop(built);
    for input in ["cat", "random_0"] {
        for backend in ["board", "cpu"] {
            runs_as_tflite(backend, &dir, stem, input, elsewhere.path());
        }
    }
    then(&dir);
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

/// MobileNet (v1), width 0.5, 160x160: the zoo's second width and resolution.
#[test]
fn keras_mobilenet_wider_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_mobilenet_0.5_160");
}

/// MobileNetV2, width 1.4, 128x128.
#[test]
fn keras_mobilenet_v2_wide_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_mobilenet_v2_1.4_128");
}

/// ProxylessNAS-Mobile's shape, 128x128: 3x3, 5x5 and 7x7 depthwise kernels.
#[test]
fn keras_proxylessnas_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_proxylessnas_mobile_128");
}

/// The shipped per-tensor uint8 MobileNetV2 (TensorFlow 1's quantization-aware training):
/// uint8 activations, uint8 weights with zero points, on the accelerator.
#[test]
fn uint8_mobilenet_v2_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("mobilenet_v2_1.0_224_quant");
}

/// MobileNet (v1) 0.25 at 128 made per-tensor uint8 through fake-quantization nodes.
#[test]
fn uint8_keras_mobilenet_builds_moves_and_runs_bit_exact() {
    builds_moves_and_runs_bit_exact("keras_mobilenet_0.25_128_uint8");
}

/// MnasNet-A1's shape, 160x160: its squeeze-and-excitation blocks (MEAN, MUL, LOGISTIC)
/// run on the host, which the plan lists; the accelerator's part ends before the first.
#[test]
fn keras_mnasnet_builds_moves_and_runs_bit_exact_with_its_se_blocks_on_the_host() {
    builds_moves_and_runs_bit_exact_then("keras_mnasnet_a1_160", &[], |dir| {
        let plan: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
        let host = plan["model"]["host"].as_array().unwrap();
        for op in ["LOGISTIC", "MUL"] {
            assert!(
                host.iter().any(|h| h.as_str().unwrap().ends_with(op)),
                "{op} not among the host's {host:?}"
            );
        }
    });
}

/// EfficientNet-Lite0 with its ImageNet weights, 224x224, 5x5 depthwise kernels; on the
/// virtual board it names the shipped photos as ImageNet does.
#[test]
fn efficientnet_lite0_builds_moves_runs_bit_exact_and_classifies_the_photos() {
    builds_moves_and_runs_bit_exact_then("keras_efficientnet_lite0_224", &[], |dir| {
        let photos = ["cat.bmp", "grace_hopper.bmp", "parrot.jpg"].map(|p| {
            root()
                .join("assets/images")
                .join(p)
                .to_string_lossy()
                .into_owned()
        });
        let mut args = vec!["classify", "--model", dir.to_str().unwrap()];
        args.extend(photos.iter().map(String::as_str));
        let ran = fibha(&args);
        let out = ran.ok();
        let top1: Vec<&str> = out
            .lines()
            .filter(|l| l.trim_start().starts_with("1. "))
            .collect();
        assert_eq!(top1.len(), 3, "{out}");
        for (line, class) in top1
            .iter()
            .zip(["Egyptian cat", "military uniform", "macaw"])
        {
            assert!(line.contains(class), "expected {class}: {out}");
        }
    });
}

/// A small per-tensor uint8 network: a non-square input (20x28), odd channel counts (13),
/// stride 2, depthwise, an inverted residual with its ADD, at a quarter of the ZCU102's DSP
/// slices (at the full budget its 10x14 maps are so small that the plan's FiBHA fill model
/// misses the engines' fill by 1.45x, which `build` refuses).
#[test]
fn uint8_blocks_build_move_and_run_bit_exact() {
    builds_moves_and_runs_bit_exact_then("uint8_blocks_a", &["--dsp", "630"], |_| {});
}

/// A uint8 model whose first convolution (a VALID one behind an explicit PAD, on an odd
/// input) has an output size SAME padding does not give is refused by `build` naming the
/// operator and why; the CPU backend still runs it bit-exact.
#[test]
fn a_model_the_engines_cannot_start_is_refused_and_runs_on_the_cpu() {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let stem = "uint8_blocks_b";
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&compile)
        .arg("build")
        .arg(model_file(stem))
        .args(["--board", "zcu102", "--no-vboard", "-o"])
        .arg(dir.path().join(stem))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("uint8_blocks_b.tflite")
            && err.contains("operator #1 (CONV_2D)")
            && err.contains("SAME"),
        "{err}"
    );
    for input in ["cat", "random_0"] {
        runs_as_tflite("cpu", &model_file(stem), stem, input, dir.path());
    }
}
