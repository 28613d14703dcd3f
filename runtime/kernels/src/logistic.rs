//! LOGISTIC (sigmoid) of an 8-bit tensor.
//!
//! TFLite's reference resolver takes, for both int8 and uint8, the lookup-table path of
//! `activations.cc` (`SigmoidPrepare` fills the table with `LUTPopulate` when the kernel type
//! is `kReference` or `kGenericOptimized`; `SigmoidEval` looks each code up with
//! `optimized_integer_ops::LookupTable`). The fixed-point `Logistic16bitPrecision` path is
//! only that of `kFixedPointOptimized`, and `reference_integer_ops::Logistic` with its input
//! multiplier only that of int16. The table is [`crate::quant::lookup_table`] of
//! [`crate::quant::sigmoid_f32`].

use crate::error::{KernelError, check_len};
use crate::quant::Q8;

/// A lookup table over every code of an 8-bit type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupTable {
    /// The bounds of the type the table was made for.
    range: (i32, i32),
    /// Entry `k` is the output for input code `range.0 + k`.
    values: Vec<i32>,
}

impl LookupTable {
    /// The table of an 8-bit type with bounds `range`, entry `k` for code `range.0 + k`, as
    /// [`crate::quant::lookup_table`] makes it.
    pub fn new(range: (i32, i32), values: Vec<i32>) -> LookupTable {
        LookupTable { range, values }
    }

    /// Maps every element of `input` through the table into `output`.
    pub fn apply<T: Q8>(&self, input: &[T], output: &mut [T]) -> Result<(), KernelError> {
        const KERNEL: &str = "lookup table";
        let codes = usize::try_from(T::MAX - T::MIN + 1).unwrap_or(0);
        if self.range != (T::MIN, T::MAX) || self.values.len() != codes {
            return Err(KernelError::InvalidParams {
                kernel: KERNEL,
                detail: format!(
                    "a table of {} values for codes {:?} applied to codes {}..={}",
                    self.values.len(),
                    self.range,
                    T::MIN,
                    T::MAX
                ),
            });
        }
        check_len(KERNEL, "output", output.len(), input.len())?;
        for (o, x) in output.iter_mut().zip(input) {
            // In range: the code minus the type's minimum is 0..=255, the table's length.
            *o = T::saturate(self.values[(x.to_i32() - T::MIN) as usize]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{lookup_table, sigmoid_f32};

    #[test]
    fn sigmoid_table_of_a_typical_int8_gate() {
        // Input scale 1/16, zero point 0; output 1/256, zero point -128 (the converter's).
        let range = (-128, 127);
        let table = LookupTable::new(
            range,
            lookup_table(range, (1.0 / 16.0, 0), (1.0 / 256.0, -128), sigmoid_f32),
        );
        let mut out = [0_i8; 3];
        table.apply(&[-128_i8, 0, 127], &mut out).expect("valid");
        // sigmoid(-8) = 0.000335 -> 0 steps; sigmoid(0) = 0.5 -> 128 steps;
        // sigmoid(7.94) = 0.99964 -> 256 steps, clamped to 255.
        assert_eq!(out, [-128, 0, 127]);
    }

    #[test]
    fn a_table_for_another_type_is_refused() {
        let range = (0, 255);
        let table = LookupTable::new(
            range,
            lookup_table(range, (0.1, 128), (1.0 / 256.0, 0), sigmoid_f32),
        );
        let mut out = [0_i8; 1];
        assert!(table.apply(&[0_i8], &mut out).is_err());
        let mut out = [0_u8; 2];
        table.apply(&[128_u8, 255], &mut out).expect("valid");
        assert_eq!(out[0], 128);
    }
}
