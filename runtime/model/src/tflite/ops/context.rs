//! What every operator's import reads and checks: its operands, options and the helpers that
//! turn a failed check into an error naming the file, the operator's index and its name.

use super::super::schema::{self, ActivationFunctionType};
use super::super::{ImportError, Importer, RawOp, Result};
use crate::error::ModelError;
use crate::ir::{Activation, DType, Graph, Padding, Tensor, TensorId};

/// One operator being imported: the importer (for the file's path), the graph built so far
/// (its tensors) and the operator as read from the file.
pub(in crate::tflite) struct OpValidator<'v, 'a> {
    pub(in crate::tflite) imp: &'v Importer,
    pub(in crate::tflite) g: &'v Graph,
    pub(in crate::tflite) op: &'v RawOp<'a>,
}

impl OpValidator<'_, '_> {
    /// An error about this operator.
    pub(super) fn err(&self, detail: impl Into<String>) -> ImportError {
        self.imp.op_error(self.op, detail)
    }

    /// Its input `i`, which must be present.
    pub(super) fn input(&self, i: usize) -> Result<TensorId> {
        self.op
            .input(i)
            .ok_or_else(|| self.err(format!("input {i} is missing")))
    }

    /// Its single output.
    pub(super) fn output(&self) -> Result<&Tensor> {
        Ok(self.g.tensor(self.output_id()?))
    }

    /// The id of its single output.
    pub(super) fn output_id(&self) -> Result<TensorId> {
        match self.op.outputs.as_slice() {
            &[o] => Ok(o),
            other => Err(self.err(format!("has {} outputs, expected 1", other.len()))),
        }
    }

    /// Checks its number of inputs.
    pub(super) fn arity(&self, allowed: std::ops::RangeInclusive<usize>) -> Result<()> {
        if allowed.contains(&self.op.inputs.len()) {
            Ok(())
        } else {
            Err(self.err(format!(
                "has {} inputs, expected {}..={}",
                self.op.inputs.len(),
                allowed.start(),
                allowed.end()
            )))
        }
    }

    /// The two operands and the output of an elementwise operator (ADD, MUL): 8-bit
    /// quantized activations of one type.
    pub(super) fn elementwise_operands(&self) -> Result<[&Tensor; 3]> {
        self.arity(2..=2)?;
        let a = self.activation_tensor(self.input(0)?, "input 0")?;
        let b = self.activation_tensor(self.input(1)?, "input 1")?;
        let out = self.activation_tensor(self.output_id()?, "output")?;
        self.check(a.check_same_dtype(b))?;
        self.check(a.check_same_dtype(out))?;
        Ok([a, b, out])
    }

    /// An 8-bit quantized activation, per-tensor; float means a float model.
    pub(super) fn activation_tensor(&self, id: TensorId, role: &str) -> Result<&Tensor> {
        let t = self.g.tensor(id);
        if t.dtype == DType::Float32 {
            return Err(ModelError::NotQuantized {
                path: self.imp.path.clone(),
                op_index: self.op.index,
                op: self.op.name.clone(),
                dtype: t.dtype.to_string(),
            }
            .into());
        }
        t.activation_quant(role).map_err(|e| self.err(e))?;
        Ok(t)
    }

    /// Its 8-bit activation input 0 and output, of one type.
    pub(super) fn activation_pair(&self) -> Result<(&Tensor, &Tensor)> {
        let input = self.activation_tensor(self.input(0)?, "input")?;
        let output = self.activation_tensor(self.output_id()?, "output")?;
        self.check(input.check_same_dtype(output))?;
        Ok((input, output))
    }

    /// The feature maps of a sliding-window operator: its activation input and output of
    /// one type, and the input's NHWC dimensions.
    pub(super) fn feature_maps(&self) -> Result<(&Tensor, &Tensor, [usize; 4])> {
        let (input, output) = self.activation_pair()?;
        Ok((input, output, self.check(input.nhwc())?))
    }

    /// Turns a shared operand check's reason into this operator's error.
    pub(super) fn check<T>(&self, checked: std::result::Result<T, String>) -> Result<T> {
        checked.map_err(|detail| self.err(detail))
    }

    /// A constant operand playing `role`.
    pub(super) fn constant(&self, id: TensorId, role: &str) -> Result<&Tensor> {
        let t = self.g.tensor(id);
        self.check(t.constant_data(role))?;
        Ok(t)
    }

    /// The values of an int32/int64 constant (axes, shapes).
    pub(super) fn int_values(&self, id: TensorId, what: &str) -> Result<Vec<i64>> {
        let t = self.constant(id, what)?;
        t.data_ints().ok_or_else(|| {
            self.err(format!(
                "{what} '{}' is {}, expected int32",
                t.name, t.dtype
            ))
        })
    }

    /// A possibly negative axis of a rank-`rank` tensor, as a dimension index.
    pub(super) fn normalize_axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        if (-r..r).contains(&axis) {
            Ok(axis.rem_euclid(r) as usize)
        } else {
            Err(self.err(format!("axis {axis} out of range for rank {rank}")))
        }
    }

    /// A fused activation fibha applies as a clamp.
    pub(super) fn fused(&self, f: ActivationFunctionType) -> Result<Activation> {
        match f {
            ActivationFunctionType::None => Ok(Activation::None),
            ActivationFunctionType::Relu => Ok(Activation::Relu),
            ActivationFunctionType::Relu6 => Ok(Activation::Relu6),
            other => Err(self.err(format!(
                "fused activation {other:?} is not supported (NONE, RELU, RELU6 are)"
            ))),
        }
    }

    /// A (height, width) pair of positive option values, such as strides.
    pub(super) fn pair(&self, h: i32, w: i32, what: &str) -> Result<[usize; 2]> {
        Ok([
            self.positive(h, &format!("{what} height"))?,
            self.positive(w, &format!("{what} width"))?,
        ])
    }

    fn positive(&self, v: i32, what: &str) -> Result<usize> {
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| self.err(format!("{what} is {v}, expected a positive number")))
    }

    /// The IR's name for a padding scheme.
    pub(super) fn padding(p: schema::Padding) -> Padding {
        match p {
            schema::Padding::Same => Padding::Same,
            schema::Padding::Valid => Padding::Valid,
        }
    }

    /// Filter and bias of a convolution: 8-bit filter of the input's type, int32 bias of
    /// `channels` values, per-channel filter scales along `axis` of length `channels`.
    pub(super) fn weights(
        &self,
        input: &Tensor,
        channels: usize,
        axis: usize,
    ) -> Result<Vec<TensorId>> {
        let filter_id = self.input(1)?;
        let filter = self.constant(filter_id, "filter")?;
        self.check(input.check_same_dtype(filter))?;
        self.check(filter.filter_quant(channels, axis))?;
        let mut ids = vec![self.input(0)?, filter_id];
        if let Some(Some(bias_id)) = self.op.inputs.get(2) {
            self.check(self.g.tensor(*bias_id).bias_values(channels))?;
            ids.push(*bias_id);
        }
        Ok(ids)
    }
}

/// Output height and width of a sliding window over an `[h, w]` input.
pub(super) fn output_hw(
    padding: Padding,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> [usize; 2] {
    [0, 1].map(|d| {
        padding
            .output_and_pad(input[d], kernel[d], stride[d], dilation[d])
            .0
    })
}
