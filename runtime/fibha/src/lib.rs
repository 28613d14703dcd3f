//! The fibha runtime library: what the `fibha` command is made of.
//!
//! It loads a quantized model, turns images or raw tensors into input tensors, runs them
//! on a backend (the int8 CPU engine today) and reports top-k classes with their labels.

#![forbid(unsafe_code)]

pub mod assets;
pub mod classify;
pub mod labels;
pub mod preprocess;
pub mod tensor_file;
