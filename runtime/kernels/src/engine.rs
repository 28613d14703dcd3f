//! [`CpuEngine`]: runs a [`Graph`] with the kernels of this crate, bit-exact with the
//! TFLite interpreter's reference kernels.
//!
//! Everything that does not depend on the input is done once in [`CpuEngine::new`]: each
//! node's parameters are derived from the model's scales as TFLite's `Prepare` functions
//! derive them, weights are packed for the fast kernels, and every activation tensor gets
//! a buffer in an arena. Running a node then allocates nothing.
//!
//! Each operator's preparation and execution live in its module under `ops/`; this module
//! plans the arena's slots, runs the steps in order and hands each to its prepared kernel.
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

use fibha_model::{DType, Graph, Tensor, TensorId};

use crate::arena::{Buffer, Io};
use crate::conv::{Scratch, ScratchNeed};
use crate::error::KernelError;
use crate::ops::{Preparation, Prepared, prepare};

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

/// One node, prepared: its kernel and the arena slots it reads and writes.
#[derive(Debug)]
struct Step {
    op: &'static str,
    inputs: Vec<usize>,
    output: usize,
    kernel: Box<dyn Prepared>,
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
            let t = &graph.tensors[id];
            if let (Some(slot), Some(data)) = (slot, &t.data) {
                // The importer guarantees the size; a graph built by hand may not.
                let buffer = buffers[*slot].bytes_mut();
                if buffer.len() != data.len() {
                    return Err(size_error(id, t, data.len()));
                }
                buffer.copy_from_slice(data);
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
            let io = Io::new(&self.buffers, &step.inputs, &mut out);
            let result = step.kernel.execute(io, &mut self.scratch);
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
fn plan_slots(graph: &Graph, kernels: &[Preparation], keep_all: bool) -> Result<Plan, KernelError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use fibha_model::{Activation, Node, Op, Quantization};

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
