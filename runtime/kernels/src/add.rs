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
    fn run(self, isa: Isa) {
        let p = *self.params;
        let (a, b, output) = (self.a, self.b, self.output);
        #[cfg(target_arch = "x86_64")]
        let (a, b, output) = match isa {
            Isa::V4(v4) => {
                // Whole blocks of sixteen with explicit 32x32->64-bit products; LLVM
                // vectorizes `apply` with 64-bit multiplies of half as many lanes.
                let blocks = a.len() / BLOCK * BLOCK;
                let (head, tail) = output.split_at_mut(blocks);
                for ((o, a), b) in head
                    .chunks_exact_mut(BLOCK)
                    .zip(a.chunks_exact(BLOCK))
                    .zip(b.chunks_exact(BLOCK))
                {
                    p.apply_block(v4, a, b, o);
                }
                (&a[blocks..], &b[blocks..], tail)
            }
            _ => (a, b, output),
        };
        let _ = isa;
        for ((o, a), b) in output.iter_mut().zip(a).zip(b) {
            *o = T::saturate(p.apply(a.to_i32(), b.to_i32()));
        }
    }
}

/// Elements per step of [`AddParams::apply_block`].
#[cfg(target_arch = "x86_64")]
const BLOCK: usize = crate::quant::REQUANT_LANES;

#[cfg(target_arch = "x86_64")]
impl AddParams {
    /// [`Self::apply`] of [`BLOCK`] elements with AVX-512, stored into `out`. Plain
    /// functions rather than closures, which would not inherit the target features and
    /// call every intrinsic.
    #[inline(always)]
    fn apply_block<T: Q8>(&self, v4: pulp::x86::V4, a: &[T], b: &[T], out: &mut [T]) {
        let f = v4.avx512f;
        let m = self.multipliers;
        let shift = m.left_shift;
        let sum = f._mm512_add_epi32(
            scale_input(v4, a, self.input1_offset, shift, m.input1),
            scale_input(v4, b, self.input2_offset, shift, m.input2),
        );
        let v = crate::quant::requantize_avx512(v4, sum, right_only_lanes(v4, m.output));
        let v = f._mm512_add_epi32(v, f._mm512_set1_epi32(self.output_offset));
        let v = f._mm512_max_epi32(v, f._mm512_set1_epi32(self.min));
        let v = f._mm512_min_epi32(v, f._mm512_set1_epi32(self.max));
        crate::quant::store_block(Isa::V4(v4), &pulp::cast(v), out);
    }
}

/// `[multiplier, right shift, mask, mask >> 1]` of a right-only multiplier in every lane,
/// as [`crate::quant::requantize_avx512`] takes them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn right_only_lanes(
    v4: pulp::x86::V4,
    q: crate::quant::QuantizedMultiplier,
) -> [core::arch::x86_64::__m512i; 4] {
    let f = v4.avx512f;
    let (m, right, mask) = right_only(q);
    [
        f._mm512_set1_epi32(m),
        f._mm512_set1_epi32(right as i32),
        f._mm512_set1_epi32(mask),
        f._mm512_set1_epi32(mask >> 1),
    ]
}

/// One input of [`AddParams::apply_block`]: offset, shifted left and rescaled.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn scale_input<T: Q8>(
    v4: pulp::x86::V4,
    x: &[T],
    offset: i32,
    shift: i32,
    q: crate::quant::QuantizedMultiplier,
) -> core::arch::x86_64::__m512i {
    let f = v4.avx512f;
    let mut v = [0_i32; BLOCK];
    for (v, x) in v.iter_mut().zip(x) {
        *v = x.to_i32();
    }
    let v = f._mm512_add_epi32(pulp::cast(v), f._mm512_set1_epi32(offset));
    let v = f._mm512_sllv_epi32(v, f._mm512_set1_epi32(shift));
    crate::quant::requantize_avx512(v4, v, right_only_lanes(v4, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixedpoint::multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm;
    use crate::quant::add_multipliers;
    use crate::simd::Vectorized;
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

    /// `add` of `a` and `b` on every instruction set against [`reference`].
    fn check<T: Q8>(p: &AddParams, a: &[T], b: &[T]) -> Result<(), TestCaseError> {
        for isa in crate::simd::available() {
            let mut out = vec![T::default(); a.len()];
            AddRun {
                params: p,
                a,
                b,
                output: &mut out,
            }
            .run(isa);
            for ((&o, &x), &y) in out.iter().zip(a).zip(b) {
                let want = reference(p, x.to_i32(), y.to_i32());
                prop_assert_eq!(o.to_i32(), want, "{:?}", isa);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_tflite_formula(
            s1 in 0.001_f32..1.0, s2 in 0.001_f32..1.0, so in 0.001_f32..2.0,
            z1 in -128_i32..=127, z2 in -128_i32..=127, zo in -128_i32..=127,
            (lo, hi) in (0_i32..=60, 0_i32..=60),
            values in proptest::collection::vec((0_i32..=255, 0_i32..=255), 1..80),
        ) {
            let mut p = AddParams {
                input1_offset: -z1,
                input2_offset: -z2,
                output_offset: zo,
                multipliers: add_multipliers(s1, s2, so),
                min: -128 + lo,
                max: 127 - hi,
            };
            let a: Vec<i8> = values.iter().map(|v| v.0 as i8).collect();
            let b: Vec<i8> = values.iter().map(|v| v.1 as i8).collect();
            check(&p, &a, &b)?;
            // The same as uint8: zero points and clamp moved up by 128.
            p.input1_offset -= 128;
            p.input2_offset -= 128;
            p.output_offset += 128;
            (p.min, p.max) = (p.min + 128, p.max + 128);
            let a: Vec<u8> = values.iter().map(|v| v.0 as u8).collect();
            let b: Vec<u8> = values.iter().map(|v| v.1 as u8).collect();
            check(&p, &a, &b)?;
        }
    }
}
