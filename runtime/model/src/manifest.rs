//! A deployable instance, defined once: the layout of a build directory of `fibha-compile
//! build` ([`layout`]), its `manifest.json` ([`Manifest`]), which the compiler writes and
//! the runtime checks field by field before it reads anything else (`fibha::instance`),
//! the part of the plan the runtime reads ([`PlanSummary`]), and the firmware manifest the Vivado flow writes beside the bitstream
//! ([`FirmwareManifest`]). The PetaLinux recipes install the same paths
//! (`petalinux/check.sh` checks that they name them).
//!
//! Unknown fields are refused when reading: a layout change bumps [`FORMAT_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest's file name in a build directory.
pub const FILE_NAME: &str = layout::MANIFEST;
/// The layout version written and read (5: the virtual board's files under `vboard/`, the
/// board's firmware under `bitstream/firmware/`).
pub const FORMAT_VERSION: u32 = 5;

/// Where each file of a build directory lives, relative to it.
///
/// Two fabrics can run an instance. A board loads the firmware set the Vivado flow writes
/// (`make -C bitstreams/zcu102 firmware PARAMS=DIR/vivado/params.tcl`, whose `out_dir` is
/// [`BOARD_DIR`]): [`BOARD_BITSTREAM`], [`BOARD_OVERLAY`] and [`BOARD_FIRMWARE_MANIFEST`].
/// The virtual board loads [`VBOARD_DESCRIPTOR`], which names [`VBOARD_KERNEL`], a host
/// executable that never goes to a board.
pub mod layout {
    /// `manifest.json`.
    pub const MANIFEST: &str = "manifest.json";
    /// The model the build was made from (copied).
    pub const MODEL: &str = "model.tflite";
    /// The weight bundle.
    pub const BUNDLE: &str = "model.fibha";
    /// The plan.
    pub const PLAN: &str = "plan.json";
    /// The plan against the timed C simulation.
    pub const TIMING: &str = "timing.json";
    /// The HLS configuration header.
    pub const HLS_CONFIG: &str = "fibha_config.hpp";
    /// The Vitis HLS script; its project (and the exported IP) lands beside it.
    pub const HLS_SCRIPT: &str = "hls/fibha_top.tcl";
    /// Where Vitis HLS exports the kernel IP (`hls/scripts/run_hls.tcl`'s solution `sol1`).
    pub const HLS_IP: &str = "hls/fibha_top/sol1/impl/ip";
    /// The Vivado parameters.
    pub const VIVADO_PARAMS: &str = "vivado/params.tcl";
    /// The device-tree overlay source.
    pub const OVERLAY_SOURCE: &str = "vivado/fibha.dtso";
    /// The Vivado flow's output directory (`out_dir` of [`VIVADO_PARAMS`]).
    pub const BOARD_DIR: &str = "bitstream";
    /// The firmware set a board loads, written by `make ... firmware`.
    pub const BOARD_FIRMWARE_DIR: &str = "bitstream/firmware";
    /// The bitstream (bootgen's `.bit.bin`).
    pub const BOARD_BITSTREAM: &str = "bitstream/firmware/fibha.bit.bin";
    /// The compiled device-tree overlay.
    pub const BOARD_OVERLAY: &str = "bitstream/firmware/fibha.dtbo";
    /// The firmware manifest: the plan hash and the SHA-256 of the bitstream and overlay.
    pub const BOARD_FIRMWARE_MANIFEST: &str = "bitstream/firmware/fibha.manifest.json";
    /// The virtual board's files.
    pub const VBOARD_DIR: &str = "vboard";
    /// The C-simulation kernel, a host executable.
    pub const VBOARD_KERNEL: &str = "vboard/fibha_kernel";
    /// The virtual board's bitstream, its instance descriptor.
    pub const VBOARD_DESCRIPTOR: &str = "vboard/fibha.bit.bin";
}

/// A plan hash as the manifest and the plan write it: 16 hex digits (an optional `0x`
/// accepted).
pub fn parse_plan_hash(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    (digits.len() == 16)
        .then(|| u64::from_str_radix(digits, 16).ok())
        .flatten()
}

/// The longest modelled time of one image a plan may state, ms (a sanity bound: the
/// runtime turns it into timeouts).
pub const MAX_PLAN_MS: f64 = 60_000.0;

/// The part of `plan.json` the runtime reads: the compiler's plan document
/// (`fibha_compiler::report::PlanDoc`) writes these fields among many others, and its tests
/// read every plan it writes back through this type. Other fields are ignored.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct PlanSummary {
    /// The model the plan was made from and what the host runs.
    pub model: PlanModel,
    /// The modelled figures.
    pub modelled: PlanModelled,
    /// The plan hash, 16 hex digits.
    pub plan_hash: String,
}

/// `model` of a plan.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct PlanModel {
    /// The operators the host runs (`"#63 MEAN (global pooling)"`).
    pub host: Vec<String>,
    /// The model file the plan was made from.
    pub source: PlanSource,
}

/// The model file a plan was made from: its name (what reports call the model) and hash.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct PlanSource {
    /// The file's name.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
}

/// `modelled` of a plan: the plan's own design.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct PlanModelled {
    /// FiBHA's figures.
    pub fibha: PlanFigures,
}

/// The modelled times of one design.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct PlanFigures {
    /// One image alone, ms.
    pub latency_ms: f64,
    /// Between images streaming, ms.
    pub period_ms: f64,
}

impl PlanSummary {
    /// Checks what the runtime uses: the plan hash, and modelled times in
    /// (0, [`MAX_PLAN_MS`]] ms. The error names the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.plan_hash().is_none() {
            return Err((
                "plan_hash",
                format!("{:?} is not 16 hex digits", self.plan_hash),
            ));
        }
        let figures = &self.modelled.fibha;
        for (field, ms) in [
            ("modelled.fibha.latency_ms", figures.latency_ms),
            ("modelled.fibha.period_ms", figures.period_ms),
        ] {
            if !(ms.is_finite() && ms > 0.0 && ms <= MAX_PLAN_MS) {
                return Err((
                    field,
                    format!("{ms:?} is not a time in (0, {MAX_PLAN_MS}] ms"),
                ));
            }
        }
        Ok(())
    }

    /// The plan hash.
    pub fn plan_hash(&self) -> Option<u64> {
        parse_plan_hash(&self.plan_hash)
    }

    /// The plan's host operators.
    pub fn host(&self) -> &[String] {
        &self.model.host
    }
}

/// `bitstream/firmware/fibha.manifest.json`, written by
/// `bitstreams/zcu102/scripts/write-manifest.sh`: what ties the bitstream to a plan.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct FirmwareManifest {
    /// [`FIRMWARE_FORMAT`].
    pub format: String,
    /// The plan the bitstream was built for.
    pub plan_hash: String,
    /// The bitstream's file name, beside the manifest.
    pub bitstream: String,
    /// Its SHA-256.
    pub bitstream_sha256: String,
    /// The overlay's file name, beside the manifest.
    pub overlay: String,
    /// Its SHA-256.
    pub overlay_sha256: String,
}

/// The firmware manifest format this runtime reads.
pub const FIRMWARE_FORMAT: &str = "fibha-bitstream-manifest/1";

impl FirmwareManifest {
    /// Parses and checks a firmware manifest; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<FirmwareManifest, String> {
        let m: FirmwareManifest =
            serde_json::from_slice(bytes).map_err(|e| format!("not a firmware manifest: {e}"))?;
        if m.format != FIRMWARE_FORMAT {
            return Err(format!(
                "format {:?}, this runtime reads {FIRMWARE_FORMAT:?}",
                m.format
            ));
        }
        for (field, name) in [("bitstream", &m.bitstream), ("overlay", &m.overlay)] {
            if name.is_empty() || name.contains('/') {
                return Err(format!(
                    "{field} {name:?} is not a file name beside the manifest"
                ));
            }
        }
        for (field, hash) in [
            ("bitstream_sha256", &m.bitstream_sha256),
            ("overlay_sha256", &m.overlay_sha256),
        ] {
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{field} {hash:?} is not 64 hex digits"));
            }
        }
        Ok(m)
    }
}
/// The model file's name in a build directory: the `.tflite` the build was made from,
/// copied, so that the directory runs wherever it is copied to.
pub const MODEL_FILE: &str = layout::MODEL;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `bitstreams/zcu102/scripts/write-manifest.sh` writes.
    fn written() -> serde_json::Value {
        serde_json::json!({
            "format": "fibha-bitstream-manifest/1",
            "board": "zcu102",
            "part": "xczu9eg-ffvb1156-2-e",
            "plan_hash": "90ed068d64555b6b",
            "clock_mhz": 200,
            "hp_ports": 4,
            "bitstream": "fibha.bit.bin",
            "bitstream_sha256": "ab".repeat(32),
            "overlay": "fibha.dtbo",
            "overlay_sha256": "cd".repeat(32),
            "vivado": "v2023.2",
            "wns_ns": 0.12
        })
    }

    #[test]
    fn the_vivado_flows_firmware_manifest_reads_and_bad_ones_say_why() {
        let parse = |v: &serde_json::Value| FirmwareManifest::parse(v.to_string().as_bytes());
        let m = parse(&written()).unwrap();
        assert_eq!(
            (m.plan_hash.as_str(), m.overlay.as_str()),
            ("90ed068d64555b6b", "fibha.dtbo")
        );
        for (field, value, expect) in [
            ("format", "fibha-bitstream-manifest/2", "this runtime reads"),
            ("bitstream", "../fibha.bit.bin", "not a file name"),
            ("overlay_sha256", "xyz", "not 64 hex digits"),
        ] {
            let mut v = written();
            v[field] = value.into();
            let err = parse(&v).unwrap_err();
            assert!(err.contains(expect), "{field}: {err}");
        }
        let mut v = written();
        v.as_object_mut().unwrap().remove("plan_hash");
        assert!(parse(&v).unwrap_err().contains("missing field `plan_hash`"));
    }

    #[test]
    fn the_board_firmware_is_where_the_vivado_params_send_it() {
        assert!(layout::BOARD_FIRMWARE_DIR.starts_with(layout::BOARD_DIR));
        for file in [
            layout::BOARD_BITSTREAM,
            layout::BOARD_OVERLAY,
            layout::BOARD_FIRMWARE_MANIFEST,
        ] {
            assert_eq!(
                std::path::Path::new(file).parent().unwrap(),
                std::path::Path::new(layout::BOARD_FIRMWARE_DIR)
            );
        }
    }
}
