//! int8/uint8 kernels bit-exact with TensorFlow Lite's reference kernels, and
//! [`CpuEngine`], which runs a whole [`fibha_model::Graph`] with them.
//!
//! This crate is fibha's golden model: the accelerator, its C simulation and the virtual
//! board are checked against it, and it runs the layers the accelerator leaves to the CPU.
//! Each kernel module states the TFLite arithmetic it reproduces. The pure kernels take
//! slices and explicit parameter structs (no IR types) so that test-bench generators can
//! call them directly; [`quant`] derives those parameters from a model's float scales
//! exactly as TFLite's `Prepare` functions do. Convolutions, depthwise convolutions and
//! fully-connected layers come in two forms, a plain loop nest (`*_reference`) and a fast
//! prepared kernel; property tests hold them to the same bytes.
// The one exception, `gemm_vnni`, enters a kernel compiled for AVX-512 VNNI, which pulp
// does not wrap, through one audited call.
#![deny(unsafe_code)]

pub mod add;
mod arena;
pub mod concat;
pub mod conv;
pub mod depthwise;
mod engine;
mod error;
pub mod fixedpoint;
pub mod fully_connected;
mod gemm;
#[cfg(target_arch = "aarch64")]
mod gemm_neon;
#[cfg(target_arch = "x86_64")]
mod gemm_vnni;
pub mod hard_swish;
pub mod logistic;
pub mod mean;
pub mod mul;
mod ops;
pub mod pad;
pub mod pool;
pub mod quant;
pub mod quantize;
mod simd;
pub mod softmax;

pub use engine::{CpuEngine, EngineOptions, NodeProfile};
pub use error::KernelError;
