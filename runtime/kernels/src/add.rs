//! ADD of two 8-bit tensors of the same shape.
//!
//! TFLite's arithmetic (reference `AddElementwise` for uint8, `reference_integer_ops::Add`
//! for int8, both from `add.cc`'s 8-bit path): each input gets its offset (minus its zero
//! point) and is shifted left by 20 bits, then scaled to the common scale `2 *
//! max(input scales)` with its own multiplier (`MultiplyByQuantizedMultiplierSmallerThanOneExp`,
//! double rounding); the two are added in `i32`; the sum is scaled to the output with the
//! output multiplier, the output zero point is added and the result clamped to the fused
//! activation's range.

use crate::error::{KernelError, check_len};
use crate::quant::{AddMultipliers, Q8, requantize};
use crate::simd::{Isa, Vectorized};

/// The integer parameters of an 8-bit ADD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddParams {
    /// Minus the zero point of input 1.
    pub input1_offset: i32,
    /// Minus the zero point of input 2.
    pub input2_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Multipliers and the common left shift.
    pub multipliers: AddMultipliers,
    /// Lower clamp.
    pub min: i32,
    /// Upper clamp.
    pub max: i32,
}

/// The multiplier, right shift and rounding mask of a multiplier whose shift is `<= 0`,
/// in the form [`requantize`] takes.
#[inline(always)]
fn right_only(m: crate::quant::QuantizedMultiplier) -> (i32, u32, i32) {
    let right = (-m.shift).clamp(0, 31) as u32;
    (m.multiplier, right, ((1_i64 << right) - 1) as i32)
}

impl AddParams {
    /// Checks that every shift is a right shift, as TFLite's preparation guarantees.
    fn check(&self) -> Result<(), KernelError> {
        let m = self.multipliers;
        let shifts = [m.input1.shift, m.input2.shift, m.output.shift];
        if shifts.iter().any(|&s| !(-31..=0).contains(&s))
            || [m.input1, m.input2, m.output]
                .iter()
                .any(|q| q.multiplier < 0)
            || !(0..=30).contains(&m.left_shift)
            || self.min > self.max
        {
            return Err(KernelError::InvalidParams {
                kernel: "add",
                detail: format!("parameters out of range: {self:?}"),
            });
        }
        Ok(())
    }

    /// The output value for inputs `a` and `b`.
    #[inline(always)]
    fn apply(&self, a: i32, b: i32) -> i32 {
        let (m1, r1, k1) = right_only(self.multipliers.input1);
        let (m2, r2, k2) = right_only(self.multipliers.input2);
        let (mo, ro, ko) = right_only(self.multipliers.output);
        let shift = self.multipliers.left_shift as u32;
        let a = requantize((a + self.input1_offset).wrapping_shl(shift), m1, 0, r1, k1);
        let b = requantize((b + self.input2_offset).wrapping_shl(shift), m2, 0, r2, k2);
        requantize(a.wrapping_add(b), mo, 0, ro, ko)
            .wrapping_add(self.output_offset)
            .clamp(self.min, self.max)
    }
}

/// `output = a + b` element by element, as TFLite's 8-bit ADD computes it.
pub fn add<T: Q8>(
    params: &AddParams,
    a: &[T],
    b: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    params.check()?;
    check_len("add", "input 2", b.len(), a.len())?;
    check_len("add", "output", output.len(), a.len())?;
    crate::simd::dispatch(AddRun {
        params,
        a,
        b,
        output,
    });
    Ok(())
}

/// One [`add`], as a unit for [`crate::simd::dispatch`].
struct AddRun<'a, T> {
    params: &'a AddParams,
    a: &'a [T],
    b: &'a [T],
    output: &'a mut [T],
}

impl<T: Q8> Vectorized for AddRun<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self, _isa: Isa) {
        let p = *self.params;
        for ((o, a), b) in self.output.iter_mut().zip(self.a).zip(self.b) {
            *o = T::saturate(p.apply(a.to_i32(), b.to_i32()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixedpoint::multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm;
    use crate::quant::add_multipliers;
    use proptest::prelude::*;

    /// TFLite's `AddFunc`, transcribed literally.
    fn reference(p: &AddParams, a: i32, b: i32) -> i32 {
        let m = p.multipliers;
        let a = (p.input1_offset + a) * (1 << m.left_shift);
        let b = (p.input2_offset + b) * (1 << m.left_shift);
        let a = mbqm(a, m.input1.multiplier, m.input1.shift);
        let b = mbqm(b, m.input2.multiplier, m.input2.shift);
        (mbqm(a + b, m.output.multiplier, m.output.shift) + p.output_offset).clamp(p.min, p.max)
    }

    #[test]
    fn equal_scales_add_the_real_values() {
        // Scale 0.5 everywhere, zero points 0: 10 + 20 -> real 5 + 10 = 15 -> 30.
        let p = AddParams {
            input1_offset: 0,
            input2_offset: 0,
            output_offset: 0,
            multipliers: add_multipliers(0.5, 0.5, 0.5),
            min: 0,
            max: 255,
        };
        let mut out = [0_u8; 2];
        add(&p, &[10_u8, 200], &[20, 100], &mut out).expect("valid");
        assert_eq!(out, [30, 255]);
    }

    proptest! {
        #[test]
        fn matches_tflite_formula(
            s1 in 0.001_f32..1.0, s2 in 0.001_f32..1.0, so in 0.001_f32..2.0,
            z1 in -128_i32..=127, z2 in -128_i32..=127, zo in -128_i32..=127,
            values in proptest::collection::vec((-128_i32..=127, -128_i32..=127), 1..64),
        ) {
            let p = AddParams {
                input1_offset: -z1,
                input2_offset: -z2,
                output_offset: zo,
                multipliers: add_multipliers(s1, s2, so),
                min: -128,
                max: 127,
            };
            let a: Vec<i8> = values.iter().map(|v| v.0 as i8).collect();
            let b: Vec<i8> = values.iter().map(|v| v.1 as i8).collect();
            let mut out = vec![0_i8; a.len()];
            add(&p, &a, &b, &mut out).expect("valid");
            for ((&o, &x), &y) in out.iter().zip(&a).zip(&b) {
                prop_assert_eq!(i32::from(o), reference(&p, i32::from(x), i32::from(y)));
            }
        }
    }
}
