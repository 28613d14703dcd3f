//! PAD of an 8-bit tensor with its zero point.
//!
//! TFLite's arithmetic (reference `Pad` for quantized tensors without a constant value):
//! the output is the input surrounded, along each dimension, by the given number of
//! elements before and after, all equal to the output zero point (which is the input's:
//! PAD does not requantize).

use crate::error::{KernelError, check_len};

/// The largest rank [`pad`] takes.
pub const MAX_RANK: usize = 8;

/// Pads `input` of shape `shape` by `paddings[d] = [before, after]` into `output`, filling
/// with `value`.
pub fn pad<T: Copy>(
    shape: &[usize],
    paddings: &[[usize; 2]],
    value: T,
    input: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    const KERNEL: &str = "pad";
    if shape.len() > MAX_RANK || paddings.len() != shape.len() || shape.is_empty() {
        return Err(KernelError::InvalidParams {
            kernel: KERNEL,
            detail: format!(
                "shape {shape:?} with paddings {paddings:?} (rank 1..={MAX_RANK}, one pair per dimension)"
            ),
        });
    }
    let rank = shape.len();
    let mut out_shape = [0_usize; MAX_RANK];
    for (o, (n, [a, b])) in out_shape.iter_mut().zip(shape.iter().zip(paddings)) {
        *o = n + a + b;
    }
    check_len(KERNEL, "input", input.len(), shape.iter().product())?;
    check_len(
        KERNEL,
        "output",
        output.len(),
        out_shape[..rank].iter().product(),
    )?;
    output.fill(value);
    let inner = shape[rank - 1];
    if inner == 0 || input.is_empty() {
        return Ok(());
    }
    // Output strides, last dimension fastest.
    let mut strides = [0_usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..rank).rev() {
        strides[d] = stride;
        stride *= out_shape[d];
    }
    let mut index = [0_usize; MAX_RANK];
    for row in input.chunks_exact(inner) {
        let at: usize = (0..rank)
            .map(|d| (index[d] + paddings[d][0]) * strides[d])
            .sum();
        output[at..at + inner].copy_from_slice(row);
        // Advance over all dimensions but the last.
        for d in (0..rank - 1).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_height_and_width_of_an_nhwc_tensor() {
        // [1, 2, 2, 1] padded by one row before and one column after.
        let mut out = [0_i8; 3 * 3];
        pad(
            &[1, 2, 2, 1],
            &[[0, 0], [1, 0], [0, 1], [0, 0]],
            -5,
            &[1, 2, 3, 4],
            &mut out,
        )
        .expect("valid");
        assert_eq!(out, [-5, -5, -5, 1, 2, -5, 3, 4, -5]);
    }

    #[test]
    fn pads_the_last_dimension() {
        let mut out = [9_u8; 2 * 4];
        pad(&[2, 2], &[[0, 0], [1, 1]], 0, &[1, 2, 3, 4], &mut out).expect("valid");
        assert_eq!(out, [0, 1, 2, 0, 0, 3, 4, 0]);
    }
}
