//! No allocation per inference in steady state: a counting global allocator watches this
//! thread while the pipeline runs raw tensors (the tensor path: decoding an image file
//! allocates inside the image decoder, which this claim does not cover).
//!
//! The board backend is measured on the virtual board (the whole host side: head
//! operators, DMA syncs, register access, interrupt wait, tail operators), the cpu backend
//! on its own. With input worker threads, every thread of the process is counted: a run
//! starts its workers and their buffers (a fixed cost per run), so runs of 4 and of 16
//! inputs must allocate the same. The tests of this file run one at a time so that the
//! process-wide count sees only the run measured.

mod common;
mod meter;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fibha::accelerator::{Accelerator, DriverOptions, WaitMode};
use fibha::inputs::TensorSource;
use fibha::instance::Instance;
use fibha::lock::LockWait;
use fibha::pipeline::{
    BoardRunner, CpuRunner, FillError, Record, Runner, RunnerOptions, Sink, Source,
};
use fibha::prefetch::ParallelSource;
use fibha_board::Root;

#[global_allocator]
static METER: meter::Meter = meter::Meter;

/// One test at a time (see the module documentation).
static SERIAL: Mutex<()> = Mutex::new(());

/// A raw tensor that input workers copy (an image source without the decoder's own
/// allocations).
struct SharedTensor {
    tensor: Vec<u8>,
    count: usize,
}

impl Source for SharedTensor {
    fn len(&self) -> usize {
        self.count
    }

    fn fill(&mut self, item: usize, input: &mut [u8]) -> Result<(), FillError> {
        self.fill_shared(item, input)
    }

    fn parallel(&self) -> Option<&dyn ParallelSource> {
        Some(self)
    }
}

impl ParallelSource for SharedTensor {
    fn fill_shared(&self, _item: usize, input: &mut [u8]) -> Result<(), FillError> {
        input.copy_from_slice(&self.tensor);
        Ok(())
    }
}

/// Every thread's allocations over a run of `n` inputs made by input workers.
fn allocations_with_workers(runner: &mut Runner, tensor: &[u8], n: usize) -> u64 {
    let never = AtomicBool::new(false);
    let mut source = SharedTensor {
        tensor: tensor.to_vec(),
        count: n,
    };
    let mut sink = Checksum { outputs: 0, sum: 0 };
    let (result, allocations) = meter::measure_process(|| {
        runner
            .run(&mut source, &mut sink, &never)
            .map_err(|e| e.to_string())
    });
    result.unwrap();
    assert_eq!(sink.outputs, n);
    allocations
}

/// Touches every output byte, allocating nothing.
struct Checksum {
    outputs: usize,
    sum: u64,
}

impl Sink for Checksum {
    fn skipped(&mut self, _item: usize, _error: &FillError) {
        panic!("a raw tensor was skipped");
    }

    fn output(&mut self, _record: &Record, output: &[u8]) -> Result<(), FillError> {
        self.outputs += 1;
        self.sum = output.iter().fold(self.sum, |s, &b| {
            s.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        Ok(())
    }
}

fn input(graph: &fibha_model::Graph) -> Vec<u8> {
    fibha::tensor_file::read_npy(&common::golden_input("cat"), graph.input(), "input").unwrap()
}

/// Warms `runner` up (two inferences: both buffer slots), then counts this thread's
/// allocations over `n` inferences.
fn allocations_in_steady_state(runner: &mut Runner, tensor: Vec<u8>, n: usize) -> u64 {
    let never = AtomicBool::new(false);
    let mut warm = TensorSource::new(vec![tensor.clone()], 2);
    let mut sink = Checksum { outputs: 0, sum: 0 };
    runner.run(&mut warm, &mut sink, &never).unwrap();
    let mut source = TensorSource::new(vec![tensor], n);
    let mut sink = Checksum { outputs: 0, sum: 0 };
    let (result, usage) = meter::measure(|| {
        runner
            .run(&mut source, &mut sink, &never)
            .map_err(|e| e.to_string())
    });
    result.unwrap();
    assert_eq!(sink.outputs, n);
    usage.allocations
}

#[test]
fn the_board_pipeline_allocates_nothing_per_inference() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some((vboard, compile)) = common::board_tools() else {
        return;
    };
    let dir = common::instance(&compile, "alloc");
    let board = common::Board::start(&vboard, &[]);
    let instance = Instance::open(dir).unwrap();
    let options = DriverOptions {
        wait: WaitMode::Interrupt,
        timeout: Duration::from_secs(60),
        load_timeout: Duration::from_secs(20),
        liveness: None,
        lock: LockWait::Refuse,
    };
    let accel = Accelerator::open(&Root::new(&board.root), &instance, options).unwrap();
    let tensor = input(&instance.graph);
    let options = RunnerOptions {
        input_threads: 2,
        ..RunnerOptions::default()
    };
    let runner = BoardRunner::new(&instance, accel, options).unwrap();
    let mut runner = Runner::Board(Box::new(runner));
    // Raw tensors stay on the pipeline thread: nothing at all.
    assert_eq!(
        allocations_in_steady_state(&mut runner, tensor.clone(), 4),
        0
    );
    // With two input workers: the run's fixed cost, whatever the number of inputs.
    let short = allocations_with_workers(&mut runner, &tensor, 4);
    let long = allocations_with_workers(&mut runner, &tensor, 16);
    assert_eq!(short, long, "allocations grow with the inputs");
}

#[test]
fn the_cpu_pipeline_allocates_nothing_per_inference() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let graph = Arc::new(fibha_model::tflite::load(common::root().join(common::MODEL)).unwrap());
    let tensor = input(&graph);
    let options = RunnerOptions {
        input_threads: 2,
        ..RunnerOptions::default()
    };
    let mut runner = Runner::Cpu(CpuRunner::new(graph, options).unwrap());
    assert_eq!(
        allocations_in_steady_state(&mut runner, tensor.clone(), 2),
        0
    );
    let short = allocations_with_workers(&mut runner, &tensor, 4);
    let long = allocations_with_workers(&mut runner, &tensor, 16);
    assert_eq!(short, long, "allocations grow with the inputs");
}
