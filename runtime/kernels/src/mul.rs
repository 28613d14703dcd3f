//! MUL of two 8-bit tensors, one of them broadcast or both of one shape.
//!
//! TFLite's arithmetic (reference `MulElementwise`/`BroadcastMul6DSlow`: `reference_ops` for
//! uint8, `reference_integer_ops` for int8, the same formula): each input gets its offset
//! (minus its zero point), the two are multiplied in `i32`, the product is scaled to the
//! output with `MultiplyByQuantizedMultiplier` (the multiplier of `input1_scale *
//! input2_scale / output_scale`, [`crate::quant::mul_multiplier`]), the output zero point is
//! added and the result clamped to the fused activation's range. Broadcasting follows
//! NumPy's rules over up to [`fibha_model::MAX_BROADCAST_RANK`] dimensions; which element of
//! each input meets which is all it changes.

use fibha_model::MAX_BROADCAST_RANK;

use crate::error::{KernelError, check_len};
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::quant::{Q8, QuantizedMultiplier};

/// The integer parameters of an 8-bit MUL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulParams {
    /// Minus the zero point of input 1.
    pub input1_offset: i32,
    /// Minus the zero point of input 2.
    pub input2_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// The multiplier of the product to the output.
    pub multiplier: QuantizedMultiplier,
    /// Lower clamp.
    pub min: i32,
    /// Upper clamp.
    pub max: i32,
}

impl MulParams {
    /// Checks the multiplier and the clamp. TFLite's `x * (1 << shift)` needs a shift below
    /// 31; its preparation gives such shifts for any multiplier below 2^30.
    fn check(&self) -> Result<(), KernelError> {
        let m = self.multiplier;
        if m.multiplier < 0 || !(-31..=30).contains(&m.shift) || self.min > self.max {
            return Err(KernelError::InvalidParams {
                kernel: "mul",
                detail: format!("parameters out of range: {self:?}"),
            });
        }
        Ok(())
    }

    /// The output value for inputs `a` and `b`.
    #[inline(always)]
    fn apply(&self, a: i32, b: i32) -> i32 {
        // 8-bit values with 8-bit offsets: the product fits i32 (at most 2 * 255^2 in magnitude).
        let product = (a + self.input1_offset) * (b + self.input2_offset);
        multiply_by_quantized_multiplier(product, self.multiplier.multiplier, self.multiplier.shift)
            .wrapping_add(self.output_offset)
            .clamp(self.min, self.max)
    }
}

/// Which element of each input meets each output element: the output's dimensions and each
/// input's strides along them (0 where the input is broadcast), at most
/// [`MAX_BROADCAST_RANK`] dimensions, all derived once, so running allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broadcast {
    rank: usize,
    dims: [usize; MAX_BROADCAST_RANK],
    strides: [[usize; MAX_BROADCAST_RANK]; 2],
    lens: [usize; 2],
}

impl Broadcast {
    /// The broadcast of inputs of shapes `a` and `b` to the output shape `out` (NumPy's
    /// rules, shapes aligned at their last dimension); an error if they do not broadcast to
    /// it.
    pub fn new(a: &[usize], b: &[usize], out: &[usize]) -> Result<Broadcast, String> {
        let rank = out.len().max(1);
        if rank > MAX_BROADCAST_RANK || a.len() > out.len() || b.len() > out.len() {
            return Err(format!(
                "shapes {a:?} and {b:?} do not broadcast to {out:?} (at most {MAX_BROADCAST_RANK} dimensions)"
            ));
        }
        let mut dims = [1; MAX_BROADCAST_RANK];
        dims[rank - out.len()..rank].copy_from_slice(out);
        let mut strides = [[0; MAX_BROADCAST_RANK]; 2];
        let mut lens = [1; 2];
        for (k, shape) in [a, b].into_iter().enumerate() {
            let offset = rank - shape.len();
            let mut stride = 1_usize;
            for d in (0..rank).rev() {
                let n = if d >= offset { shape[d - offset] } else { 1 };
                if n == dims[d] {
                    strides[k][d] = if n == 1 { 0 } else { stride };
                } else if n != 1 {
                    return Err(format!(
                        "shapes {a:?} and {b:?} do not broadcast to {out:?}"
                    ));
                }
                stride = stride.saturating_mul(n);
            }
            lens[k] = stride;
        }
        Ok(Broadcast {
            rank,
            dims,
            strides,
            lens,
        })
    }

    /// Number of output elements.
    pub fn len(&self) -> usize {
        self.dims[..self.rank].iter().product()
    }

    /// Whether the output has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f(output index, index in a, index in b)` for every output element in order.
    #[inline(always)]
    fn for_each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let total = self.len();
        if total == 0 {
            return;
        }
        let last = self.rank - 1;
        let inner = self.dims[last];
        let [sa, sb] = self.strides;
        let mut index = [0_usize; MAX_BROADCAST_RANK];
        let (mut ia, mut ib) = (0, 0);
        for outer in 0..total / inner {
            for k in 0..inner {
                f(outer * inner + k, ia + k * sa[last], ib + k * sb[last]);
            }
            // An odometer over the outer dimensions, innermost first.
            for d in (0..last).rev() {
                index[d] += 1;
                ia += sa[d];
                ib += sb[d];
                if index[d] < self.dims[d] {
                    break;
                }
                ia -= sa[d] * self.dims[d];
                ib -= sb[d] * self.dims[d];
                index[d] = 0;
            }
        }
    }
}

/// `output = a * b` with broadcasting, as TFLite's 8-bit MUL computes it.
pub fn mul<T: Q8>(
    params: &MulParams,
    broadcast: &Broadcast,
    a: &[T],
    b: &[T],
    output: &mut [T],
) -> Result<(), KernelError> {
    params.check()?;
    check_len("mul", "input 1", a.len(), broadcast.lens[0])?;
    check_len("mul", "input 2", b.len(), broadcast.lens[1])?;
    check_len("mul", "output", output.len(), broadcast.len())?;
    if a.len() == output.len() && b.len() == output.len() {
        // One shape: TFLite's elementwise loop.
        for ((o, x), y) in output.iter_mut().zip(a).zip(b) {
            *o = T::saturate(params.apply(x.to_i32(), y.to_i32()));
        }
    } else {
        broadcast.for_each(|i, ia, ib| {
            output[i] = T::saturate(params.apply(a[ia].to_i32(), b[ib].to_i32()));
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::mul_multiplier;
    use proptest::prelude::*;

    fn params(multiplier: QuantizedMultiplier) -> MulParams {
        MulParams {
            input1_offset: 0,
            input2_offset: 0,
            output_offset: 0,
            multiplier,
            min: -128,
            max: 127,
        }
    }

    #[test]
    fn squeeze_and_excitation_broadcast_scales_each_channel() {
        // [1, 2, 2, 3] x [1, 1, 1, 3]; scales 1 * 1 / 1: plain products.
        let p = params(mul_multiplier(1.0, 1.0, 1.0));
        let bc = Broadcast::new(&[1, 2, 2, 3], &[1, 1, 1, 3], &[1, 2, 2, 3]).expect("broadcasts");
        let a: Vec<i8> = (0..12).collect();
        let mut out = [0_i8; 12];
        mul(&p, &bc, &a, &[1, 2, 3], &mut out).expect("valid");
        assert_eq!(out, [0, 2, 6, 3, 8, 15, 6, 14, 24, 9, 20, 33]);
        // The gate first, as input 1.
        let bc = Broadcast::new(&[1, 1, 1, 3], &[1, 2, 2, 3], &[1, 2, 2, 3]).expect("broadcasts");
        let mut swapped = [0_i8; 12];
        mul(&p, &bc, &[1, 2, 3], &a, &mut swapped).expect("valid");
        assert_eq!(swapped, out);
    }

    #[test]
    fn shapes_that_do_not_broadcast_are_refused() {
        assert!(Broadcast::new(&[1, 2, 2, 3], &[1, 1, 1, 2], &[1, 2, 2, 3]).is_err());
        assert!(Broadcast::new(&[2, 3], &[3], &[3]).is_err());
        assert!(Broadcast::new(&[1; 7], &[1], &[1; 7]).is_err());
        let bc = Broadcast::new(&[2, 3], &[3], &[2, 3]).expect("broadcasts");
        let mut out = [0_u8; 6];
        let p = params(mul_multiplier(1.0, 1.0, 1.0));
        // An input shorter than its shape is an error, not a panic.
        assert!(mul(&p, &bc, &[1_u8; 5], &[1; 3], &mut out).is_err());
    }

    proptest! {
        #[test]
        fn broadcasting_equals_numpy_indexing(
            dims in prop::collection::vec(1_usize..4, 1..=5),
            mask_a in prop::collection::vec(any::<bool>(), 5),
            mask_b in prop::collection::vec(any::<bool>(), 5),
            drop_a in 0_usize..3,
        ) {
            // Each input keeps or broadcasts (1) each output dimension; a may lose leading ones.
            let a: Vec<usize> = dims.iter().zip(&mask_a).map(|(&d, &k)| if k { d } else { 1 }).collect();
            let b: Vec<usize> = dims.iter().zip(&mask_b).map(|(&d, &k)| if k { d } else { 1 }).collect();
            let a = a[drop_a.min(a.len() - 1)..].to_vec();
            let bc = Broadcast::new(&a, &b, &dims).expect("broadcasts");
            let index_of = |shape: &[usize], coords: &[usize]| {
                let offset = coords.len() - shape.len();
                shape.iter().enumerate().fold(0, |acc, (d, &n)| {
                    acc * n + if n == 1 { 0 } else { coords[d + offset] }
                })
            };
            let mut seen = Vec::new();
            bc.for_each(|i, ia, ib| seen.push((i, ia, ib)));
            prop_assert_eq!(seen.len(), dims.iter().product::<usize>());
            for (i, ia, ib) in seen {
                let mut coords = vec![0; dims.len()];
                let mut rest = i;
                for d in (0..dims.len()).rev() {
                    coords[d] = rest % dims[d];
                    rest /= dims[d];
                }
                prop_assert_eq!(ia, index_of(&a, &coords));
                prop_assert_eq!(ib, index_of(&b, &coords));
            }
        }
    }
}
