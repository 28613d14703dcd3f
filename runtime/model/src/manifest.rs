//! `manifest.json`, what ties a build directory of `fibha-compile build` together: one
//! definition for the compiler, which writes it, and the runtime, which checks it field by
//! field before it reads anything else (`fibha::instance`).
//!
//! Unknown fields are refused when reading: a layout change bumps [`FORMAT_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest's file name in a build directory.
pub const FILE_NAME: &str = "manifest.json";
/// The layout version written and read (4: the model file is in the directory).
pub const FORMAT_VERSION: u32 = 4;
/// The model file's name in a build directory: the `.tflite` the build was made from,
/// copied, so that the directory runs wherever it is copied to.
pub const MODEL_FILE: &str = "model.tflite";
/// The clocks a fabric design may run at, MHz: the fastest any ZynqMP design closes at, and
/// a floor below which no accelerator is meant (a sanity bound: modelled times divide by
/// it, so a clock of 1e-188 MHz would make them overflow).
pub const CLOCK_MHZ: std::ops::RangeInclusive<f64> = 1.0..=1000.0;

/// A file named in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Path relative to the build directory.
    pub file: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The plan hash (hardware ID, the kernel's id register), 16 hex digits.
    pub plan_hash: String,
    /// The device interface version ([`crate::device::INTERFACE_VERSION`]).
    pub interface_version: u32,
    /// The model the bundle was packed from, in the directory ([`MODEL_FILE`]): the host
    /// runs the operators before and after the accelerator's part from it.
    pub model: FileRef,
    /// The weight bundle.
    pub bundle: FileRef,
    /// Bundle format version ([`crate::device::BUNDLE_VERSION`]).
    pub bundle_format_version: u32,
    /// The plan.
    pub plan: FileRef,
    /// The HLS configuration header.
    pub hls_config: FileRef,
    /// The Vitis HLS script.
    pub hls_script: FileRef,
    /// The Vivado parameters (boards with a Vivado flow).
    pub vivado_params: Option<FileRef>,
    /// The device-tree overlay source (boards with a Vivado flow).
    pub overlay_source: Option<FileRef>,
    /// The virtual board's C-simulation kernel (unless built with `--no-vboard`).
    pub vboard_kernel: Option<FileRef>,
    /// The virtual board's instance descriptor (its `fibha.bit.bin`).
    pub vboard_instance: Option<FileRef>,
    /// The plan against the timed C simulation (`timing.json`, built with the virtual
    /// board's kernel).
    pub timing: Option<FileRef>,
    /// Minimum size of each DMA buffer, by u-dma-buf device name.
    pub buffers: BTreeMap<String, u64>,
    /// Board name.
    pub board: String,
    /// FPGA part.
    pub part: String,
    /// Accelerator clock, MHz.
    pub clock_mhz: f64,
    /// What wrote the directory.
    pub generator: String,
}

impl Manifest {
    /// Every file the manifest names, with its field; the model first.
    pub fn files(&self) -> Vec<(&'static str, &FileRef)> {
        [
            ("model", Some(&self.model)),
            ("bundle", Some(&self.bundle)),
            ("plan", Some(&self.plan)),
            ("hls_config", Some(&self.hls_config)),
            ("hls_script", Some(&self.hls_script)),
            ("vivado_params", self.vivado_params.as_ref()),
            ("overlay_source", self.overlay_source.as_ref()),
            ("vboard_kernel", self.vboard_kernel.as_ref()),
            ("vboard_instance", self.vboard_instance.as_ref()),
            ("timing", self.timing.as_ref()),
        ]
        .into_iter()
        .filter_map(|(field, file)| Some((field, file?)))
        .collect()
    }
}
