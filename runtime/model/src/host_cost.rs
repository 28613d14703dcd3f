//! What the host's share of a model costs on the ZCU102's Cortex-A53 cores, modelled.
//!
//! No board is at hand, so nothing on the A53 is timed. What can be measured is how many
//! aarch64 instructions the CPU engine executes: `scripts/measure-a53-host` runs the
//! aarch64 build under qemu-aarch64 with a TCG plugin that counts executed instructions
//! (`tools/qemu-insn`), once per host stage of the shipped instance and once per operator
//! of a set of models. Each operator's count over its work ([`WorkUnit`]:
//! multiply-accumulates for the operators with a window or weights, elements for the rest)
//! gives a rate per [`HostOp::key`] (operator and the type it reads); summed over the model's own operators it
//! gives their instructions; time = instructions / (IPC x clock) with the clock and the
//! range of instructions per cycle that the file states with its sources.
//!
//! The compiler puts the host operators' share into the plan's latency and `fibha bench`
//! shows it beside the accelerator's time. The file `assets/host-model/a53.json` is the one
//! source of both; [`A53Model::load`] validates it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Graph, Node, Op, TensorId};

/// Version of the A53 host model file's layout.
pub const A53_MODEL_FORMAT: u32 = 2;

/// What an operator's instructions scale with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkUnit {
    /// Multiply-accumulates (window taps for pooling).
    Mac,
    /// Elements of the largest activation tensor the operator reads or writes.
    Element,
}

/// A host operator as the model costs it: which rate applies and how much work it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOp {
    /// Its index in the TFLite subgraph.
    pub index: usize,
    /// The operator and the type of its first input (`CONV_2D int8`, `QUANTIZE float32`):
    /// the engine's code, and so the rate, differs between them.
    pub key: String,
    /// What `work` counts.
    pub unit: WorkUnit,
    /// How much it computes per image.
    pub work: u64,
}

/// The host's work on one side of the accelerator: its operators, and the bytes it moves
/// between the CPU engine's tensor and the accelerator's DMA buffer (the runtime copies
/// each twice: into or out of the engine, and into or out of the buffer, a uint8 tensor
/// with its top bit flipped).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSide {
    /// The operators.
    pub ops: Vec<HostOp>,
    /// The accelerator's input or output tensor, bytes.
    pub dma_bytes: u64,
}

impl HostSide {
    /// `nodes` of `graph`, with the accelerator's tensor `dma` on this side.
    pub fn of<'a>(graph: &Graph, nodes: impl IntoIterator<Item = &'a Node>, dma: TensorId) -> Self {
        HostSide {
            ops: nodes.into_iter().map(|n| HostOp::of(graph, n)).collect(),
            dma_bytes: graph.tensor(dma).byte_len() as u64,
        }
    }
}

/// A model's host work before the accelerator (an input QUANTIZE, the input's copy) and
/// after it (the output's copy, softmax, ...). The runtime runs both on its pipeline thread.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOps {
    /// Before the accelerator.
    pub before: HostSide,
    /// After it.
    pub after: HostSide,
}

impl HostOp {
    /// `node` of `graph`.
    pub fn of(graph: &Graph, node: &Node) -> HostOp {
        let (unit, work) = work(graph, node);
        HostOp {
            index: node.index,
            key: cost_key(graph, node),
            unit,
            work,
        }
    }
}

/// The work of `node` in `graph`.
fn work(graph: &Graph, node: &Node) -> (WorkUnit, u64) {
    let len = |id: usize| graph.tensor(id).len() as u64;
    let out = node.outputs.first().map_or(0, |&t| len(t));
    let last_dim = |id: usize| graph.tensor(id).shape.last().copied().unwrap_or(1) as u64;
    let taps = |shape: &[usize]| shape.iter().product::<usize>() as u64;
    match &node.op {
        // Filter [out_c, kh, kw, in_c]: every output takes kh * kw * in_c products.
        Op::Conv2d(_) => (
            WorkUnit::Mac,
            out * taps(&graph.tensor(node.inputs[1]).shape[1..]),
        ),
        // Filter [1, kh, kw, c]: kh * kw products per output.
        Op::DepthwiseConv2d(_) => {
            let shape = &graph.tensor(node.inputs[1]).shape;
            let window = &shape[1..shape.len().saturating_sub(1)];
            (WorkUnit::Mac, out * taps(window))
        }
        Op::FullyConnected { .. } => (WorkUnit::Mac, out * last_dim(node.inputs[1])),
        Op::AveragePool2d(p) | Op::MaxPool2d(p) => (WorkUnit::Mac, out * taps(&p.filter)),
        _ => {
            let activations = node
                .inputs
                .iter()
                .filter(|&&t| graph.tensor(t).data.is_none());
            let largest = activations.map(|&t| len(t)).chain([out]).max();
            (WorkUnit::Element, largest.unwrap_or(0))
        }
    }
}

/// [`HostOp::key`] of `node`.
fn cost_key(graph: &Graph, node: &Node) -> String {
    match node.inputs.first() {
        Some(&t) => format!("{} {}", node.op.name(), graph.tensor(t).dtype),
        None => node.op.name().to_string(),
    }
}

/// aarch64 instructions per unit of work of one operator kind, and what they come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpRate {
    /// What the rate is per.
    pub unit: WorkUnit,
    /// Instructions per unit: the counted instructions of the measured nodes over their
    /// summed work.
    pub instructions_per_unit: f64,
    /// Nodes measured.
    pub nodes: u32,
    /// Their summed work.
    pub work: u64,
    /// The models they are from (file names).
    pub models: Vec<String>,
}

/// Instructions per image of the shipped instance's host stages, counted whole: the check
/// on the per-operator rates (and the photo decoders, which are no operators).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageInstructions {
    /// Decode and resize, per photo (file name, instructions).
    pub decode: Vec<(String, f64)>,
    /// The instance the head and tail were counted on (its directory name).
    pub instance: String,
    /// Operators before the accelerator and the copy into the DMA buffer.
    pub head: f64,
    /// Operators after the accelerator.
    pub tail: f64,
}

/// The stored model: the A53's clock and IPC range with their sources, the stages counted
/// whole, and the per-operator rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct A53Model {
    /// Format version ([`A53_MODEL_FORMAT`]).
    pub format: u32,
    /// How the counts were made.
    pub method: String,
    /// The A53's clock on the ZCU102, Hz.
    pub clock_hz: f64,
    /// Instructions per cycle assumed: low, middle, high.
    pub ipc: [f64; 3],
    /// Where the clock and IPC come from, and why the range.
    pub sources: Vec<String>,
    /// The stages counted whole.
    pub stages: StageInstructions,
    /// Rates per [`HostOp::key`].
    pub ops: BTreeMap<String, OpRate>,
    /// Instructions per byte of [`HostSide::dma_bytes`] (both copies).
    pub dma_copy_instructions_per_byte: f64,
}

/// Why a host model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HostModelError {
    /// The file is missing or unreadable.
    #[error("{}: cannot read the A53 host model: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a model of this format.
    #[error("{}: not an A53 host model of format {A53_MODEL_FORMAT}: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// The instructions of a set of host operators, and those no rate covers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpsCost {
    /// Modelled instructions per image of the operators with a rate.
    pub instructions: f64,
    /// `#index OP dtype` of each operator without one (its cost is missing from the sum).
    pub unmodelled: Vec<String>,
}

impl A53Model {
    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<A53Model, HostModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| HostModelError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        A53Model::parse(&text, path)
    }

    /// Parses and validates a model file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<A53Model, HostModelError> {
        let invalid = |detail: String| HostModelError::Invalid {
            path: path.to_path_buf(),
            detail,
        };
        let model: A53Model = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        model.check().map_err(invalid)?;
        Ok(model)
    }

    fn check(&self) -> Result<(), String> {
        if self.format != A53_MODEL_FORMAT {
            return Err(format!("it says format {}", self.format));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.clock_hz) || !self.ipc.iter().all(|&i| positive(i)) {
            return Err("the clock and every IPC must be positive".into());
        }
        if !positive(self.dma_copy_instructions_per_byte) {
            return Err("the DMA copy's instructions per byte must be positive".into());
        }
        if !(self.ipc[0] <= self.ipc[1] && self.ipc[1] <= self.ipc[2]) {
            return Err(format!("the IPC range {:?} is not ascending", self.ipc));
        }
        match self
            .ops
            .iter()
            .find(|(_, r)| !(r.instructions_per_unit.is_finite() && r.instructions_per_unit >= 0.0))
        {
            Some((key, _)) => Err(format!("the rate of {key} is not a count")),
            None => Ok(()),
        }
    }

    /// Milliseconds `instructions` take at `ipc`.
    pub fn ms(&self, instructions: f64, ipc: f64) -> f64 {
        instructions / (ipc * self.clock_hz) * 1e3
    }

    /// The modelled instructions per image of `side`.
    pub fn cost(&self, side: &HostSide) -> OpsCost {
        let mut cost = OpsCost {
            instructions: self.dma_copy_instructions_per_byte * side.dma_bytes as f64,
            unmodelled: Vec::new(),
        };
        for op in &side.ops {
            match self.ops.get(&op.key).filter(|r| r.unit == op.unit) {
                Some(rate) => cost.instructions += rate.instructions_per_unit * op.work as f64,
                None => cost.unmodelled.push(format!("#{} {}", op.index, op.key)),
            }
        }
        cost
    }

    /// "1.20 GHz, IPC 0.8 (0.5-1.2)": the basis of every time this model gives.
    pub fn basis(&self) -> String {
        let [low, mid, high] = self.ipc;
        format!(
            "{:.2} GHz, IPC {mid} (range {low}-{high}, assumed)",
            self.clock_hz / 1e9
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, DType, Padding, Pool2d, Tensor};

    fn tensor(shape: &[usize], constant: bool) -> Tensor {
        let len = shape.iter().product::<usize>();
        Tensor {
            name: String::new(),
            shape: shape.to_vec(),
            dtype: DType::Int8,
            quant: None,
            data: constant.then(|| vec![0; len]),
        }
    }

    fn graph(tensors: Vec<Tensor>, nodes: Vec<Node>) -> Graph {
        Graph {
            source: "t.tflite".into(),
            source_sha256: [0; 32],
            tensors,
            nodes,
            inputs: vec![0],
            outputs: vec![],
            folded: vec![],
        }
    }

    fn node(op: Op, inputs: Vec<usize>, output: usize) -> Node {
        Node {
            index: 7,
            op,
            inputs,
            outputs: vec![output],
        }
    }

    #[test]
    fn work_counts_products_and_elements_by_hand() {
        // 4x4x8 input, 3x3 conv to 16 channels on a 2x2 output: 2*2*16 outputs x 72 taps.
        let conv = crate::Conv2d {
            stride: [2, 2],
            dilation: [1, 1],
            padding: Padding::Valid,
            activation: Activation::None,
        };
        let g = graph(
            vec![
                tensor(&[1, 4, 4, 8], false),
                tensor(&[16, 3, 3, 8], true),
                tensor(&[1, 2, 2, 16], false),
                tensor(&[1, 1, 1, 16], false),
                tensor(&[1, 2, 2, 16], false),
            ],
            vec![],
        );
        let w = work(&g, &node(Op::Conv2d(conv), vec![0, 1], 2));
        assert_eq!(w, (WorkUnit::Mac, 64 * 72));
        // A 2x2 average pool to 1x1x16: 16 outputs x 4 taps.
        let pool = Pool2d {
            filter: [2, 2],
            stride: [1, 1],
            padding: Padding::Valid,
            activation: Activation::None,
        };
        let w = work(&g, &node(Op::AveragePool2d(pool), vec![2], 3));
        assert_eq!(w, (WorkUnit::Mac, 64));
        // MEAN reads 64 elements and writes 16: the larger counts; a constant input does not.
        let mean = Op::Mean {
            axes: vec![1, 2],
            keep_dims: true,
        };
        let w = work(&g, &node(mean, vec![2, 1], 3));
        assert_eq!(w, (WorkUnit::Element, 64));
        let add = Op::Add {
            activation: Activation::None,
        };
        assert_eq!(work(&g, &node(add, vec![2, 4], 4)).1, 64);
    }

    fn model_with(key: &str, unit: WorkUnit, rate: f64) -> A53Model {
        A53Model {
            format: A53_MODEL_FORMAT,
            method: "test".into(),
            clock_hz: 1e9,
            ipc: [0.5, 1.0, 2.0],
            sources: vec![],
            stages: StageInstructions {
                decode: vec![],
                instance: "x".into(),
                head: 0.0,
                tail: 0.0,
            },
            dma_copy_instructions_per_byte: 0.5,
            ops: BTreeMap::from([(
                key.to_string(),
                OpRate {
                    unit,
                    instructions_per_unit: rate,
                    nodes: 1,
                    work: 1,
                    models: vec![],
                },
            )]),
        }
    }

    #[test]
    fn ops_cost_sums_rates_and_names_what_no_rate_covers() {
        let g = graph(
            vec![tensor(&[1, 1001], false), tensor(&[1, 1001], false)],
            vec![
                node(Op::Reshape, vec![0], 1),
                node(Op::Softmax { beta: 1.0 }, vec![1], 0),
            ],
        );
        let side = HostSide {
            ops: g.nodes.iter().map(|n| HostOp::of(&g, n)).collect(),
            dma_bytes: 1001,
        };
        let m = model_with("SOFTMAX int8", WorkUnit::Element, 10.0);
        let cost = m.cost(&side);
        // 1001 x 10 for the softmax, 1001 x 0.5 for the copies.
        assert_eq!(cost.instructions, 10_510.5);
        assert_eq!(cost.unmodelled, ["#7 RESHAPE int8"]);
        // 10,510.5 instructions at 1 GHz and IPC 1: 10.5105 us.
        assert!((m.ms(cost.instructions, 1.0) - 0.010_510_5).abs() < 1e-12);
        // A rate per a different unit is no rate for this node.
        let m = model_with("SOFTMAX int8", WorkUnit::Mac, 10.0);
        assert_eq!(m.cost(&side).unmodelled.len(), 2);
    }

    #[test]
    fn a_bad_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a53.json");
        std::fs::write(&path, "{\"format\": 1}").unwrap();
        let err = A53Model::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("a53.json") && err.contains("format 2"),
            "{err}"
        );
        let mut m = model_with("X int8", WorkUnit::Element, 1.0);
        m.ipc = [1.2, 0.8, 0.5];
        std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        let err = A53Model::load(&path).unwrap_err().to_string();
        assert!(err.contains("not ascending"), "{err}");
    }
}
