//! The graph IR: what fibha knows about a quantized CNN.
//!
//! Invariants established by the importer and relied on by every consumer:
//! - nodes are in execution order, and every node input is a constant, a graph input or
//!   the output of an earlier node;
//! - every activation tensor of a compute operator is int8 or uint8 and carries its
//!   quantization; per-channel quantization is only on constant filters;
//! - shapes are NHWC (feature maps) or `[out, in]` (fully-connected weights), and every
//!   node's output shape is the one its inputs and options imply;
//! - every graph output is int8, uint8 or float32 ([`Graph::check_outputs`]).
//!
//! The operand checks both the importer and the CPU engine make (element types, ranks,
//! constants, quantization) are written once, as methods of [`Tensor`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Index of a tensor: the tensor's index in the TFLite subgraph it came from.
pub type TensorId = usize;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Signed 8-bit integer (activations and per-channel weights).
    Int8,
    /// Unsigned 8-bit integer (per-tensor quantized models, image inputs).
    UInt8,
    /// Signed 32-bit integer (biases, shape and axis tensors).
    Int32,
    /// Signed 64-bit integer (shape tensors of some converters).
    Int64,
    /// 32-bit float (model edges only: QUANTIZE inputs, DEQUANTIZE outputs).
    Float32,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Int8 | DType::UInt8 => 1,
            DType::Int32 | DType::Float32 => 4,
            DType::Int64 => 8,
        }
    }

    /// Whether this is one of the two 8-bit quantized types.
    pub fn is_quantized_8bit(self) -> bool {
        matches!(self, DType::Int8 | DType::UInt8)
    }

    /// What the accelerator stores for an 8-bit value of this type: the value minus this
    /// offset (128 for uint8, whose 0..255 become the signed bytes -128..127; 0 for int8).
    /// Every difference of two values of one tensor, and so all of TFLite's integer
    /// arithmetic on them, is unchanged by it.
    pub fn stored_offset(self) -> i32 {
        match self {
            DType::UInt8 => 128,
            _ => 0,
        }
    }

    /// Copies 8-bit values of this type into the accelerator's form, or back: for uint8
    /// the top bit flips (adding and subtracting 128 agree modulo 256), other types copy.
    /// The slices have one length.
    pub fn copy_stored(self, from: &[u8], to: &mut [u8]) {
        let flip = if self == DType::UInt8 { 0x80 } else { 0 };
        for (t, f) in to.iter_mut().zip(from) {
            *t = f ^ flip;
        }
    }

    /// Copies a map the accelerator wrote into a tensor's bytes like [`DType::copy_stored`],
    /// pixel by pixel: `to` holds pixels of `channels` bytes, `from` the same pixels at a
    /// stride of `from.len() / pixels` bytes (whole 16-channel words after the SEML part,
    /// whose lanes past the channels are dropped).
    pub fn copy_stored_map(self, from: &[u8], to: &mut [u8], channels: usize) {
        let pixels = to.len() / channels.max(1);
        let stride = from.len() / pixels.max(1);
        for (t, f) in to
            .chunks_mut(channels.max(1))
            .zip(from.chunks(stride.max(1)))
        {
            self.copy_stored(&f[..channels.min(f.len())], t);
        }
    }

    /// The smallest and largest value of an 8-bit type.
    pub fn range_8bit(self) -> Option<(i32, i32)> {
        match self {
            DType::Int8 => Some((-128, 127)),
            DType::UInt8 => Some((0, 255)),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Float32 => "float32",
        })
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`.
///
/// Per-tensor quantization has one scale and one zero point; per-channel quantization
/// (constant filters only) has one of each per index of dimension `axis`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantization {
    /// One scale per channel, or a single one.
    pub scales: Vec<f32>,
    /// One zero point per channel, or a single one.
    pub zero_points: Vec<i32>,
    /// The quantized dimension for per-channel quantization.
    pub axis: usize,
}

impl Quantization {
    /// The scale of a per-tensor quantized tensor (the first scale otherwise).
    pub fn scale(&self) -> f32 {
        self.scales[0]
    }

    /// The zero point of a per-tensor quantized tensor (the first one otherwise).
    pub fn zero_point(&self) -> i32 {
        self.zero_points[0]
    }

    /// Whether there is more than one scale.
    pub fn is_per_channel(&self) -> bool {
        self.scales.len() > 1
    }

    /// The scale of channel `c`, for per-tensor and per-channel quantization alike.
    pub fn scale_of(&self, c: usize) -> f32 {
        if self.is_per_channel() {
            self.scales[c]
        } else {
            self.scales[0]
        }
    }
}

/// A tensor: an activation (no data) or a constant (weights, bias, shape).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The name the converter gave it.
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Quantization parameters, where the tensor has them.
    pub quant: Option<Quantization>,
    /// Little-endian element bytes of a constant tensor.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes.
    pub fn byte_len(&self) -> usize {
        self.len() * self.dtype.size()
    }

    /// The per-tensor quantization of an activation (importer guarantees it on 8-bit tensors).
    pub fn q(&self) -> &Quantization {
        self.quant
            .as_ref()
            .expect("importer guarantees quantization on 8-bit tensors")
    }

    /// Constant data as signed bytes.
    pub fn data_i8(&self) -> Option<Vec<i8>> {
        self.data
            .as_ref()
            .map(|d| d.iter().map(|&b| b as i8).collect())
    }

    /// Constant data as 32-bit integers.
    pub fn data_i32(&self) -> Option<Vec<i32>> {
        self.data.as_ref().map(|d| {
            d.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }

    /// Constant data of an int32 or int64 tensor (shapes, axes), widened; `None` for a
    /// tensor computed at run time or of another type.
    pub fn data_ints(&self) -> Option<Vec<i64>> {
        let data = self.data.as_ref()?;
        match self.dtype {
            DType::Int32 => Some(self.data_i32()?.into_iter().map(i64::from).collect()),
            DType::Int64 => Some(
                data.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8")))
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Operand checks shared by the TFLite importer and the CPU engine, so that both refuse the
/// same things in the same words. Each returns the reason as a sentence; the caller wraps it
/// in its own error, which names the file or node and the operator.
impl Tensor {
    /// Checks that `other` has this tensor's element type.
    pub fn check_same_dtype(&self, other: &Tensor) -> Result<(), String> {
        if self.dtype == other.dtype {
            Ok(())
        } else {
            Err(format!(
                "'{}' is {} but '{}' is {}",
                self.name, self.dtype, other.name, other.dtype
            ))
        }
    }

    /// Checks that the tensor has the shape `expected` that its operator's inputs imply.
    pub fn check_shape(&self, expected: &[usize]) -> Result<(), String> {
        if self.shape == expected {
            Ok(())
        } else {
            Err(format!(
                "'{}' has shape {:?}, its inputs imply {:?}",
                self.name, self.shape, expected
            ))
        }
    }

    /// The dimensions of a rank-4 (NHWC feature map or convolution filter) tensor.
    pub fn nhwc(&self) -> Result<[usize; 4], String> {
        <[usize; 4]>::try_from(self.shape.as_slice())
            .map_err(|_| format!("'{}' has shape {:?}, expected NHWC", self.name, self.shape))
    }

    /// The shape of an elementwise operation of this tensor and `other` with TFLite's
    /// (NumPy's) broadcasting: shapes aligned at their last dimension, each pair of
    /// dimensions equal or one of them 1; at most [`MAX_BROADCAST_RANK`] dimensions, as
    /// TFLite's broadcasting kernels take.
    pub fn broadcast_shape(&self, other: &Tensor) -> Result<Vec<usize>, String> {
        let (a, b) = (&self.shape, &other.shape);
        let rank = a.len().max(b.len());
        if rank > MAX_BROADCAST_RANK {
            return Err(format!(
                "'{}' {a:?} and '{}' {b:?} have more than {MAX_BROADCAST_RANK} dimensions",
                self.name, other.name
            ));
        }
        // Missing leading dimensions count as 1.
        let dim = |s: &[usize], d: usize| (d + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
        (0..rank)
            .map(|d| match (dim(a, d), dim(b, d)) {
                (x, y) if x == y || y == 1 => Ok(x),
                (1, y) => Ok(y),
                (x, y) => Err(format!(
                    "'{}' {a:?} and '{}' {b:?} do not broadcast: dimension {d} is {x} and {y}",
                    self.name, other.name
                )),
            })
            .collect()
    }

    /// Checks that the tensor has the fixed output scale `expected` that TFLite's kernel of
    /// its operator writes (`why` says which).
    pub fn check_fixed_scale(&self, expected: f32, why: &str) -> Result<(), String> {
        match &self.quant {
            Some(q) if q.scale() == expected => Ok(()),
            Some(q) => Err(format!(
                "'{}' has scale {}; {why} requires {expected}",
                self.name,
                q.scale()
            )),
            None => Err(format!("'{}' has no quantization parameters", self.name)),
        }
    }

    /// The data of a constant operand playing `role` (filter, bias, axis).
    pub fn constant_data(&self, role: &str) -> Result<&[u8], String> {
        self.data.as_deref().ok_or_else(|| {
            format!(
                "{role} '{}' is computed at run time; fibha needs it constant",
                self.name
            )
        })
    }

    /// `(scale, zero_point)` of an 8-bit activation quantized per tensor with a positive
    /// scale, the only activations fibha's kernels compute on.
    pub fn activation_quant(&self, role: &str) -> Result<(f32, i32), String> {
        let name = &self.name;
        if !self.dtype.is_quantized_8bit() {
            return Err(format!(
                "{role} '{name}' is {}, expected int8 or uint8",
                self.dtype
            ));
        }
        match &self.quant {
            None => Err(format!("{role} '{name}' has no quantization parameters")),
            Some(q) if q.is_per_channel() => Err(format!(
                "{role} '{name}' is quantized per channel; activations must be per-tensor"
            )),
            Some(q) if !(q.scale().is_finite() && q.scale() > 0.0) => Err(format!(
                "{role} '{name}' has quantization scale {}, not a positive number",
                q.scale()
            )),
            Some(q) => Ok((q.scale(), q.zero_point())),
        }
    }

    /// The quantization of a constant filter (or fully-connected weights) with `channels`
    /// output channels along dimension `axis`: per tensor, or per channel along `axis` with
    /// zero zero points, as TFLite's kernels require.
    pub fn filter_quant(&self, channels: usize, axis: usize) -> Result<&Quantization, String> {
        let name = &self.name;
        let q = self
            .quant
            .as_ref()
            .ok_or_else(|| format!("filter '{name}' has no quantization"))?;
        if q.is_per_channel() && (q.axis != axis || q.scales.len() != channels) {
            return Err(format!(
                "filter '{name}' has {} scales on dimension {}, expected {channels} on dimension {axis}",
                q.scales.len(),
                q.axis
            ));
        }
        if q.is_per_channel() && q.zero_points.iter().any(|&z| z != 0) {
            return Err(format!(
                "filter '{name}' is per-channel with non-zero zero points"
            ));
        }
        if let Some(s) = q.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!(
                "filter '{name}' has quantization scale {s}, not a positive number"
            ));
        }
        Ok(q)
    }

    /// The values of a constant int32 bias of `channels` values.
    pub fn bias_values(&self, channels: usize) -> Result<Vec<i32>, String> {
        self.constant_data("bias")?;
        match self.data_i32() {
            Some(v) if self.dtype == DType::Int32 && v.len() == channels => Ok(v),
            _ => Err(format!(
                "bias '{}' is {} {:?}, expected int32 [{channels}]",
                self.name, self.dtype, self.shape
            )),
        }
    }
}

/// The most dimensions an elementwise operator with broadcasting takes (TFLite's
/// `BroadcastMul6DSlow`).
pub const MAX_BROADCAST_RANK: usize = 6;

/// The output scale TFLite's 8-bit LOGISTIC requires (its `SigmoidPrepare`) and writes.
pub const LOGISTIC_OUTPUT_SCALE: f32 = 1.0 / 256.0;

/// A fused activation, applied as a clamp in the quantized domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// No clamp beyond the type's range.
    None,
    /// Clamp below at real 0.
    Relu,
    /// Clamp to real [0, 6].
    Relu6,
}

/// TFLite's padding schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Output size `ceil(in / stride)`, zero-point padding split with the extra on the end.
    Same,
    /// No padding: output size `ceil((in - effective_k + 1) / stride)`.
    Valid,
}

impl Padding {
    /// Output size along one dimension, and the padding before the first element.
    pub fn output_and_pad(
        self,
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> (usize, usize) {
        let effective = (kernel - 1) * dilation + 1;
        let out = match self {
            Padding::Same => input.div_ceil(stride),
            Padding::Valid => (input + stride).saturating_sub(effective) / stride,
        };
        let needed = ((out.saturating_sub(1)) * stride + effective).saturating_sub(input);
        (out, needed / 2)
    }
}

/// Options of a standard 2-D convolution (`[out_c, kh, kw, in_c]` filters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Dilation along height and width.
    pub dilation: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
}

/// Options of a depthwise convolution (`[1, kh, kw, in_c * multiplier]` filters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthwiseConv2d {
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Dilation along height and width.
    pub dilation: [usize; 2],
    /// Padding scheme.
    pub padding: Padding,
    /// Output channels per input channel.
    pub depth_multiplier: usize,
    /// Fused activation.
    pub activation: Activation,
}

/// Options of average and max pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2d {
    /// Window height and width.
    pub filter: [usize; 2],
    /// Stride along height and width.
    pub stride: [usize; 2],
    /// Padding scheme (padded cells are left out of the window, not zero-filled).
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
}

/// An operator with its options. Constant operands (filters, biases) stay node inputs;
/// constant parameters (axes, paddings) are folded into the options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// CONV_2D: inputs `[input, filter, bias]`.
    Conv2d(Conv2d),
    /// DEPTHWISE_CONV_2D: inputs `[input, filter, bias]`.
    DepthwiseConv2d(DepthwiseConv2d),
    /// ADD of two tensors of the same shape.
    Add {
        /// Fused activation.
        activation: Activation,
    },
    /// MUL of two tensors, one of them broadcast (NumPy's rules) or both of one shape.
    Mul {
        /// Fused activation.
        activation: Activation,
    },
    /// LOGISTIC (sigmoid), into TFLite's fixed output scale 1/256.
    Logistic,
    /// HARD_SWISH: `x * relu6(x + 3) / 6`.
    HardSwish,
    /// MEAN over `axes`.
    Mean {
        /// The reduced dimensions, ascending.
        axes: Vec<usize>,
        /// Whether reduced dimensions stay as size 1.
        keep_dims: bool,
    },
    /// AVERAGE_POOL_2D.
    AveragePool2d(Pool2d),
    /// MAX_POOL_2D.
    MaxPool2d(Pool2d),
    /// FULLY_CONNECTED: inputs `[input, weights, bias]`.
    FullyConnected {
        /// Fused activation.
        activation: Activation,
    },
    /// RESHAPE (data unchanged).
    Reshape,
    /// SOFTMAX over the last dimension.
    Softmax {
        /// Multiplier of the logits.
        beta: f32,
    },
    /// QUANTIZE: float to 8-bit, or 8-bit to 8-bit requantization.
    Quantize,
    /// DEQUANTIZE: 8-bit to float.
    Dequantize,
    /// PAD with the zero point.
    Pad {
        /// Elements added before and after, per dimension.
        paddings: Vec<[usize; 2]>,
    },
    /// CONCATENATION along `axis`.
    Concatenation {
        /// The joined dimension.
        axis: usize,
        /// Fused activation.
        activation: Activation,
    },
}

impl Op {
    /// The operator's TFLite name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "CONV_2D",
            Op::DepthwiseConv2d(_) => "DEPTHWISE_CONV_2D",
            Op::Add { .. } => "ADD",
            Op::Mul { .. } => "MUL",
            Op::Logistic => "LOGISTIC",
            Op::HardSwish => "HARD_SWISH",
            Op::Mean { .. } => "MEAN",
            Op::AveragePool2d(_) => "AVERAGE_POOL_2D",
            Op::MaxPool2d(_) => "MAX_POOL_2D",
            Op::FullyConnected { .. } => "FULLY_CONNECTED",
            Op::Reshape => "RESHAPE",
            Op::Softmax { .. } => "SOFTMAX",
            Op::Quantize => "QUANTIZE",
            Op::Dequantize => "DEQUANTIZE",
            Op::Pad { .. } => "PAD",
            Op::Concatenation { .. } => "CONCATENATION",
        }
    }
}

/// One operator application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operator's index in the TFLite subgraph.
    pub index: usize,
    /// What it computes.
    pub op: Op,
    /// Input tensors, in TFLite's order (constant parameters folded into `op` are dropped).
    pub inputs: Vec<TensorId>,
    /// Output tensors.
    pub outputs: Vec<TensorId>,
}

/// A quantized CNN ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Where the model came from (file name).
    pub source: String,
    /// SHA-256 of the model file.
    pub source_sha256: [u8; 32],
    /// All tensors, indexed by [`TensorId`].
    pub tensors: Vec<Tensor>,
    /// Operators in execution order.
    pub nodes: Vec<Node>,
    /// The graph's input tensors.
    pub inputs: Vec<TensorId>,
    /// The graph's output tensors.
    pub outputs: Vec<TensorId>,
    /// Operators of the file evaluated at import instead of run (shape arithmetic on
    /// static shapes), in file order.
    pub folded: Vec<FoldedOp>,
}

/// An operator of the model file that fibha evaluated when it read the model (its output
/// became a constant) instead of placing it in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldedOp {
    /// Its index in the file's subgraph.
    pub index: usize,
    /// Its TFLite name.
    pub op: String,
}

impl Graph {
    /// The tensor with id `id`.
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id]
    }

    /// The single input tensor of an image classifier.
    pub fn input(&self) -> &Tensor {
        self.tensor(self.inputs[0])
    }

    /// The single output tensor of an image classifier.
    pub fn output(&self) -> &Tensor {
        self.tensor(self.outputs[0])
    }

    /// Checks that every graph output is an 8-bit or float32 tensor, the types fibha's
    /// backends write and its commands read; the reason names the first that is not.
    pub fn check_outputs(&self) -> Result<(), String> {
        for &id in &self.outputs {
            let t = self.tensors.get(id).ok_or_else(|| {
                format!(
                    "graph output tensor #{id} does not exist (the graph has {})",
                    self.tensors.len()
                )
            })?;
            if !(t.dtype.is_quantized_8bit() || t.dtype == DType::Float32) {
                return Err(format!(
                    "graph output tensor #{id} '{}' is {}; fibha's models end in an int8, uint8 or float32 tensor",
                    t.name, t.dtype
                ));
            }
        }
        Ok(())
    }

    /// The model file's SHA-256 as lowercase hex.
    pub fn source_sha256_hex(&self) -> String {
        self.source_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tflite_for_mobilenet_first_layer() {
        // 224 input, 3x3 kernel, stride 2: TFLite pads 0 before and 1 after, output 112.
        assert_eq!(Padding::Same.output_and_pad(224, 3, 2, 1), (112, 0));
        // 112 input, 3x3, stride 1: one row on each side.
        assert_eq!(Padding::Same.output_and_pad(112, 3, 1, 1), (112, 1));
        // 5x5 kernel, stride 2 on 14: out 7, total padding 3, one before.
        assert_eq!(Padding::Same.output_and_pad(14, 5, 2, 1), (7, 1));
    }

    #[test]
    fn valid_padding_shrinks_by_the_kernel() {
        assert_eq!(Padding::Valid.output_and_pad(7, 7, 2, 1), (1, 0));
        assert_eq!(Padding::Valid.output_and_pad(10, 3, 1, 1), (8, 0));
        assert_eq!(Padding::Valid.output_and_pad(10, 3, 2, 2), (3, 0));
    }
}
