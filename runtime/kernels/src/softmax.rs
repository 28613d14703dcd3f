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
//!
//! A difference from the row maximum of 8-bit values is one of 256, so [`ExpTable`] holds
//! each one's exponential and its share of the sum, computed once per node: the same
//! functions of the same integers, so the same bytes as evaluating them per element, at a
//! table lookup each instead of two fixed-point exponentials.

use crate::error::{KernelError, check_len};
use crate::fixedpoint::{
    exp_on_negative_values, multiply_by_quantized_multiplier_greater_than_one, reciprocal,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
use crate::quant::{Q8, SOFTMAX_DIFF_INTEGER_BITS, SoftmaxMultipliers};

/// Integer bits of the sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// The exponentials of the 256 possible differences from a row's maximum, for one node's
/// multipliers.
///
/// A difference below TFLite's `diff_min` adds nothing to the sum and gives the type's
/// minimum; an exponential of 0 does both (the product with the reciprocal and its
/// rounding are 0), so those entries are 0 and the kernel needs no branch: its time does
/// not depend on the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpTable {
    /// `exp[k]`: the Q0.31 exponential of the difference `-k`.
    exp: [i32; 256],
    /// `summand[k]`: its Q12.19 share of the sum, rounded down by 12 bits.
    summand: [i32; 256],
}

impl ExpTable {
    /// The table of `params`.
    pub fn new(params: &SoftmaxMultipliers) -> ExpTable {
        let (multiplier, left_shift) = (params.input.multiplier, params.input.shift);
        let mut table = ExpTable {
            exp: [0; 256],
            summand: [0; 256],
        };
        let limit = (1 - i64::from(params.diff_min)).clamp(0, 256) as usize;
        for k in 0..limit {
            let diff = -(k as i32);
            let scaled =
                multiply_by_quantized_multiplier_greater_than_one(diff, multiplier, left_shift);
            table.exp[k] = exp_on_negative_values(scaled, SOFTMAX_DIFF_INTEGER_BITS);
            table.summand[k] = rounding_divide_by_pot(table.exp[k], ACCUMULATION_INTEGER_BITS);
        }
        table
    }
}

/// Softmax of `input` rows of `depth` values into `output`, with the node's `table`.
pub fn softmax<T: Q8>(
    table: &ExpTable,
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
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().map(|x| x.to_i32()).fold(T::MIN, i32::max);
        // 0..=255 for 8-bit values.
        let k = |x: &T| (max - x.to_i32()) as usize;
        let sum = row
            .iter()
            .fold(0_i32, |s, x| s.wrapping_add(table.summand[k(x)]));
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
            let e = saturating_rounding_doubling_high_mul(scale, table.exp[k(x)]);
            *o = T::saturate(rounding_divide_by_pot(e, exponent) + T::MIN);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::softmax_multipliers;

    fn run<T: Q8>(beta: f32, scale: f32, depth: usize, input: &[T]) -> Vec<T> {
        let params = softmax_multipliers(beta, scale).expect("valid");
        let mut out = vec![T::saturate(0); input.len()];
        softmax(&ExpTable::new(&params), depth, input, &mut out).expect("valid");
        out
    }

    /// TFLite's loop as written: two fixed-point exponentials per element.
    fn per_element(params: &SoftmaxMultipliers, row: &[i8]) -> Vec<i8> {
        let (m, shift) = (params.input.multiplier, params.input.shift);
        let scaled = |d: i32| {
            exp_on_negative_values(
                multiply_by_quantized_multiplier_greater_than_one(d, m, shift),
                SOFTMAX_DIFF_INTEGER_BITS,
            )
        };
        let max = row.iter().map(|&x| i32::from(x)).max().unwrap();
        let diffs = row.iter().map(|&x| i32::from(x) - max);
        let sum = diffs
            .clone()
            .filter(|&d| d >= params.diff_min)
            .fold(0_i32, |s, d| {
                s.wrapping_add(rounding_divide_by_pot(scaled(d), 12))
            });
        let (scale, bits_over_unit) = reciprocal(sum, 12);
        diffs
            .map(|d| {
                if d < params.diff_min {
                    return -128;
                }
                let e = saturating_rounding_doubling_high_mul(scale, scaled(d));
                (rounding_divide_by_pot(e, bits_over_unit + 23) - 128).clamp(-128, 127) as i8
            })
            .collect()
    }

    #[test]
    fn the_table_gives_the_bytes_of_two_exponentials_per_element() {
        // Input scales from a radius past every difference to one of a few steps.
        for scale in [0.01_f32, 0.05, 0.098_892_54, 0.3, 1.0, 4.0] {
            let params = softmax_multipliers(1.0, scale).expect("valid");
            let row: Vec<i8> = (0..1001).map(|i| (i * 73 % 256) as u8 as i8).collect();
            assert_eq!(
                run(1.0, scale, 1001, &row),
                per_element(&params, &row),
                "{scale}"
            );
        }
    }

    #[test]
    fn flat_rows_give_equal_probabilities() {
        // 1/4 with scale 1/256 is 64.
        assert_eq!(run(1.0, 0.1, 4, &[77_u8; 4]), [64; 4]);
        // 1/8 is 32 steps above -128.
        assert_eq!(run(1.0, 0.1, 8, &[-5_i8; 8]), [-96; 8]);
    }

    #[test]
    fn one_dominant_value_saturates_and_the_rest_vanish() {
        assert_eq!(run(1.0, 0.5, 3, &[255_u8, 0, 0]), [255, 0, 0]);
    }

    #[test]
    fn probabilities_are_close_to_the_float_softmax() {
        let scale = 0.098_892_54_f32;
        let input: Vec<u8> = (0..32).map(|i| (i * 7 % 256) as u8).collect();
        let out = run(1.0, scale, 32, &input);
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
