//! fibha's model format, shared by the runtime and the compiler.
//!
//! A model is a [`Graph`]: tensors (activations and constants, with their TFLite
//! quantization) and nodes in execution order. [`tflite::load`] builds one from a `.tflite`
//! file and refuses, before any inference, anything fibha cannot run exactly: unsupported
//! operators, float models, inconsistent shapes. Tensor ids are the tensor indices of the
//! TFLite file, so an id names the same tensor in fibha and in the TFLite interpreter.
//!
//! This crate depends on no other fibha crate: the runtime and the tools both build on it.

mod error;
mod ir;
pub mod tflite;

pub use error::ModelError;
pub use ir::{
    Activation, Conv2d, DType, DepthwiseConv2d, Graph, Node, Op, Padding, Pool2d, Quantization,
    Tensor, TensorId,
};
