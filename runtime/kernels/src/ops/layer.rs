//! What CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED share: checked operands and
//! geometry, and the quantization of a layer with a constant filter (offsets, per-channel
//! multipliers, bias and clamp fused into one output stage).

use fibha_model::{Activation, DType, Op, Padding, Tensor};

use super::Prep;
use crate::conv::{ConvOffsets, ConvShape};
use crate::error::KernelError;
use crate::quant::{
    OutputStage, QuantizedMultiplier, per_channel_conv_multiplier, per_tensor_conv_multiplier,
};

/// A convolution node's operand tensors and the dimensions of the rank-4 ones.
pub(super) struct ConvOperands<'g> {
    pub(super) input: &'g Tensor,
    pub(super) filter: &'g Tensor,
    pub(super) output: &'g Tensor,
    pub(super) input_dims: [usize; 4],
    pub(super) filter_dims: [usize; 4],
}

/// What a convolution kernel is built from, checked against the node.
pub(super) struct ConvLayer<'g> {
    pub(super) shape: ConvShape,
    pub(super) offsets: ConvOffsets,
    pub(super) stage: OutputStage,
    pub(super) filter: &'g [u8],
}

/// A layer's filter: its tensor, its output channels and the dimension its per-channel
/// scales run along.
pub(super) struct Filter<'g> {
    pub(super) tensor: &'g Tensor,
    pub(super) channels: usize,
    pub(super) axis: usize,
}

impl<'g> Prep<'g> {
    /// The operands of a (depthwise) convolution: input, filter and output of one type,
    /// input and filter of rank 4.
    pub(super) fn conv_operands(&self) -> Result<ConvOperands<'g>, KernelError> {
        let (input, filter, output) = (self.input(0)?, self.input(1)?, self.output()?);
        self.check(input.check_same_dtype(filter))?;
        self.check(input.check_same_dtype(output))?;
        Ok(ConvOperands {
            input,
            filter,
            output,
            input_dims: self.check(input.nhwc())?,
            filter_dims: self.check(filter.nhwc())?,
        })
    }

    /// The checked geometry, quantization and filter bytes of a (depthwise) convolution
    /// with `kernel` window, `oc` output channels and per-channel scales along `axis`;
    /// int8 layers use TFLite's per-channel formula (see [`Prep::layer_quant`]).
    pub(super) fn conv_layer(
        &self,
        ops: &ConvOperands<'g>,
        kernel: [usize; 2],
        (oc, axis): (usize, usize),
        (stride, dilation, padding): ([usize; 2], [usize; 2], Padding),
        activation: Activation,
    ) -> Result<ConvLayer<'g>, KernelError> {
        let shape = self.window(
            ops.input_dims,
            kernel,
            oc,
            (stride, dilation, padding),
            ops.output,
        )?;
        let filter = Filter {
            tensor: ops.filter,
            channels: oc,
            axis,
        };
        let double_products = ops.input.dtype == DType::Int8;
        let (offsets, stage) =
            self.layer_quant(ops.input, &filter, ops.output, activation, double_products)?;
        Ok(ConvLayer {
            shape,
            offsets,
            stage,
            filter: self.check(ops.filter.constant_data("filter"))?,
        })
    }

    /// Convolution and fully-connected quantization: offsets and output stage.
    /// `double_products` selects TFLite's per-channel formula (int8 convolutions and
    /// per-channel fully-connected layers) over the `f32` product of the scales.
    pub(super) fn layer_quant(
        &self,
        input: &Tensor,
        filter: &Filter<'_>,
        output: &Tensor,
        activation: Activation,
        double_products: bool,
    ) -> Result<(ConvOffsets, OutputStage), KernelError> {
        let (in_scale, in_zero) = self.quant(input, "input")?;
        let (out_scale, out_zero) = self.quant(output, "output")?;
        let (name, channels) = (&filter.tensor.name, filter.channels);
        let fq = self.check(filter.tensor.filter_quant(channels, filter.axis))?;
        let per_channel = fq.is_per_channel();
        let filter_zero = if input.dtype == DType::Int8
            && matches!(self.node.op, Op::Conv2d(_) | Op::DepthwiseConv2d(_))
        {
            // TFLite's int8 convolutions ignore the filter zero point; refuse models where
            // that would change the result rather than silently differ from the intent.
            if fq.zero_points.iter().any(|&z| z != 0) {
                return Err(self.err(format!(
                    "int8 filter '{name}' has a non-zero zero point, which TFLite's int8 kernels ignore"
                )));
            }
            0
        } else {
            fq.zero_point()
        };
        if per_channel && input.dtype == DType::UInt8 {
            return Err(self.err(format!(
                "uint8 layer with per-channel filter '{name}' (TFLite supports per-channel filters only for int8)"
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
        let bias = match self.node.inputs.get(2) {
            Some(&id) => Some(self.check(self.tensor(id)?.bias_values(channels))?),
            None => None,
        };
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

    /// The geometry of a convolution or pooling window over an NHWC input, checked against
    /// its output tensor.
    pub(super) fn window(
        &self,
        [n, ih, iw, ic]: [usize; 4],
        kernel: [usize; 2],
        oc: usize,
        (stride, dilation, padding): ([usize; 2], [usize; 2], Padding),
        output: &Tensor,
    ) -> Result<ConvShape, KernelError> {
        if kernel
            .iter()
            .chain(&stride)
            .chain(&dilation)
            .any(|&v| v == 0)
        {
            return Err(self.err(format!(
                "kernel {kernel:?}, stride {stride:?}, dilation {dilation:?} must be positive"
            )));
        }
        let (oh, pt) = padding.output_and_pad(ih, kernel[0], stride[0], dilation[0]);
        let (ow, pl) = padding.output_and_pad(iw, kernel[1], stride[1], dilation[1]);
        self.check(output.check_shape(&[n, oh, ow, oc]))?;
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
}

/// A constant's bytes as `i8`.
pub(super) fn as_i8(data: &[u8]) -> &[i8] {
    zerocopy::transmute_ref!(data)
}
