//! QUANTIZE (float to 8-bit, and 8-bit to 8-bit requantization) and DEQUANTIZE.
//!
//! TFLite's arithmetic:
//! - float to 8-bit (`reference_ops::AffineQuantize`): `round(value / scale)` with the
//!   division in `f32` and rounding half away from zero, plus the zero point, clamped to
//!   the type's range. A NaN input gives 0 (TFLite's cast of NaN is undefined).
//! - 8-bit to 8-bit (`reference_ops::Requantize`): `MultiplyByQuantizedMultiplier(x -
//!   input_zero_point)` with the multiplier of `input_scale / output_scale` (in `f64`),
//!   plus the output zero point, clamped. (TFLite's shortcut for int8 <-> uint8 with equal
//!   scales, flipping the top bit, gives the same bytes.)
//! - 8-bit to float (`reference_ops::Dequantize`): `scale * (x - zero_point)`, exact in
//!   `f64` and rounded once to `f32`.

use crate::error::{KernelError, check_len};
use crate::quant::{Q8, QuantizedMultiplier};

/// Quantizes `input` with `scale` and `zero_point` into `output`.
pub fn quantize_f32<T: Q8>(
    scale: f32,
    zero_point: i32,
    input: &[f32],
    output: &mut [T],
) -> Result<(), KernelError> {
    check_len("quantize", "output", output.len(), input.len())?;
    let (lo, hi) = (f64::from(T::MIN), f64::from(T::MAX));
    for (o, &x) in output.iter_mut().zip(input) {
        let v = f64::from((x / scale).round()) + f64::from(zero_point);
        *o = T::saturate(v.clamp(lo, hi) as i32);
    }
    Ok(())
}

/// Requantizes `input` (zero point `input_zero_point`) into `output` (zero point
/// `output_zero_point`) with `multiplier` = `input_scale / output_scale`.
pub fn requantize<I: Q8, O: Q8>(
    multiplier: QuantizedMultiplier,
    input_zero_point: i32,
    output_zero_point: i32,
    input: &[I],
    output: &mut [O],
) -> Result<(), KernelError> {
    check_len("requantize", "output", output.len(), input.len())?;
    for (o, x) in output.iter_mut().zip(input) {
        let v = crate::fixedpoint::multiply_by_quantized_multiplier(
            x.to_i32() - input_zero_point,
            multiplier.multiplier,
            multiplier.shift,
        );
        *o = O::saturate(v.wrapping_add(output_zero_point));
    }
    Ok(())
}

/// An 8-bit to 8-bit requantization as a map of bytes: each output byte depends on its
/// input byte alone, so the 256 results, computed once by [`requantize`], are the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ByteMap {
    /// The result is the input byte XOR this (0: the same value; 0x80: int8 and uint8 of
    /// one scale with zero points 128 apart, TFLite's top-bit shortcut).
    Xor(u8),
    /// Any other: the output byte of each input byte.
    Table(Box<[u8; 256]>),
}

impl ByteMap {
    /// The map of [`requantize`] with these parameters from `I` to `O`.
    pub fn new<I: Q8, O: Q8>(
        multiplier: QuantizedMultiplier,
        input_zero_point: i32,
        output_zero_point: i32,
    ) -> ByteMap {
        let inputs: Vec<I> = (0..=255_u8).map(I::from_bits).collect();
        let mut outputs = vec![O::from_bits(0); 256];
        requantize(
            multiplier,
            input_zero_point,
            output_zero_point,
            &inputs,
            &mut outputs,
        )
        .expect("256 outputs for 256 inputs");
        let mut table = Box::new([0_u8; 256]);
        for (t, o) in table.iter_mut().zip(&outputs) {
            *t = o.to_i32() as u8;
        }
        let xor = table[0];
        if table.iter().enumerate().all(|(b, &t)| t == b as u8 ^ xor) {
            ByteMap::Xor(xor)
        } else {
            ByteMap::Table(table)
        }
    }

    /// Maps `input`'s bytes into `output`'s.
    pub fn apply(&self, input: &[u8], output: &mut [u8]) -> Result<(), KernelError> {
        check_len("requantize", "output", output.len(), input.len())?;
        let pairs = output.iter_mut().zip(input);
        match self {
            ByteMap::Xor(x) => pairs.for_each(|(o, i)| *o = i ^ x),
            ByteMap::Table(t) => pairs.for_each(|(o, &i)| *o = t[usize::from(i)]),
        }
        Ok(())
    }
}

/// Dequantizes `input` with `scale` and `zero_point` into `output`.
pub fn dequantize<T: Q8>(
    scale: f32,
    zero_point: i32,
    input: &[T],
    output: &mut [f32],
) -> Result<(), KernelError> {
    check_len("dequantize", "output", output.len(), input.len())?;
    for (o, x) in output.iter_mut().zip(input) {
        *o = (f64::from(scale) * f64::from(x.to_i32() - zero_point)) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::rescale_multiplier;

    #[test]
    fn float_quantization_rounds_half_away_from_zero() {
        let mut out = [0_i8; 6];
        quantize_f32(
            0.5,
            -1,
            &[0.25, -0.25, 0.75, 100.0, -100.0, f32::NAN],
            &mut out,
        )
        .expect("valid");
        // 0.5 -> 1 - 1 = 0; -0.5 -> -1 - 1 = -2; 1.5 -> 2 - 1 = 1; clamps; NaN -> 0.
        assert_eq!(out, [0, -2, 1, 127, -128, 0]);
    }

    #[test]
    fn int8_to_uint8_with_equal_scales_flips_the_top_bit() {
        let input: Vec<i8> = (-128..=127).collect();
        let mut out = vec![0_u8; 256];
        requantize(rescale_multiplier(0.1, 0.1), -128, 0, &input, &mut out).expect("valid");
        for (o, i) in out.iter().zip(&input) {
            assert_eq!(*o, (*i as u8) ^ 0x80);
        }
    }

    #[test]
    fn the_byte_map_is_requantize_on_every_byte() {
        // One scale, zero points 128 apart: the flip; one scale and zero point: identity.
        let flip = ByteMap::new::<u8, i8>(rescale_multiplier(0.1, 0.1), 127, -1);
        assert_eq!(flip, ByteMap::Xor(0x80));
        let same = ByteMap::new::<i8, i8>(rescale_multiplier(0.1, 0.1), 3, 3);
        assert_eq!(same, ByteMap::Xor(0));
        // Another scale: a table, whose bytes are requantize's.
        let m = rescale_multiplier(0.5, 0.25);
        let map = ByteMap::new::<u8, i8>(m, 2, 1);
        assert!(matches!(map, ByteMap::Table(_)));
        let input: Vec<u8> = (0..=255).collect();
        let (mut by_map, mut direct) = (vec![0_u8; 256], vec![0_i8; 256]);
        map.apply(&input, &mut by_map).expect("valid");
        requantize(m, 2, 1, &input, &mut direct).expect("valid");
        assert!(by_map.iter().zip(&direct).all(|(&a, &b)| a == b as u8));
        assert_eq!(by_map[10] as i8, 17);
    }

    #[test]
    fn requantization_to_another_scale() {
        let mut out = [0_i8; 3];
        // Scale 0.5 -> 0.25 doubles the offset value: (10 - 2) * 2 + 1 = 17.
        requantize(
            rescale_multiplier(0.5, 0.25),
            2,
            1,
            &[10_u8, 2, 255],
            &mut out,
        )
        .expect("valid");
        assert_eq!(out, [17, 1, 127]);
    }

    #[test]
    fn dequantization_is_exact_then_rounded() {
        let mut out = [0_f32; 2];
        dequantize(0.1, 3, &[13_u8, 0], &mut out).expect("valid");
        assert_eq!(
            out,
            [
                (0.1_f32 as f64 * 10.0) as f32,
                (0.1_f32 as f64 * -3.0) as f32
            ]
        );
    }
}
