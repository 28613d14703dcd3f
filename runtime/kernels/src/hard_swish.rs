//! HARD_SWISH (`x * relu6(x + 3) / 6`) of an 8-bit tensor.
//!
//! TFLite's arithmetic (`reference_ops::HardSwish<T>` with `HardSwishParams`, the reference
//! path of `activations.cc` for both uint8 and int8), all in 16-bit fixed point: the offset
//! input is shifted left by 7 bits onto a "hires" scale; it is scaled to the output (before
//! the final shift) with a rounding doubling high multiply; separately it is scaled to a
//! "relu-ish" value where 3.0 is 2^15 (a saturating left shift by all but one bit of the
//! exponent, the rounding multiply, the last bit saturating, or a rounding right shift),
//! mapped from [-1, 1] to [0, 1]; the two are multiplied with a truncating (not rounding)
//! doubling high multiply, rounding-shifted right to the output scale, offset by the output
//! zero point (wrapping in 16 bits) and clamped to the type.

use crate::error::{KernelError, check_len};
use crate::fixedpoint::{rounding_divide_by_pot_i16, saturating_rounding_doubling_high_mul_i16};
use crate::quant::{HardSwishParams, Q8};

/// TFLite's `SaturatingLeftShift` of `hard_swish.h`: `value * 2^amount` saturated to 16 bits.
fn saturating_left_shift(value: i16, amount: i32) -> i16 {
    let shifted = i64::from(value).saturating_mul(1_i64 << amount.clamp(0, 62));
    shifted.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// TFLite's `SaturatingDoublingHighMul` of `hard_swish.h`: `(a * b) / 2^15` truncated toward
/// zero (ARM's `SQDMULH`), `i16::MIN * i16::MIN` saturated.
fn saturating_doubling_high_mul(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

impl HardSwishParams {
    /// The output code for input code `x`, clamped to `(min, max)`.
    #[inline(always)]
    fn apply(&self, x: i32, (min, max): (i32, i32)) -> i32 {
        // C++ stores each step in an int16_t: the conversions truncate (wrap).
        let input_value = x.wrapping_sub(self.input_zero_point) as i16;
        let hires = (i32::from(input_value) * (1 << 7)) as i16;
        let preshift_output = saturating_rounding_doubling_high_mul_i16(
            hires,
            self.output_multiplier_fixedpoint_int16,
        );
        let exponent = self.reluish_multiplier_exponent;
        let mut reluish = hires;
        if exponent > 0 {
            reluish = saturating_left_shift(reluish, exponent - 1);
        }
        reluish = saturating_rounding_doubling_high_mul_i16(
            reluish,
            self.reluish_multiplier_fixedpoint_int16,
        );
        if exponent > 0 {
            reluish = saturating_left_shift(reluish, 1);
        }
        if exponent < 0 {
            reluish = rounding_divide_by_pot_i16(reluish, -exponent);
        }
        // From [-1, 1] to [0, 1].
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = saturating_doubling_high_mul(reluish, preshift_output);
        let output = rounding_divide_by_pot_i16(preshift, -self.output_multiplier_exponent);
        let output = i32::from(output).wrapping_add(self.output_zero_point) as i16;
        i32::from(output).clamp(min, max)
    }

    fn check(&self) -> Result<(), KernelError> {
        if self.output_multiplier_exponent > 0
            || self.output_multiplier_fixedpoint_int16 < 0
            || self.reluish_multiplier_fixedpoint_int16 < 0
        {
            return Err(KernelError::InvalidParams {
                kernel: "hard_swish",
                detail: format!("parameters out of range: {self:?}"),
            });
        }
        Ok(())
    }
}

/// HARD_SWISH of every element of `input` into `output`, as TFLite's reference kernel.
pub fn hard_swish<T: Q8>(
    params: &HardSwishParams,
    input: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    params.check()?;
    check_len("hard_swish", "output", output.len(), input.len())?;
    for (o, x) in output.iter_mut().zip(input) {
        *o = T::saturate(params.apply(x.to_i32(), (T::MIN, T::MAX)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::hard_swish_params;

    fn float_hard_swish(x: f32) -> f32 {
        x * (x + 3.0).clamp(0.0, 6.0) / 6.0
    }

    #[test]
    fn close_to_the_float_function_over_every_code() {
        for (in_q, out_q) in [
            ((0.05_f32, 120), (0.04_f32, 20)),
            ((0.004, 10), (0.002, -100)),
        ] {
            let p = hard_swish_params(in_q, out_q).expect("valid");
            for x in -128..=127 {
                let got = p.apply(x, (-128, 127));
                let real = float_hard_swish(in_q.0 * (x - in_q.1) as f32);
                let want = ((real / out_q.0).round() as i32 + out_q.1).clamp(-128, 127);
                assert!((got - want).abs() <= 1, "{x}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn an_output_multiplier_above_one_is_refused() {
        // Input scale 1, output scale 1/1000: (1/128) / (1/1000) > 1.
        assert!(hard_swish_params((1.0, 0), (0.001, 0)).is_none());
    }

    #[test]
    fn sixteen_bit_primitives_follow_gemmlowp() {
        assert_eq!(saturating_doubling_high_mul(-3, 1 << 14), -1); // -1.5 truncates to -1
        assert_eq!(saturating_rounding_doubling_high_mul_i16(-3, 1 << 14), -1); // ties up
        assert_eq!(saturating_rounding_doubling_high_mul_i16(3, 1 << 14), 2);
        assert_eq!(
            saturating_rounding_doubling_high_mul_i16(i16::MIN, i16::MIN),
            i16::MAX
        );
        assert_eq!(rounding_divide_by_pot_i16(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot_i16(5, 1), 3);
        // Past 15 bits gemmlowp's 16-bit mask is all ones and its threshold -1 (0 for
        // negative values): a non-negative value always gains one.
        assert_eq!(rounding_divide_by_pot_i16(i16::MAX, 16), 1);
        assert_eq!(rounding_divide_by_pot_i16(0, 16), 1);
        assert_eq!(rounding_divide_by_pot_i16(-1, 20), -1);
        assert_eq!(saturating_left_shift(20_000, 1), i16::MAX);
        assert_eq!(saturating_left_shift(-20_000, 40), i16::MIN);
    }
}
