//! The operators fibha runs, one module each, and [`OPERATORS`], the one table that lists
//! them.
//!
//! Each module holds its operator's import: it reads the operator's options, checks its
//! operands against what the kernels need (with the checks shared with the CPU engine, in
//! [`crate::ir::Tensor`]) and gives the IR's [`Op`] with the tensors it reads. The table
//! yields the list of supported operators ([`supported_ops`]), the error for any other
//! operator and the dispatch of each operator to its import, so adding an operator is a
//! module and a row. Shape arithmetic on static shapes is not here: it never reaches the
//! graph (see `fold.rs`).

mod add;
mod concatenation;
pub(super) mod context;
mod conv2d;
mod depthwise;
mod dequantize;
mod fully_connected;
mod hard_swish;
mod logistic;
mod mean;
mod mul;
mod pad;
mod pool;
mod quantize;
mod reshape;
mod softmax;

use std::sync::LazyLock;

use super::opnames::known_name;
use super::{Result, code};
use crate::ir::{Op, TensorId};
use context::OpValidator;

/// What an operator's import gives: the IR operator and the tensors its node reads.
pub(super) type Built = (Op, Vec<TensorId>);

/// One operator fibha runs: its TFLite builtin code and its import.
pub(super) struct Registration {
    /// TFLite's builtin code of the operator.
    pub(super) code: i32,
    /// Reads and checks one operator of this kind.
    pub(super) import: fn(&OpValidator<'_, '_>) -> Result<Built>,
}

/// Every operator fibha runs, in the order error messages list them.
pub(super) static OPERATORS: &[Registration] = &[
    Registration {
        code: code::CONV_2D,
        import: conv2d::import,
    },
    Registration {
        code: code::DEPTHWISE_CONV_2D,
        import: depthwise::import,
    },
    Registration {
        code: code::ADD,
        import: add::import,
    },
    Registration {
        code: code::MUL,
        import: mul::import,
    },
    Registration {
        code: code::MEAN,
        import: mean::import,
    },
    Registration {
        code: code::AVERAGE_POOL_2D,
        import: pool::import_average,
    },
    Registration {
        code: code::MAX_POOL_2D,
        import: pool::import_max,
    },
    Registration {
        code: code::FULLY_CONNECTED,
        import: fully_connected::import,
    },
    Registration {
        code: code::RESHAPE,
        import: reshape::import,
    },
    Registration {
        code: code::SOFTMAX,
        import: softmax::import,
    },
    Registration {
        code: code::LOGISTIC,
        import: logistic::import,
    },
    Registration {
        code: code::HARD_SWISH,
        import: hard_swish::import,
    },
    Registration {
        code: code::QUANTIZE,
        import: quantize::import,
    },
    Registration {
        code: code::DEQUANTIZE,
        import: dequantize::import,
    },
    Registration {
        code: code::PAD,
        import: pad::import,
    },
    Registration {
        code: code::CONCATENATION,
        import: concatenation::import,
    },
];

/// The registration of builtin operator `code`, if fibha runs it.
pub(super) fn find(code: i32) -> Option<&'static Registration> {
    OPERATORS.iter().find(|r| r.code == code)
}

/// The operators fibha runs, comma-separated, as error messages list them.
pub fn supported_ops() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        OPERATORS
            .iter()
            .map(|r| known_name(r.code).unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    &LIST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_is_registered_once_under_its_tflite_name() {
        let mut codes: Vec<i32> = OPERATORS.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), OPERATORS.len());
        assert_eq!(
            supported_ops(),
            "CONV_2D, DEPTHWISE_CONV_2D, ADD, MUL, MEAN, AVERAGE_POOL_2D, MAX_POOL_2D, \
             FULLY_CONNECTED, RESHAPE, SOFTMAX, LOGISTIC, HARD_SWISH, QUANTIZE, DEQUANTIZE, \
             PAD, CONCATENATION"
        );
    }
}
