//! Image inputs decoded on worker threads (`--threads`): the same outputs, bit for bit,
//! as decoding on the pipeline thread, in input order, an unreadable photo reported in
//! its place, and a stop that ends the run and its workers.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fibha::accelerator::{Accelerator, DriverOptions, WaitMode};
use fibha::inputs::ImageSource;
use fibha::instance::Instance;
use fibha::lock::LockWait;
use fibha::pipeline::{BoardRunner, CpuRunner, FillError, Record, Runner, RunnerOptions, Sink};
use fibha_board::Root;

/// What the sink saw, in order: each item with its output bytes or its error.
#[derive(Default)]
struct Events {
    seen: Vec<(usize, Result<Vec<u8>, String>)>,
    /// Set `stop` after this many outputs.
    stop_after: Option<(usize, Arc<AtomicBool>)>,
}

impl Sink for Events {
    fn skipped(&mut self, item: usize, error: &FillError) {
        self.seen.push((item, Err(error.to_string())));
    }

    fn output(&mut self, record: &Record, output: &[u8]) -> Result<(), FillError> {
        self.seen.push((record.item, Ok(output.to_vec())));
        if let Some((after, stop)) = &self.stop_after
            && self.seen.iter().filter(|(_, r)| r.is_ok()).count() >= *after
        {
            stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The shipped photos with a corrupt JPEG and a truncated BMP among them.
fn photos(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let images = common::root().join("assets/images");
    let corrupt = dir.join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let truncated = dir.join("truncated.bmp");
    let cat = std::fs::read(images.join("cat.bmp")).unwrap();
    std::fs::write(&truncated, &cat[..cat.len() / 3]).unwrap();
    vec![
        images.join("cat.bmp"),
        corrupt,
        images.join("parrot.jpg"),
        truncated,
        images.join("grace_hopper.bmp"),
    ]
}

fn run(
    runner: &mut Runner,
    paths: &[std::path::PathBuf],
    count: usize,
) -> Vec<(usize, Result<Vec<u8>, String>)> {
    let input = runner.graph().input().clone();
    let mut source = ImageSource::cycling(paths.to_vec(), &input, count);
    let mut sink = Events::default();
    let never = AtomicBool::new(false);
    runner.run(&mut source, &mut sink, &never).unwrap();
    sink.seen
}

fn options(threads: usize) -> RunnerOptions {
    RunnerOptions {
        input_threads: threads,
        ..RunnerOptions::default()
    }
}

fn check_in_order_with_errors(seen: &[(usize, Result<Vec<u8>, String>)], count: usize) {
    assert_eq!(
        seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..count).collect::<Vec<_>>()
    );
    for (item, result) in seen {
        match item % 5 {
            1 => assert!(result.as_ref().unwrap_err().contains("corrupt.jpg")),
            3 => assert!(result.as_ref().unwrap_err().contains("truncated.bmp")),
            _ => assert!(result.is_ok(), "item {item}: {result:?}"),
        }
    }
}

#[test]
fn cpu_outputs_are_bit_identical_whatever_the_threads_and_errors_stay_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let paths = photos(dir.path());
    let graph = Arc::new(fibha_model::tflite::load(common::root().join(common::MODEL)).unwrap());
    let count = 12;
    let mut results = Vec::new();
    for threads in [0, 1, 2, 3] {
        let mut runner = Runner::Cpu(CpuRunner::new(Arc::clone(&graph), options(threads)).unwrap());
        let seen = run(&mut runner, &paths, count);
        check_in_order_with_errors(&seen, count);
        results.push(seen);
    }
    for (threads, seen) in results.iter().enumerate().skip(1) {
        assert!(
            seen == &results[0],
            "--threads {threads} differs from inline decoding"
        );
    }
}

#[test]
fn a_stop_mid_run_ends_it_after_the_output_in_hand() {
    let graph = Arc::new(fibha_model::tflite::load(common::root().join(common::MODEL)).unwrap());
    let paths = vec![common::root().join("assets/images/cat.bmp")];
    let mut runner = Runner::Cpu(CpuRunner::new(Arc::clone(&graph), options(2)).unwrap());
    let input = runner.graph().input().clone();
    let mut source = ImageSource::cycling(paths, &input, 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let mut sink = Events {
        stop_after: Some((3, Arc::clone(&stop))),
        ..Events::default()
    };
    let started = std::time::Instant::now();
    runner.run(&mut source, &mut sink, &stop).unwrap();
    // The stop is read before each new input: exactly the three outputs, and the
    // workers (which had decoded ahead) were joined without decoding the other 997.
    assert_eq!(sink.seen.len(), 3);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn board_outputs_are_bit_identical_with_one_and_two_workers() {
    let Some((vboard, compile)) = common::board_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let paths = photos(dir.path());
    let instance_dir = common::instance(&compile, "threads");
    let board = common::Board::start(&vboard, &[]);
    let instance = Instance::open(instance_dir).unwrap();
    let count = 7;
    let mut results = Vec::new();
    for threads in [0, 1, 2] {
        let driver = DriverOptions {
            wait: WaitMode::Interrupt,
            timeout: Duration::from_secs(60),
            load_timeout: Duration::from_secs(20),
            liveness: None,
            lock: LockWait::Refuse,
        };
        let accel = Accelerator::open(&Root::new(&board.root), &instance, driver).unwrap();
        let runner = BoardRunner::new(&instance, accel, options(threads)).unwrap();
        let mut runner = Runner::Board(Box::new(runner));
        let seen = run(&mut runner, &paths, count);
        check_in_order_with_errors(&seen, count);
        results.push(seen);
    }
    assert!(
        results[1] == results[0],
        "--threads 1 differs from inline decoding"
    );
    assert!(
        results[2] == results[0],
        "--threads 2 differs from inline decoding"
    );
}
