//! The virtual board driven through the real `fibha-board` API, as the runtime drives a
//! ZCU102: load the instance through fpga_manager, apply the overlay, map the registers and
//! buffers, start, wait for the interrupt, read the output; and every injected fault as the
//! board API sees it.

mod harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fibha_board::dma::{DmaBuffer, SyncDirection};
use fibha_board::fpga::{KernelIdentity, Overlay, check_kernel_identity};
use fibha_board::power::RailReader;
use fibha_board::uio::{Irq, Uio, UioSelector};
use fibha_board::{BoardError, RegisterBlock, poll_until, zcu102};
use fibha_model::register::{ReadOnly, Reg64};
use fibha_vboard::power::MODEL;
use fibha_vboard::regs;
use harness::{Board, PLAN_HASH, dtbo, instance, instance_with_buffers, process_exists, wait_for};

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(10);

/// The runtime's side of one accelerator, through the board API.
struct Accel {
    regs: RegisterBlock,
    irq: Irq,
    input: DmaBuffer,
    output: DmaBuffer,
}

impl Accel {
    fn open(board: &Board) -> Self {
        let uio = Uio::open(&board.root, &UioSelector::Name("fibha".into())).unwrap();
        Self {
            regs: uio.map(0, 0x100).unwrap(),
            irq: uio.irq().unwrap(),
            input: DmaBuffer::open(&board.root, "fibha_in0", 4096).unwrap(),
            output: DmaBuffer::open(&board.root, "fibha_out0", 4096).unwrap(),
        }
    }

    fn write(&self, offset: u32, value: u32) {
        self.regs.write32(offset as usize, value).unwrap();
    }

    fn read(&self, offset: u32) -> u32 {
        self.regs.read32(offset as usize).unwrap()
    }

    fn read64(&self, pair: Reg64<ReadOnly>) -> u64 {
        pair.read(&self.regs).unwrap().expect("a settled pair")
    }

    /// Writes `data` to the input buffer and starts an inverting run over it.
    fn start(&mut self, data: &[u8]) {
        self.input
            .bytes_mut(0..data.len())
            .unwrap()
            .copy_from_slice(data);
        self.input
            .sync_for_device(0..data.len(), SyncDirection::ToDevice)
            .unwrap();
        let input_addr = self.input.device_addr(0).unwrap();
        let output_addr = self.output.device_addr(0).unwrap();
        self.start_at(input_addr, output_addr, data.len() as u32, 0);
    }

    fn start_at(&mut self, input: u64, output: u64, bytes: u32, mode: u32) {
        let r = &self.regs;
        regs::reg::INPUT_ADDR.write(r, input).unwrap();
        regs::reg::OUTPUT_ADDR.write(r, output).unwrap();
        self.write(regs::INPUT_BYTES, bytes);
        self.write(regs::OUTPUT_BYTES, self.output.len() as u32);
        self.write(regs::MODE, mode);
        self.write(regs::GIE, 1);
        self.write(regs::IER, regs::ier::DONE.mask());
        self.irq.arm().unwrap();
        self.write(regs::CTRL, regs::ctrl::AP_START.mask());
    }

    fn done(&self) -> bool {
        regs::ctrl::AP_DONE.get(self.read(regs::CTRL)) == 1
    }

    fn poll_done(&self, timeout: Duration) -> fibha_board::Result<Duration> {
        poll_until(
            || Ok(self.done()),
            timeout,
            Duration::from_micros(200),
            "ap_done",
        )
    }

    fn output(&self, len: usize) -> Vec<u8> {
        self.output
            .sync_for_cpu(0..len, SyncDirection::FromDevice)
            .unwrap();
        self.output.bytes(0..len).unwrap().to_vec()
    }

    fn identity(&self) -> KernelIdentity {
        KernelIdentity {
            plan_hash: self.read64(regs::reg::ID),
            version: regs::INTERFACE_VERSION,
        }
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn inverted(data: &[u8]) -> Vec<u8> {
    data.iter().map(|b| !b).collect()
}

fn expected_identity() -> KernelIdentity {
    KernelIdentity {
        plan_hash: PLAN_HASH,
        version: regs::INTERFACE_VERSION,
    }
}

/// A board with the test instance loaded and the overlay applied.
fn loaded_board(args: &[&str]) -> Board {
    let board = Board::start(args);
    let build = board.dir.path().join("build");
    board.load(&instance(&build, &[], 1000, 200.0)).unwrap();
    let overlay =
        Overlay::apply(&board.root, "fibha", &dtbo(board.dir.path(), "fibha.dtbo")).unwrap();
    wait_for("the overlay status", LONG, || overlay.is_applied().unwrap());
    board
}

#[test]
fn a_run_inverts_the_input_and_raises_the_interrupt() {
    let board = loaded_board(&[]);
    let mut accel = Accel::open(&board);
    assert_eq!(regs::ctrl::AP_IDLE.get(accel.read(regs::CTRL)), 1);

    // Identify first, as the runtime does before trusting a bundle.
    accel.start_at(0, 0, 0, regs::mode::IDENTIFY.mask());
    accel.irq.wait(LONG).unwrap();
    check_kernel_identity(expected_identity(), accel.identity()).unwrap();

    for (round, len) in [(1u8, 1000usize), (2, 4096)] {
        let data = pattern(len, round);
        accel.start(&data);
        let count = accel.irq.wait(LONG).unwrap();
        assert_eq!(
            count,
            u32::from(round) + 1,
            "one interrupt per run, counted"
        );
        let control = accel.read(regs::CTRL);
        assert_eq!(regs::ctrl::AP_DONE.get(control), 1);
        assert_eq!(regs::ctrl::AP_IDLE.get(control), 1);
        assert_eq!(regs::isr::DONE.get(accel.read(regs::ISR)), 1);
        assert_eq!(accel.read(regs::STATUS), 0);
        assert_eq!(accel.read64(regs::reg::CYCLES), len as u64);
        for (_, vld) in fibha_model::handshake::OUTPUTS {
            assert_eq!(accel.read(vld), 1);
        }
        assert_eq!(accel.output(len), inverted(&data));
    }
}

#[test]
fn an_address_outside_every_buffer_is_an_error_status_not_a_write() {
    let board = loaded_board(&[]);
    let mut accel = Accel::open(&board);
    let before = accel.output(64);
    let output = accel.output.device_addr(0).unwrap();
    accel.start_at(0x1000, output, 64, 0);
    accel.irq.wait(LONG).unwrap();
    let status = accel.read(regs::STATUS);
    assert_eq!(regs::status::ERROR.get(status), 1);
    assert_eq!(
        regs::status::CODE.get(status),
        regs::StatusCode::AddressUnmapped as u32
    );
    assert_eq!(accel.output(64), before);
}

#[test]
fn hang_times_out_and_a_reload_resets_the_kernel() {
    let board = loaded_board(&[]);
    let mut accel = Accel::open(&board);
    let first_kernel = board.kernel_pid().unwrap();
    board.set_fault("hang", true);
    let data = pattern(256, 7);
    accel.start(&data);
    let err = accel.irq.wait(SHORT).unwrap_err();
    assert!(matches!(err, BoardError::Timeout { .. }), "{err}");
    let err = accel.poll_done(SHORT).unwrap_err();
    assert!(matches!(err, BoardError::Timeout { .. }), "{err}");
    assert_eq!(
        regs::ctrl::AP_IDLE.get(accel.read(regs::CTRL)),
        0,
        "busy while hung"
    );

    // The runtime's reset: load the bitstream again. The old kernel process is gone.
    board.set_fault("hang", false);
    board
        .load(&board.dir.path().join("build/fibha.bit.bin"))
        .unwrap();
    assert!(
        !process_exists(first_kernel),
        "kernel {first_kernel} survived the reload"
    );
    assert_ne!(board.kernel_pid(), Some(first_kernel));
    assert_eq!(
        accel.read(regs::CTRL),
        regs::ctrl::AP_IDLE.mask(),
        "registers reset"
    );
    accel.start(&data);
    accel.irq.wait(LONG).unwrap();
    assert_eq!(accel.output(256), inverted(&data));
}

#[test]
fn a_kernel_process_that_never_answers_is_killed_by_the_reload() {
    let board = Board::start(&[]);
    let hung = board.dir.path().join("hung");
    board
        .load(&instance(&hung, &["hang"], 1000, 200.0))
        .unwrap();
    let mut accel = Accel::open(&board);
    let stuck = board.kernel_pid().unwrap();
    accel.start(&pattern(16, 1));
    assert!(matches!(
        accel.irq.wait(SHORT).unwrap_err(),
        BoardError::Timeout { .. }
    ));
    board
        .load(&instance(&board.dir.path().join("good"), &[], 1000, 200.0))
        .unwrap();
    assert!(
        !process_exists(stuck),
        "the hung kernel {stuck} was not reaped"
    );
    let data = pattern(16, 2);
    accel.start(&data);
    accel.irq.wait(LONG).unwrap();
    assert_eq!(accel.output(16), inverted(&data));
}

#[test]
fn lost_irq_times_out_but_polling_sees_done() {
    let board = loaded_board(&["--fault", "lost-irq"]);
    let mut accel = Accel::open(&board);
    let data = pattern(512, 3);
    accel.start(&data);
    let err = accel.irq.wait(SHORT).unwrap_err();
    assert!(matches!(err, BoardError::Timeout { .. }), "{err}");
    accel.poll_done(LONG).unwrap();
    assert_eq!(regs::isr::DONE.get(accel.read(regs::ISR)), 1);
    assert_eq!(accel.output(512), inverted(&data));
}

#[test]
fn bad_version_fails_the_identity_check_naming_both() {
    let board = loaded_board(&[]);
    let mut accel = Accel::open(&board);
    board.set_fault("bad-version", true);
    accel.start_at(0, 0, 0, regs::mode::IDENTIFY.mask());
    accel.irq.wait(LONG).unwrap();
    assert_eq!(accel.identity().plan_hash, !PLAN_HASH);
    let err = check_kernel_identity(expected_identity(), accel.identity()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BoardError::KernelMismatch { .. }), "{text}");
    assert!(
        text.contains("0x1f2e3d4c5b6a7988") && text.contains("0xe0d1c2b3a4958677"),
        "{text}"
    );
}

#[test]
fn the_kernel_reports_its_own_id() {
    let board = Board::start(&[]);
    let other = board.dir.path().join("other");
    board
        .load(&instance(&other, &["--id=0xfeed"], 1000, 200.0))
        .unwrap();
    let mut accel = Accel::open(&board);
    accel.start_at(0, 0, 0, regs::mode::IDENTIFY.mask());
    accel.irq.wait(LONG).unwrap();
    assert_eq!(accel.identity().plan_hash, 0xfeed);
}

#[test]
fn corrupt_output_flips_bits_under_a_clean_status() {
    let board = loaded_board(&["--fault", "corrupt-output"]);
    let mut accel = Accel::open(&board);
    // The whole output region (the fault spreads its flips over it).
    let n = accel.output.len();
    let data = pattern(n, 9);
    accel.start(&data);
    accel.irq.wait(LONG).unwrap();
    assert_eq!(accel.read(regs::STATUS), 0, "the board API cannot tell");
    let output = accel.output(n);
    let differing: Vec<usize> = (0..n).filter(|&i| output[i] != !data[i]).collect();
    assert_eq!(differing.len(), 8, "{differing:?}");
    assert!(differing.iter().all(|&i| output[i] ^ !data[i] == 0x01));
}

#[test]
fn load_failures_end_in_error_states_with_the_reason() {
    let board = Board::start(&["--fault", "load-fail"]);
    let build = board.dir.path().join("build");
    let descriptor = instance(&build, &[], 1000, 200.0);
    let err = board.load(&descriptor).unwrap_err();
    assert!(
        matches!(&err, BoardError::FpgaLoad { state, .. } if state == "write error"),
        "{err}"
    );
    let reason = std::fs::read_to_string(board.path("/vboard/load_error")).unwrap();
    assert!(reason.contains("load-fail"), "{reason}");
    drop(board);

    let board = Board::start(&[]);
    let real = board.dir.path().join("design.bit.bin");
    std::fs::write(&real, b"\xff\xff\xff\xff\x00\x00\x00\xbb\x11\x22\x00\x44").unwrap();
    let err = board.load(&real).unwrap_err().to_string();
    assert!(err.contains("\"write error\""), "{err}");
    let reason = std::fs::read_to_string(board.path("/vboard/load_error")).unwrap();
    assert!(reason.contains("not real bitstreams"), "{reason}");

    let build = board.dir.path().join("build");
    let descriptor = instance(&build, &[], 1000, 200.0);
    std::fs::remove_file(build.join("csim/fibha_kernel")).unwrap();
    let err = board.load(&descriptor).unwrap_err().to_string();
    assert!(err.contains("\"write error\""), "{err}");
    let reason = std::fs::read_to_string(board.path("/vboard/load_error")).unwrap();
    assert!(reason.contains("fibha_kernel is missing"), "{reason}");
    assert_eq!(board.kernel_pid(), None);

    let descriptor = instance(&build, &[], 1000, 200.0);
    let err = board.load_with(&descriptor, 1).unwrap_err().to_string();
    assert!(err.contains("\"write init error\""), "{err}");
    board.load(&descriptor).unwrap();
    assert!(!board.path("/vboard/load_error").exists());
}

/// The executable of a running process.
fn process_exe(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

#[test]
fn a_moved_build_runs_its_own_kernel_and_a_copy_without_one_is_refused() {
    let board = Board::start(&[]);
    let built = board.dir.path().join("built");
    instance(&built, &[], 1000, 200.0);
    let moved = board.dir.path().join("moved");
    std::fs::rename(&built, &moved).unwrap();
    board.load(&moved.join("fibha.bit.bin")).unwrap();
    let pid = board.kernel_pid().expect("a kernel runs");
    assert_eq!(
        process_exe(pid),
        moved.join("csim/fibha_kernel").canonicalize().unwrap()
    );

    // A copy without its kernel, beside a complete original: refused, the original's
    // kernel is not run in its place.
    let copy = board.dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(moved.join("fibha.bit.bin"), copy.join("fibha.bit.bin")).unwrap();
    let err = board
        .load(&copy.join("fibha.bit.bin"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"write error\""), "{err}");
    let reason = std::fs::read_to_string(board.path("/vboard/load_error")).unwrap();
    let expected = copy.canonicalize().unwrap().join("csim/fibha_kernel");
    assert!(
        reason.contains(&format!("the kernel {} is missing", expected.display())),
        "{reason}"
    );
    assert_eq!(board.kernel_pid(), None);
}

#[test]
fn a_bad_overlay_reads_unapplied() {
    let board = Board::start(&[]);
    let bad = board.dir.path().join("bad.dtbo");
    std::fs::write(&bad, b"not a device tree").unwrap();
    let overlay = Overlay::apply(&board.root, "bad", &bad).unwrap();
    let status = board.path("/sys/kernel/config/device-tree/overlays/bad/status");
    wait_for("the overlay status", LONG, || status.exists());
    assert!(!overlay.is_applied().unwrap());
    overlay.remove().unwrap();
}

fn idle_uw(rail: &str) -> u64 {
    let model = MODEL.iter().find(|m| m.name == rail).unwrap();
    (model.idle_w * 1e6).round() as u64
}

#[test]
fn rails_are_found_by_address_in_both_layouts_and_read_the_model() {
    for layout in ["legacy", "mainline"] {
        let board = Board::start(&["--rails", layout]);
        let mut rails = zcu102::hwmon_rails(&board.root).unwrap();
        assert_eq!(
            rails.found.len(),
            18,
            "{layout}: missing {:?}",
            rails.missing_names()
        );
        assert!(rails.unplaced.is_empty(), "{layout}: {:?}", rails.unplaced);
        for reader in &mut rails.found {
            let name = reader.rail().name;
            assert_eq!(
                reader.read_power_uw().unwrap(),
                idle_uw(name),
                "{layout} {name}"
            );
        }
        let vccint = rails
            .found
            .iter()
            .find(|r| r.rail().name == "VCCINT")
            .unwrap();
        assert_eq!(vccint.read_bus_voltage_mv().unwrap(), 850);
        let interval = vccint.update_interval_ms().unwrap();
        assert_eq!(interval, (layout == "legacy").then_some(5));
    }
}

#[test]
fn rail_faults_show_as_missing_garbage_and_absurd_rails() {
    let board = Board::start(&[
        "--fault",
        "rail-missing:VCCINT",
        "--fault",
        "rail-garbage:VCCBRAM",
    ]);
    let mut rails = zcu102::hwmon_rails(&board.root).unwrap();
    assert_eq!(rails.missing_names(), ["VCCINT"]);
    let mut by_name = |name: &str| {
        rails
            .found
            .iter_mut()
            .position(|r| r.rail().name == name)
            .unwrap()
    };
    let bram = by_name("VCCBRAM");
    let aux = by_name("VCCAUX");
    let v3 = by_name("VCC3V3");
    let err = rails.found[bram].read_power_uw().unwrap_err().to_string();
    assert!(
        err.starts_with("power rail VCCBRAM") && err.contains("not a number"),
        "{err}"
    );

    board.set_fault("rail-absurd:VCCAUX", true);
    wait_for("the absurd reading", LONG, || {
        rails.found[aux].read_power_uw().is_err()
    });
    let err = rails.found[aux].read_power_uw().unwrap_err().to_string();
    assert!(err.contains("implausible power"), "{err}");

    board.set_fault("rail-missing:VCC3V3", true);
    wait_for("the rail to vanish", LONG, || {
        rails.found[v3].read_power_uw().is_err()
    });
    let err = rails.found[v3].read_power_uw().unwrap_err().to_string();
    assert!(
        err.contains("VCC3V3") && err.contains("cannot read power1_input"),
        "{err}"
    );
    board.set_fault("rail-missing:VCC3V3", false);
    wait_for("the rail to return", LONG, || {
        zcu102::hwmon_rails(&board.root).unwrap().missing_names() == ["VCCINT"]
    });
}

#[test]
fn power_rises_for_the_modelled_run_time() {
    let board = Board::start(&[]);
    // The test kernel reports a cycle per input byte: 200,000 bytes at 1 MHz are 200 ms of
    // modelled activity, whatever the simulation takes.
    board
        .load(&instance(&board.dir.path().join("slow"), &[], 200_000, 1.0))
        .unwrap();
    let mut accel = Accel::open(&board);
    let mut rails = zcu102::hwmon_rails(&board.root).unwrap();
    let vccint = rails
        .found
        .iter_mut()
        .find(|r| r.rail().name == "VCCINT")
        .unwrap();
    assert_eq!(vccint.read_power_uw().unwrap(), 900_000);
    let started = Instant::now();
    accel.start(&pattern(200_000, 4));
    accel.irq.wait(LONG).unwrap();
    wait_for("the active level", LONG, || {
        vccint.read_power_uw().unwrap() == 1_520_000
    });
    wait_for("the idle level", LONG, || {
        vccint.read_power_uw().unwrap() == 900_000
    });
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_stop_file_ends_the_board_and_its_kernel() {
    let mut board = loaded_board(&[]);
    let kernel = board.kernel_pid().unwrap();
    std::fs::write(board.path("/vboard/stop"), "").unwrap();
    assert!(board.wait_exit(LONG), "the board exits with success");
    assert!(!process_exists(kernel), "kernel {kernel} left behind");
    assert!(!board.path("/dev/uio0.irq").exists() && !board.path("/dev/uio0.irqctl").exists());
}

#[test]
fn sigterm_ends_the_board_and_its_kernel() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let mut board = loaded_board(&[]);
    let kernel = board.kernel_pid().unwrap();
    kill(Pid::from_raw(board.pid() as i32), Signal::SIGTERM).unwrap();
    assert!(board.wait_exit(LONG));
    assert!(!process_exists(kernel), "kernel {kernel} left behind");
}

#[test]
fn one_board_per_root() {
    let board = Board::start(&[]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fibha-vboard"))
        .args(["serve", "--root"])
        .arg(board.root.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another fibha-vboard holds the lock"),
        "{stderr}"
    );
    // The first board is untouched.
    assert!(board.path("/dev/uio0.irq").exists());
}

#[test]
fn bad_options_are_refused_before_anything_is_laid_out() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--fault", "explode"][..],
        &["--fault", "rail-missing:VCCFOO"],
        &["--rails", "sideways"],
        &["--buffers", "fibha_in0=0"],
    ] {
        let root = dir.path().join("root");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_fibha-vboard"))
            .args(["layout", "--root"])
            .arg(&root)
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(!root.exists(), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("fibha-vboard: "));
    }
    let root = dir.path().join("laid-out");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_fibha-vboard"))
        .args(["layout", "--root"])
        .arg(&root)
        .args(["--buffers", "fibha_weights=16M"])
        .output()
        .unwrap();
    assert!(status.status.success());
    let weights =
        fibha_board::dma::find_dma_buffer(&fibha_board::Root::new(&root), "fibha_weights").unwrap();
    assert_eq!(weights.size, 16 << 20);
    assert!(Path::new(&root).join("dev/uio0").is_file());
}

#[test]
fn an_instance_grows_the_buffers_it_needs() {
    let board = Board::start(&[]);
    let big = 6 << 20;
    let buffers = std::collections::BTreeMap::from([("fibha_out0".to_owned(), big)]);
    let descriptor =
        instance_with_buffers(&board.dir.path().join("big"), &[], 1000, 200.0, buffers);
    board.load(&descriptor).unwrap();
    let mut accel = Accel::open(&board);
    assert_eq!(accel.output.len() as u64, big);
    let addresses: Vec<u64> = fibha_board::dma::list_dma_buffers(&board.root)
        .unwrap()
        .iter()
        .map(|b| b.phys_addr)
        .collect();
    let mut unique = addresses.clone();
    unique.sort_unstable();
    unique.dedup();
    // The five buffers, one of them grown, still at distinct addresses.
    assert_eq!(unique.len(), 5, "{addresses:x?}");
    // The kernel process was told the new addresses.
    let data = pattern(4096, 5);
    accel.start(&data);
    accel.irq.wait(LONG).unwrap();
    assert_eq!(accel.read(regs::STATUS), 0);
    assert_eq!(accel.output(4096), inverted(&data));
}

#[test]
fn exit_with_parent_stops_the_board_when_its_parent_goes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let ready = dir.path().join("ready.txt");
    // Whatever happens, the background board is told to stop when the test ends.
    struct StopFile(std::path::PathBuf);
    impl Drop for StopFile {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, "");
        }
    }
    let _stop = StopFile(root.join("vboard/stop"));
    // The shell starts the board in the background and exits once it is ready.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "FIBHA_VBOARD_LOG=error '{}' serve --root '{}' --exit-with-parent >'{}' & \
             n=0; while [ ! -s '{2}' ] && [ $n -lt 1000 ]; do sleep 0.01; n=$((n+1)); done",
            env!("CARGO_BIN_EXE_fibha-vboard"),
            root.display(),
            ready.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the board to stop after its parent", LONG, || {
        let said_ready = std::fs::read_to_string(&ready).is_ok_and(|t| t.starts_with("ready "));
        said_ready && !root.join("dev/uio0.irq").exists()
    });
}
