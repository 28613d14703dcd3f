//! AVERAGE_POOL_2D and MAX_POOL_2D over NHWC 8-bit tensors.
//!
//! TFLite's arithmetic (reference `AveragePool`/`MaxPool` for uint8,
//! `reference_integer_ops` for int8): the window is clipped to the image, so padded cells
//! are left out rather than counted as zeros. The average sums the raw values (zero points
//! are not subtracted: input and output share their quantization) in a wide integer and
//! divides by the number of cells with rounding half away from zero (C division truncates,
//! so `(sum + n/2) / n` for positive sums and `(sum - n/2) / n` otherwise); the maximum is
//! the largest raw value. Both are then clamped to the fused activation's range.

use crate::conv::ConvShape;
use crate::error::{KernelError, check_len};
use crate::quant::Q8;

/// Which reduction a pooling layer applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// AVERAGE_POOL_2D.
    Average,
    /// MAX_POOL_2D.
    Max,
}

/// Pools `input` into `output`; `shape.kernel` is the window, `shape.dilation` must be 1
/// and the channel counts equal. `(min, max)` is the fused activation's clamp.
pub fn pool<T: Q8>(
    kind: PoolKind,
    shape: &ConvShape,
    (min, max): (i32, i32),
    input: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    const KERNEL: &str = "pool";
    shape.check(KERNEL)?;
    if shape.dilation != [1, 1] || shape.input[2] != shape.output[2] || min > max {
        return Err(KernelError::InvalidParams {
            kernel: KERNEL,
            detail: format!(
                "dilation {:?} (must be 1), channels {} -> {} (must match), clamp [{min}, {max}]",
                shape.dilation, shape.input[2], shape.output[2]
            ),
        });
    }
    check_len(KERNEL, "input", input.len(), shape.input_len())?;
    check_len(KERNEL, "output", output.len(), shape.output_len())?;
    let [ih, iw, c] = shape.input;
    let [oh, ow, _] = shape.output;
    let window = |axis: usize, out: usize, size: usize| {
        let origin = (out * shape.stride[axis]) as isize - shape.pad[axis] as isize;
        let start = origin.max(0) as usize;
        let end = (origin + shape.kernel[axis] as isize).clamp(0, size as isize) as usize;
        start..end.max(start)
    };
    for b in 0..shape.batches {
        for oy in 0..oh {
            let rows = window(0, oy, ih);
            for ox in 0..ow {
                let cols = window(1, ox, iw);
                let count = (rows.len() * cols.len()) as i64;
                if count == 0 {
                    return Err(KernelError::InvalidParams {
                        kernel: KERNEL,
                        detail: format!("output pixel ({oy}, {ox}) has an empty window"),
                    });
                }
                let out = &mut output[((b * oh + oy) * ow + ox) * c..][..c];
                for (ch, o) in out.iter_mut().enumerate() {
                    let cells = rows.clone().flat_map(|iy| {
                        cols.clone().map(move |ix| {
                            i64::from(input[((b * ih + iy) * iw + ix) * c + ch].to_i32())
                        })
                    });
                    let v = match kind {
                        PoolKind::Average => {
                            let sum: i64 = cells.sum();
                            if sum > 0 {
                                (sum + count / 2) / count
                            } else {
                                (sum - count / 2) / count
                            }
                        }
                        PoolKind::Max => cells.max().unwrap_or(i64::MIN),
                    };
                    *o = T::saturate(v.clamp(i64::from(min), i64::from(max)) as i32);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(
        input: [usize; 3],
        output: [usize; 3],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
    ) -> ConvShape {
        ConvShape {
            batches: 1,
            input,
            output,
            kernel,
            stride,
            dilation: [1, 1],
            pad,
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        // One window of four: sums 6 (1.5 -> 2) and -6 (-1.5 -> -2), 5 (1.25 -> 1).
        let s = shape([2, 2, 3], [1, 1, 3], [2, 2], [2, 2], [0, 0]);
        let input: [i8; 12] = [1, -1, 2, 1, -1, 1, 2, -2, 1, 2, -2, 1];
        let mut out = [0_i8; 3];
        pool(PoolKind::Average, &s, (-128, 127), &input, &mut out).expect("valid");
        assert_eq!(out, [2, -2, 1]);
    }

    #[test]
    fn padded_cells_are_left_out_of_the_window() {
        // 2x2 input, 3x3 window with one cell of padding: the corner window sees four cells.
        let s = shape([2, 2, 1], [2, 2, 1], [3, 3], [1, 1], [1, 1]);
        let input: [u8; 4] = [10, 20, 30, 40];
        let mut out = [0_u8; 4];
        pool(PoolKind::Average, &s, (0, 255), &input, &mut out).expect("valid");
        assert_eq!(out, [25; 4]);
        pool(PoolKind::Max, &s, (0, 35), &input, &mut out).expect("valid");
        assert_eq!(out, [35; 4]);
    }
}
