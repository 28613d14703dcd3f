//! Each fault the virtual board can inject, and what the runtime does about it: a timeout,
//! a reset and a retry, or a clear error naming the fault; never a hang (every process
//! has a deadline), never a wrong answer reported as right.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Board, Running, board_tools, fibha, fibha_command, golden_input, instance};
use fibha_model::device::{CTRL, ctrl};

fn setup() -> Option<(Board, &'static Path)> {
    let (vboard, compile) = board_tools()?;
    let model = instance(&compile, "faults");
    Some((Board::start(&vboard, &[]), model))
}

/// A board with one fault injected, the model, and where `fibha run` writes its output.
struct FaultedRun {
    board: Board,
    model: &'static Path,
    root: String,
    out_path: PathBuf,
    /// Holds `out_path`'s directory for the test's lifetime.
    _out: tempfile::TempDir,
}

impl FaultedRun {
    /// Starts a board with `fault` set, or `None` when the tools are not built.
    fn start(fault: &str) -> Option<FaultedRun> {
        let (board, model) = setup()?;
        board.set_fault(fault, true);
        let out = tempfile::tempdir().unwrap();
        Some(FaultedRun {
            root: board.root_arg(),
            board,
            model,
            out_path: out.path().join("y.npy"),
            _out: out,
        })
    }

    /// `fibha run` on this board, writing into the run's own directory.
    fn args(&self) -> Vec<&str> {
        run_args(&self.root, self.model, self.out_path.to_str().unwrap())
    }
}

fn run_args<'a>(board: &'a str, model: &'a Path, out: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--root",
        board,
        "--model",
        model.to_str().unwrap(),
        "--input",
        common_input(),
        "--output",
        out,
    ]
}

/// `fibha bench --json -n N --warmup 0` on the board at `root`, its report in `out`,
/// then `extra`.
fn bench_args<'a>(
    n: &'a str,
    root: &'a str,
    model: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "bench",
        "--json",
        "-n",
        n,
        "--warmup",
        "0",
        "--root",
        root,
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--input",
        common_input(),
    ];
    args.extend_from_slice(extra);
    args
}

fn common_input() -> &'static str {
    static INPUT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INPUT.get_or_init(|| golden_input("cat").display().to_string())
}

/// The kernel is idle and not started: what every error path must leave behind.
fn assert_stopped(board: &Board) {
    let word = board.register(CTRL);
    assert_eq!(
        ctrl::AP_START.get(word),
        0,
        "ctrl {word:#x}: ap_start still set"
    );
    assert_eq!(ctrl::AP_IDLE.get(word), 1, "ctrl {word:#x}: not idle");
}

#[test]
fn a_kernel_that_always_hangs_is_reset_retried_once_then_named() {
    let Some(run) = FaultedRun::start("hang") else {
        return;
    };
    let board = &run.board;
    let mut args = run.args();
    args.extend(["--timeout-ms", "800"]);
    let watch = board.watch_kernels();
    let started = Instant::now();
    let ran = fibha(&args);
    let kernels = watch.stop();
    let line = ran.error_line();
    assert!(
        line.contains("did not finish the identify run within 800ms")
            && line.contains("reset (bitstream reloaded) and retried once"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!run.out_path.exists(), "no output for a failed run");
    // The reset is its effect: the bitstream reload replaced the hung kernel process by a
    // new one (which hangs too), and the first is gone.
    assert!(kernels.len() >= 2, "kernel processes seen: {kernels:?}");
    assert!(
        !Path::new(&format!("/proc/{}", kernels[0])).exists(),
        "the hung kernel {} still runs",
        kernels[0]
    );
    board.set_fault("hang", false);
    assert_stopped(board);
}

/// The hang starts after bring-up and is gone by the time the fabric is reset: the run
/// recovers, and the report says so.
#[test]
fn a_transient_hang_mid_run_is_recovered_by_a_reset_and_a_retry() {
    let Some((board, model)) = setup() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let root = board.root_arg();
    // --verify: every output, the recovered one included, is compared byte for byte with
    // the CPU engine's; a difference fails the run.
    let mut command = fibha_command(&bench_args(
        "4",
        &root,
        model,
        out.path(),
        &["--timeout-ms", "1500", "--verify"],
    ));
    command.env("RUST_LOG", "fibha=debug");
    let mut running = Running::start(command);
    running.wait_for_stderr("host_post", Duration::from_secs(60));
    let before = board.kernel_pid().expect("a kernel runs");
    board.set_fault("hang", true);
    // The reset writes `write init` to the fpga_manager's state: clear the fault then, so
    // the reloaded kernel runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while board.fpga_state() == "operating" {
        assert!(Instant::now() < deadline, "no reset within 30 s");
        std::thread::sleep(Duration::from_millis(1));
    }
    board.set_fault("hang", false);
    let ran = running.finish(Duration::from_secs(60));
    let doc = ran.json();
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(doc["outcome"]["completed"], 4);
    assert_eq!(doc["driver"]["resets"], 1, "{doc}");
    assert_eq!(doc["driver"]["retried_ok"], 1, "{doc}");
    let after = board.kernel_pid().expect("a kernel runs");
    assert_ne!(
        before, after,
        "the reset did not replace the kernel process"
    );
    assert!(
        doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("hung 1 time(s): reset")),
        "{doc}"
    );
}

#[test]
fn a_lost_interrupt_is_recovered_by_polling_and_reported() {
    let Some((board, model)) = setup() else {
        return;
    };
    board.set_fault("lost-irq", true);
    let out = tempfile::tempdir().unwrap();
    let root = board.root_arg();
    let started = Instant::now();
    // --verify: the outputs read after the poll are the CPU engine's, byte for byte.
    let ran = fibha(&bench_args("2", &root, model, out.path(), &["--verify"]));
    assert!(ran.status.success(), "{}", ran.stderr);
    let doc = ran.json();
    assert_eq!(doc["outcome"]["completed"], 2);
    assert_eq!(doc["driver"]["lost_interrupts"], 1, "{doc}");
    assert_eq!(doc["driver"]["switched_to_polling"], true);
    assert!(
        doc["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("interrupt lost 1 time(s), recovered by polling")),
        "{doc}"
    );
    // One interrupt slice (at most 1 s), not the 60 s hang timeout of the virtual board.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_kernel_built_for_another_plan_is_refused_naming_both_hashes() {
    let Some(run) = FaultedRun::start("bad-version") else {
        return;
    };
    let board = &run.board;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.model.join("manifest.json")).unwrap()).unwrap();
    let hash = u64::from_str_radix(manifest["plan_hash"].as_str().unwrap(), 16).unwrap();
    let line = fibha(&run.args()).error_line();
    assert!(line.contains("accelerator identity mismatch"), "{line}");
    assert!(line.contains(&format!("{hash:#018x}")), "{line}");
    assert!(line.contains(&format!("{:#018x}", !hash)), "{line}");
    assert_stopped(board);
    assert!(
        !run.out_path.exists(),
        "nothing written for a refused kernel"
    );
}

/// The status register cannot show a corrupted output; `--verify` catches it, naming the
/// first differing element.
#[test]
fn a_corrupted_output_is_caught_by_verify() {
    let Some(run) = FaultedRun::start("corrupt-output") else {
        return;
    };
    let board = &run.board;
    let mut args = run.args();
    args.push("--verify");
    let line = fibha(&args).error_line();
    assert!(
        line.contains("--verify: inference 0 (item 0): the board's accelerator output")
            && line.contains("differs from the cpu backend's at element"),
        "{line}"
    );
    assert!(
        !run.out_path.exists(),
        "no output written for a run that failed verification"
    );
    board.set_fault("corrupt-output", false);
    fibha(&args).ok();
}

#[test]
fn a_failed_bitstream_load_is_named() {
    let Some(run) = FaultedRun::start("load-fail") else {
        return;
    };
    let line = fibha(&run.args()).error_line();
    assert!(
        line.contains("loading the bitstream") && line.contains("state is \"write error\""),
        "{line}"
    );
    // Refused, and nothing runs or was written: no kernel process, no output.
    assert_eq!(run.board.fpga_state(), "write error");
    assert_eq!(run.board.kernel_pid(), None, "a kernel started");
    assert!(!run.out_path.exists(), "an output was written");
}

/// `fibha energy --json -n N` on `board`, sampling every 5 ms after a 0.2 s baseline.
fn energy_command(board: &Board, model: &Path, out: &Path, n: &str) -> std::process::Command {
    let root = board.root_arg();
    fibha_command(&[
        "energy",
        "--json",
        "-n",
        n,
        "--idle-s",
        "0.2",
        "--period-ms",
        "5",
        "--root",
        &root,
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--input",
        common_input(),
    ])
}

fn energy(board: &Board, model: &Path, out: &Path) -> common::Ran {
    Running::start(energy_command(board, model, out, "2")).finish(common::DEADLINE)
}

#[test]
fn a_missing_rail_is_listed_and_the_others_are_measured() {
    let Some((board, model)) = setup() else {
        return;
    };
    board.set_fault("rail-missing:VCCINT", true);
    // The board removes the rail's hwmon device at its next update.
    std::thread::sleep(Duration::from_millis(100));
    let out = tempfile::tempdir().unwrap();
    let doc = energy(&board, model, out.path()).json();
    assert_eq!(doc["rails"]["missing"], serde_json::json!(["VCCINT"]));
    assert_eq!(doc["rails"]["found"].as_array().unwrap().len(), 17);
    assert!(
        doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("rails not found")),
        "{doc}"
    );
    assert!(doc["per_inference"]["total_j"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_rail_reading_garbage_stops_the_measurement_naming_it() {
    let Some((board, model)) = setup() else {
        return;
    };
    for (fault, problem) in [
        ("rail-garbage:VCCBRAM", "not a number"),
        ("rail-absurd:VCCBRAM", "implausible power"),
    ] {
        board.set_fault(fault, true);
        std::thread::sleep(Duration::from_millis(100));
        let out = tempfile::tempdir().unwrap();
        let line = energy(&board, model, out.path()).error_line();
        assert!(
            line.contains("VCCBRAM") && line.contains(problem),
            "{fault}: {line}"
        );
        board.set_fault(fault, false);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_rail_failing_mid_run_ends_the_measurement_with_the_report_so_far() {
    let Some((board, model)) = setup() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let mut command = energy_command(&board, model, out.path(), "10000");
    command.env("RUST_LOG", "fibha=debug");
    let mut running = Running::start(command);
    running.wait_for_stderr("host_post", Duration::from_secs(60));
    running.wait_for_stderr("host_post", Duration::from_secs(60));
    board.set_fault("rail-garbage:VCCBRAM", true);
    let ran = running.finish(Duration::from_secs(60));
    let line = ran.error_line();
    assert!(
        line.contains("the power measurement stopped: power rail VCCBRAM")
            && line.contains("not a number"),
        "{line}"
    );
    let doc = ran.json();
    let completed = doc["outcome"]["completed"].as_u64().unwrap();
    assert!((2..10_000).contains(&completed), "{doc}");
    assert!(
        doc["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("VCCBRAM"),
        "{doc}"
    );
    assert!(
        doc["per_inference"]["total_j"].as_f64().unwrap() > 0.0,
        "{doc}"
    );
    assert!(out.path().join("energy.json").is_file());
}

/// An instance that declares no buffer sizes (so the virtual board does not grow its
/// buffers on load) meets the board's default 4 KiB output buffers.
#[test]
fn a_buffer_too_small_for_the_plan_is_named_with_its_size_and_need() {
    let Some((vboard, compile)) = board_tools() else {
        return;
    };
    let model = instance(&compile, "faults");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("instance");
    common::copy_dir(model, &copy);
    // The descriptor of a build that declares no buffer sizes, consistently recorded in
    // its manifest: the board keeps its own (too small) output buffer.
    let descriptor = std::fs::read_to_string(model.join("vboard/fibha.bit.bin")).unwrap();
    let (magic, json) = descriptor.split_once('\n').unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(json).unwrap();
    spec.as_object_mut().unwrap().remove("buffers");
    let descriptor = format!("{magic}\n{spec}");
    std::fs::write(copy.join("vboard/fibha.bit.bin"), &descriptor).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    manifest["vboard_instance"]["sha256"] = common::sha256_hex(descriptor.as_bytes()).into();
    std::fs::write(copy.join("manifest.json"), manifest.to_string()).unwrap();
    // The runtime needs room for one image's output (more only streams more images a call).
    let bundle = fibha_model::bundle::Bundle::open(&copy.join("model.fibha"), None).unwrap();
    let needed = bundle.view().header().output_bytes.get();
    let board = Board::start(&vboard, &["--buffers", "fibha_out0=512"]);
    let root = board.root_arg();
    let out = dir.path().join("y.npy");
    let line = fibha(&run_args(&root, &copy, out.to_str().unwrap())).error_line();
    assert!(
        line.contains(&format!(
            "u-dma-buf buffer fibha_out0 is 512 bytes, but {needed} bytes are required"
        )),
        "{line}"
    );
    assert_stopped(&board);
}

#[test]
fn no_rails_at_all_is_an_error_with_a_hint() {
    let empty = tempfile::tempdir().unwrap();
    let line = fibha(&[
        "energy",
        "--backend",
        "cpu",
        "-n",
        "1",
        "--idle-s",
        "0.1",
        "--root",
        empty.path().to_str().unwrap(),
        "--out",
        empty.path().join("report").to_str().unwrap(),
        "--input",
        common_input(),
    ])
    .error_line();
    assert!(
        line.contains("no ZCU102 power rails found") && line.contains("ina2xx"),
        "{line}"
    );
}
