//! The fibha runtime library: what the `fibha` command is made of.
//!
//! It loads a quantized model (a `.tflite` file, or a build directory of `fibha-compile
//! build` for the accelerator), turns images or raw tensors into input tensors, runs them
//! on a backend (the FiBHA accelerator on a ZCU102 or the virtual board, or the int8 CPU
//! engine) through a double-buffered host pipeline, and reports top-k classes, latency,
//! throughput and energy per inference.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`instance`] | a build directory, validated: manifest, plan, bundle, model, the host/accelerator split |
//! | [`session`] | the board: a real ZCU102, a given root, or a virtual board started on demand |
//! | [`accelerator`] | the driver: bitstream, identity check, DMA buffers, start/wait, recovery from faults |
//! | [`lock`] | exclusive access to the accelerator: one process at a time |
//! | [`pipeline`] | host pre, accelerator, host post, double-buffered; the CPU backend |
//! | [`prefetch`] | image inputs decoded and resized ahead on worker threads, in input order |
//! | [`inputs`], [`preprocess`], [`tensor_file`] | images and raw tensors in |
//! | [`classify`], [`labels`], [`accuracy`] | top-k, label files, top-1/top-5 over labelled folders |
//! | [`host_model`] | the host's time per image on the board's Cortex-A53, modelled from instruction counts |
//! | [`stats`], [`report`], [`plot`], [`energy`] | percentiles, timelines, reports, SVG figures, energy per inference |
//! | [`stop`] | Ctrl-C |

#![forbid(unsafe_code)]

pub mod accelerator;
pub mod accuracy;
pub mod assets;
pub mod classify;
pub mod doctor;
pub mod energy;
pub mod host_model;
pub mod inputs;
pub mod instance;
pub mod labels;
pub mod lock;
pub mod pipeline;
pub mod plot;
pub mod prefetch;
pub mod preprocess;
pub mod report;
pub mod session;
pub mod stats;
pub mod stop;
pub mod tensor_file;
