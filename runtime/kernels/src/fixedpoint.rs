//! Fixed-point primitives in the style of gemmlowp, as TensorFlow Lite uses them.
//!
//! Every function here reproduces the integer result of its TFLite/gemmlowp namesake for
//! every input, including the corner cases (ties, `i32::MIN`, saturation). TFLite's C++
//! relies on two's-complement wrap-around where its additions or shifts overflow; the
//! functions here wrap explicitly at the same places, so they never panic.
//!
//! A value in "Qm" format with `m` integer bits is an `i32` whose real value is
//! `raw / 2^(31 - m)`.

/// `(a * b) / 2^31`, rounded to nearest with ties toward +infinity, saturating the single
/// overflowing case `i32::MIN * i32::MIN` to `i32::MAX` (gemmlowp's
/// `SaturatingRoundingDoublingHighMul`, ARM's `VQRDMULH`).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncates toward zero, as in C++; the nudge makes it a rounding.
    ((ab + nudge) / (1_i64 << 31)) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's
/// `RoundingDivideByPOT`); `exponent` is taken in `0..=31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1_i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `x * 2^exponent` for `exponent` in `0..=31`, saturating to `i32::MIN`/`i32::MAX`
/// (gemmlowp's `SaturatingRoundingMultiplyByPOT` with a non-negative exponent).
#[inline(always)]
pub fn saturating_shift_left(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return x;
    }
    let exponent = exponent.min(31);
    let threshold = ((1_i64 << (31 - exponent)) - 1) as i32;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x.wrapping_shl(exponent as u32)
    }
}

/// The 16-bit `SaturatingRoundingDoublingHighMul` of gemmlowp: `(a * b) / 2^15`, rounded to
/// nearest with ties toward +infinity, `i16::MIN * i16::MIN` saturated to `i16::MAX`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    // Truncating division, as in C++; only the saturated case leaves the 16-bit range.
    ((ab + nudge) / (1 << 15)) as i16
}

/// The 16-bit `RoundingDivideByPOT` of gemmlowp, `exponent` taken in `0..=31`: every
/// intermediate (mask, remainder, threshold, shifted value, sum) is an `i16`, as gemmlowp's
/// scalar template computes it, so an exponent of 16 or more behaves as it does there.
#[inline(always)]
pub fn rounding_divide_by_pot_i16(x: i16, exponent: i32) -> i16 {
    let exponent = exponent.clamp(0, 31);
    let mask = ((1_i64 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1).wrapping_add(i16::from(x < 0));
    let shifted = (i32::from(x) >> exponent) as i16;
    shifted.wrapping_add(i16::from(remainder > threshold))
}

/// `(a + b) / 2` rounded to nearest, ties away from zero (gemmlowp's `RoundingHalfSum`).
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplier` for 32-bit values in its default (double
/// rounding) build: `x * multiplier / 2^31 * 2^shift`, where a positive `shift` is applied
/// as an exact (wrapping) left shift before the rounding high multiply and a negative one
/// as a rounding right shift after it.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.clamp(0, 31);
    let right = (-shift).clamp(0, 31);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_shl(left as u32), multiplier),
        right,
    )
}

/// TFLite's `MultiplyByQuantizedMultiplierSmallerThanOneExp`: the same as
/// [`multiply_by_quantized_multiplier`] for a `left_shift` of zero or less.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        -left_shift,
    )
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne`: an exact (wrapping) left shift
/// followed by the rounding high multiply.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(
        x.wrapping_shl(left_shift.clamp(0, 31) as u32),
        multiplier,
    )
}

/// Fixed-point multiplication: the product of two Q values (integer bits add up).
#[inline(always)]
fn mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// `exp(a)` for `a` in `[-1/4, 0)`, both in Q0.31 (gemmlowp's
/// `exp_on_interval_between_negative_one_quarter_and_0_excl`): a fourth-order Taylor
/// expansion around -1/8.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// `exp(a)` for `a <= 0` given in Q`integer_bits` (1..=30), as Q0.31 (gemmlowp's
/// `exp_on_negative_values`): the fractional quarter by polynomial, the rest by a barrel
/// of constant factors `exp(-2^k)`.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1_i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_shift_left(a_mod_quarter_minus_one_quarter, integer_bits),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(-2^k) in Q0.31 for k = -2..=4.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let bit = fractional_bits + exponent;
            if remainder & (1_i32 << bit) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1_i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 { i32::MAX } else { result }
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, both in Q0.31 (gemmlowp's
/// `one_over_one_plus_x_for_x_in_0_1`): three Newton-Raphson steps from 48/17 - 32/17 d.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const C48_OVER_17: i32 = 1_515_870_810;
    const MINUS_C32_OVER_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, MINUS_C32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(saturating_shift_left(mul(x, one_minus), 2));
    }
    saturating_shift_left(x, 1)
}

/// TFLite's `GetReciprocal`: for a positive `x` in Q`x_integer_digits`, returns
/// `(scale, num_bits_over_unit)` with `scale` in Q0.31 such that
/// `1 / x = scale * 2^-num_bits_over_unit`.
pub fn reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted = (x as u32)
        .checked_shl(headroom_plus_one as u32)
        .unwrap_or(0);
    let shifted_sum_minus_one = shifted.wrapping_sub(1_u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_mul_rounds_and_saturates() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // 0.5 * 0.5 = 0.25 in Q0.31.
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        // Ties round up (toward +infinity): the negative nudge is 1 - 2^30, not -2^30.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2); // 1.5
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // -1.5
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1); // 0.5
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0); // -0.5
        assert_eq!(saturating_rounding_doubling_high_mul(-5, 1 << 29), -1); // -1.25
    }

    #[test]
    fn divide_by_pot_rounds_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 -> 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rounding_divide_by_pot(-5, 2), -1); // -1.25 -> -1
        assert_eq!(rounding_divide_by_pot(-7, 2), -2); // -1.75 -> -2
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }

    #[test]
    fn quantized_multiplier_matches_hand_computation() {
        // multiplier 0.75 (1610612736 / 2^31), shift -3: 1000 * 0.75 / 8 = 93.75 -> 94.
        assert_eq!(
            multiply_by_quantized_multiplier(1000, 1_610_612_736, -3),
            94
        );
        assert_eq!(
            multiply_by_quantized_multiplier(-1000, 1_610_612_736, -3),
            -94
        );
        // Positive shift: 100 * 2 * 0.75 = 150.
        assert_eq!(multiply_by_quantized_multiplier(100, 1_610_612_736, 1), 150);
        // Double rounding: 5 * 0.5 = 2.5 rounds to 3 in the high multiply, then 3 / 2 = 1.5
        // rounds to 2, where a single rounding of 5 * 0.5 / 2 = 1.25 would give 1.
        assert_eq!(multiply_by_quantized_multiplier(5, 1 << 30, -1), 2);
    }

    #[test]
    fn saturating_shift_saturates() {
        assert_eq!(saturating_shift_left(1 << 28, 2), 1 << 30);
        assert_eq!(saturating_shift_left(1 << 29, 2), i32::MAX);
        assert_eq!(saturating_shift_left(-(1 << 29), 2), i32::MIN);
        assert_eq!(saturating_shift_left(-5, 0), -5);
    }

    #[test]
    fn half_sum_rounds_away_from_zero() {
        assert_eq!(rounding_half_sum(1, 2), 2);
        assert_eq!(rounding_half_sum(-1, -2), -2);
        assert_eq!(rounding_half_sum(i32::MAX, i32::MAX), i32::MAX);
    }

    #[test]
    fn exp_is_close_to_the_real_function() {
        for &x in &[-0.01_f64, -0.3, -1.0, -2.5, -7.0, -20.0] {
            let raw = (x * f64::from(1 << 26)).round() as i32; // Q5.26
            let e = f64::from(exp_on_negative_values(raw, 5)) / 2f64.powi(31);
            assert!((e - x.exp()).abs() < 1e-6, "exp({x}) = {e}");
        }
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
    }

    #[test]
    fn reciprocal_is_close_to_the_real_function() {
        for &x in &[1.0_f64, 1.25, 3.0, 100.5, 1000.0] {
            let raw = (x * f64::from(1 << 19)).round() as i32; // Q12.19
            let (scale, bits) = reciprocal(raw, 12);
            let r = f64::from(scale) / 2f64.powi(31) / 2f64.powi(bits);
            assert!((r - 1.0 / x).abs() < 1e-6 / x, "1/{x} = {r}");
        }
    }
}
