//! `fibha-compile` end to end: plan, compare, sweep and build, and its errors on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fibha_compiler::build::Manifest;
use fibha_compiler::design::Part;
use fibha_compiler::host::HostShare;
use fibha_compiler::network::LayerKind;
use fibha_compiler::report::PlanDoc;
use fibha_model::bundle::Bundle;
use fibha_model::device::FLAG_RESIDUAL;
use fibha_model::host_cost::A53Model;
use sha2::{Digest, Sha256};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fibha-compile"))
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn asset(name: &str) -> String {
    workspace()
        .join("assets/models")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plan_json_is_one_document_on_stdout() {
    let o = run(&["plan", "mobilenet_v2", "--board", "zcu102", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: PlanDoc = serde_json::from_slice(&o.stdout).expect("stdout is one plan document");
    assert_eq!(
        doc.format_version,
        fibha_compiler::report::PLAN_FORMAT_VERSION
    );
    assert!(doc.fits());
    assert_eq!(doc.board.part, "xczu9eg-ffvb1156-2-e");
    assert!(doc.modelled.note.contains("not board measurements"));
    // fibha's SEML part alone cannot hold MobileNetV2's first maps on chip; the papers'
    // SEML design (maps live at once, on chip) can, and is the comparison's SEML.
    assert!(
        !doc.modelled.seml_fibha.fits,
        "{:?}",
        doc.modelled.seml_fibha
    );
    assert!(doc.modelled.seml.fits, "{:?}", doc.modelled.seml);
    assert!(doc.modelled.seml.design.contains("papers'"));
    assert_eq!(
        doc.modelled.objective,
        fibha_compiler::planner::Objective::Throughput
    );
    assert_eq!(doc.board.bandwidth_gbps, 12.8);
    assert!(
        doc.modelled
            .seml_fibha
            .problems
            .iter()
            .any(|p| p.contains("feature maps")),
        "{:?}",
        doc.modelled.seml_fibha.problems
    );
    assert!(doc.modelled.fibha.dsp <= 2520 && doc.modelled.fibha.bram36 <= doc.board.bram36);
    // The stored hash is the hash of the hardware design alone.
    assert_eq!(
        format!("{:016x}", fibha_compiler::hw::plan_hash(&doc.hardware)),
        doc.plan_hash
    );
    // Every SESL engine's parallelism is one the templates implement: no pixel unrolling
    // (the SEML part's pointwise engine unrolls pixels, `pw` there is its `pp`).
    for e in doc.engines.iter().filter(|e| e.part == Part::Sesl) {
        for st in &e.stages {
            assert_eq!((st.parallelism.ph, st.parallelism.pw), (1, 1), "{}", e.name);
        }
    }
}

#[test]
fn plan_text_labels_figures_as_modelled() {
    let o = run(&[
        "plan",
        "efficientnet_lite0",
        "--board",
        "zc706",
        "--layers",
        "--timing",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "fps_batch1 (1/latency)",
        "fps_pipelined",
        "objective pipelined throughput",
        "FiBHA",
        "SEML",
        "SESL",
        "not board measurements",
        "modelled vs published",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    assert!(stderr(&o).contains("planned EfficientNet-Lite0"));
}

#[test]
fn the_plan_adds_the_hosts_share_to_its_latency() {
    let model = asset("tf2_mobilenet_v2_1.0_224_ptq.tflite");
    let plan = |board: &str| -> PlanDoc {
        let o = run(&["plan", &model, "--board", board, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let doc = plan("zcu102");
    let HostShare::Modelled(h) = &doc.modelled.host else {
        panic!("{:?}", doc.modelled.host);
    };
    // By hand: the input QUANTIZE reads 224 x 224 x 3 uint8 elements and the host copies
    // its int8 result into the DMA buffer; after the classifier it copies the 1001 classes
    // out and runs RESHAPE, SOFTMAX and the output QUANTIZE over them.
    let a53 = A53Model::load(&workspace().join("assets/host-model/a53.json")).unwrap();
    let rate = |key: &str| a53.ops[key].instructions_per_unit;
    let copy = a53.dma_copy_instructions_per_byte;
    let ms = |instructions: f64| instructions / (a53.ipc[1] * a53.clock_hz) * 1e3;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.max(1.0);
    let before = 150_528.0 * (rate("QUANTIZE uint8") + copy);
    assert!(close(h.before_ms, ms(before)), "{h:?}");
    let after =
        1001.0 * (copy + rate("RESHAPE int8") + rate("SOFTMAX int8") + rate("QUANTIZE int8"));
    assert!(close(h.after_ms, ms(after)), "{h:?}");
    assert!(h.unmodelled.is_empty(), "{h:?}");
    let f = &doc.modelled.fibha;
    assert!(close(h.latency_ms, f.latency_ms + h.before_ms + h.after_ms));
    let period = f.period_ms.max(h.before_ms + h.after_ms);
    assert!(close(h.fps_pipelined, 1e3 / period));
    assert!(h.range_ms[0] < h.before_ms + h.after_ms && h.before_ms + h.after_ms < h.range_ms[1]);
    let o = run(&["plan", &model, "--board", "zcu102"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("host (a53, modelled)") && text.contains("end to end"),
        "{text}"
    );
    // A board without a host model, and a topology file without host operators, say so.
    let HostShare::NotModelled { why } = plan("zc706").modelled.host else {
        panic!("zc706 has a host model");
    };
    assert!(why.contains("names no host CPU cost model"), "{why}");
    let o = run(&["plan", "mobilenet_v2", "--board", "zcu102", "--json"]);
    let doc: PlanDoc = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        matches!(&doc.modelled.host, HostShare::NotModelled { why } if why.contains("topology")),
        "{:?}",
        doc.modelled.host
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let model = asset("tf2_mobilenet_v2_1.0_224_ptq.tflite");
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["plan", "mobilenet_v2", "--bram", "1"],
            &["no design fits", "BRAM36", "SEML"],
        ),
        (
            &["plan", "mobilenet_v2", "--board", "zcu999"],
            &["unknown board 'zcu999'", "zcu102, zc706, kcu105"],
        ),
        (
            &["plan", "resnet50"],
            &["resnet50", "not a file", "mobilenet_v2_1.0_224"],
        ),
        (
            &["build", "mobilenet_v2", "-o", "/nonexistent/x"],
            &["topology file", ".tflite"],
        ),
        (
            &[
                "build",
                &model,
                "--no-firb",
                "--no-vboard",
                "-o",
                "/nonexistent/x",
            ],
            &[
                "cannot be built by the HLS templates",
                "residual ADD outside a FIRB engine",
            ],
        ),
    ];
    for (args, needles) in cases {
        let o = run(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(o.stdout.is_empty(), "{args:?} printed on stdout");
        let e = stderr(&o);
        for n in needles {
            assert!(e.contains(n), "{args:?}: missing {n} in {e}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "format = \"fibha-topology/1\"\nname = \"x\"\ninput = [8, 8, 3]\nact = \"relu\"\n[[stage]]\nop = \"conv\"\nc = 4\nk = 3\n").unwrap();
    let o = run(&["plan", bad.to_str().unwrap()]);
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("bad.toml") && e.contains("line 5") && e.contains("`s`"),
        "{e}"
    );
}

#[test]
fn compare_lists_every_model_and_board_next_to_the_papers() {
    use fibha_compiler::comparison::{CompareDoc, Definition, Peer, ratio};
    let o = run(&["compare", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: CompareDoc = serde_json::from_slice(&o.stdout).unwrap();
    let boards: Vec<&str> = doc.boards.iter().map(|b| b.board.as_str()).collect();
    assert_eq!(boards, ["zcu102", "zc706", "kcu105"]);
    for b in &doc.boards {
        assert_eq!(b.rows.len(), 5, "{}", b.board);
        for r in &b.rows {
            // The papers' SEML design fits every shipped board; fibha's SEML engines alone
            // (every map on chip, four maps deep) do not hold a 224 x 224 network's maps.
            assert!(r.fibha.fits && r.fibha_latency.fits && r.seml.fits, "{r:?}");
            assert!(!r.seml_fibha.fits, "{r:?}");
            // One image at a time: SEML overlaps nothing, FiBHA and SESL overlap images.
            assert_eq!(r.seml.fps_batch1, r.seml.fps_pipelined);
            assert!(r.fibha.fps_pipelined > r.fibha.fps_batch1);
            // Each definition's ratio is the quotient of the columns it names.
            let b1 = ratio(r, Peer::Seml, Definition::Batch1).unwrap();
            assert!((b1 - r.fibha_latency.fps_batch1 / r.seml.fps_batch1).abs() < 1e-12);
            let pipe = ratio(r, Peer::Sesl, Definition::Pipelined).unwrap();
            assert!((pipe - r.fibha.fps_pipelined / r.sesl.fps_pipelined).abs() < 1e-12);
            // FiBHA planned for latency is no slower for one image than the one planned
            // for throughput.
            assert!(r.fibha_latency.latency_ms <= r.fibha.latency_ms * (1.0 + 1e-9));
        }
        let published: Vec<f64> = b.claims.iter().take(6).map(|c| c.published).collect();
        assert_eq!(published, [1.7, 2.5, 4.1, 4.0, 0.75, 0.54], "{}", b.board);
        for c in &b.claims {
            assert_eq!(c.agrees, c.explanation.is_none(), "{c:?}");
        }
    }
    let zcu = &doc.boards[0];
    let board_runs: Vec<f64> = zcu.claims[6..].iter().map(|c| c.published).collect();
    assert_eq!(
        board_runs,
        [15.0, 21.0, 21.0 / 15.0, 33.0, 43.0, 43.0 / 33.0]
    );
    assert!(doc.boards[1].claims.len() == 6 && doc.boards[2].claims.len() == 6);
    // The ZCU102's ports (4 x 128 bit at 200 MHz) bound its bandwidth, not the DDR peak.
    assert!(zcu.bandwidth.starts_with("12.8 GB/s"), "{}", zcu.bandwidth);

    let o = run(&[
        "compare",
        "--board",
        "zc706,kcu105",
        "--models",
        "mobilenet_v2",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    for needle in [
        "zc706: 900 DSP",
        "kcu105: 1920 DSP",
        "fps_batch1",
        "fps_pipelined",
        "published vs modelled on kcu105",
        "MobileNetV2 1.0/224",
    ] {
        assert!(text.contains(needle), "missing {needle}: {text}");
    }
    assert!(!text.contains("zcu102"), "{text}");
}

#[test]
fn sweep_writes_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "sweep",
        "--models",
        "mobilenet_v2",
        "proxylessnas_mobile",
        "--points",
        "4",
        // FiBHA's SEML part needs at least 432 DSP slices (its smallest engines).
        "--from",
        "0.25",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: fibha_compiler::sweep::SweepResult =
        serde_json::from_slice(&std::fs::read(dir.path().join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json.dsp_budgets, [630, 1260, 1890, 2520]);
    assert_eq!(json.models.len(), 2);
    let fibha: Vec<f64> = json.models[0]
        .points
        .iter()
        .map(|p| p.fibha.fps_pipelined.unwrap())
        .collect();
    for p in &json.models[0].points {
        assert!(
            p.fibha.fps_batch1.unwrap() < p.fibha.fps_pipelined.unwrap(),
            "{p:?}"
        );
        assert_eq!(p.seml.fps_batch1, p.seml.fps_pipelined, "{p:?}");
    }
    assert!(
        fibha.windows(2).all(|w| w[1] > w[0]),
        "more DSPs, more modelled throughput: {fibha:?}"
    );
    let svg = std::fs::read_to_string(dir.path().join("sweep.svg")).unwrap();
    for label in [
        "<svg",
        "MobileNetV2 1.0/224",
        "DSP slices in the budget",
        "modelled images/s",
        "FiBHA pipelined",
        "FiBHA batch 1",
        "SEML baseline",
        "SESL pipelined",
        "SESL batch 1",
    ] {
        assert!(svg.contains(label), "svg lacks {label}");
    }
}

#[test]
fn build_writes_a_consistent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mv2");
    let model = asset("tf2_mobilenet_v2_1.0_224_ptq.tflite");
    let o = run(&[
        "build",
        &model,
        "--board",
        "zcu102",
        "--no-vboard",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let plan: PlanDoc =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(manifest.part, "xczu9eg-ffvb1156-2-e");
    assert_eq!(manifest.plan_hash, plan.plan_hash);
    // What the runtime reads of the plan (one definition, in fibha_model) reads it back.
    let summary: fibha_model::manifest::PlanSummary =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    summary.check().unwrap();
    assert_eq!(summary.plan_hash, plan.plan_hash);
    assert_eq!(
        summary.model.source.file,
        "tf2_mobilenet_v2_1.0_224_ptq.tflite"
    );
    // The model is in the directory, byte for byte the file it was built from.
    assert_eq!(manifest.model.file, "model.tflite");
    assert_eq!(
        std::fs::read(out.join("model.tflite")).unwrap(),
        std::fs::read(workspace().join("assets/models/tf2_mobilenet_v2_1.0_224_ptq.tflite"))
            .unwrap()
    );
    assert!(manifest.vboard_kernel.is_none());
    // Nothing in it points back to the checkout or to the model's folder.
    let root = workspace().canonicalize().unwrap();
    for entry in walk(&out) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(
            !text.contains(root.to_str().unwrap()),
            "{} names the checkout {}",
            entry.display(),
            root.display()
        );
    }
    hls_script_finds_the_sources_through_the_environment(&out.join("hls/fibha_top.tcl"));
    // Every file the manifest names has the hash it records.
    for f in [
        &manifest.model,
        &manifest.bundle,
        &manifest.plan,
        &manifest.hls_config,
        &manifest.hls_script,
        manifest.vivado_params.as_ref().unwrap(),
        manifest.overlay_source.as_ref().unwrap(),
    ] {
        let bytes = std::fs::read(out.join(&f.file)).unwrap();
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, f.sha256, "{}", f.file);
    }
    // The layers do not depend on where the shapes came from: the shipped topology file
    // has the model's feature extractor, to which the model adds the classifier head
    // (MEAN and FULLY_CONNECTED) that the SEML part runs.
    let o = run(&["plan", "mobilenet_v2", "--board", "zcu102", "--json"]);
    let topo: PlanDoc = serde_json::from_slice(&o.stdout).unwrap();
    let shapes = |d: &PlanDoc| -> Vec<_> {
        d.layers
            .iter()
            .map(|l| (l.kind, l.input, l.output))
            .collect()
    };
    let (mine, theirs) = (shapes(&plan), shapes(&topo));
    assert_eq!(mine[..theirs.len()], theirs[..]);
    let head: Vec<LayerKind> = mine[theirs.len()..].iter().map(|s| s.0).collect();
    assert_eq!(head, [LayerKind::GlobalPool, LayerKind::Pointwise]);
    let hw = u64::from_str_radix(&manifest.plan_hash, 16).unwrap();
    let bundle = Bundle::open(&out.join("model.fibha"), Some(hw)).unwrap();
    let view = bundle.view();
    let seml = plan
        .layers
        .iter()
        .filter(|l| l.part == fibha_compiler::design::Part::Seml)
        .count();
    let adds = plan
        .layers
        .iter()
        .filter(|l| {
            l.part == fibha_compiler::design::Part::Seml
                && l.kind == fibha_compiler::network::LayerKind::Add
        })
        .count();
    // Each residual ADD is fused into the pointwise layer before it.
    assert_eq!(view.descriptors().len(), seml - adds);
    assert_eq!(
        view.descriptors()
            .iter()
            .filter(|d| d.flags.get() & FLAG_RESIDUAL != 0)
            .count(),
        adds
    );
    // The classifier head ends the program: the MEAN as a pool layer (MEAN's rescale, no
    // rounding division), the 1001 classes written as 63 whole words.
    let descs = view.descriptors();
    let [.., pool, fc] = descs else {
        panic!("fewer than two descriptors")
    };
    assert_eq!(pool.kind.get(), fibha_model::device::LayerKind::Pool as u32);
    assert_eq!(pool.flags.get(), 0);
    assert_eq!(
        (pool.in_h.get(), pool.in_w.get(), pool.out_h.get()),
        (7, 7, 1)
    );
    assert_eq!((fc.in_c.get(), fc.out_c.get()), (1280, 1001));
    assert_eq!(view.header().output_bytes.get(), 63 * 16);
    // The first SEML layer's blob holds its TFLite filter W[out][in]: logical beat
    // fold * (3 pe / 4 + pe * cf) + 3 pe / 4 + word * pe + (out % pe) carries
    // W[out][16 word ..], stored as the even beats, then the odd ones (the layout of
    // hls/include/fibha/seml.hpp, read back here from its description).
    let graph = fibha_model::tflite::load(std::path::Path::new(&model)).unwrap();
    let first = plan
        .layers
        .iter()
        .find(|l| l.part == fibha_compiler::design::Part::Seml)
        .unwrap();
    let node = &graph.nodes[first.source_op.unwrap()];
    let filter = graph.tensor(node.inputs[1]).data.clone().unwrap();
    let blob = view.blob(&view.descriptors()[0]);
    let pe = plan.hardware.seml.part.as_ref().unwrap().par.pe as usize;
    let (cin, cout) = (first.input.c, first.output.c);
    let cf = cin.div_ceil(16);
    let half = blob.len() / 32;
    let stored = |beat: usize| {
        let at = if beat.is_multiple_of(2) {
            beat / 2
        } else {
            half + beat / 2
        };
        &blob[at * 16..at * 16 + 16]
    };
    for o in 0..cout {
        for i in 0..cin {
            let beat = (o / pe) * (3 * pe / 4 + pe * cf) + 3 * pe / 4 + (i / 16) * pe + o % pe;
            assert_eq!(stored(beat)[i % 16], filter[o * cin + i], "W[{o}][{i}]");
        }
    }
    let header = std::fs::read_to_string(out.join("fibha_config.hpp")).unwrap();
    assert!(header.starts_with("// @generated"));
    assert!(header.contains(&format!("kPlanHash = 0x{}ull", manifest.plan_hash)));
    let params = std::fs::read_to_string(out.join("vivado/params.tcl")).unwrap();
    assert!(params.contains(&format!("set fibha(plan_hash) {}", manifest.plan_hash)));
    assert!(params.contains("set fibha(hp_ports)  4"));
    // Refused for other hardware, naming the file.
    let err = Bundle::open(&out.join("model.fibha"), Some(hw ^ 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.fibha") && err.contains("plan hash"),
        "{err}"
    );
}

#[test]
fn the_objective_is_a_flag_and_the_plan_states_it() {
    use fibha_compiler::planner::Objective;
    let plan = |objective: &str| -> PlanDoc {
        let o = run(&["plan", "mobilenet_v2", "--objective", objective, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (t, l) = (plan("throughput"), plan("latency"));
    assert_eq!(t.modelled.objective, Objective::Throughput);
    assert_eq!(l.modelled.objective, Objective::Latency);
    // Each search wins on its own objective, SplitCNN's loop included, and the two plans
    // differ (MobileNetV2 on the full ZCU102: deep SESL part for throughput, shallow for
    // latency).
    for (ft, fl) in [
        (&t.modelled.fibha, &l.modelled.fibha),
        (&t.modelled.splitcnn, &l.modelled.splitcnn),
        (&t.modelled.exhaustive, &l.modelled.exhaustive),
    ] {
        assert!(fl.latency_ms <= ft.latency_ms, "{fl:?} vs {ft:?}");
        assert!(ft.fps_pipelined >= fl.fps_pipelined, "{ft:?} vs {fl:?}");
    }
    assert!(l.split.sesl_units < t.split.sesl_units);
    assert_ne!(l.plan_hash, t.plan_hash);
    let o = run(&["plan", "mobilenet_v2", "--objective", "latency"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("objective latency of one image alone"),
        "{text}"
    );
    let o = run(&["plan", "mobilenet_v2", "--objective", "speed"]);
    assert!(!o.status.success() && stderr(&o).contains("throughput"));
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The build's Vitis HLS script under tclsh with the Vitis commands stubbed
/// (`hls/scripts/vitis_dryrun.tcl`): with `FIBHA_HLS_DIR` it adds fibha's kernel source
/// from there; without, it stops saying what to set.
fn hls_script_finds_the_sources_through_the_environment(script: &Path) {
    if Command::new("tclsh").arg("/dev/null").output().is_err() {
        eprintln!("skipped the Vitis HLS script check: no tclsh");
        return;
    }
    let hls = workspace().join("hls").canonicalize().unwrap();
    let dryrun = |hls_dir: Option<&Path>| {
        let mut c = Command::new("tclsh");
        c.arg(hls.join("scripts/vitis_dryrun.tcl")).arg(script);
        c.env_remove("FIBHA_HLS_DIR");
        if let Some(dir) = hls_dir {
            c.env("FIBHA_HLS_DIR", dir);
        }
        c.output().unwrap()
    };
    let o = dryrun(Some(&hls));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        said.contains(&format!(
            "add_files {}",
            hls.join("src/fibha_top.cpp").display()
        )),
        "{said}"
    );
    let o = dryrun(None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("set FIBHA_HLS_DIR to fibha's hls/ folder"),
        "{}",
        stderr(&o)
    );
}

/// Keras's MobileNet as TensorFlow's converter writes it: the classifier's reshape comes as
/// SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE (operators #29 to #32 of the file, read with
/// TFLite's interpreter); the plan says the first three were folded at import and which
/// operators the host runs.
#[test]
fn a_converters_shape_arithmetic_is_folded_and_the_plan_says_so() {
    let model = workspace().join("tests/models/keras_mobilenet_0.25_128.tflite");
    let o = run(&[
        "plan",
        model.to_str().unwrap(),
        "--board",
        "zcu102",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: PlanDoc = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        plan.model.folded,
        ["#29 SHAPE", "#30 STRIDED_SLICE", "#31 PACK"]
    );
    assert_eq!(
        plan.model.host,
        [
            "#32 RESHAPE (the engines stop here: it follows the classifier)",
            "#33 SOFTMAX"
        ]
    );
    let o = run(&["plan", model.to_str().unwrap(), "--board", "zcu102"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(
            "folded at import (shape arithmetic on static shapes): #29 SHAPE, #30 STRIDED_SLICE, #31 PACK"
        ),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
