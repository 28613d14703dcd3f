//! [`CpuEngine`]: runs a [`Graph`] with the kernels of this crate, bit-exact with the
//! TFLite interpreter's reference kernels.
//!
//! Everything that does not depend on the input is done once in [`CpuEngine::new`]: each
//! node's parameters are derived from the model's scales as TFLite's `Prepare` functions
//! derive them, weights are packed for the fast kernels, and every activation tensor gets
//! a buffer in an arena. Running a node then allocates nothing.
//!
//! Invariants: every node input that is not a weight consumed at preparation lives in an
//! arena slot, constants included (copied there once); a node's output slot is never one of
//! its input slots; without [`EngineOptions::keep_all_tensors`], tensors of the same type
//! and size share a slot when their lifetimes (from the node that writes them to the last
//! node that reads them, in graph order) do not overlap, and graph outputs stay live to the
//! end.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibha_model::{Activation, DType, Graph, Node, Op, Padding, Tensor, TensorId};
use zerocopy::IntoBytes;

use crate::add::{AddParams, add};
use crate::concat::{ConcatInput, concatenate};
use crate::conv::{Conv2d, ConvOffsets, ConvShape, Scratch, ScratchNeed};
use crate::depthwise::DepthwiseConv2d;
use crate::error::KernelError;
use crate::fully_connected::{FcShape, FullyConnected};
use crate::mean::{MeanParams, mean};
use crate::pad::pad;
use crate::pool::{PoolKind, pool};
use crate::quant::{
    OutputStage, Q8, QuantizedMultiplier, SoftmaxMultipliers, activation_range_for,
    add_multipliers, per_channel_conv_multiplier, per_tensor_conv_multiplier, rescale_multiplier,
    softmax_multipliers,
};
use crate::quantize::{dequantize, quantize_f32, requantize};
use crate::softmax::softmax;

/// How a [`CpuEngine`] is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Give every tensor its own buffer, so that every intermediate tensor can be read
    /// after a run (for layer-by-layer comparison); otherwise buffers are shared.
    pub keep_all_tensors: bool,
    /// Time every node (see [`CpuEngine::profile`]).
    pub profile: bool,
}

/// Time spent in one node over the runs since the profile was last reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeProfile {
    /// Index of the node in the graph's execution order.
    pub node: usize,
    /// The operator's TFLite name.
    pub op: &'static str,
    /// Number of times the node ran.
    pub calls: u64,
    /// Total time in the node.
    pub total: Duration,
}

/// A tensor's storage in the arena.
#[derive(Clone, Debug, Default)]
enum Buffer {
    #[default]
    Empty,
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
}

impl Buffer {
    fn zeroed(dtype: DType, len: usize) -> Buffer {
        match dtype {
            DType::Int8 => Buffer::I8(vec![0; len]),
            DType::UInt8 => Buffer::U8(vec![0; len]),
            DType::Int32 => Buffer::I32(vec![0; len]),
            DType::Int64 => Buffer::I64(vec![0; len]),
            DType::Float32 => Buffer::F32(vec![0.0; len]),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Buffer::Empty => &[],
            Buffer::I8(v) => v.as_bytes(),
            Buffer::U8(v) => v.as_bytes(),
            Buffer::I32(v) => v.as_bytes(),
            Buffer::I64(v) => v.as_bytes(),
            Buffer::F32(v) => v.as_bytes(),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Buffer::Empty => &mut [],
            Buffer::I8(v) => v.as_mut_bytes(),
            Buffer::U8(v) => v.as_mut_bytes(),
            Buffer::I32(v) => v.as_mut_bytes(),
            Buffer::I64(v) => v.as_mut_bytes(),
            Buffer::F32(v) => v.as_mut_bytes(),
        }
    }
}

/// Typed access to 8-bit buffers.
trait Element: Q8 {
    fn slice(b: &Buffer) -> Option<&[Self]>;
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]>;
}

impl Element for i8 {
    fn slice(b: &Buffer) -> Option<&[Self]> {
        match b {
            Buffer::I8(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
        match b {
            Buffer::I8(v) => Some(v),
            _ => None,
        }
    }
}

impl Element for u8 {
    fn slice(b: &Buffer) -> Option<&[Self]> {
        match b {
            Buffer::U8(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
        match b {
            Buffer::U8(v) => Some(v),
            _ => None,
        }
    }
}

/// What a node computes, prepared.
#[derive(Clone, Debug)]
enum Kernel {
    Conv(Conv2d),
    Depthwise(DepthwiseConv2d),
    FullyConnected(FullyConnected),
    Add(AddParams),
    Mean {
        params: MeanParams,
        shape: Vec<usize>,
        axes: Vec<usize>,
    },
    Pool {
        kind: PoolKind,
        shape: ConvShape,
        range: (i32, i32),
    },
    Softmax {
        params: SoftmaxMultipliers,
        depth: usize,
    },
    Copy,
    QuantizeFloat {
        scale: f32,
        zero_point: i32,
    },
    Requantize {
        multiplier: QuantizedMultiplier,
        input_zero_point: i32,
        output_zero_point: i32,
    },
    Dequantize {
        scale: f32,
        zero_point: i32,
    },
    Pad {
        shape: Vec<usize>,
        paddings: Vec<[usize; 2]>,
        value: i32,
    },
    Concat {
        axis: usize,
        output_shape: Vec<usize>,
        inputs: Vec<(Vec<usize>, ConcatInput)>,
    },
}

impl Kernel {
    fn scratch_need(&self) -> ScratchNeed {
        match self {
            Kernel::Conv(k) => k.scratch_need(),
            Kernel::Depthwise(k) => k.scratch_need(),
            Kernel::FullyConnected(k) => k.scratch_need(),
            Kernel::Mean { shape, axes, .. } => ScratchNeed {
                acc: (0..shape.len())
                    .filter(|d| !axes.contains(d))
                    .map(|d| shape[d])
                    .product(),
                ..ScratchNeed::default()
            },
            _ => ScratchNeed::default(),
        }
    }
}

/// One node, prepared: its kernel and the arena slots it reads and writes.
#[derive(Clone, Debug)]
struct Step {
    op: &'static str,
    inputs: Vec<usize>,
    output: usize,
    kernel: Kernel,
}

/// Runs a quantized [`Graph`] on the CPU, bit-exact with TFLite's reference kernels.
#[derive(Debug)]
pub struct CpuEngine {
    graph: Arc<Graph>,
    steps: Vec<Step>,
    /// Arena slot of each tensor id (`None` for weights and unused tensors).
    slot_of: Vec<Option<usize>>,
    buffers: Vec<Buffer>,
    scratch: Scratch,
    profile: Option<Vec<NodeProfile>>,
}

impl CpuEngine {
    /// Prepares `graph` with default options (shared buffers, no profiling).
    pub fn new(graph: impl Into<Arc<Graph>>) -> Result<CpuEngine, KernelError> {
        CpuEngine::with_options(graph, EngineOptions::default())
    }

    /// Prepares `graph`: derives every node's parameters, packs weights, plans and
    /// allocates the arena and the kernels' scratch.
    pub fn with_options(
        graph: impl Into<Arc<Graph>>,
        options: EngineOptions,
    ) -> Result<CpuEngine, KernelError> {
        let graph: Arc<Graph> = graph.into();
        let kernels = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| prepare(&graph, i, node))
            .collect::<Result<Vec<_>, _>>()?;
        let plan = plan_slots(&graph, &kernels, options.keep_all_tensors)?;
        let mut buffers: Vec<Buffer> = plan
            .slots
            .iter()
            .map(|&(dtype, len)| Buffer::zeroed(dtype, len))
            .collect();
        for (id, slot) in plan.slot_of.iter().enumerate() {
            if let (Some(slot), Some(data)) = (slot, &graph.tensors[id].data) {
                buffers[*slot].bytes_mut().copy_from_slice(data);
            }
        }
        let mut need = ScratchNeed::default();
        let steps: Vec<Step> = graph
            .nodes
            .iter()
            .zip(kernels)
            .map(|(node, (kernel, runtime_inputs))| {
                need = need.max(kernel.scratch_need());
                Step {
                    op: node.op.name(),
                    inputs: runtime_inputs
                        .iter()
                        .map(|&t| plan.slot_of[t].expect("planned: every runtime input has a slot"))
                        .collect(),
                    output: plan.slot_of[node.outputs[0]].expect("planned: outputs have slots"),
                    kernel,
                }
            })
            .collect();
        let mut scratch = Scratch::new();
        scratch.reserve_for(need);
        let profile = options.profile.then(|| {
            steps
                .iter()
                .enumerate()
                .map(|(node, s)| NodeProfile {
                    node,
                    op: s.op,
                    calls: 0,
                    total: Duration::ZERO,
                })
                .collect()
        });
        Ok(CpuEngine {
            graph,
            steps,
            slot_of: plan.slot_of,
            buffers,
            scratch,
            profile,
        })
    }

    /// The graph this engine runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Number of nodes in the graph.
    pub fn node_count(&self) -> usize {
        self.steps.len()
    }

    /// Runs the whole graph on `input`, the bytes of its single input tensor in the
    /// model's element type (little-endian `f32` for a float input), and returns the bytes
    /// of its single output tensor.
    pub fn run(&mut self, input: &[u8]) -> Result<&[u8], KernelError> {
        let (inputs, outputs) = (&self.graph.inputs, &self.graph.outputs);
        let (&[input_id], &[output_id]) = (inputs.as_slice(), outputs.as_slice()) else {
            return Err(KernelError::NotSingleInputOutput {
                inputs: inputs.len(),
                outputs: outputs.len(),
            });
        };
        self.set_tensor(input_id, input)?;
        self.run_nodes(0..self.steps.len())?;
        self.tensor(output_id)
    }

    /// Writes the bytes of tensor `id` (a graph input or any node's input or output).
    pub fn set_tensor(&mut self, id: TensorId, bytes: &[u8]) -> Result<(), KernelError> {
        let t = self.tensor_info(id)?;
        if t.data.is_some() {
            return Err(KernelError::ConstantTensor {
                tensor: id,
                name: t.name.clone(),
            });
        }
        let slot = self.slot(id)?;
        if self.buffers[slot].bytes().len() != bytes.len() {
            return Err(size_error(id, t, bytes.len()));
        }
        self.buffers[slot].bytes_mut().copy_from_slice(bytes);
        Ok(())
    }

    /// The bytes of tensor `id`: a constant's data, or an activation's current contents
    /// (which, without [`EngineOptions::keep_all_tensors`], later nodes may have reused).
    pub fn tensor(&self, id: TensorId) -> Result<&[u8], KernelError> {
        let t = self.tensor_info(id)?;
        match self.slot_of[id] {
            Some(slot) => Ok(self.buffers[slot].bytes()),
            None => t.data.as_deref().ok_or_else(|| KernelError::UnusedTensor {
                tensor: id,
                name: t.name.clone(),
            }),
        }
    }

    /// Runs the nodes in `range` (indices into the graph's execution order), reading
    /// whatever their inputs currently hold.
    pub fn run_nodes(&mut self, range: Range<usize>) -> Result<(), KernelError> {
        if range.start > range.end || range.end > self.steps.len() {
            return Err(KernelError::NodeRange {
                start: range.start,
                end: range.end,
                count: self.steps.len(),
            });
        }
        for i in range {
            let started = self.profile.is_some().then(Instant::now);
            let step = &self.steps[i];
            let mut out = std::mem::take(&mut self.buffers[step.output]);
            let result = execute(step, &self.buffers, &mut out, &mut self.scratch);
            self.buffers[step.output] = out;
            result.map_err(|e| match e {
                KernelError::Unsupported { .. } => e,
                other => KernelError::Unsupported {
                    node: i,
                    op: step.op,
                    detail: other.to_string(),
                },
            })?;
            if let (Some(profile), Some(started)) = (&mut self.profile, started) {
                profile[i].calls += 1;
                profile[i].total += started.elapsed();
            }
        }
        Ok(())
    }

    /// Time per node since the engine was built or the profile reset; `None` unless built
    /// with [`EngineOptions::profile`].
    pub fn profile(&self) -> Option<&[NodeProfile]> {
        self.profile.as_deref()
    }

    /// Zeroes the profile's counters.
    pub fn reset_profile(&mut self) {
        for p in self.profile.iter_mut().flatten() {
            p.calls = 0;
            p.total = Duration::ZERO;
        }
    }

    fn tensor_info(&self, id: TensorId) -> Result<&Tensor, KernelError> {
        self.graph
            .tensors
            .get(id)
            .ok_or(KernelError::UnknownTensor {
                tensor: id,
                count: self.graph.tensors.len(),
            })
    }

    fn slot(&self, id: TensorId) -> Result<usize, KernelError> {
        self.slot_of[id].ok_or_else(|| KernelError::UnusedTensor {
            tensor: id,
            name: self.graph.tensors[id].name.clone(),
        })
    }
}

/// The error for `got` bytes given for tensor `id`, with a hint at a wrong element type.
fn size_error(id: TensorId, t: &Tensor, got: usize) -> KernelError {
    let expected = t.byte_len();
    let hint = [DType::UInt8, DType::Int8, DType::Float32, DType::Int32]
        .into_iter()
        .find(|&d| d.size() != t.dtype.size() && t.len() * d.size() == got)
        .map(|d| format!(" (that is the size of a {d} tensor of this shape)"))
        .unwrap_or_default();
    KernelError::TensorSize {
        tensor: id,
        name: t.name.clone(),
        dtype: t.dtype.to_string(),
        shape: t.shape.clone(),
        expected,
        got,
        hint,
    }
}

/// The arena layout: one `(dtype, elements)` per slot and the slot of each tensor.
struct Plan {
    slots: Vec<(DType, usize)>,
    slot_of: Vec<Option<usize>>,
}

/// Assigns arena slots to graph inputs, runtime node inputs and node outputs.
fn plan_slots(
    graph: &Graph,
    kernels: &[(Kernel, Vec<TensorId>)],
    keep_all: bool,
) -> Result<Plan, KernelError> {
    let count = graph.tensors.len();
    let check = |id: TensorId| {
        if id < count {
            Ok(id)
        } else {
            Err(KernelError::UnknownTensor { tensor: id, count })
        }
    };
    // Last node that reads each tensor; graph outputs are read "after" the last node.
    let end = graph.nodes.len();
    let mut last_use = vec![None::<usize>; count];
    for (i, (_, inputs)) in kernels.iter().enumerate() {
        for &t in inputs {
            last_use[check(t)?] = Some(i);
        }
    }
    for &t in &graph.outputs {
        last_use[check(t)?] = Some(end);
    }
    let mut plan = Plan {
        slots: Vec::new(),
        slot_of: vec![None; count],
    };
    // (slot, tensor holding it) for slots in use.
    let mut busy: Vec<(usize, TensorId)> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let assign =
        |plan: &mut Plan, busy: &mut Vec<(usize, TensorId)>, free: &mut Vec<usize>, t: TensorId| {
            if plan.slot_of[t].is_some() {
                return;
            }
            let tensor = &graph.tensors[t];
            let want = (tensor.dtype, tensor.len());
            let reuse = (!keep_all)
                .then(|| free.iter().position(|&s| plan.slots[s] == want))
                .flatten();
            let slot = match reuse {
                Some(k) => free.swap_remove(k),
                None => {
                    plan.slots.push(want);
                    plan.slots.len() - 1
                }
            };
            plan.slot_of[t] = Some(slot);
            busy.push((slot, t));
        };
    // Graph inputs and constants read at run time live from the start.
    for &t in &graph.inputs {
        assign(&mut plan, &mut busy, &mut free, check(t)?);
    }
    // Constants are copied in once, so their slots are never released.
    for (_, inputs) in kernels {
        for &t in inputs {
            if graph.tensors[t].data.is_some() {
                last_use[t] = Some(end);
                assign(&mut plan, &mut busy, &mut free, t);
            }
        }
    }
    for (i, (node, (_, inputs))) in graph.nodes.iter().zip(kernels).enumerate() {
        for &t in inputs {
            if plan.slot_of[t].is_none() {
                return Err(KernelError::Unsupported {
                    node: i,
                    op: node.op.name(),
                    detail: format!(
                        "input tensor #{t} '{}' is neither a graph input, a constant nor an earlier node's output",
                        graph.tensors[t].name
                    ),
                });
            }
        }
        // Release slots whose tensors were last read before this node.
        busy.retain(|&(slot, t)| {
            let done = last_use[t].is_none_or(|u| u < i);
            if done {
                free.push(slot);
            }
            !done
        });
        let &[output] = node.outputs.as_slice() else {
            return Err(KernelError::Unsupported {
                node: i,
                op: node.op.name(),
                detail: format!("has {} outputs, expected 1", node.outputs.len()),
            });
        };
        assign(&mut plan, &mut busy, &mut free, check(output)?);
    }
    Ok(plan)
}

/// Runs one prepared step.
fn execute(
    step: &Step,
    buffers: &[Buffer],
    out: &mut Buffer,
    scratch: &mut Scratch,
) -> Result<(), KernelError> {
    let input = |k: usize| &buffers[step.inputs[k]];
    match &step.kernel {
        Kernel::Copy => {
            let (src, dst) = (input(0).bytes(), out.bytes_mut());
            crate::error::check_len("reshape", "output", dst.len(), src.len())?;
            dst.copy_from_slice(src);
            Ok(())
        }
        Kernel::QuantizeFloat { scale, zero_point } => {
            let Buffer::F32(x) = input(0) else {
                return Err(mismatch());
            };
            match out {
                Buffer::I8(o) => quantize_f32(*scale, *zero_point, x, o),
                Buffer::U8(o) => quantize_f32(*scale, *zero_point, x, o),
                _ => Err(mismatch()),
            }
        }
        Kernel::Dequantize { scale, zero_point } => {
            let Buffer::F32(o) = out else {
                return Err(mismatch());
            };
            match input(0) {
                Buffer::I8(x) => dequantize(*scale, *zero_point, x, o),
                Buffer::U8(x) => dequantize(*scale, *zero_point, x, o),
                _ => Err(mismatch()),
            }
        }
        Kernel::Requantize {
            multiplier,
            input_zero_point: zi,
            output_zero_point: zo,
        } => match (input(0), out) {
            (Buffer::I8(x), Buffer::I8(o)) => requantize(*multiplier, *zi, *zo, x, o),
            (Buffer::I8(x), Buffer::U8(o)) => requantize(*multiplier, *zi, *zo, x, o),
            (Buffer::U8(x), Buffer::I8(o)) => requantize(*multiplier, *zi, *zo, x, o),
            (Buffer::U8(x), Buffer::U8(o)) => requantize(*multiplier, *zi, *zo, x, o),
            _ => Err(mismatch()),
        },
        _ => match out {
            Buffer::I8(_) => execute_8bit::<i8>(step, buffers, out, scratch),
            Buffer::U8(_) => execute_8bit::<u8>(step, buffers, out, scratch),
            _ => Err(mismatch()),
        },
    }
}

/// The error for a buffer of the wrong type (a planning bug, never a user error).
fn mismatch() -> KernelError {
    KernelError::InvalidParams {
        kernel: "engine",
        detail: "a buffer has another element type than its tensor".into(),
    }
}

/// Runs a step whose inputs and output are all of the 8-bit type `T`.
fn execute_8bit<T: Element>(
    step: &Step,
    buffers: &[Buffer],
    out: &mut Buffer,
    scratch: &mut Scratch,
) -> Result<(), KernelError> {
    let input = |k: usize| T::slice(&buffers[step.inputs[k]]).ok_or_else(mismatch);
    let out = T::slice_mut(out).ok_or_else(mismatch)?;
    match &step.kernel {
        Kernel::Conv(k) => k.run(input(0)?, out, scratch),
        Kernel::Depthwise(k) => k.run(input(0)?, out, scratch),
        Kernel::FullyConnected(k) => k.run(input(0)?, out, scratch),
        Kernel::Add(p) => add(p, input(0)?, input(1)?, out),
        Kernel::Mean {
            params,
            shape,
            axes,
        } => mean(params, shape, axes, input(0)?, out, scratch),
        Kernel::Pool { kind, shape, range } => pool(*kind, shape, *range, input(0)?, out),
        Kernel::Softmax { params, depth } => softmax(params, *depth, input(0)?, out),
        Kernel::Pad {
            shape,
            paddings,
            value,
        } => pad(shape, paddings, T::saturate(*value), input(0)?, out),
        Kernel::Concat {
            axis,
            output_shape,
            inputs,
        } => {
            // At most a handful of inputs: a fixed array keeps this allocation-free.
            const MAX_INPUTS: usize = 16;
            if inputs.len() > MAX_INPUTS {
                return Err(KernelError::InvalidParams {
                    kernel: "concatenate",
                    detail: format!("{} inputs, at most {MAX_INPUTS}", inputs.len()),
                });
            }
            let mut parts: [(&[usize], ConcatInput, &[T]); MAX_INPUTS] =
                [(&[], ConcatInput::Copy, &[]); MAX_INPUTS];
            for (k, (part, (shape, how))) in parts.iter_mut().zip(inputs).enumerate() {
                *part = (shape, *how, input(k)?);
            }
            concatenate(*axis, output_shape, &parts[..inputs.len()], out)
        }
        Kernel::Copy
        | Kernel::QuantizeFloat { .. }
        | Kernel::Dequantize { .. }
        | Kernel::Requantize { .. } => Err(mismatch()),
    }
}

/// A convolution node's operand tensors and the dimensions of the rank-4 ones.
struct ConvOperands<'g> {
    input: &'g Tensor,
    filter: &'g Tensor,
    output: &'g Tensor,
    input_dims: [usize; 4],
    filter_dims: [usize; 4],
}

/// What a convolution kernel is built from, checked against the node.
struct ConvLayer<'g> {
    shape: ConvShape,
    offsets: ConvOffsets,
    stage: OutputStage,
    filter: &'g [u8],
}

/// Validation of one node against what its kernel needs, with errors naming the node.
struct Prep<'g> {
    graph: &'g Graph,
    index: usize,
    node: &'g Node,
}

impl<'g> Prep<'g> {
    fn err(&self, detail: impl Into<String>) -> KernelError {
        KernelError::Unsupported {
            node: self.index,
            op: self.node.op.name(),
            detail: detail.into(),
        }
    }

    fn tensor(&self, id: TensorId) -> Result<&'g Tensor, KernelError> {
        self.graph.tensors.get(id).ok_or_else(|| {
            self.err(format!(
                "tensor #{id} does not exist (the graph has {})",
                self.graph.tensors.len()
            ))
        })
    }

    fn input_id(&self, k: usize) -> Result<TensorId, KernelError> {
        self.node
            .inputs
            .get(k)
            .copied()
            .ok_or_else(|| self.err(format!("input {k} is missing")))
    }

    fn input(&self, k: usize) -> Result<&'g Tensor, KernelError> {
        self.tensor(self.input_id(k)?)
    }

    fn output(&self) -> Result<&'g Tensor, KernelError> {
        match self.node.outputs.as_slice() {
            &[id] => self.tensor(id),
            other => Err(self.err(format!("has {} outputs, expected 1", other.len()))),
        }
    }

    /// `(scale, zero_point)` of a per-tensor quantized 8-bit tensor.
    fn quant(&self, t: &Tensor) -> Result<(f32, i32), KernelError> {
        if !t.dtype.is_quantized_8bit() {
            return Err(self.err(format!(
                "'{}' is {}, expected int8 or uint8",
                t.name, t.dtype
            )));
        }
        match &t.quant {
            Some(q) if !q.is_per_channel() && q.scale().is_finite() && q.scale() > 0.0 => {
                Ok((q.scale(), q.zero_point()))
            }
            _ => Err(self.err(format!(
                "'{}' needs one positive finite scale and a zero point",
                t.name
            ))),
        }
    }

    fn same_dtype(&self, a: &Tensor, b: &Tensor) -> Result<(), KernelError> {
        if a.dtype == b.dtype {
            Ok(())
        } else {
            Err(self.err(format!(
                "'{}' is {} but '{}' is {}",
                a.name, a.dtype, b.name, b.dtype
            )))
        }
    }

    fn range(&self, activation: Activation, out: &Tensor) -> Result<(i32, i32), KernelError> {
        let (scale, zero_point) = self.quant(out)?;
        let bounds = out
            .dtype
            .range_8bit()
            .ok_or_else(|| self.err("output is not 8-bit"))?;
        Ok(activation_range_for(activation, bounds, scale, zero_point))
    }

    fn rank4(&self, t: &Tensor) -> Result<[usize; 4], KernelError> {
        <[usize; 4]>::try_from(t.shape.as_slice()).map_err(|_| {
            self.err(format!(
                "'{}' has shape {:?}, expected NHWC",
                t.name, t.shape
            ))
        })
    }

    fn constant(&self, t: &'g Tensor, role: &str) -> Result<&'g [u8], KernelError> {
        t.data
            .as_deref()
            .ok_or_else(|| self.err(format!("{role} '{}' must be a constant", t.name)))
    }

    /// The optional int32 bias (input 2) of `channels` values.
    fn bias(&self, channels: usize) -> Result<Option<Vec<i32>>, KernelError> {
        let Some(&id) = self.node.inputs.get(2) else {
            return Ok(None);
        };
        let t = self.tensor(id)?;
        self.constant(t, "bias")?;
        match t.data_i32() {
            Some(v) if t.dtype == DType::Int32 && v.len() == channels => Ok(Some(v)),
            _ => Err(self.err(format!(
                "bias '{}' is {} {:?}, expected int32 [{channels}]",
                t.name, t.dtype, t.shape
            ))),
        }
    }

    /// The operands of a (depthwise) convolution: input, filter and output of one type,
    /// input and filter of rank 4.
    fn conv_operands(&self) -> Result<ConvOperands<'g>, KernelError> {
        let (input, filter, output) = (self.input(0)?, self.input(1)?, self.output()?);
        self.same_dtype(input, filter)?;
        self.same_dtype(input, output)?;
        Ok(ConvOperands {
            input,
            filter,
            output,
            input_dims: self.rank4(input)?,
            filter_dims: self.rank4(filter)?,
        })
    }

    /// The checked geometry, quantization and filter bytes of a (depthwise) convolution
    /// with `kernel` window and `oc` output channels; `double_products` as for
    /// [`Prep::conv_quant`].
    fn conv_layer(
        &self,
        ops: &ConvOperands<'g>,
        kernel: [usize; 2],
        oc: usize,
        (stride, dilation, padding): ([usize; 2], [usize; 2], Padding),
        activation: Activation,
        double_products: bool,
    ) -> Result<ConvLayer<'g>, KernelError> {
        let shape = conv_shape(
            self,
            ops.input_dims,
            kernel,
            oc,
            stride,
            dilation,
            padding,
            ops.output,
        )?;
        let (offsets, stage) = self.conv_quant(
            ops.input,
            ops.filter,
            ops.output,
            oc,
            activation,
            double_products,
        )?;
        Ok(ConvLayer {
            shape,
            offsets,
            stage,
            filter: self.constant(ops.filter, "filter")?,
        })
    }

    /// Convolution and fully-connected quantization: offsets and output stage.
    /// `double_products` selects TFLite's per-channel formula (int8 convolutions and
    /// per-channel fully-connected layers) over the `f32` product of the scales.
    fn conv_quant(
        &self,
        input: &Tensor,
        filter: &Tensor,
        output: &Tensor,
        channels: usize,
        activation: Activation,
        double_products: bool,
    ) -> Result<(ConvOffsets, OutputStage), KernelError> {
        let (in_scale, in_zero) = self.quant(input)?;
        let (out_scale, out_zero) = self.quant(output)?;
        let fq = filter
            .quant
            .as_ref()
            .ok_or_else(|| self.err(format!("filter '{}' has no quantization", filter.name)))?;
        let per_channel = fq.is_per_channel();
        if per_channel && fq.scales.len() != channels {
            return Err(self.err(format!(
                "filter '{}' has {} scales for {channels} output channels",
                filter.name,
                fq.scales.len()
            )));
        }
        if fq.scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(self.err(format!("filter '{}' has a non-positive scale", filter.name)));
        }
        let filter_zero = if input.dtype == DType::Int8
            && matches!(self.node.op, Op::Conv2d(_) | Op::DepthwiseConv2d(_))
        {
            // TFLite's int8 convolutions ignore the filter zero point; refuse models where
            // that would change the result rather than silently differ from the intent.
            if fq.zero_points.iter().any(|&z| z != 0) {
                return Err(self.err(format!(
                    "int8 filter '{}' has a non-zero zero point, which TFLite's int8 kernels ignore",
                    filter.name
                )));
            }
            0
        } else {
            if per_channel && fq.zero_points.iter().any(|&z| z != 0) {
                return Err(self.err(format!(
                    "per-channel filter '{}' has non-zero zero points",
                    filter.name
                )));
            }
            fq.zero_point()
        };
        if per_channel && input.dtype == DType::UInt8 {
            return Err(self.err(format!(
                "uint8 layer with per-channel filter '{}' (TFLite supports per-channel filters only for int8)",
                filter.name
            )));
        }
        let multipliers: Vec<QuantizedMultiplier> = (0..channels)
            .map(|c| {
                let f = fq.scale_of(c);
                if double_products {
                    per_channel_conv_multiplier(in_scale, f, out_scale)
                } else {
                    per_tensor_conv_multiplier(in_scale, f, out_scale)
                }
            })
            .collect();
        let bias = self.bias(channels)?;
        let stage = OutputStage::new(
            bias.as_deref(),
            &multipliers,
            out_zero,
            self.range(activation, output)?,
        );
        Ok((
            ConvOffsets {
                input: -in_zero,
                filter: -filter_zero,
            },
            stage,
        ))
    }
}

/// Derives node `index`'s kernel and the tensors it reads at run time.
fn prepare(
    graph: &Graph,
    index: usize,
    node: &Node,
) -> Result<(Kernel, Vec<TensorId>), KernelError> {
    let p = Prep { graph, index, node };
    let first = || p.input_id(0).map(|id| vec![id]);
    let kernel = match &node.op {
        Op::Conv2d(o) => {
            let ops = p.conv_operands()?;
            let [oc, kh, kw, fc] = ops.filter_dims;
            let ic = ops.input_dims[3];
            if fc != ic {
                return Err(p.err(format!(
                    "filter takes {fc} input channels, the input has {ic}"
                )));
            }
            let geometry = (o.stride, o.dilation, o.padding);
            let int8 = ops.input.dtype == DType::Int8;
            let l = p.conv_layer(&ops, [kh, kw], oc, geometry, o.activation, int8)?;
            let conv = match ops.input.dtype {
                DType::Int8 => Conv2d::new(l.shape, l.offsets, as_i8(l.filter), l.stage),
                _ => Conv2d::new(l.shape, l.offsets, l.filter, l.stage),
            };
            Kernel::Conv(conv.map_err(|e| p.err(e.to_string()))?)
        }
        Op::DepthwiseConv2d(o) => {
            let ops = p.conv_operands()?;
            let [one, kh, kw, oc] = ops.filter_dims;
            let ic = ops.input_dims[3];
            if one != 1 || oc != ic * o.depth_multiplier {
                return Err(p.err(format!(
                    "filter shape {:?} does not fit {ic} channels with multiplier {}",
                    ops.filter.shape, o.depth_multiplier
                )));
            }
            let geometry = (o.stride, o.dilation, o.padding);
            let int8 = ops.input.dtype == DType::Int8;
            let l = p.conv_layer(&ops, [kh, kw], oc, geometry, o.activation, int8)?;
            let m = o.depth_multiplier;
            let dw = match ops.input.dtype {
                DType::Int8 => {
                    DepthwiseConv2d::new(l.shape, m, l.offsets, as_i8(l.filter), l.stage)
                }
                _ => DepthwiseConv2d::new(l.shape, m, l.offsets, l.filter, l.stage),
            };
            Kernel::Depthwise(dw.map_err(|e| p.err(e.to_string()))?)
        }
        Op::FullyConnected { activation } => {
            let (input, weights, output) = (p.input(0)?, p.input(1)?, p.output()?);
            p.same_dtype(input, weights)?;
            p.same_dtype(input, output)?;
            let &[units, depth] = weights.shape.as_slice() else {
                return Err(p.err(format!(
                    "weights have shape {:?}, expected [units, depth]",
                    weights.shape
                )));
            };
            if depth == 0
                || !input.len().is_multiple_of(depth)
                || output.len() != input.len() / depth * units
            {
                return Err(p.err(format!(
                    "input {:?}, weights {:?} and output {:?} do not fit",
                    input.shape, weights.shape, output.shape
                )));
            }
            let shape = FcShape {
                rows: input.len() / depth,
                depth,
                units,
            };
            let per_channel = weights.quant.as_ref().is_some_and(|q| q.is_per_channel());
            let (offsets, stage) =
                p.conv_quant(input, weights, output, units, *activation, per_channel)?;
            let data = p.constant(weights, "weights")?;
            let fc = match input.dtype {
                DType::Int8 => FullyConnected::new(shape, offsets, as_i8(data), stage),
                _ => FullyConnected::new(shape, offsets, data, stage),
            };
            return Ok((
                Kernel::FullyConnected(fc.map_err(|e| p.err(e.to_string()))?),
                first()?,
            ));
        }
        Op::Add { activation } => {
            let (a, b, output) = (p.input(0)?, p.input(1)?, p.output()?);
            p.same_dtype(a, b)?;
            p.same_dtype(a, output)?;
            if a.shape != b.shape || a.shape != output.shape {
                return Err(p.err(format!(
                    "shapes {:?} + {:?} -> {:?}; broadcasting is not supported",
                    a.shape, b.shape, output.shape
                )));
            }
            let ((sa, za), (sb, zb), (so, zo)) = (p.quant(a)?, p.quant(b)?, p.quant(output)?);
            let (min, max) = p.range(*activation, output)?;
            let params = AddParams {
                input1_offset: -za,
                input2_offset: -zb,
                output_offset: zo,
                multipliers: add_multipliers(sa, sb, so),
                min,
                max,
            };
            return Ok((Kernel::Add(params), vec![p.input_id(0)?, p.input_id(1)?]));
        }
        Op::Mean { axes, .. } => {
            let (input, output) = (p.input(0)?, p.output()?);
            p.same_dtype(input, output)?;
            let ((si, zi), (so, zo)) = (p.quant(input)?, p.quant(output)?);
            let kept: usize = (0..input.shape.len())
                .filter(|d| !axes.contains(d))
                .map(|d| input.shape[d])
                .product();
            if axes.iter().any(|&a| a >= input.shape.len()) || kept != output.len() {
                return Err(p.err(format!(
                    "axes {axes:?} of {:?} do not give {:?}",
                    input.shape, output.shape
                )));
            }
            Kernel::Mean {
                params: MeanParams {
                    input_zero_point: zi,
                    output_zero_point: zo,
                    rescale: rescale_multiplier(si, so),
                },
                shape: input.shape.clone(),
                axes: axes.clone(),
            }
        }
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => {
            let (input, output) = (p.input(0)?, p.output()?);
            p.same_dtype(input, output)?;
            if p.quant(input)? != p.quant(output)? {
                return Err(
                    p.err("input and output quantization differ (TFLite requires them equal)")
                );
            }
            let [n, ih, iw, c] = p.rank4(input)?;
            let shape = conv_shape(
                &p,
                [n, ih, iw, c],
                o.filter,
                c,
                o.stride,
                [1, 1],
                o.padding,
                output,
            )?;
            let kind = match node.op {
                Op::AveragePool2d(_) => PoolKind::Average,
                _ => PoolKind::Max,
            };
            Kernel::Pool {
                kind,
                shape,
                range: p.range(o.activation, output)?,
            }
        }
        Op::Softmax { beta } => {
            let (input, output) = (p.input(0)?, p.output()?);
            p.same_dtype(input, output)?;
            let (scale, _) = p.quant(input)?;
            let (out_scale, out_zero) = p.quant(output)?;
            let low = output.dtype.range_8bit().map_or(0, |r| r.0);
            if out_scale != 1.0 / 256.0 || out_zero != low || input.shape != output.shape {
                return Err(p.err(format!(
                    "output is scale {out_scale}, zero point {out_zero}, shape {:?}; TFLite's kernel writes scale 1/256, zero point {low}, the input's shape",
                    output.shape
                )));
            }
            let params = softmax_multipliers(*beta, scale).ok_or_else(|| {
                p.err(format!("beta {beta} times input scale {scale} is too small for TFLite's fixed-point softmax"))
            })?;
            let depth = input.shape.last().copied().unwrap_or(1);
            Kernel::Softmax { params, depth }
        }
        Op::Reshape => {
            let (input, output) = (p.input(0)?, p.output()?);
            p.same_dtype(input, output)?;
            if input.len() != output.len() {
                return Err(p.err(format!(
                    "reshapes {:?} into {:?}",
                    input.shape, output.shape
                )));
            }
            Kernel::Copy
        }
        Op::Quantize => {
            let (input, output) = (p.input(0)?, p.output()?);
            let (so, zo) = p.quant(output)?;
            if input.len() != output.len() {
                return Err(p.err(format!("{:?} -> {:?}", input.shape, output.shape)));
            }
            if input.dtype == DType::Float32 {
                Kernel::QuantizeFloat {
                    scale: so,
                    zero_point: zo,
                }
            } else {
                let (si, zi) = p.quant(input)?;
                Kernel::Requantize {
                    multiplier: rescale_multiplier(si, so),
                    input_zero_point: zi,
                    output_zero_point: zo,
                }
            }
        }
        Op::Dequantize => {
            let (input, output) = (p.input(0)?, p.output()?);
            let (scale, zero_point) = p.quant(input)?;
            if output.dtype != DType::Float32 || input.len() != output.len() {
                return Err(p.err(format!(
                    "output is {} {:?}, expected float32 {:?}",
                    output.dtype, output.shape, input.shape
                )));
            }
            Kernel::Dequantize { scale, zero_point }
        }
        Op::Pad { paddings } => {
            let (input, output) = (p.input(0)?, p.output()?);
            p.same_dtype(input, output)?;
            let (_, zero_point) = p.quant(output)?;
            let padded: Vec<usize> = input
                .shape
                .iter()
                .zip(paddings)
                .map(|(n, [a, b])| n + a + b)
                .collect();
            if paddings.len() != input.shape.len() || padded != output.shape {
                return Err(p.err(format!(
                    "{:?} padded by {paddings:?} is not {:?}",
                    input.shape, output.shape
                )));
            }
            Kernel::Pad {
                shape: input.shape.clone(),
                paddings: paddings.clone(),
                value: zero_point,
            }
        }
        Op::Concatenation { axis, activation } => {
            let output = p.output()?;
            if *activation != Activation::None {
                return Err(p.err("a fused activation on CONCATENATION (TFLite requires NONE)"));
            }
            let (so, zo) = p.quant(output)?;
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for k in 0..node.inputs.len() {
                let t = p.input(k)?;
                p.same_dtype(t, output)?;
                let (s, z) = p.quant(t)?;
                let how = if (s, z) == (so, zo) {
                    ConcatInput::Copy
                } else if output.dtype == DType::UInt8 {
                    ConcatInput::Rescale {
                        scale: s,
                        zero_point: z,
                        output_scale: so,
                        output_zero_point: zo,
                    }
                } else {
                    return Err(p.err(format!(
                        "int8 input '{}' is quantized differently from the output (TFLite requires them equal)",
                        t.name
                    )));
                };
                inputs.push((t.shape.clone(), how));
            }
            return Ok((
                Kernel::Concat {
                    axis: *axis,
                    output_shape: output.shape.clone(),
                    inputs,
                },
                node.inputs.clone(),
            ));
        }
    };
    Ok((kernel, first()?))
}

/// A constant's bytes as `i8`.
fn as_i8(data: &[u8]) -> &[i8] {
    zerocopy::transmute_ref!(data)
}

/// The geometry of a convolution or pooling node, checked against its output tensor.
#[allow(clippy::too_many_arguments, reason = "the fields of one geometry")]
fn conv_shape(
    p: &Prep<'_>,
    [n, ih, iw, ic]: [usize; 4],
    kernel: [usize; 2],
    oc: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
    output: &Tensor,
) -> Result<ConvShape, KernelError> {
    if kernel
        .iter()
        .chain(&stride)
        .chain(&dilation)
        .any(|&v| v == 0)
    {
        return Err(p.err(format!(
            "kernel {kernel:?}, stride {stride:?}, dilation {dilation:?} must be positive"
        )));
    }
    let (oh, pt) = padding.output_and_pad(ih, kernel[0], stride[0], dilation[0]);
    let (ow, pl) = padding.output_and_pad(iw, kernel[1], stride[1], dilation[1]);
    if output.shape != [n, oh, ow, oc] {
        return Err(p.err(format!(
            "output '{}' has shape {:?}, the operator gives {:?}",
            output.name,
            output.shape,
            [n, oh, ow, oc]
        )));
    }
    Ok(ConvShape {
        batches: n,
        input: [ih, iw, ic],
        output: [oh, ow, oc],
        kernel,
        stride,
        dilation,
        pad: [pt, pl],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fibha_model::Quantization;

    fn activation(
        name: &str,
        dtype: DType,
        shape: &[usize],
        scale: f32,
        zero_point: i32,
    ) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype,
            quant: Some(Quantization {
                scales: vec![scale],
                zero_points: vec![zero_point],
                axis: 0,
            }),
            data: None,
        }
    }

    /// float input -> QUANTIZE -> ADD (with itself) -> DEQUANTIZE.
    fn graph() -> Graph {
        let mut input = activation("in", DType::Float32, &[1, 4], 1.0, 0);
        input.quant = None;
        let mut output = activation("out", DType::Float32, &[1, 4], 1.0, 0);
        output.quant = None;
        Graph {
            source: "test".into(),
            source_sha256: [0; 32],
            tensors: vec![
                input,
                activation("q", DType::Int8, &[1, 4], 0.5, -1),
                activation("sum", DType::Int8, &[1, 4], 1.0, 0),
                output,
            ],
            nodes: vec![
                Node {
                    index: 0,
                    op: Op::Quantize,
                    inputs: vec![0],
                    outputs: vec![1],
                },
                Node {
                    index: 1,
                    op: Op::Add {
                        activation: Activation::Relu,
                    },
                    inputs: vec![1, 1],
                    outputs: vec![2],
                },
                Node {
                    index: 2,
                    op: Op::Dequantize,
                    inputs: vec![2],
                    outputs: vec![3],
                },
            ],
            folded: Vec::new(),
            inputs: vec![0],
            outputs: vec![3],
        }
    }

    fn floats(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }

    #[test]
    fn runs_a_float_edged_graph() {
        for keep_all_tensors in [false, true] {
            let options = EngineOptions {
                keep_all_tensors,
                profile: true,
            };
            let mut engine = CpuEngine::with_options(graph(), options).expect("valid graph");
            let input: Vec<u8> = [1.0_f32, -2.0, 3.25, 0.0]
                .iter()
                .flat_map(|f| f.to_le_bytes())
                .collect();
            let out = floats(engine.run(&input).expect("runs"));
            // x + x, clamped below at 0 by the fused RELU, in steps of 1.0.
            assert_eq!(out, [2.0, 0.0, 7.0, 0.0]);
            // 3.25 / 0.5 = 6.5 rounds away from zero to 7, minus 1: q = 6.
            assert_eq!(engine.tensor(1).expect("tensor")[2] as i8, 6);
            let profile = engine.profile().expect("profiling on");
            assert!(profile.iter().all(|p| p.calls == 1));
        }
    }

    #[test]
    fn wrong_input_size_names_tensor_and_sizes() {
        let mut engine = CpuEngine::new(graph()).expect("valid graph");
        let err = engine.run(&[0; 4]).expect_err("4 bytes for 4 floats");
        let msg = err.to_string();
        assert!(
            msg.contains("tensor #0 'in' is float32 [1, 4] (16 bytes), got 4 bytes"),
            "{msg}"
        );
        assert!(msg.contains("uint8"), "hint at the element type: {msg}");
    }

    #[test]
    fn refuses_bad_tensor_ids_and_ranges() {
        let mut engine = CpuEngine::new(graph()).expect("valid graph");
        assert!(matches!(
            engine.tensor(9),
            Err(KernelError::UnknownTensor {
                tensor: 9,
                count: 4
            })
        ));
        assert!(matches!(
            engine.run_nodes(2..5),
            Err(KernelError::NodeRange { .. })
        ));
        assert_eq!(engine.node_count(), 3);
    }

    #[test]
    fn runs_a_range_of_nodes_from_a_set_tensor() {
        let mut engine = CpuEngine::new(graph()).expect("valid graph");
        engine
            .set_tensor(1, &[3_i8 as u8, 255, 0, 10])
            .expect("int8 [1, 4]");
        engine.run_nodes(1..3).expect("runs");
        // (q + 1) * 0.5 twice: 3 -> 4, -1 -> 0, 0 -> 1, 10 -> 11.
        assert_eq!(
            floats(engine.tensor(3).expect("output")),
            [4.0, 0.0, 1.0, 11.0]
        );
    }

    #[test]
    fn unsupported_quantization_is_refused_at_build() {
        let mut g = graph();
        g.tensors[2].quant = None;
        let err = CpuEngine::new(g).expect_err("no output quantization");
        assert!(err.to_string().starts_with("node #1 (ADD):"), "{err}");
    }

    #[test]
    fn shared_buffers_never_alias_a_node_input_and_output() {
        let g = graph();
        let kernels: Vec<_> = g
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| prepare(&g, i, n).expect("valid"))
            .collect();
        let plan = plan_slots(&g, &kernels, false).expect("plan");
        for node in &g.nodes {
            for &i in &node.inputs {
                assert_ne!(plan.slot_of[i], plan.slot_of[node.outputs[0]]);
            }
        }
    }
}
