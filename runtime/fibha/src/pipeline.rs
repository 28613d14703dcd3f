//! The host pipeline: inputs in, the model's outputs out, on the CPU or on the accelerator.
//!
//! On the board backend one image goes: host pre (decode, resize and quantize into the
//! model's input; the graph operators before the accelerator, such as the input QUANTIZE,
//! on the reference kernels; a copy into the DMA input buffer), then the accelerator (sync,
//! start, wait, sync), then host post (the operators after it: pooling, classifier,
//! softmax). Two buffer pairs make it a software pipeline on one thread:
//!
//! ```text
//! pre(0) start(0) | pre(1) wait(0) start(1) post(0) | pre(2) wait(1) start(2) post(1) | ...
//! ```
//!
//! so host pre of image n+1 and host post of image n run while the accelerator works on
//! n and n+1. The loop allocates nothing: every buffer is made before the first image (the
//! CPU engine's arena, one host input per slot, the DMA buffers); only decoding an image
//! file allocates, inside the decoder.
//!
//! Stopping: the `stop` flag is read before each new image; the run in flight is always
//! finished and delivered, so a stop never leaves the accelerator started.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fibha_kernels::{CpuEngine, EngineOptions, KernelError, NodeProfile};
use fibha_model::{DType, Graph, Tensor, TensorId};

use crate::accelerator::{AccelError, Accelerator, SLOTS};
use crate::instance::{Instance, Split};

/// Why an item could not be made into an input (it is skipped, the run goes on).
pub type FillError = Box<dyn std::error::Error + Send + Sync>;

/// Where the model inputs come from.
pub trait Source {
    /// How many items there are.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes item `item`'s model input (the graph input's bytes) into `input`.
    fn fill(&mut self, item: usize, input: &mut [u8]) -> Result<(), FillError>;
}

/// Where the outputs go.
pub trait Sink {
    /// Item `item` could not be read; it was skipped.
    fn skipped(&mut self, item: usize, error: &FillError);

    /// Item `record.item` finished with the graph output `output`.
    fn output(&mut self, record: &Record, output: &[u8]) -> Result<(), FillError>;
}

/// The timing of one inference.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The source item.
    pub item: usize,
    /// Host work before the accelerator (decode, resize, quantize, head operators, copy).
    pub pre: Duration,
    /// The part of `pre` spent making the model input (decode and resize, or a tensor copy).
    pub fill: Duration,
    /// Cache maintenance and register access (board backend).
    pub io: Duration,
    /// The accelerator's wall time, start to completion seen (board), or the whole CPU
    /// inference (cpu backend).
    pub compute: Duration,
    /// The kernel's cycle register (board backend).
    pub cycles: Option<u64>,
    /// `cycles` at the plan's clock.
    pub accel_modelled: Option<Duration>,
    /// Host work after the accelerator (the tail operators).
    pub post: Duration,
    /// When host pre began.
    pub started: Instant,
    /// When host post ended.
    pub finished: Instant,
}

impl Record {
    /// Everything the host did for this inference: what is not the accelerator's.
    pub fn host(&self) -> Duration {
        self.pre + self.io + self.post
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The accelerator failed.
    #[error(transparent)]
    Accelerator(#[from] AccelError),
    /// A reference kernel failed.
    #[error("the CPU engine: {0}")]
    Kernel(#[from] KernelError),
    /// `--verify` found a difference.
    #[error(
        "--verify: inference {inference} (item {item}): the board's {what} differs from the cpu backend's at element {index} {position:?}: board {board}, cpu {cpu}"
    )]
    Mismatch {
        /// Which inference.
        inference: u64,
        /// Which source item.
        item: usize,
        /// Which tensor (`accelerator output "name"`, `model output "name"`).
        what: String,
        /// First differing element.
        index: usize,
        /// Its coordinates in the tensor's shape.
        position: Vec<usize>,
        /// The board's value.
        board: i64,
        /// The CPU's value.
        cpu: i64,
    },
    /// The sink refused an output.
    #[error("{0}")]
    Sink(FillError),
}

/// How a runner is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunnerOptions {
    /// Board backend: also run every input on the CPU and compare the bytes.
    pub verify: bool,
    /// Time each operator the host runs (see [`Runner::host_profile`]).
    pub profile: bool,
}

fn engine(graph: &std::sync::Arc<Graph>, options: RunnerOptions) -> Result<CpuEngine, KernelError> {
    CpuEngine::with_options(
        std::sync::Arc::clone(graph),
        EngineOptions {
            keep_all_tensors: false,
            profile: options.profile,
        },
    )
}

/// The int8 reference engine for the whole model.
pub struct CpuRunner {
    engine: CpuEngine,
    input: Vec<u8>,
}

impl CpuRunner {
    /// Prepares `graph`.
    pub fn new(
        graph: std::sync::Arc<Graph>,
        options: RunnerOptions,
    ) -> Result<CpuRunner, KernelError> {
        let input = vec![0u8; graph.input().byte_len()];
        Ok(CpuRunner {
            engine: engine(&graph, options)?,
            input,
        })
    }

    fn run(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError> {
        for item in 0..source.len() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let started = Instant::now();
            let filled = {
                let _span = tracing::debug_span!("host_pre", item).entered();
                source.fill(item, &mut self.input)
            };
            if let Err(error) = filled {
                sink.skipped(item, &error);
                continue;
            }
            let pre = started.elapsed();
            let fill = pre;
            let t = Instant::now();
            let output = {
                let _span = tracing::debug_span!("cpu_inference", item).entered();
                self.engine.run(&self.input)?
            };
            let finished = Instant::now();
            let record = Record {
                item,
                pre,
                fill,
                io: Duration::ZERO,
                compute: finished - t,
                cycles: None,
                accel_modelled: None,
                post: Duration::ZERO,
                started,
                finished,
            };
            sink.output(&record, output).map_err(PipelineError::Sink)?;
        }
        Ok(())
    }
}

/// The accelerator with the host's share of the model around it.
pub struct BoardRunner {
    accel: Accelerator,
    engine: CpuEngine,
    graph: std::sync::Arc<Graph>,
    split: Split,
    clock_hz: f64,
    host_inputs: [Vec<u8>; SLOTS],
    /// The accelerator's output in the model's type (uint8 tensors are stored minus 128).
    accel_output: Vec<u8>,
    verify: Option<CpuEngine>,
    inferences: u64,
}

/// An image that has been through host pre and sits in a DMA input buffer.
#[derive(Clone, Copy, Debug)]
struct Staged {
    item: usize,
    slot: usize,
    started: Instant,
    pre: Duration,
    fill: Duration,
    inference: u64,
}

impl BoardRunner {
    /// Runs `instance` on `accel`; with `options.verify`, every output is also computed on
    /// the CPU and compared byte for byte.
    pub fn new(
        instance: &Instance,
        accel: Accelerator,
        options: RunnerOptions,
    ) -> Result<BoardRunner, KernelError> {
        let graph = std::sync::Arc::clone(&instance.graph);
        let input_len = graph.input().byte_len();
        let output_len = graph.tensor(instance.split.accel_output).byte_len();
        Ok(BoardRunner {
            accel,
            engine: engine(&graph, options)?,
            verify: if options.verify {
                Some(CpuEngine::new(std::sync::Arc::clone(&graph))?)
            } else {
                None
            },
            graph,
            split: instance.split.clone(),
            clock_hz: instance.clock_hz(),
            host_inputs: [vec![0u8; input_len], vec![0u8; input_len]],
            accel_output: vec![0u8; output_len],
            inferences: 0,
        })
    }

    /// The driver, for its statistics.
    pub fn accelerator(&self) -> &Accelerator {
        &self.accel
    }

    /// Host pre of the next readable item from `*next` into `slot`; skipped items are
    /// reported. `None` when the source is exhausted or a stop was asked for.
    fn stage(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        next: &mut usize,
        slot: usize,
        stop: &AtomicBool,
    ) -> Result<Option<Staged>, PipelineError> {
        while *next < source.len() {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let item = *next;
            *next += 1;
            let started = Instant::now();
            let _span = tracing::debug_span!("host_pre", item).entered();
            if let Err(error) = source.fill(item, &mut self.host_inputs[slot]) {
                sink.skipped(item, &error);
                continue;
            }
            let fill = started.elapsed();
            let graph_input = self.graph.inputs[0];
            self.engine
                .set_tensor(graph_input, &self.host_inputs[slot])?;
            self.engine.run_nodes(self.split.head.clone())?;
            let quantized = self.engine.tensor(self.split.accel_input)?;
            let dtype = self.graph.tensor(self.split.accel_input).dtype;
            dtype.copy_stored(quantized, self.accel.input_mut(slot)?);
            let inference = self.inferences;
            self.inferences += 1;
            return Ok(Some(Staged {
                item,
                slot,
                started,
                pre: started.elapsed(),
                fill,
                inference,
            }));
        }
        Ok(None)
    }

    fn run(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError> {
        let mut next = 0;
        let Some(mut current) = self.stage(source, sink, &mut next, 0, stop)? else {
            return Ok(());
        };
        self.accel.start(current.slot, current.inference)?;
        loop {
            let staged = self.stage(source, sink, &mut next, 1 - current.slot, stop)?;
            let info = {
                let _span =
                    tracing::debug_span!("accelerator", inference = current.inference).entered();
                self.accel.wait()?
            };
            if let Some(n) = staged {
                self.accel.start(n.slot, n.inference)?;
            }
            self.finish(current, info, sink)?;
            match staged {
                Some(n) => current = n,
                None => return Ok(()),
            }
        }
    }

    /// Host post of a finished run, the optional check against the CPU, and delivery.
    fn finish(
        &mut self,
        run: Staged,
        info: crate::accelerator::RunInfo,
        sink: &mut dyn Sink,
    ) -> Result<(), PipelineError> {
        let t = Instant::now();
        let span = tracing::debug_span!("host_post", inference = run.inference);
        let entered = span.enter();
        let dtype = self.graph.tensor(self.split.accel_output).dtype;
        dtype.copy_stored(self.accel.output(run.slot)?, &mut self.accel_output);
        self.engine
            .set_tensor(self.split.accel_output, &self.accel_output)?;
        self.engine.run_nodes(self.split.tail.clone())?;
        let output_id = self.graph.outputs[0];
        let finished = Instant::now();
        drop(entered);
        if self.verify.is_some() {
            self.verify_run(run)?;
        }
        let record = Record {
            item: run.item,
            pre: run.pre,
            fill: run.fill,
            io: info.io,
            compute: info.waited,
            cycles: Some(info.cycles),
            accel_modelled: Some(Duration::from_secs_f64(info.cycles as f64 / self.clock_hz)),
            post: finished - t,
            started: run.started,
            finished,
        };
        let output = self.engine.tensor(output_id)?;
        sink.output(&record, output).map_err(PipelineError::Sink)
    }

    /// Runs the whole model on the CPU from the same input and compares the accelerator's
    /// output tensor and the model's output with the board's.
    fn verify_run(&mut self, run: Staged) -> Result<(), PipelineError> {
        let Some(cpu) = self.verify.as_mut() else {
            return Ok(());
        };
        let graph = &self.graph;
        cpu.set_tensor(graph.inputs[0], &self.host_inputs[run.slot])?;
        cpu.run_nodes(0..self.split.accelerator.end)?;
        let accel_id = self.split.accel_output;
        compare(
            graph.tensor(accel_id),
            &self.accel_output,
            cpu.tensor(accel_id)?,
            "accelerator output",
        )
        .map_err(|m| m.into_error(run))?;
        cpu.run_nodes(self.split.tail.clone())?;
        let output_id = graph.outputs[0];
        compare(
            graph.tensor(output_id),
            self.engine.tensor(output_id)?,
            cpu.tensor(output_id)?,
            "model output",
        )
        .map_err(|m| m.into_error(run))
    }
}

/// The first difference between two tensors' bytes.
struct Difference {
    what: String,
    index: usize,
    position: Vec<usize>,
    board: i64,
    cpu: i64,
}

impl Difference {
    fn into_error(self, run: Staged) -> PipelineError {
        PipelineError::Mismatch {
            inference: run.inference,
            item: run.item,
            what: self.what,
            index: self.index,
            position: self.position,
            board: self.board,
            cpu: self.cpu,
        }
    }
}

fn compare(tensor: &Tensor, board: &[u8], cpu: &[u8], what: &str) -> Result<(), Difference> {
    if board == cpu {
        return Ok(());
    }
    let size = tensor.dtype.size();
    let byte = board
        .iter()
        .zip(cpu)
        .position(|(a, b)| a != b)
        .unwrap_or(board.len().min(cpu.len()));
    let index = byte / size;
    let element = |bytes: &[u8]| -> i64 {
        let at = index * size;
        match (tensor.dtype, bytes.get(at..at + size)) {
            (DType::Int8, Some(b)) => i64::from(b[0] as i8),
            (DType::UInt8, Some(b)) => i64::from(b[0]),
            (DType::Int32, Some(b)) => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            (_, Some(b)) => i64::from(b[0]),
            (_, None) => -1,
        }
    };
    Err(Difference {
        what: format!("{what} {:?}", tensor.name),
        index,
        position: unravel(index, &tensor.shape),
        board: element(board),
        cpu: element(cpu),
    })
}

/// Coordinates of flat index `index` in a C-order tensor of `shape`.
fn unravel(mut index: usize, shape: &[usize]) -> Vec<usize> {
    let mut position = vec![0; shape.len()];
    for (axis, &dim) in shape.iter().enumerate().rev() {
        if dim > 0 {
            position[axis] = index % dim;
            index /= dim;
        }
    }
    position
}

/// A backend ready to run.
pub enum Runner {
    /// The CPU engine.
    Cpu(CpuRunner),
    /// The accelerator (real or virtual board).
    Board(Box<BoardRunner>),
}

impl Runner {
    /// Runs every item of `source` (or until `stop` is set), handing each output to `sink`.
    /// On an error, what finished before it has been delivered.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError> {
        match self {
            Runner::Cpu(r) => r.run(source, sink, stop),
            Runner::Board(r) => r.run(source, sink, stop),
        }
    }

    /// The tensor id of the model's output.
    pub fn output_id(&self) -> TensorId {
        self.graph().outputs[0]
    }

    /// The model.
    pub fn graph(&self) -> &Graph {
        match self {
            Runner::Cpu(r) => r.engine.graph(),
            Runner::Board(r) => &r.graph,
        }
    }

    /// Time per operator the host ran, when built with [`RunnerOptions::profile`]
    /// (operators that never ran on the host are left out).
    pub fn host_profile(&self) -> Option<Vec<NodeProfile>> {
        let engine = match self {
            Runner::Cpu(r) => &r.engine,
            Runner::Board(r) => &r.engine,
        };
        engine
            .profile()
            .map(|p| p.iter().filter(|n| n.calls > 0).cloned().collect())
    }

    /// Zeroes the host profile (after a warm-up).
    pub fn reset_profile(&mut self) {
        match self {
            Runner::Cpu(r) => r.engine.reset_profile(),
            Runner::Board(r) => r.engine.reset_profile(),
        }
    }

    /// The accelerator driver, on the board backend.
    pub fn accelerator(&self) -> Option<&Accelerator> {
        match self {
            Runner::Cpu(_) => None,
            Runner::Board(r) => Some(&r.accel),
        }
    }

    /// On the board backend, `calls` streaming calls of as many images as the buffers hold
    /// (copies of the last image the pipeline put in slot 0: the timing does not depend on
    /// the data, and every copy's output is checked against the first's).
    pub fn stream(&mut self, calls: u32) -> Result<Option<StreamRuns>, PipelineError> {
        let Runner::Board(r) = self else {
            return Ok(None);
        };
        let images = r.accel.stream_capacity();
        let mut runs = StreamRuns {
            images,
            cycles: Vec::new(),
            wall: Vec::new(),
            clock_hz: r.clock_hz,
        };
        for _ in 0..calls {
            let info = r.accel.run_stream(images)?;
            runs.cycles.push(info.cycles);
            runs.wall.push(info.waited);
        }
        Ok(Some(runs))
    }
}

/// Streaming calls of the accelerator: `images` per call, each call's cycle register and
/// wall time from start to completion.
#[derive(Clone, Debug)]
pub struct StreamRuns {
    /// Images per call.
    pub images: u32,
    /// The cycle register of each call.
    pub cycles: Vec<u64>,
    /// The wall time of each call.
    pub wall: Vec<Duration>,
    /// The accelerator clock, Hz.
    pub clock_hz: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravel_gives_nhwc_coordinates() {
        assert_eq!(unravel(0, &[1, 7, 7, 1280]), [0, 0, 0, 0]);
        assert_eq!(unravel(1280 * 7 + 1281, &[1, 7, 7, 1280]), [0, 1, 1, 1]);
    }

    #[test]
    fn compare_names_the_first_difference_as_a_signed_value() {
        let tensor = Tensor {
            name: "feat".into(),
            shape: vec![1, 2, 2],
            dtype: DType::Int8,
            quant: None,
            data: None,
        };
        assert!(compare(&tensor, &[1, 2, 3, 4], &[1, 2, 3, 4], "x").is_ok());
        let d = compare(&tensor, &[1, 2, 0xff, 4], &[1, 2, 3, 4], "x").unwrap_err();
        assert_eq!(
            (d.index, d.position, d.board, d.cpu),
            (2, vec![0, 1, 0], -1, 3)
        );
    }
}
