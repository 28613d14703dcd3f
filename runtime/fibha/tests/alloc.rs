//! No allocation per inference in steady state: a counting global allocator watches this
//! thread while the pipeline runs raw tensors (the tensor path: decoding an image file
//! allocates inside the image decoder, which this claim does not cover).
//!
//! The board backend is measured on the virtual board (the whole host side: head
//! operators, DMA syncs, register access, interrupt wait, tail operators), the cpu backend
//! on its own.

mod common;
mod meter;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use fibha::accelerator::{Accelerator, DriverOptions, WaitMode};
use fibha::inputs::TensorSource;
use fibha::instance::Instance;
use fibha::lock::LockWait;
use fibha::pipeline::{BoardRunner, CpuRunner, FillError, Record, Runner, RunnerOptions, Sink};
use fibha_board::Root;

#[global_allocator]
static METER: meter::Meter = meter::Meter;

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
    let runner = BoardRunner::new(&instance, accel, RunnerOptions::default()).unwrap();
    let mut runner = Runner::Board(Box::new(runner));
    assert_eq!(allocations_in_steady_state(&mut runner, tensor, 4), 0);
}

#[test]
fn the_cpu_pipeline_allocates_nothing_per_inference() {
    let graph = Arc::new(fibha_model::tflite::load(common::root().join(common::MODEL)).unwrap());
    let tensor = input(&graph);
    let mut runner = Runner::Cpu(CpuRunner::new(graph, RunnerOptions::default()).unwrap());
    assert_eq!(allocations_in_steady_state(&mut runner, tensor, 2), 0);
}
