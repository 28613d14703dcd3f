//! The `fibha` command as a user runs it: classification of the shipped photos, raw tensor
//! runs checked against TFLite's goldens, and one clear error line for bad input.

mod common;

use std::process::Output;

use common::root;

/// The `fibha` binary run to completion (through `$FIBHA_TEST_RUNNER` when set).
fn fibha(args: &[&str]) -> Output {
    common::fibha_command(args).output().expect("fibha runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The error line of a failed run; it must be exactly one line.
fn error_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one error line, got: {err}");
    assert!(err.starts_with("fibha: "), "{err}");
    err.trim_end().to_string()
}

#[test]
fn classifies_the_shipped_photos_by_default() {
    let text = stdout(&fibha(&["classify", "--backend", "cpu", "--top", "1"]));
    for (photo, label) in [
        ("cat.bmp", "Egyptian cat"),
        ("grace_hopper.bmp", "military uniform"),
        ("parrot.jpg", "macaw"),
    ] {
        let block = text
            .split(photo)
            .nth(1)
            .unwrap_or_else(|| panic!("{photo} in {text}"));
        assert!(
            block.lines().nth(1).unwrap().contains(label),
            "{photo}: {text}"
        );
    }
}

#[test]
fn json_gives_label_index_score_and_raw_value() {
    let out = stdout(&fibha(&[
        "classify",
        "--backend",
        "cpu",
        "--json",
        "--top",
        "3",
        "assets/images/parrot.jpg",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["backend"], "cpu");
    let top = &doc["results"][0]["top"];
    assert_eq!(top.as_array().unwrap().len(), 3);
    assert_eq!(top[0]["index"], 89);
    assert_eq!(top[0]["label"], "macaw");
    // The score is the dequantized raw output: scale 1/256, zero point 0.
    let raw = top[0]["raw"].as_f64().unwrap();
    assert_eq!(top[0]["score"].as_f64().unwrap(), raw / 256.0);
}

/// `fibha run` on the committed photo tensor gives the output TFLite's reference kernels
/// gave (its SHA-256 is in the golden summary written by the interpreter).
#[test]
fn run_matches_the_interpreter_golden_for_both_models() {
    let dir = tempfile::tempdir().unwrap();
    for stem in ["tf2_mobilenet_v2_1.0_224_ptq", "mobilenet_v2_1.0_224_quant"] {
        let golden: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root().join(format!("tests/goldens/{stem}.json"))).unwrap(),
        )
        .unwrap();
        let output_index = golden["operators"].as_array().unwrap().last().unwrap()["outputs"][0]
            .as_u64()
            .unwrap();
        for input in ["cat", "random_0"] {
            let out_path = dir.path().join(format!("{stem}-{input}.npy"));
            let model = format!("assets/models/{stem}.tflite");
            let input_path = format!("tests/goldens/{stem}/inputs/{input}.npy");
            stdout(&fibha(&[
                "run",
                "--backend",
                "cpu",
                "--model",
                &model,
                "--input",
                &input_path,
                "--output",
                out_path.to_str().unwrap(),
            ]));
            let npy = std::fs::read(&out_path).unwrap();
            let data = &npy[npy.len() - 1001..];
            let hash: String = common::sha256_hex(data);
            let expected = &golden["inputs"][input][output_index.to_string()]["sha256"];
            assert_eq!(hash, expected.as_str().unwrap(), "{stem} {input}");
        }
    }
}

#[test]
fn an_image_that_is_not_an_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("photo.jpg");
    std::fs::write(&fake, b"this is text").unwrap();
    let line = error_line(&fibha(&[
        "classify",
        "--backend",
        "cpu",
        fake.to_str().unwrap(),
    ]));
    assert!(
        line.contains(&format!("{}: not a JPEG, PNG or BMP image", fake.display())),
        "{line}"
    );
}

#[test]
fn a_missing_image_is_named() {
    let line = error_line(&fibha(&[
        "classify",
        "--backend",
        "cpu",
        "/nonexistent/cat.png",
    ]));
    assert!(
        line.starts_with("fibha: /nonexistent/cat.png: cannot read the image"),
        "{line}"
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("y.npy");
    // The uint8 model's output is a [1, 1001] uint8 tensor, not an image.
    stdout(&fibha(&[
        "run",
        "--backend",
        "cpu",
        "--input",
        "tests/goldens/tf2_mobilenet_v2_1.0_224_ptq/inputs/cat.npy",
        "--output",
        out.to_str().unwrap(),
    ]));
    let line = error_line(&fibha(&[
        "run",
        "--backend",
        "cpu",
        "--input",
        out.to_str().unwrap(),
        "--output",
        "/dev/null",
    ]));
    assert!(
        line.ends_with("holds |u1 [1, 1001], the model's input is uint8 [1, 224, 224, 3]"),
        "{line}"
    );
}

#[test]
fn a_corrupt_or_float_model_is_refused_before_inference() {
    let dir = tempfile::tempdir().unwrap();
    let real =
        std::fs::read(root().join("assets/models/mobilenet_v2_1.0_224_quant.tflite")).unwrap();
    let truncated = dir.path().join("truncated.tflite");
    std::fs::write(&truncated, &real[..real.len() / 3]).unwrap();
    let line = error_line(&fibha(&[
        "classify",
        "--backend",
        "cpu",
        "--model",
        truncated.to_str().unwrap(),
    ]));
    assert!(
        line.contains("truncated.tflite: not a valid TFLite model"),
        "{line}"
    );
}

#[test]
fn nonsense_flags_are_usage_errors() {
    for args in [
        &["classify", "--top", "0"][..],
        &["classify", "--top", "-3"],
        &["classify", "--backend", "gpu"],
        &["bench", "-n", "0"],
        &["bench", "-n", "-1"],
        &["bench", "-n", "many"],
        &["bench", "-n", "99999999999"],
        &["bench", "--warmup", "-1"],
        &["bench", "--timeout-ms", "0"],
        &["energy", "--idle-s", "0"],
        &["energy", "--idle-s", "-1"],
        &["energy", "--idle-s", "NaN"],
        &["energy", "--period-ms", "0"],
        &["bench", "--input", "x.npy", "assets/images/cat.bmp"],
        &[
            "classify",
            "--accuracy",
            "assets/images",
            "assets/images/cat.bmp",
        ],
        &[
            "run",
            "--backend",
            "cpu",
            "--verify",
            "-i",
            "x.npy",
            "-o",
            "y.npy",
        ],
    ] {
        let out = fibha(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
}

#[test]
fn the_board_backend_needs_a_build_directory() {
    let line = error_line(&fibha(&[
        "classify",
        "--model",
        "assets/models/tf2_mobilenet_v2_1.0_224_ptq.tflite",
    ]));
    assert!(
        line.contains("the board backend runs a build directory of `fibha-compile build`")
            && line.contains("--backend cpu"),
        "{line}"
    );
    let dir = tempfile::tempdir().unwrap();
    let line = error_line(&fibha(&[
        "run",
        "--model",
        dir.path().to_str().unwrap(),
        "-i",
        "x.npy",
        "-o",
        "y.npy",
    ]));
    assert!(
        line.contains("not a build directory of `fibha-compile build`"),
        "{line}"
    );
}

#[test]
fn a_folder_with_an_unreadable_image_is_classified_and_the_skip_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("assets/images/parrot.jpg"),
        dir.path().join("parrot.jpg"),
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.png"), b"").unwrap();
    let out = fibha(&["classify", "--backend", "cpu", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("macaw"), "{text}");
    assert!(
        text.contains("classified 1 image(s); skipped 1 unreadable image(s)"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fibha: skipped") && err.contains("empty.png"),
        "{err}"
    );
}

#[test]
fn bench_on_the_cpu_reports_what_it_measured() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = fibha(&[
        "bench",
        "--backend",
        "cpu",
        "-n",
        "2",
        "--warmup",
        "0",
        "--out",
        out_dir.path().to_str().unwrap(),
        "--input",
        "tests/goldens/tf2_mobilenet_v2_1.0_224_ptq/inputs/cat.npy",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("on the CPU") && text.contains("cpu inference"),
        "{text}"
    );
    assert!(
        !text.contains("(modelled)"),
        "nothing is modelled on the cpu: {text}"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("bench.json")).unwrap()).unwrap();
    assert_eq!(doc["latency_us"]["modelled"], false);
    assert_eq!(doc["outcome"]["completed"], 2);
    assert!(out_dir.path().join("bench-latency.svg").is_file());
}
