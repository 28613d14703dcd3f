//! A build directory of `fibha-compile build`: the accelerator instance the board backend
//! drives, checked as a whole before anything touches a device.
//!
//! The directory holds `manifest.json` (plan hash, interface and bundle versions, the files
//! and their SHA-256, the DMA buffer sizes, the clock), `plan.json` (which graph operators
//! run on the host, the modelled figures), the weight bundle, and the bitstream:
//! `fibha.bit.bin`, which for the virtual board is its instance descriptor.
//!
//! Invariants of an [`Instance`]: the manifest, the plan and the bundle carry the same plan
//! hash and the interface and bundle versions this runtime speaks; the bundle's bytes are
//! those the manifest hashed and pass [`fibha_model::bundle`]'s validation; the model the
//! bundle was packed from is loaded and is byte for byte the manifest's (SHA-256); and the
//! [`Split`] is contiguous: host operators before the accelerator, the accelerator's, then
//! host operators after it, with the accelerator's input and output tensors exactly the
//! sizes the bundle header announces.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fibha_model::bundle::{Bundle, BundleError};
use fibha_model::device::{BUNDLE_VERSION, INTERFACE_VERSION};
use fibha_model::timing::TimingReport;
use fibha_model::{DType, Graph, ModelError, TensorId};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest's file name in a build directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest layout this runtime reads.
pub const MANIFEST_FORMAT_VERSION: u32 = 3;
/// The bitstream's file name: a `.bit.bin` from the Vivado flow on a board, the instance
/// descriptor for the virtual board (the virtual board loads it the same way).
pub const BITSTREAM: &str = "fibha.bit.bin";
/// Where a compiled device-tree overlay is looked for, in order.
pub const OVERLAYS: [&str; 2] = ["fibha.dtbo", "vivado/fibha.dtbo"];

/// Why a build directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// A file of the directory is missing or unreadable.
    #[error("{}: cannot read {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What it is.
        what: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not a build directory at all.
    #[error(
        "{}: not a build directory of `fibha-compile build` (no {MANIFEST}); the board backend needs one: `fibha-compile build MODEL.tflite --board zcu102 -o DIR`",
        dir.display()
    )]
    NotABuild {
        /// The directory.
        dir: PathBuf,
    },
    /// A JSON document that does not parse.
    #[error("{}: {detail}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        detail: String,
    },
    /// A version this runtime does not speak.
    #[error(
        "{}: {what} is version {found}, this runtime reads version {expected}; rebuild the directory with the matching fibha-compile",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Which version.
        what: &'static str,
        /// The version found.
        found: u32,
        /// The version this runtime speaks.
        expected: u32,
    },
    /// Two files of the directory disagree.
    #[error("{}: {detail}", dir.display())]
    Inconsistent {
        /// The directory.
        dir: PathBuf,
        /// What disagrees.
        detail: String,
    },
    /// A file whose SHA-256 is not the manifest's.
    #[error(
        "{}: SHA-256 {found} differs from the manifest's {expected}: the file changed after the build",
        path.display()
    )]
    Hash {
        /// The file.
        path: PathBuf,
        /// Its hash.
        found: String,
        /// The manifest's.
        expected: String,
    },
    /// The model file the bundle was packed from was not found.
    #[error(
        "{}: the model {file} (SHA-256 {sha256}) is neither in the directory nor among the shipped models ({})",
        dir.display(), searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoModel {
        /// The build directory.
        dir: PathBuf,
        /// The manifest's model file name.
        file: String,
        /// Its hash.
        sha256: String,
        /// Where it was looked for.
        searched: Vec<PathBuf>,
    },
    /// The model did not load.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The bundle did not validate.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The plan's host operators do not cut the graph into host, accelerator, host.
    #[error("{}: {detail}", plan.display())]
    Split {
        /// The plan file.
        plan: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// A file named in the manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct FileRef {
    /// Path relative to the build directory.
    pub file: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// The part of `manifest.json` the runtime uses (other fields are ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub format_version: u32,
    /// The plan hash, 16 hex digits.
    pub plan_hash: String,
    /// The register interface version.
    pub interface_version: u32,
    /// The model the bundle was packed from.
    pub model: FileRef,
    /// The weight bundle.
    pub bundle: FileRef,
    /// The bundle format version.
    pub bundle_format_version: u32,
    /// The plan document.
    pub plan: FileRef,
    /// The plan against the timed C simulation (absent when built without the virtual board).
    #[serde(default)]
    pub timing: Option<FileRef>,
    /// Minimum DMA buffer sizes by u-dma-buf name.
    pub buffers: BTreeMap<String, u64>,
    /// Board name.
    pub board: String,
    /// Accelerator clock, MHz.
    pub clock_mhz: f64,
}

#[derive(Debug, Deserialize)]
struct PlanModel {
    host: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct PlanFigures {
    latency_ms: f64,
    period_ms: f64,
}

#[derive(Debug, Deserialize)]
struct PlanModelled {
    fibha: PlanFigures,
}

/// The part of `plan.json` the runtime uses.
#[derive(Debug, Deserialize)]
struct PlanDoc {
    model: PlanModel,
    modelled: PlanModelled,
    plan_hash: String,
}

/// Where the graph is cut: which nodes (indices into the graph's execution order) run on
/// the host before the accelerator, on the accelerator, and on the host after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Host nodes before the accelerator (e.g. the input QUANTIZE).
    pub head: Range<usize>,
    /// The nodes the accelerator runs.
    pub accelerator: Range<usize>,
    /// Host nodes after the accelerator (pooling, classifier, softmax, ...).
    pub tail: Range<usize>,
    /// The tensor the accelerator reads (int8 NHWC).
    pub accel_input: TensorId,
    /// The tensor the accelerator writes (int8 NHWC).
    pub accel_output: TensorId,
}

/// The modelled figures of the plan (the compiler's analytical model, not measurements).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanFiguresModelled {
    /// Latency of one image, seconds.
    pub latency_s: f64,
    /// Period between images when the SESL and SEML parts overlap, seconds.
    pub period_s: f64,
}

/// Reads and validates the build's timing report, checked against its manifest hash.
fn read_timing(dir: &Path, file: &FileRef) -> Result<TimingReport, InstanceError> {
    let path = dir.join(&file.file);
    let bytes = read_file(&path, "the timing report")?;
    check_hash(&path, &bytes, &file.sha256)?;
    let report: TimingReport = serde_json::from_slice(&bytes).map_err(|e| InstanceError::Json {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    report
        .validate()
        .map_err(|detail| InstanceError::Json { path, detail })?;
    Ok(report)
}

/// A validated build directory.
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// The plan hash, as a number.
    pub plan_hash: u64,
    /// The validated weight bundle.
    pub bundle: Bundle,
    /// The model graph (the host runs its head and tail).
    pub graph: Arc<Graph>,
    /// Where the graph is cut.
    pub split: Split,
    /// The plan's modelled figures.
    pub modelled: PlanFiguresModelled,
    /// The plan against the timed C simulation of its HLS code, when the build has it.
    pub timing: Option<TimingReport>,
}

impl Instance {
    /// Opens and validates the build directory `dir`.
    pub fn open(dir: &Path) -> Result<Instance, InstanceError> {
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.is_file() {
            return Err(InstanceError::NotABuild {
                dir: dir.to_path_buf(),
            });
        }
        let manifest: Manifest = read_json(&manifest_path, "the manifest")?;
        check_version(
            &manifest_path,
            "the manifest layout",
            manifest.format_version,
            MANIFEST_FORMAT_VERSION,
        )?;
        check_version(
            &manifest_path,
            "the register interface",
            manifest.interface_version,
            INTERFACE_VERSION,
        )?;
        check_version(
            &manifest_path,
            "the bundle format",
            manifest.bundle_format_version,
            BUNDLE_VERSION,
        )?;
        let plan_hash = parse_hash(&manifest.plan_hash).ok_or_else(|| InstanceError::Json {
            path: manifest_path.clone(),
            detail: format!("plan_hash {:?} is not 16 hex digits", manifest.plan_hash),
        })?;
        let plan_path = dir.join(&manifest.plan.file);
        let plan: PlanDoc = read_json(&plan_path, "the plan")?;
        if parse_hash(&plan.plan_hash) != Some(plan_hash) {
            return Err(InstanceError::Inconsistent {
                dir: dir.to_path_buf(),
                detail: format!(
                    "{} has plan hash {}, the manifest {}",
                    manifest.plan.file, plan.plan_hash, manifest.plan_hash
                ),
            });
        }
        let bundle_path = dir.join(&manifest.bundle.file);
        let bytes = read_file(&bundle_path, "the weight bundle")?;
        check_hash(&bundle_path, &bytes, &manifest.bundle.sha256)?;
        let bundle = Bundle::from_bytes(bytes, &bundle_path, Some(plan_hash))?;
        let graph = Arc::new(load_model(dir, &manifest.model)?);
        let split = split(&graph, &plan.model.host, &plan_path)?;
        check_io_sizes(&graph, &split, &bundle, &plan_path)?;
        let timing = match &manifest.timing {
            Some(file) => Some(read_timing(dir, file)?),
            None => None,
        };
        Ok(Instance {
            dir: dir.to_path_buf(),
            plan_hash,
            bundle,
            graph,
            split,
            modelled: PlanFiguresModelled {
                latency_s: plan.modelled.fibha.latency_ms * 1e-3,
                period_s: plan.modelled.fibha.period_ms * 1e-3,
            },
            timing,
            manifest,
        })
    }

    /// The build directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bitstream to load (see [`BITSTREAM`]).
    pub fn bitstream(&self) -> PathBuf {
        self.dir.join(BITSTREAM)
    }

    /// The compiled device-tree overlay, when the directory has one.
    pub fn overlay(&self) -> Option<PathBuf> {
        OVERLAYS
            .iter()
            .map(|rel| self.dir.join(rel))
            .find(|p| p.is_file())
    }

    /// Bytes the accelerator reads from its input buffer.
    pub fn input_bytes(&self) -> usize {
        self.bundle.view().header().input_bytes.get() as usize
    }

    /// Bytes the accelerator writes to its output buffer.
    pub fn output_bytes(&self) -> usize {
        self.bundle.view().header().output_bytes.get() as usize
    }

    /// Bytes of scratch the accelerator needs.
    pub fn scratch_bytes(&self) -> usize {
        self.bundle.view().header().scratch_bytes.get() as usize
    }

    /// The accelerator's clock in Hz.
    pub fn clock_hz(&self) -> f64 {
        self.manifest.clock_mhz * 1e6
    }
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, InstanceError> {
    std::fs::read(path).map_err(|source| InstanceError::Io {
        path: path.to_path_buf(),
        what,
        source,
    })
}

fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T, InstanceError> {
    let bytes = read_file(path, what)?;
    serde_json::from_slice(&bytes).map_err(|e| InstanceError::Json {
        path: path.to_path_buf(),
        detail: format!("{what} does not parse: {e}"),
    })
}

fn check_version(
    path: &Path,
    what: &'static str,
    found: u32,
    expected: u32,
) -> Result<(), InstanceError> {
    if found == expected {
        Ok(())
    } else {
        Err(InstanceError::Version {
            path: path.to_path_buf(),
            what,
            found,
            expected,
        })
    }
}

/// 16 hex digits (an optional `0x` accepted).
fn parse_hash(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    (digits.len() == 16)
        .then(|| u64::from_str_radix(digits, 16).ok())
        .flatten()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_hash(path: &Path, bytes: &[u8], expected: &str) -> Result<(), InstanceError> {
    let found = sha256_hex(bytes);
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(InstanceError::Hash {
            path: path.to_path_buf(),
            found,
            expected: expected.to_owned(),
        })
    }
}

/// The model the bundle was packed from: in the build directory, else a shipped model of
/// the same name; either way it must have the manifest's SHA-256.
fn load_model(dir: &Path, model: &FileRef) -> Result<Graph, InstanceError> {
    let name = Path::new(&model.file);
    let mut searched = vec![dir.join(name)];
    if let Some(file_name) = name.file_name() {
        searched.push(crate::assets::asset("models").join(file_name));
    }
    for candidate in &searched {
        if !candidate.is_file() {
            continue;
        }
        let graph = fibha_model::tflite::load(candidate)?;
        let found: String = graph
            .source_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if found.eq_ignore_ascii_case(&model.sha256) {
            return Ok(graph);
        }
    }
    Err(InstanceError::NoModel {
        dir: dir.to_path_buf(),
        file: model.file.clone(),
        sha256: model.sha256.clone(),
        searched,
    })
}

/// The operator index of a plan `host` entry (`"#63 MEAN (global pooling)"`).
fn host_index(entry: &str) -> Option<usize> {
    entry
        .strip_prefix('#')?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Cuts `graph` where the plan's host operators say.
pub fn split(graph: &Graph, host: &[String], plan: &Path) -> Result<Split, InstanceError> {
    let fail = |detail: String| InstanceError::Split {
        plan: plan.to_path_buf(),
        detail,
    };
    let mut host_ops = BTreeSet::new();
    for entry in host {
        let index = host_index(entry)
            .ok_or_else(|| fail(format!("host operator {entry:?} has no #index")))?;
        if !graph.nodes.iter().any(|n| n.index == index) {
            return Err(fail(format!(
                "host operator {entry:?} is not an operator of {}",
                graph.source
            )));
        }
        host_ops.insert(index);
    }
    let on_host: Vec<bool> = graph
        .nodes
        .iter()
        .map(|n| host_ops.contains(&n.index))
        .collect();
    let start = on_host.iter().position(|h| !h).ok_or_else(|| {
        fail("every operator runs on the host: the accelerator has nothing to run".into())
    })?;
    let end = start + on_host[start..].iter().take_while(|h| !**h).count();
    if let Some(stray) = on_host[end..].iter().position(|h| !h) {
        let node = &graph.nodes[end + stray];
        return Err(fail(format!(
            "operator #{} ({}) runs on the accelerator after host operators: the accelerator's part must be contiguous",
            node.index,
            node.op.name()
        )));
    }
    let accel_input = match start {
        0 => *graph
            .inputs
            .first()
            .ok_or_else(|| fail(format!("{} has no input", graph.source)))?,
        _ => graph.nodes[start - 1].outputs[0],
    };
    let accel_output = graph.nodes[end - 1].outputs[0];
    Ok(Split {
        head: 0..start,
        accelerator: start..end,
        tail: end..graph.nodes.len(),
        accel_input,
        accel_output,
    })
}

fn check_io_sizes(
    graph: &Graph,
    split: &Split,
    bundle: &Bundle,
    plan: &Path,
) -> Result<(), InstanceError> {
    let header = *bundle.view().header();
    for (what, id, bytes) in [
        ("input", split.accel_input, header.input_bytes.get()),
        ("output", split.accel_output, header.output_bytes.get()),
    ] {
        let tensor = graph.tensor(id);
        if tensor.dtype != DType::Int8 || tensor.byte_len() != bytes as usize {
            return Err(InstanceError::Split {
                plan: plan.to_path_buf(),
                detail: format!(
                    "the accelerator's {what} tensor {:?} is {} {:?} ({} bytes), the bundle says int8 of {bytes} bytes",
                    tensor.name,
                    tensor.dtype,
                    tensor.shape,
                    tensor.byte_len()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Graph {
        fibha_model::tflite::load(crate::assets::asset(crate::assets::DEFAULT_MODEL)).unwrap()
    }

    fn host(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_plans_host_operators_cut_mobilenet_v2_around_the_feature_extractor() {
        let graph = model();
        let s = split(
            &graph,
            &host(&[
                "#0 QUANTIZE (input)",
                "#63 MEAN (global pooling)",
                "#64 CONV_2D",
                "#65 RESHAPE",
                "#66 SOFTMAX",
                "#67 QUANTIZE",
            ]),
            Path::new("plan.json"),
        )
        .unwrap();
        assert_eq!(
            (s.head, s.accelerator.clone(), s.tail),
            (0..1, 1..63, 63..68)
        );
        assert_eq!(graph.tensor(s.accel_input).shape, [1, 224, 224, 3]);
        assert_eq!(graph.tensor(s.accel_output).shape, [1, 7, 7, 1280]);
    }

    #[test]
    fn a_host_operator_inside_the_accelerators_part_is_refused() {
        let graph = model();
        let err = split(
            &graph,
            &host(&["#0 QUANTIZE", "#30 ADD", "#63 MEAN"]),
            Path::new("plan.json"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("must be contiguous"), "{err}");
        let err = split(&graph, &host(&["#99 MEAN"]), Path::new("p.json")).unwrap_err();
        assert!(err.to_string().contains("is not an operator"), "{err}");
    }

    #[test]
    fn hashes_are_sixteen_hex_digits() {
        assert_eq!(parse_hash("f9344de381a86d84"), Some(0xf934_4de3_81a8_6d84));
        assert_eq!(
            parse_hash("0xf9344de381a86d84"),
            Some(0xf934_4de3_81a8_6d84)
        );
        assert_eq!(parse_hash("f9344de3"), None);
        assert_eq!(parse_hash("g9344de381a86d84"), None);
    }

    #[test]
    fn a_directory_without_a_manifest_is_named_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let err = Instance::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("fibha-compile build"), "{err}");
    }
}
