//! `fibha-compile`'s library: from a quantized CNN and a board budget to a FiBHA
//! accelerator instance.
//!
//! Data flows one way through the modules:
//! - [`board`]: board budgets (TOML data files) and the [`board::Budget`] a plan must fit;
//! - [`network`]: the compiler's layer IR and bottleneck grouping, built by [`import`]
//!   (from a `.tflite` through `fibha_model`) or [`topology`] (from a topology file);
//! - [`cost`]: per-layer cycles, requantizers, buffers and BRAM mapping; [`seml`]: the
//!   SEML engines' phases; [`design`]: evaluation of a whole design (SESL pipeline, SEML
//!   engines, hybrid);
//! - [`planner`]: SplitCNN, the exhaustive search, pure SEML and SESL designs;
//!   [`seml_baseline`]: the SEML design the papers compare FiBHA with;
//! - [`host`]: the host CPU's share of a plan (the operators the engines do not run);
//! - [`report`]: the plan document (`plan.json`) and its text rendering, and the
//!   per-plan ratios; [`comparison`]: models x boards beside the published figures, with
//!   the modelling choices that explain each difference; [`sweep`]: budget sweeps and
//!   their SVG;
//! - [`hw`]: the hardware a plan describes (what the HLS configuration is generated from
//!   and the plan hash covers); [`codegen`] (the HLS configuration header), [`pack`]
//!   (requantization parameters, weights and descriptors into the weight bundle, whose
//!   format is `fibha_model::bundle`), [`overlay`] (the device-tree overlay), tied together
//!   by [`build`] with the Vitis and Vivado scripts and the virtual board's kernel.
//!
//! Every figure computed here is a model estimate and is labelled "modelled" wherever it is
//! shown.

#![forbid(unsafe_code)]

pub mod board;
pub mod build;
pub mod codegen;
pub mod comparison;
pub mod cost;
pub mod design;
pub mod host;
pub mod hw;
pub mod import;
pub mod models;
pub mod network;
pub mod overlay;
pub mod pack;
pub mod planner;
pub mod report;
pub mod seml;
pub mod seml_baseline;
pub mod sweep;
pub mod timing;
pub mod topology;
