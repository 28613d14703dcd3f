//! SOFTMAX over the last dimension of an 8-bit tensor.
//!
//! TFLite's arithmetic (`reference_ops::Softmax`, used in reference mode for uint8 and
//! int8): per row, each value's difference from the row maximum, if not below `diff_min`,
//! is scaled by `beta * input_scale` into Q5.26 (`MultiplyByQuantizedMultiplierGreaterThanOne`)
//! and exponentiated with gemmlowp's `exp_on_negative_values` into Q0.31; the exponentials
//! are summed in Q12.19 (each rounded down by 12 bits); the sum's reciprocal is taken in
//! fixed point (`GetReciprocal`); each output is `exp * reciprocal`, rounded down by
//! `num_bits_over_unit + 31 - 8` bits, offset by the type's minimum and clamped. Values
//! below `diff_min` give the type's minimum. The output quantization is fixed (scale 1/256,
//! zero point at the type's minimum); TFLite's kernel assumes it.

use crate::error::{KernelError, check_len};
use crate::fixedpoint::{
    exp_on_negative_values, multiply_by_quantized_multiplier_greater_than_one, reciprocal,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
use crate::quant::{Q8, SOFTMAX_DIFF_INTEGER_BITS, SoftmaxMultipliers};

/// Integer bits of the sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Softmax of `input` rows of `depth` values into `output`.
pub fn softmax<T: Q8>(
    params: &SoftmaxMultipliers,
    depth: usize,
    input: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    const KERNEL: &str = "softmax";
    if depth == 0 || !input.len().is_multiple_of(depth) {
        return Err(KernelError::InvalidParams {
            kernel: KERNEL,
            detail: format!("{} values are not whole rows of {depth}", input.len()),
        });
    }
    check_len(KERNEL, "output", output.len(), input.len())?;
    let bits_out = 8 * size_of::<T>() as i32;
    let (multiplier, left_shift) = (params.input.multiplier, params.input.shift);
    let scaled = |diff: i32| {
        exp_on_negative_values(
            multiply_by_quantized_multiplier_greater_than_one(diff, multiplier, left_shift),
            SOFTMAX_DIFF_INTEGER_BITS,
        )
    };
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().map(|x| x.to_i32()).fold(T::MIN, i32::max);
        let sum = row
            .iter()
            .map(|x| x.to_i32() - max)
            .filter(|&d| d >= params.diff_min)
            .fold(0_i32, |s, d| {
                s.wrapping_add(rounding_divide_by_pot(scaled(d), ACCUMULATION_INTEGER_BITS))
            });
        let (scale, bits_over_unit) = reciprocal(sum, ACCUMULATION_INTEGER_BITS);
        let exponent = bits_over_unit + 31 - bits_out;
        if !(0..=31).contains(&exponent) {
            return Err(KernelError::InvalidParams {
                kernel: KERNEL,
                detail: format!(
                    "output exponent {exponent} outside 0..=31 (sum of exponentials {sum})"
                ),
            });
        }
        for (o, x) in out.iter_mut().zip(row) {
            let diff = x.to_i32() - max;
            *o = if diff >= params.diff_min {
                let e = saturating_rounding_doubling_high_mul(scale, scaled(diff));
                T::saturate(rounding_divide_by_pot(e, exponent) + T::MIN)
            } else {
                T::saturate(T::MIN)
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::softmax_multipliers;

    #[test]
    fn flat_rows_give_equal_probabilities() {
        let params = softmax_multipliers(1.0, 0.1).expect("valid");
        let mut out = [0_u8; 4];
        softmax(&params, 4, &[77_u8; 4], &mut out).expect("valid");
        // 1/4 with scale 1/256 is 64.
        assert_eq!(out, [64; 4]);
        let mut out = [0_i8; 8];
        softmax(&params, 8, &[-5_i8; 8], &mut out).expect("valid");
        // 1/8 is 32 steps above -128.
        assert_eq!(out, [-96; 8]);
    }

    #[test]
    fn one_dominant_value_saturates_and_the_rest_vanish() {
        let params = softmax_multipliers(1.0, 0.5).expect("valid");
        let mut out = [0_u8; 3];
        softmax(&params, 3, &[255_u8, 0, 0], &mut out).expect("valid");
        assert_eq!(out, [255, 0, 0]);
    }

    #[test]
    fn probabilities_are_close_to_the_float_softmax() {
        let scale = 0.098_892_54_f32;
        let params = softmax_multipliers(1.0, scale).expect("valid");
        let input: Vec<u8> = (0..32).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = vec![0_u8; 32];
        softmax(&params, 32, &input, &mut out).expect("valid");
        let logits: Vec<f64> = input
            .iter()
            .map(|&x| f64::from(x) * f64::from(scale))
            .collect();
        let z: f64 = logits.iter().map(|l| l.exp()).sum();
        for (o, l) in out.iter().zip(&logits) {
            let p = l.exp() / z;
            assert!(
                (f64::from(*o) / 256.0 - p).abs() <= 1.0 / 256.0,
                "{o} vs {p}"
            );
        }
    }
}
