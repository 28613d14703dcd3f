//! MEAN over any set of axes of an 8-bit tensor.
//!
//! TFLite's arithmetic (`reference_ops::QuantizedMeanOrSum`, the path its reference MEAN
//! kernel takes for int8 and uint8, `keep_dims` or not): the raw values are summed in a
//! wrapping `i32` per output element; the input zero point times the number `n` of reduced
//! elements is subtracted; the multiplier `input_scale / output_scale` is rescaled to
//! absorb `1/n` — `shift = min(floor(log2 n), 32, 31 + output_shift)`, multiplier
//! `(multiplier << shift) / n` (truncating), output shift lowered by `shift` — and applied
//! with `MultiplyByQuantizedMultiplier`; the output zero point is added and the result
//! clamped to the type's range.

use crate::conv::Scratch;
use crate::error::{KernelError, check_len};
use crate::quant::{Q8, QuantizedMultiplier};

/// The largest rank [`mean`] takes.
pub const MAX_RANK: usize = 8;

/// The multiplier applied to the zero-point-corrected sum of `count` elements.
pub fn mean_multiplier(rescale: QuantizedMultiplier, count: usize) -> QuantizedMultiplier {
    if count == 0 {
        return rescale;
    }
    let log2 = 63 - (count as u64).leading_zeros() as i32;
    let shift = log2.min(32).min(31 + rescale.shift).max(0);
    QuantizedMultiplier {
        multiplier: ((i64::from(rescale.multiplier) << shift) / count as i64) as i32,
        shift: rescale.shift - shift,
    }
}

/// The integer parameters of an 8-bit MEAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeanParams {
    /// The input zero point.
    pub input_zero_point: i32,
    /// The output zero point.
    pub output_zero_point: i32,
    /// `input_scale / output_scale` as TFLite quantizes it (before absorbing `1/n`).
    pub rescale: QuantizedMultiplier,
}

/// Means `input` of shape `shape` over `axes` into `output` (whose length is the product
/// of the kept dimensions; `keep_dims` does not change the data). The per-output sums live
/// in `scratch`, which grows to the output's length if needed.
pub fn mean<T: Q8>(
    params: &MeanParams,
    shape: &[usize],
    axes: &[usize],
    input: &[T],
    output: &mut [T],
    scratch: &mut Scratch,
) -> Result<(), KernelError> {
    const KERNEL: &str = "mean";
    if shape.len() > MAX_RANK {
        return Err(KernelError::InvalidParams {
            kernel: KERNEL,
            detail: format!("rank {} exceeds {MAX_RANK}", shape.len()),
        });
    }
    if let Some(&a) = axes.iter().find(|&&a| a >= shape.len()) {
        return Err(KernelError::InvalidParams {
            kernel: KERNEL,
            detail: format!("axis {a} is out of range for shape {shape:?}"),
        });
    }
    let reduced = |d: usize| axes.contains(&d);
    let count: usize = (0..shape.len())
        .filter(|&d| reduced(d))
        .map(|d| shape[d])
        .product();
    let kept: usize = (0..shape.len())
        .filter(|&d| !reduced(d))
        .map(|d| shape[d])
        .product();
    check_len(KERNEL, "input", input.len(), shape.iter().product())?;
    check_len(KERNEL, "output", output.len(), kept)?;
    // Stride of each input dimension in the output (0 for reduced ones).
    let mut out_strides = [0_usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..shape.len()).rev() {
        if !reduced(d) {
            out_strides[d] = stride;
            stride *= shape[d];
        }
    }
    scratch.reserve_for(crate::conv::ScratchNeed {
        acc: kept,
        ..Default::default()
    });
    let sums = &mut scratch.acc[..kept];
    sums.fill(0);
    // Where the last dimension is kept (MobileNet's global pooling over height and width
    // of NHWC), each run of it adds to a run of consecutive sums, which vectorizes; the
    // multi-index then only walks the outer dimensions.
    let last = shape.len().saturating_sub(1);
    let (run, outer) = match shape.last() {
        Some(&n) if !reduced(last) => (n, last),
        _ => (1, shape.len()),
    };
    let mut index = [0_usize; MAX_RANK];
    let mut at = 0_usize;
    for xs in input.chunks_exact(run.max(1)) {
        for (s, x) in sums[at..at + run].iter_mut().zip(xs) {
            *s = s.wrapping_add(x.to_i32());
        }
        // Advance the multi-index (last dimension fastest) and the output position.
        for d in (0..outer).rev() {
            index[d] += 1;
            at += out_strides[d];
            if index[d] < shape[d] {
                break;
            }
            at -= out_strides[d] * shape[d];
            index[d] = 0;
        }
    }
    if count == 0 {
        return Ok(());
    }
    let m = mean_multiplier(params.rescale, count);
    let correction = i64::from(params.input_zero_point) * count as i64;
    for (o, &s) in output.iter_mut().zip(sums.iter()) {
        let shifted = (i64::from(s) - correction) as i32;
        let v = crate::fixedpoint::multiply_by_quantized_multiplier(shifted, m.multiplier, m.shift);
        *o = T::saturate(v.wrapping_add(params.output_zero_point));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::rescale_multiplier;
    use proptest::prelude::*;

    /// MEAN computed directly: for each output element, the sum of the input elements
    /// whose kept coordinates are its own.
    fn mean_direct(params: &MeanParams, shape: &[usize], axes: &[usize], input: &[i8]) -> Vec<i8> {
        let rank = shape.len();
        let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
        let out_len: usize = kept.iter().map(|&d| shape[d]).product();
        let count: usize = (0..rank)
            .filter(|d| axes.contains(d))
            .map(|d| shape[d])
            .product();
        let mut sums = vec![0_i32; out_len];
        for (i, &x) in input.iter().enumerate() {
            let mut rest = i;
            let mut coords = vec![0; rank];
            for d in (0..rank).rev() {
                coords[d] = rest % shape[d];
                rest /= shape[d];
            }
            let at = kept.iter().fold(0, |at, &d| at * shape[d] + coords[d]);
            sums[at] = sums[at].wrapping_add(i32::from(x));
        }
        let m = mean_multiplier(params.rescale, count);
        let correction = i64::from(params.input_zero_point) * count as i64;
        sums.iter()
            .map(|&s| {
                let shifted = (i64::from(s) - correction) as i32;
                let v = crate::fixedpoint::multiply_by_quantized_multiplier(
                    shifted,
                    m.multiplier,
                    m.shift,
                );
                i8::saturate(v.wrapping_add(params.output_zero_point))
            })
            .collect()
    }

    fn mean_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<i8>, i32, i32)> {
        (proptest::collection::vec(1_usize..6, 1..5), any::<u8>()).prop_flat_map(|(shape, mask)| {
            let axes: Vec<usize> = (0..shape.len()).filter(|d| mask >> d & 1 == 1).collect();
            let len: usize = shape.iter().product();
            (
                Just(shape),
                Just(axes),
                proptest::collection::vec(any::<i8>(), len),
                -128_i32..=127,
                -128_i32..=127,
            )
        })
    }

    proptest! {
        #[test]
        fn mean_matches_the_direct_sum((shape, axes, input, zi, zo) in mean_case()) {
            let params = MeanParams {
                input_zero_point: zi,
                output_zero_point: zo,
                rescale: rescale_multiplier(0.03, 0.02),
            };
            let want = mean_direct(&params, &shape, &axes, &input);
            let mut got = vec![0_i8; want.len()];
            mean(&params, &shape, &axes, &input, &mut got, &mut Scratch::new()).expect("valid");
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn spatial_mean_of_a_constant_is_the_constant() {
        let params = MeanParams {
            input_zero_point: -128,
            output_zero_point: -128,
            rescale: rescale_multiplier(0.02, 0.02),
        };
        let input = vec![7_i8; 7 * 7 * 3];
        let mut out = [0_i8; 3];
        mean(
            &params,
            &[1, 7, 7, 3],
            &[1, 2],
            &input,
            &mut out,
            &mut Scratch::new(),
        )
        .expect("valid");
        assert_eq!(out, [7; 3]);
    }

    #[test]
    fn mean_over_the_last_axis() {
        let params = MeanParams {
            input_zero_point: 0,
            output_zero_point: 0,
            rescale: rescale_multiplier(1.0, 1.0),
        };
        // Rows [1, 2] and [3, 6]: means 1.5 -> 2 and 4.5 -> 5 (rounding up at ties here).
        let mut out = [0_u8; 2];
        mean(
            &params,
            &[2, 2],
            &[1],
            &[1_u8, 2, 3, 6],
            &mut out,
            &mut Scratch::new(),
        )
        .expect("valid");
        assert_eq!(out, [2, 5]);
        // Over the first axis: columns [1, 3] and [2, 6] -> 2 and 4.
        mean(
            &params,
            &[2, 2],
            &[0],
            &[1_u8, 2, 3, 6],
            &mut out,
            &mut Scratch::new(),
        )
        .expect("valid");
        assert_eq!(out, [2, 4]);
    }

    #[test]
    fn multiplier_absorbs_the_count() {
        let m = mean_multiplier(
            QuantizedMultiplier {
                multiplier: 1 << 30,
                shift: 1,
            },
            49,
        );
        // 1.0 / 49 with the shift lowered by 5.
        assert_eq!(m.shift, -4);
        assert_eq!(m.multiplier, ((1_i64 << 35) / 49) as i32);
    }
}
