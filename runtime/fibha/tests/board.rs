//! The board backend on the virtual board, as a user runs it: bit-exactness with the cpu
//! backend (on the shipped MobileNetV2 and on a build the board has never seen), classify
//! with a directory holding an unreadable file, accuracy on both backends, bench and
//! energy reports, Ctrl-C, and a board that disappears mid-run.

mod common;

use std::path::Path;
use std::time::Duration;

use fibha_model::host_cost::A53Model;
use nix::sys::signal::Signal;

use common::{
    Board, Running, board_tools, copy_dir, fibha, fibha_command, golden_input, instance, root,
};

/// The shipped MobileNetV2 built for this binary, or `None` when the tools are not built.
fn shipped_model() -> Option<&'static Path> {
    let (_, compile) = board_tools()?;
    Some(instance(&compile, "board"))
}

/// The output tensor's bytes of a `.npy` written by `fibha run` (the 1001 classes).
fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    bytes[bytes.len() - 1001..].to_vec()
}

fn run_both(model: &str, input: &Path, dir: &Path, tag: &str) -> (Vec<u8>, Vec<u8>) {
    let out = |backend: &str| dir.join(format!("{tag}-{backend}.npy"));
    for backend in ["board", "cpu"] {
        fibha(&[
            "run",
            "--backend",
            backend,
            "--model",
            model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out(backend).to_str().unwrap(),
        ])
        .ok();
    }
    (npy_data(&out("board")), npy_data(&out("cpu")))
}

#[test]
fn run_on_the_virtual_board_is_bit_exact_with_the_cpu_backend_and_tflite() {
    let Some(model) = shipped_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let golden: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/goldens/tf2_mobilenet_v2_1.0_224_ptq.json")).unwrap(),
    )
    .unwrap();
    let output_index = golden["operators"].as_array().unwrap().last().unwrap()["outputs"][0]
        .as_u64()
        .unwrap();
    for input in ["cat", "random_0"] {
        let (board, cpu) = run_both(
            model.to_str().unwrap(),
            &golden_input(input),
            dir.path(),
            input,
        );
        assert_eq!(board, cpu, "{input}: board and cpu backends differ");
        let hash: String = common::sha256_hex(&board);
        let expected = &golden["inputs"][input][output_index.to_string()]["sha256"];
        assert_eq!(
            hash,
            expected.as_str().unwrap(),
            "{input}: not TFLite's output"
        );
    }
}

/// A quarter of the ZCU102's DSPs and a third of its BRAM: another plan, another plan hash,
/// another kernel compiled in the test.
#[test]
fn a_build_the_board_has_never_seen_is_bit_exact_too() {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let build = dir.path().join("quarter");
    common::compile(
        &compile,
        &root().join(common::MODEL),
        &build,
        &["--dsp", "630", "--bram", "300"],
    );
    let manifest = std::fs::read_to_string(build.join("manifest.json")).unwrap();
    let shipped =
        std::fs::read_to_string(instance(&compile, "board").join("manifest.json")).unwrap();
    let hash = |m: &str| serde_json::from_str::<serde_json::Value>(m).unwrap()["plan_hash"].clone();
    assert_ne!(hash(&manifest), hash(&shipped), "a different plan");
    let (board, cpu) = run_both(
        build.to_str().unwrap(),
        &golden_input("random_0"),
        dir.path(),
        "quarter",
    );
    assert_eq!(board, cpu);

    // The quarter build's bundle in the full build's directory, its manifest hash updated:
    // a bundle for another plan is refused before any device is touched.
    let mixed = dir.path().join("mixed");
    copy_dir(instance(&compile, "board"), &mixed);
    let bundle = std::fs::read(build.join("model.fibha")).unwrap();
    std::fs::write(mixed.join("model.fibha"), &bundle).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mixed.join("manifest.json")).unwrap()).unwrap();
    let sha: String = common::sha256_hex(&bundle);
    manifest["bundle"]["sha256"] = sha.into();
    std::fs::write(mixed.join("manifest.json"), manifest.to_string()).unwrap();
    let out = dir.path().join("mixed.npy");
    let line = fibha(&[
        "run",
        "--model",
        mixed.to_str().unwrap(),
        "--input",
        golden_input("cat").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
    .error_line();
    assert!(
        line.contains("model.fibha: plan hash") && line.contains("weights were packed for another"),
        "{line}"
    );
}

/// A model the board has never seen: the shipped MobileNetV2 with every convolution's
/// weights negated. Its hardware is the same, so its build has the same plan hash (the same
/// bitstream runs it with a new bundle), and the board must still agree with the CPU
/// engine byte for byte, on outputs that differ from the original model's.
#[test]
fn new_weights_on_the_same_hardware_are_bit_exact_too() {
    let Some((_, compile)) = board_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let original = root().join(common::MODEL);
    let mut bytes = std::fs::read(&original).unwrap();
    let graph = fibha_model::tflite::load(&original).unwrap();
    let mut negated = 0;
    for node in &graph.nodes {
        if !matches!(
            node.op,
            fibha_model::Op::Conv2d(_) | fibha_model::Op::DepthwiseConv2d(_)
        ) {
            continue;
        }
        let weights = graph.tensor(node.inputs[1]).data.as_ref().unwrap();
        let at = bytes
            .windows(weights.len())
            .position(|w| w == weights.as_slice())
            .expect("the filter's bytes are in the file");
        for b in &mut bytes[at..at + weights.len()] {
            // -128 has no int8 negation; keep it (the engines see it in real models too).
            *b = (*b as i8).checked_neg().map_or(*b, |v| v as u8);
        }
        negated += 1;
    }
    assert_eq!(negated, 53, "every CONV_2D and DEPTHWISE_CONV_2D");
    let build = dir.path().join("negated");
    std::fs::create_dir_all(&build).unwrap();
    let model = build.join("negated_mobilenet_v2.tflite");
    std::fs::write(&model, &bytes).unwrap();
    common::compile(&compile, &model, &build, common::BUILD_FLAGS);

    let plan_hash = |dir: &Path| {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        m["plan_hash"].clone()
    };
    assert_eq!(plan_hash(&build), plan_hash(instance(&compile, "board")));
    let (board, cpu) = run_both(
        build.to_str().unwrap(),
        &golden_input("cat"),
        dir.path(),
        "negated",
    );
    assert_eq!(board, cpu, "board and cpu backends differ on new weights");
    let (shipped, _) = run_both(
        instance(&compile, "board").to_str().unwrap(),
        &golden_input("cat"),
        dir.path(),
        "shipped",
    );
    assert_ne!(board, shipped, "new weights give new outputs");
}

#[test]
fn a_missing_virtual_board_is_named_with_a_hint() {
    let Some(model) = shipped_model() else {
        return;
    };
    let mut command = fibha_command(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--input",
        golden_input("cat").to_str().unwrap(),
        "--output",
        "/dev/null",
    ]);
    command.env("FIBHA_VBOARD", "/nonexistent/fibha-vboard");
    let line = Running::start(command)
        .finish(common::DEADLINE)
        .error_line();
    assert!(
        line.contains("the virtual board /nonexistent/fibha-vboard does not exist")
            && line.contains("`cargo build --release` builds it"),
        "{line}"
    );
}

#[test]
fn classify_on_the_board_skips_unreadable_files_and_counts_them() {
    let Some(model) = shipped_model() else {
        return;
    };
    let photos = tempfile::tempdir().unwrap();
    for name in ["cat.bmp", "parrot.jpg"] {
        std::fs::copy(
            root().join("assets/images").join(name),
            photos.path().join(name),
        )
        .unwrap();
    }
    std::fs::write(photos.path().join("broken.jpg"), b"not a jpeg").unwrap();
    std::fs::write(photos.path().join("notes.txt"), b"not an image name").unwrap();
    let ran = fibha(&[
        "classify",
        "--json",
        "--top",
        "1",
        "--model",
        model.to_str().unwrap(),
        photos.path().to_str().unwrap(),
    ]);
    let doc = ran.json();
    assert_eq!(doc["backend"], "board");
    assert_eq!(doc["skipped_count"], 1, "{doc}");
    assert!(
        doc["skipped"][0]["error"]
            .as_str()
            .unwrap()
            .contains("broken.jpg: not a JPEG, PNG or BMP image"),
        "{doc}"
    );
    let top: Vec<(String, u64)> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = Path::new(r["image"].as_str().unwrap()).file_name().unwrap();
            (
                name.to_string_lossy().into_owned(),
                r["top"][0]["index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, [("cat.bmp".into(), 286), ("parrot.jpg".into(), 89)]);
    assert!(
        ran.stderr
            .contains("using the virtual board (figures are modelled)")
    );
    assert!(ran.stderr.contains("fibha: skipped"), "{}", ran.stderr);
}

/// The labels are the classes TFLite itself gives these photos (plus the cat's runner-up,
/// as a miss at top-1): the test checks the mechanics, not the model's accuracy.
#[test]
fn accuracy_is_measured_the_same_way_on_both_backends() {
    let Some(model) = shipped_model() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let images = root().join("assets/images");
    for (from, to) in [
        ("cat.bmp", "286_cat.bmp"),
        ("cat.bmp", "282_cat_as_tabby.bmp"),
        ("parrot.jpg", "89_parrot.jpg"),
        ("grace_hopper.bmp", "653_grace_hopper.bmp"),
        ("parrot.jpg", "unlabelled.jpg"),
    ] {
        std::fs::copy(images.join(from), dir.path().join(to)).unwrap();
    }
    let mut figures = Vec::new();
    for backend in ["board", "cpu"] {
        let mut args = vec!["accuracy", "--json", "--backend", backend];
        if backend == "board" {
            args.extend(["--model", model.to_str().unwrap()]);
        }
        args.push(dir.path().to_str().unwrap());
        let doc = fibha(&args).json();
        let a = &doc["accuracy"];
        figures.push((a["images"].clone(), a["top1"].clone(), a["top5"].clone()));
        assert_eq!(a["unlabelled"].as_array().unwrap().len(), 1, "{doc}");
    }
    assert_eq!(figures[0], figures[1], "board and cpu disagree");
    assert_eq!(figures[0], (4.into(), 3.into(), 4.into()));
}

#[test]
fn bench_reports_percentiles_stages_and_marks_modelled_figures() {
    let Some(model) = shipped_model() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let ran = fibha(&[
        "bench",
        "--json",
        "-n",
        "3",
        "--warmup",
        "1",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--input",
        golden_input("cat").to_str().unwrap(),
    ]);
    let doc = ran.json();
    assert_eq!(doc["outcome"]["completed"], 3);
    assert_eq!(doc["latency_us"]["modelled"], true);
    let l = &doc["latency_us"];
    let v = |k: &str| l[k].as_f64().unwrap();
    assert!(v("p50") > 0.0 && v("p50") <= v("p90") && v("p90") <= v("p99") && v("p99") <= v("max"));
    assert!(doc["throughput"]["inferences_per_s"].as_f64().unwrap() > 0.0);
    let stages: Vec<(&str, bool)> = doc["stages_us"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["modelled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("host_pre", false),
            ("make_input", false),
            ("input_wait", false),
            ("dma_sync", false),
            ("accelerator", true),
            ("host_post", false)
        ]
    );
    assert!(doc["host_overhead"]["ratio"].as_f64().unwrap() > 0.0);
    assert!(!doc["peers"].as_array().unwrap().is_empty());
    // Streaming calls: their figures are the build's timed C simulation (the kernel's time
    // does not depend on the data): one image alone, and one more image per period.
    let timing: fibha_model::timing::TimingReport =
        serde_json::from_slice(&std::fs::read(model.join("timing.json")).unwrap()).unwrap();
    let s = &doc["stream"];
    assert_eq!(s["modelled"], true);
    let f = |k: &str| s[k].as_f64().unwrap();
    assert_eq!(s["images_per_call"], 4);
    let single_us = timing.ms(timing.image.timed_cycles) * 1e3;
    let period_us = timing.ms(timing.period.timed_cycles) * 1e3;
    assert!((f("single_image_us") - single_us).abs() < 0.01, "{s}");
    assert!((f("period_us") - period_us).abs() / period_us < 0.01, "{s}");
    assert!(
        (f("us_per_image") - (single_us + 3.0 * period_us) / 4.0).abs() / single_us < 0.01,
        "{s}"
    );
    // The targets of the shipped build: one image within 2.5 ms, 850 images/s overlapped
    // (the classifier's 1.28 MB of weights stream through the SEML part's loaders once per
    // image, about 39,000 cycles of its period).
    assert!(
        f("single_image_us") <= 2500.0 && f("overlapped_images_per_s") >= 850.0,
        "{s}"
    );
    // The A53 host: the instance's host operators costed one by one (rates counted per
    // operator over the test models) agree with its host stages counted whole, in other
    // runs under qemu, within 10 %.
    let a53 = A53Model::load(&root().join("assets/host-model/a53.json")).unwrap();
    let h = &doc["a53_host"];
    assert_eq!(h["modelled"], true);
    assert_eq!(h["unmodelled"], serde_json::json!([]), "{h}");
    for (stage, counted) in [("head_ms", a53.stages.head), ("tail_ms", a53.stages.tail)] {
        let whole = a53.ms(counted, a53.ipc[1]);
        let per_op = h[stage].as_f64().unwrap();
        assert!(
            (per_op - whole).abs() / whole < 0.1,
            "{stage}: {per_op} ms from the operators' rates, {whole} ms counted whole"
        );
    }
    let svg = std::fs::read_to_string(out.path().join("bench-latency.svg")).unwrap();
    assert!(svg.contains("latency per inference (µs)") && svg.contains("modelled"));
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("bench.json")).unwrap()).unwrap();
    assert_eq!(file, doc, "the file and stdout hold the same report");
}

#[test]
fn energy_reports_power_per_group_and_joules_per_inference() {
    let Some(model) = shipped_model() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let ran = fibha(&[
        "energy",
        "--json",
        "-n",
        "3",
        "--idle-s",
        "0.3",
        "--period-ms",
        "5",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--input",
        golden_input("cat").to_str().unwrap(),
    ]);
    let doc = ran.json();
    assert_eq!(doc["modelled"], true);
    assert_eq!(doc["rails"]["found"].as_array().unwrap().len(), 18);
    // The virtual board's documented idle model: PS 0.98, PL 1.67, DDR 0.57, MGT 0.23 W.
    let idle = &doc["idle"]["power_w"];
    for (group, watts) in [("PS", 0.98), ("PL", 1.67), ("DDR", 0.57), ("MGT", 0.23)] {
        let w = idle[group].as_f64().unwrap();
        assert!((w - watts).abs() < 0.02, "idle {group} {w} W");
    }
    let per = &doc["per_inference"];
    let total = per["total_j"].as_f64().unwrap();
    assert!(total > 0.0 && per["above_idle_j"].as_f64().unwrap() >= 0.0);
    assert!((per["inferences_per_j"].as_f64().unwrap() - 1.0 / total).abs() < 1e-9 / total);
    assert!(
        doc["active"]["power_w"]["total"].as_f64().unwrap()
            >= idle["total"].as_f64().unwrap() - 0.01
    );
    let svg = std::fs::read_to_string(out.path().join("energy-power.svg")).unwrap();
    for text in ["power (W)", "PS", "PL", "DDR", "MGT", "modelled"] {
        assert!(svg.contains(text), "{text}");
    }
}

#[test]
fn ctrl_c_stops_after_the_inference_in_flight_and_still_writes_the_report() {
    let Some(model) = shipped_model() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let running = long_bench(model, out.path(), &[]);
    running.signal(Signal::SIGINT);
    let ran = running.finish(Duration::from_secs(60));
    assert_eq!(ran.status.code(), Some(130), "{}", ran.stderr);
    let doc = ran.json();
    let completed = doc["outcome"]["completed"].as_u64().unwrap();
    assert!((1..10000).contains(&completed), "{completed}");
    assert_eq!(doc["outcome"]["interrupted"], true);
    assert!(out.path().join("bench.json").is_file());
    assert!(
        ran.stderr
            .contains("stopping after the inference in flight")
    );
}

#[test]
fn a_board_that_disappears_mid_run_ends_with_a_clear_error_and_the_report_so_far() {
    let Some((vboard, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "board");
    let mut board = Board::start(&vboard, &[]);
    let out = tempfile::tempdir().unwrap();
    let running = long_bench(model, out.path(), &["--root", &board.root_arg()]);
    board.kill();
    let killed = std::time::Instant::now();
    let ran = running.finish(Duration::from_secs(60));
    // Noticed by watching the board (every 250 ms), not at the 60 s inference timeout;
    // the margin covers writing the report on a loaded machine.
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "noticed after {:?}",
        killed.elapsed()
    );
    let line = ran.error_line();
    assert!(line.contains("the board went away"), "{line}");
    assert!(line.contains("no virtual board serves"), "{line}");
    let doc = ran.json();
    assert!(doc["outcome"]["completed"].as_u64().unwrap() >= 1);
    assert!(
        doc["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("went away")
    );
}

/// Two runtimes on one board: while one classifies, a second is refused at once naming
/// the first; a third asked to `--wait` runs when the first is done; every result of both
/// runs is right (checked byte for byte against the CPU engine with `--verify`).
#[test]
fn a_second_runtime_on_a_board_in_use_is_refused_or_waits_and_no_result_is_wrong() {
    let Some((vboard, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "board");
    let board = Board::start(&vboard, &[]);
    let photos = tempfile::tempdir().unwrap();
    for i in 0..6 {
        std::fs::copy(
            root().join("assets/images/cat.bmp"),
            photos.path().join(format!("cat{i}.bmp")),
        )
        .unwrap();
    }
    let root_arg = board.root_arg();
    let classify = |extra: &[&str], images: &str| {
        let mut args = vec![
            "classify",
            "--json",
            "--verify",
            "--top",
            "1",
            "--root",
            &root_arg,
            "--model",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(images);
        fibha_command(&args)
    };
    let mut first_command = classify(&[], photos.path().to_str().unwrap());
    first_command.env("RUST_LOG", "fibha=debug");
    let mut first = Running::start(first_command);
    first.wait_for_stderr("host_post", Duration::from_secs(60));
    let cat = root().join("assets/images/cat.bmp");
    let started = std::time::Instant::now();
    let line = Running::start(classify(&[], cat.to_str().unwrap()))
        .finish(common::DEADLINE)
        .error_line();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at once"
    );
    let holder = format!("the accelerator is in use by PID {} (", first.pid());
    assert!(
        line.contains(&holder) && line.contains("classify --json --verify"),
        "{line}"
    );
    assert!(
        line.contains("dev/uio0") && line.contains("--wait"),
        "{line}"
    );

    let mut waiting = Running::start(classify(&["--wait"], cat.to_str().unwrap()));
    waiting.wait_for_stderr(
        &format!("waiting for the accelerator, in use by PID {}", first.pid()),
        Duration::from_secs(30),
    );
    let classes = |ran: &common::Ran| -> Vec<u64> {
        ran.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["top"][0]["index"].as_u64().unwrap())
            .collect()
    };
    let first = first.finish(common::DEADLINE);
    assert!(first.status.success(), "{}", first.stderr);
    assert_eq!(classes(&first), [286; 6]);
    let waited = waiting.finish(common::DEADLINE);
    assert!(waited.status.success(), "{}", waited.stderr);
    assert_eq!(classes(&waited), [286]);
}

/// Where `fibha` lays out its virtual boards, and those of process `pid`.
fn virtual_roots(pid: u32) -> Vec<std::path::PathBuf> {
    let parent = if Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let prefix = format!("fibha-vboard-{pid}-");
    std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// A `fibha bench --json` of 10,000 inferences with `extra` arguments (none: on a virtual
/// board of its own), once its first inference is done.
fn long_bench(model: &Path, out: &Path, extra: &[&str]) -> Running {
    let input = golden_input("cat");
    let mut args = vec![
        "bench",
        "--json",
        "-n",
        "10000",
        "--warmup",
        "0",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut command = fibha_command(&args);
    command.env("RUST_LOG", "fibha=debug");
    let mut running = Running::start(command);
    running.wait_for_stderr("host_post", Duration::from_secs(60));
    running
}

/// The virtual board's root holds copies of the weights and of the last input: it is
/// private while the run lasts and gone after it, after a double Ctrl-C too; a run killed
/// outright leaves it, and the next run removes it.
#[test]
fn virtual_board_roots_are_private_and_removed_on_every_way_out() {
    use std::os::unix::fs::PermissionsExt;
    let Some(model) = shipped_model() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let mut running = long_bench(model, out.path(), &[]);
    let roots = virtual_roots(running.pid());
    assert_eq!(roots.len(), 1, "{roots:?}");
    let mode = std::fs::metadata(&roots[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    running.signal(Signal::SIGINT);
    // The second press while the inference in flight (about 0.3 s of C simulation) runs.
    running.wait_for_stderr(
        "stopping after the inference in flight",
        Duration::from_secs(10),
    );
    running.signal(Signal::SIGINT);
    let ran = running.finish(Duration::from_secs(30));
    assert_eq!(ran.status.code(), Some(130), "{}", ran.stderr);
    assert!(ran.stderr.contains("fibha: interrupted"), "{}", ran.stderr);
    assert!(!roots[0].exists(), "{} is left", roots[0].display());

    let running = long_bench(model, out.path(), &[]);
    let roots = virtual_roots(running.pid());
    running.signal(Signal::SIGKILL);
    drop(running.finish(Duration::from_secs(30)));
    assert!(roots[0].exists(), "a killed process cannot clean up");
    let next = fibha(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--input",
        golden_input("cat").to_str().unwrap(),
        "--output",
        out.path().join("y.npy").to_str().unwrap(),
    ]);
    next.ok();
    assert!(
        !roots[0].exists(),
        "the next run removes {}",
        roots[0].display()
    );
}
