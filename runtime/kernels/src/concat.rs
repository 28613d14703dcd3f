//! CONCATENATION of 8-bit tensors along one axis.
//!
//! TFLite's arithmetic: int8 inputs must share the output's quantization and are copied.
//! uint8 inputs (`reference_ops::ConcatenationWithScaling`) are copied where their
//! quantization equals the output's and otherwise rescaled in `f32`: `round(x * scale +
//! bias) + output_zero_point` with `scale = input_scale * (1 / output_scale)` and `bias =
//! -input_zero_point * scale`, rounding half away from zero, clamped to 0..=255.

use crate::error::{KernelError, check_len};
use crate::quant::Q8;

/// How one input of a concatenation is brought to the output's quantization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConcatInput {
    /// Same quantization as the output: copied.
    Copy,
    /// uint8 with another quantization: rescaled as TFLite does in `f32`.
    Rescale {
        /// The input's scale.
        scale: f32,
        /// The input's zero point.
        zero_point: i32,
        /// The output's scale.
        output_scale: f32,
        /// The output's zero point.
        output_zero_point: i32,
    },
}

impl ConcatInput {
    /// Writes `src` into `dst`.
    fn write<T: Q8>(&self, src: &[T], dst: &mut [T]) {
        match *self {
            ConcatInput::Copy => dst.copy_from_slice(src),
            ConcatInput::Rescale {
                scale,
                zero_point,
                output_scale,
                output_zero_point,
            } => {
                let scale = scale * (1.0 / output_scale);
                let bias = -(zero_point as f32) * scale;
                for (d, s) in dst.iter_mut().zip(src) {
                    let v = (s.to_i32() as f32 * scale + bias).round() as i32;
                    *d = T::saturate(v.saturating_add(output_zero_point));
                }
            }
        }
    }
}

/// Concatenates `inputs` (each with its own shape and [`ConcatInput`]) along `axis` into
/// `output`, whose shape is `output_shape`.
pub fn concatenate<T: Q8>(
    axis: usize,
    output_shape: &[usize],
    inputs: &[(&[usize], ConcatInput, &[T])],
    output: &mut [T],
) -> Result<(), KernelError> {
    const KERNEL: &str = "concatenate";
    let invalid = |detail: String| KernelError::InvalidParams {
        kernel: KERNEL,
        detail,
    };
    if axis >= output_shape.len() {
        return Err(invalid(format!(
            "axis {axis} out of range for {output_shape:?}"
        )));
    }
    let mut joined = 0;
    for (shape, _, data) in inputs {
        let compatible = shape.len() == output_shape.len()
            && shape
                .iter()
                .zip(output_shape)
                .enumerate()
                .all(|(d, (a, b))| d == axis || a == b);
        if !compatible {
            return Err(invalid(format!(
                "input {shape:?} does not join {output_shape:?} on axis {axis}"
            )));
        }
        check_len(KERNEL, "input", data.len(), shape.iter().product())?;
        joined += shape[axis];
    }
    if joined != output_shape[axis] {
        return Err(invalid(format!(
            "inputs give {joined} along axis {axis}, output has {}",
            output_shape[axis]
        )));
    }
    check_len(
        KERNEL,
        "output",
        output.len(),
        output_shape.iter().product(),
    )?;
    let outer: usize = output_shape[..axis].iter().product();
    let inner: usize = output_shape[axis + 1..].iter().product();
    let mut at = 0;
    for k in 0..outer {
        for (shape, how, data) in inputs {
            let size = shape[axis] * inner;
            how.write(&data[k * size..(k + 1) * size], &mut output[at..at + size]);
            at += size;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_channels_of_nhwc_tensors() {
        let a = [1_i8, 2, 3, 4]; // [1, 2, 1, 2]
        let b = [5_i8, 6]; // [1, 2, 1, 1]
        let mut out = [0_i8; 6];
        concatenate(
            3,
            &[1, 2, 1, 3],
            &[
                (&[1, 2, 1, 2], ConcatInput::Copy, &a),
                (&[1, 2, 1, 1], ConcatInput::Copy, &b),
            ],
            &mut out,
        )
        .expect("valid");
        assert_eq!(out, [1, 2, 5, 3, 4, 6]);
    }

    #[test]
    fn rescales_uint8_inputs_in_f32() {
        let rescale = ConcatInput::Rescale {
            scale: 0.5,
            zero_point: 10,
            output_scale: 0.25,
            output_zero_point: 3,
        };
        let mut out = [0_u8; 3];
        concatenate(0, &[3], &[(&[3], rescale, &[10_u8, 11, 200])], &mut out).expect("valid");
        // (x - 10) * 2 + 3, clamped.
        assert_eq!(out, [3, 5, 255]);
    }
}
