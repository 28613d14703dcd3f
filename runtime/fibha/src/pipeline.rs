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
//! With [`RunnerOptions::input_threads`] above zero and a source that can be read from
//! several threads (image files), decoding and resizing move to worker threads
//! ([`crate::prefetch`]): the pipeline thread's host pre is then only the copy into the CPU
//! engine, the head operators and the copy into the DMA buffer, and the workers keep
//! [`crate::prefetch::DEPTH`] inputs each ready ahead of it, in input order. Raw tensors
//! (a copy) are made on the pipeline thread.
//!
//! Stopping: the `stop` flag is read before each new image; the run in flight is always
//! finished and delivered, so a stop never leaves the accelerator started.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use fibha_kernels::{CpuEngine, EngineOptions, KernelError, NodeProfile};
use fibha_model::{DType, Graph, Tensor, TensorId};

use crate::accelerator::{AccelError, Accelerator, SLOTS};
use crate::instance::{Instance, Split};
use crate::prefetch::{self, Fed, Feed, Inline, ParallelSource};

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

    /// The same items, readable from several threads at once, where making an input is
    /// worth spreading over cores (decoding image files); `None` keeps the source on the
    /// pipeline thread.
    fn parallel(&self) -> Option<&dyn ParallelSource> {
        None
    }
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
    /// The pipeline thread's work before the accelerator: with inputs made inline, making
    /// the input (decode, resize, or a tensor copy), the head operators and the copy into the
    /// DMA buffer; with input workers, the wait for the input and the rest.
    pub pre: Duration,
    /// Making the model input (decode and resize, or a tensor copy): part of `pre` when made
    /// inline, on a worker thread otherwise.
    pub fill: Duration,
    /// The part of `pre` the pipeline thread waited for an input worker (zero inline).
    pub waited: Duration,
    /// How many worker threads made the inputs (0: the pipeline thread did).
    pub workers: u16,
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
    /// When making the input began (on a worker, it may precede the pipeline's work).
    pub started: Instant,
    /// When host post ended.
    pub finished: Instant,
}

impl Record {
    /// Everything the host did for this inference, on whichever thread: what is not the
    /// accelerator's (waiting for an input worker is not work, so it is left out).
    pub fn host(&self) -> Duration {
        if self.workers == 0 {
            self.pre + self.io + self.post
        } else {
            self.fill + self.pre.saturating_sub(self.waited) + self.io + self.post
        }
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
    /// An input worker thread could not be started.
    #[error("cannot start an input worker thread: {0}")]
    Threads(std::io::Error),
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
    /// Worker threads that decode and resize image inputs ahead of the pipeline thread
    /// (0: the pipeline thread makes every input itself); see [`crate::prefetch`].
    pub input_threads: usize,
}

/// Runs `body` on the items of `source`: made by `threads` workers when the source can be
/// read in parallel and `threads > 0`, else on this thread into `buffer`.
fn feed_from(
    source: &mut dyn Source,
    threads: usize,
    buffer: &mut Vec<u8>,
    input_len: usize,
    stop: &AtomicBool,
    body: impl FnOnce(&mut dyn Feed) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let len = source.len();
    if threads > 0
        && let Some(parallel) = source.parallel()
    {
        return prefetch::with_workers(parallel, len, threads, input_len, stop, body)
            .map_err(PipelineError::Threads)?;
    }
    body(&mut Inline::new(source, buffer, input_len))
}

/// The model input this thread makes (workers bring their own buffers) and how many input
/// workers a run starts.
#[derive(Debug, Default)]
struct Inputs {
    buffer: Vec<u8>,
    threads: usize,
}

impl Inputs {
    fn new(input_len: usize, options: RunnerOptions) -> Inputs {
        Inputs {
            buffer: vec![0u8; input_len],
            threads: options.input_threads,
        }
    }
}

/// A runner that takes its items from a [`Feed`].
trait FeedRunner {
    /// Its inputs.
    fn inputs(&mut self) -> &mut Inputs;

    /// Runs every item of `feed`.
    fn run_feed(
        &mut self,
        feed: &mut dyn Feed,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError>;

    /// Runs every item of `source` through a feed made from it.
    fn run(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError> {
        // Moved out for the run (no allocation) so the feed and the runner borrow apart.
        let mut inputs = std::mem::take(self.inputs());
        let input_len = inputs.buffer.len();
        let result = feed_from(
            source,
            inputs.threads,
            &mut inputs.buffer,
            input_len,
            stop,
            |feed| self.run_feed(feed, sink, stop),
        );
        *self.inputs() = inputs;
        result
    }
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
    inputs: Inputs,
}

impl CpuRunner {
    /// Prepares `graph`.
    pub fn new(
        graph: std::sync::Arc<Graph>,
        options: RunnerOptions,
    ) -> Result<CpuRunner, KernelError> {
        Ok(CpuRunner {
            engine: engine(&graph, options)?,
            inputs: Inputs::new(graph.input().byte_len(), options),
        })
    }
}

impl FeedRunner for CpuRunner {
    fn inputs(&mut self) -> &mut Inputs {
        &mut self.inputs
    }

    fn run_feed(
        &mut self,
        feed: &mut dyn Feed,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError> {
        while let Some(fed) = feed.next(stop) {
            let t = Instant::now();
            if let Err(error) = &fed.result {
                sink.skipped(fed.item, error);
                feed.give_back(fed);
                continue;
            }
            let (item, started, fill, waited) = (fed.item, fed.started, fed.fill, fed.waited);
            let compute = Instant::now();
            let output = {
                let _span = tracing::debug_span!("cpu_inference", item).entered();
                self.engine.run(&fed.buffer)?
            };
            let finished = Instant::now();
            let pre = if feed.workers() == 0 {
                compute - started
            } else {
                waited + (compute - t)
            };
            let record = Record {
                item,
                pre,
                fill,
                waited,
                workers: feed.workers(),
                io: Duration::ZERO,
                compute: finished - compute,
                cycles: None,
                accel_modelled: None,
                post: Duration::ZERO,
                started,
                finished,
            };
            let delivered = sink.output(&record, output);
            feed.give_back(fed);
            delivered.map_err(PipelineError::Sink)?;
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
    inputs: Inputs,
    /// Each slot's model input, kept for `--verify` (which runs it on the CPU after the
    /// accelerator).
    host_inputs: [Vec<u8>; SLOTS],
    /// The accelerator's output in the model's type (uint8 tensors are stored minus 128).
    accel_output: Vec<u8>,
    verify: Option<CpuEngine>,
    inferences: u64,
}

/// What staging the next item gave.
enum Stage {
    /// An input in its DMA buffer.
    Ready(Staged),
    /// An unreadable item met while a run was in flight, reported after that run.
    Skipped(Fed),
    /// The source is exhausted, or a stop was asked for.
    Done,
}

/// An image that has been through host pre and sits in a DMA input buffer.
#[derive(Clone, Copy, Debug)]
struct Staged {
    item: usize,
    slot: usize,
    started: Instant,
    pre: Duration,
    fill: Duration,
    waited: Duration,
    workers: u16,
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
            inputs: Inputs::new(input_len, options),
            host_inputs: if options.verify {
                [vec![0u8; input_len], vec![0u8; input_len]]
            } else {
                Default::default()
            },
            accel_output: vec![0u8; output_len],
            inferences: 0,
        })
    }

    /// The driver, for its statistics.
    pub fn accelerator(&self) -> &Accelerator {
        &self.accel
    }

    /// Host pre of the next readable item of `feed` into `slot`. An unreadable item is
    /// reported and passed over, unless a run is `in_flight`: then it comes back as
    /// [`Stage::Skipped`], to be reported after that run's output, in input order.
    fn stage(
        &mut self,
        feed: &mut dyn Feed,
        sink: &mut dyn Sink,
        slot: usize,
        stop: &AtomicBool,
        in_flight: bool,
    ) -> Result<Stage, PipelineError> {
        while let Some(fed) = feed.next(stop) {
            let t = Instant::now();
            if let Err(error) = &fed.result {
                if in_flight {
                    return Ok(Stage::Skipped(fed));
                }
                sink.skipped(fed.item, error);
                feed.give_back(fed);
                continue;
            }
            let (item, started, fill, waited) = (fed.item, fed.started, fed.fill, fed.waited);
            let _span = tracing::debug_span!("host_pre", item).entered();
            let graph_input = self.graph.inputs[0];
            self.engine.set_tensor(graph_input, &fed.buffer)?;
            if self.verify.is_some() {
                self.host_inputs[slot].copy_from_slice(&fed.buffer);
            }
            // The engine holds its own copy now: the buffer can be made into the next input.
            feed.give_back(fed);
            self.engine.run_nodes(self.split.head.clone())?;
            let quantized = self.engine.tensor(self.split.accel_input)?;
            let dtype = self.graph.tensor(self.split.accel_input).dtype;
            dtype.copy_stored(quantized, self.accel.input_mut(slot)?);
            let inference = self.inferences;
            self.inferences += 1;
            let workers = feed.workers();
            return Ok(Stage::Ready(Staged {
                item,
                slot,
                started,
                pre: if workers == 0 {
                    started.elapsed()
                } else {
                    waited + t.elapsed()
                },
                fill,
                waited,
                workers,
                inference,
            }));
        }
        Ok(Stage::Done)
    }
}

impl FeedRunner for BoardRunner {
    fn inputs(&mut self) -> &mut Inputs {
        &mut self.inputs
    }

    fn run_feed(
        &mut self,
        feed: &mut dyn Feed,
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<(), PipelineError> {
        let Stage::Ready(mut current) = self.stage(feed, sink, 0, stop, false)? else {
            return Ok(());
        };
        self.accel.start(current.slot, current.inference)?;
        loop {
            let next_slot = 1 - current.slot;
            let staged = self.stage(feed, sink, next_slot, stop, true)?;
            let info = {
                let _span =
                    tracing::debug_span!("accelerator", inference = current.inference).entered();
                self.accel.wait()?
            };
            if let Stage::Ready(n) = &staged {
                self.accel.start(n.slot, n.inference)?;
            }
            self.finish(current, info, sink)?;
            let staged = match staged {
                Stage::Skipped(fed) => {
                    if let Err(error) = &fed.result {
                        sink.skipped(fed.item, error);
                    }
                    feed.give_back(fed);
                    // Nothing is in flight: the next readable item starts a new run.
                    let staged = self.stage(feed, sink, next_slot, stop, false)?;
                    if let Stage::Ready(n) = &staged {
                        self.accel.start(n.slot, n.inference)?;
                    }
                    staged
                }
                other => other,
            };
            match staged {
                Stage::Ready(n) => current = n,
                // Without a run in flight, stage reports skips itself.
                Stage::Skipped(_) | Stage::Done => return Ok(()),
            }
        }
    }
}

impl BoardRunner {
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
        let tensor = self.graph.tensor(self.split.accel_output);
        let channels = tensor.shape.last().copied().unwrap_or(1);
        tensor.dtype.copy_stored_map(
            self.accel.output(run.slot)?,
            &mut self.accel_output,
            channels,
        );
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
            waited: run.waited,
            workers: run.workers,
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

    /// Which nodes run on the host and which on the accelerator, on the board backend.
    pub fn split(&self) -> Option<&Split> {
        match self {
            Runner::Cpu(_) => None,
            Runner::Board(r) => Some(&r.split),
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
