//! Each operator's preparation and execution in the CPU engine, one module per operator.
//!
//! An operator's module turns a graph node into a [`Prepared`] kernel: it checks the node's
//! operands (with the operand checks the importer makes too, in [`fibha_model::Tensor`]),
//! derives its integer parameters from the model's scales as TFLite's `Prepare` functions
//! do, packs its weights, and runs it on the arena's buffers without allocating.
//! [`prepare`] is the one dispatch from an IR operator to its module.

mod add;
mod concatenation;
mod conv2d;
mod depthwise;
mod dequantize;
mod fully_connected;
mod hard_swish;
mod layer;
mod logistic;
mod mean;
mod mul;
mod pad;
mod pool;
mod quantize;
mod reshape;
mod softmax;

use std::fmt::Debug;

use fibha_model::{Activation, Graph, Node, Op, Tensor, TensorId};

use crate::arena::{Buffer, Element, Io, mismatch};
use crate::conv::{Scratch, ScratchNeed};
use crate::error::KernelError;
use crate::quant::activation_range_for;

/// A node ready to run: parameters derived and weights packed at preparation.
pub(crate) trait Prepared: Debug + Send + Sync {
    /// Runs the node on its step's buffers; allocates nothing.
    fn execute(&self, io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError>;

    /// The scratch space it needs, reserved once for the whole graph.
    fn scratch_need(&self) -> ScratchNeed {
        ScratchNeed::default()
    }
}

/// A prepared node whose inputs and output all have one 8-bit type, run for either.
pub(crate) trait EightBit: Debug + Send + Sync {
    /// Runs the node on elements of type `T`.
    fn run<T: Element>(&self, io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError>;

    /// The scratch space it needs.
    fn scratch_need(&self) -> ScratchNeed {
        ScratchNeed::default()
    }
}

impl<K: EightBit> Prepared for K {
    fn execute(&self, mut io: Io<'_>, scratch: &mut Scratch) -> Result<(), KernelError> {
        match io.output() {
            Buffer::I8(_) => self.run::<i8>(io, scratch),
            Buffer::U8(_) => self.run::<u8>(io, scratch),
            _ => Err(mismatch()),
        }
    }

    fn scratch_need(&self) -> ScratchNeed {
        EightBit::scratch_need(self)
    }
}

/// A prepared node and the tensors it reads at run time (weights consumed at preparation
/// are not among them).
pub(crate) type Preparation = (Box<dyn Prepared>, Vec<TensorId>);

/// Derives node `index`'s kernel with its operator's module.
pub(crate) fn prepare(
    graph: &Graph,
    index: usize,
    node: &Node,
) -> Result<Preparation, KernelError> {
    let p = Prep { graph, index, node };
    match &node.op {
        Op::Conv2d(o) => conv2d::prepare(&p, o),
        Op::DepthwiseConv2d(o) => depthwise::prepare(&p, o),
        Op::FullyConnected { activation } => fully_connected::prepare(&p, *activation),
        Op::Add { activation } => add::prepare(&p, *activation),
        Op::Mul { activation } => mul::prepare(&p, *activation),
        Op::Logistic => logistic::prepare(&p),
        Op::HardSwish => hard_swish::prepare(&p),
        Op::Mean { axes, .. } => mean::prepare(&p, axes),
        Op::AveragePool2d(o) => pool::prepare(&p, o, crate::pool::PoolKind::Average),
        Op::MaxPool2d(o) => pool::prepare(&p, o, crate::pool::PoolKind::Max),
        Op::Softmax { beta } => softmax::prepare(&p, *beta),
        Op::Reshape => reshape::prepare(&p),
        Op::Quantize => quantize::prepare(&p),
        Op::Dequantize => dequantize::prepare(&p),
        Op::Pad { paddings } => pad::prepare(&p, paddings),
        Op::Concatenation { axis, activation } => concatenation::prepare(&p, *axis, *activation),
    }
}

/// One node being prepared, with errors naming the node.
pub(crate) struct Prep<'g> {
    graph: &'g Graph,
    index: usize,
    node: &'g Node,
}

impl<'g> Prep<'g> {
    /// An error about this node.
    fn err(&self, detail: impl Into<String>) -> KernelError {
        KernelError::Unsupported {
            node: self.index,
            op: self.node.op.name(),
            detail: detail.into(),
        }
    }

    /// Turns a shared operand check's reason into this node's error.
    fn check<T>(&self, checked: Result<T, String>) -> Result<T, KernelError> {
        checked.map_err(|detail| self.err(detail))
    }

    fn tensor(&self, id: TensorId) -> Result<&'g Tensor, KernelError> {
        self.graph.tensors.get(id).ok_or_else(|| {
            self.err(format!(
                "tensor #{id} does not exist (the graph has {})",
                self.graph.tensors.len()
            ))
        })
    }

    /// The id of its input `k`.
    fn input_id(&self, k: usize) -> Result<TensorId, KernelError> {
        self.node
            .inputs
            .get(k)
            .copied()
            .ok_or_else(|| self.err(format!("input {k} is missing")))
    }

    /// Its input `k`.
    fn input(&self, k: usize) -> Result<&'g Tensor, KernelError> {
        self.tensor(self.input_id(k)?)
    }

    /// Its first input alone, the run-time input of most operators.
    fn first(&self) -> Result<Vec<TensorId>, KernelError> {
        Ok(vec![self.input_id(0)?])
    }

    /// Its single output.
    fn output(&self) -> Result<&'g Tensor, KernelError> {
        match self.node.outputs.as_slice() {
            &[id] => self.tensor(id),
            other => Err(self.err(format!("has {} outputs, expected 1", other.len()))),
        }
    }

    /// `(scale, zero_point)` of a per-tensor quantized 8-bit tensor playing `role`.
    fn quant(&self, t: &Tensor, role: &str) -> Result<(f32, i32), KernelError> {
        self.check(t.activation_quant(role))
    }

    /// The clamp of a fused activation on 8-bit output `out`.
    fn range(&self, activation: Activation, out: &Tensor) -> Result<(i32, i32), KernelError> {
        let (scale, zero_point) = self.quant(out, "output")?;
        let bounds = out
            .dtype
            .range_8bit()
            .ok_or_else(|| self.err("output is not 8-bit"))?;
        Ok(activation_range_for(activation, bounds, scale, zero_point))
    }
}
