//! A build directory of `fibha-compile build`: the accelerator instance the board backend
//! drives, checked as a whole before anything touches a device.
//!
//! The directory holds `manifest.json` (plan hash, interface and bundle versions, the files
//! and their SHA-256, the DMA buffer sizes, the clock), the model (`model.tflite`, whose
//! operators before and after the accelerator's part the host runs), `plan.json` (which
//! graph operators run on the host, the modelled figures), the weight bundle, and what a
//! fabric loads ([`Instance::fabric`]): on a board the firmware set of the Vivado flow
//! (`bitstream/firmware/`: bitstream, overlay, firmware manifest), on the virtual board its
//! descriptor (`vboard/fibha.bit.bin`). Every path is `fibha_model::manifest::layout`'s.
//!
//! Invariants of an [`Instance`]: the manifest was checked field by field before anything
//! else was read ([`Manifest::parse`]: versions, hashes, relative file names, buffer sizes,
//! a clock in [1, 1000] MHz); every file it names is there with the SHA-256 it records (the
//! plan, the bundle, the HLS inputs and the virtual board's kernel and descriptor included:
//! an edited plan is refused, not believed); the plan's figures are times in range
//! ([`parse_plan`]); the manifest, the plan and the bundle carry the same plan hash and
//! the interface and bundle versions this runtime speaks; the bundle passes
//! [`fibha_model::bundle`]'s validation; the model the bundle was packed from is the
//! directory's own, byte for byte the manifest's (SHA-256), never a file outside it; and
//! the [`Split`] is contiguous: host operators before the accelerator, the accelerator's,
//! then host operators after it, with the accelerator's input and output tensors exactly
//! the sizes the bundle header announces. So every number that reaches a `Duration`, a division or an allocation has
//! been range-checked, and no edit of these files can panic the runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use fibha_model::bundle::{Bundle, BundleError, FM_LANES, fm_words};
use fibha_model::device::{BUNDLE_VERSION, INTERFACE_VERSION};
use fibha_model::timing::TimingReport;
use fibha_model::{Graph, ModelError, TensorId};
use sha2::{Digest, Sha256};

/// The part of `plan.json` the runtime reads (defined with the manifest).
pub use fibha_model::manifest::PlanSummary as PlanDoc;
pub use fibha_model::manifest::{
    FILE_NAME as MANIFEST, FORMAT_VERSION as MANIFEST_FORMAT_VERSION, FileRef, Manifest,
};
use fibha_model::manifest::{FirmwareManifest, layout, parse_plan_hash as parse_hash};
/// The largest DMA buffer a manifest may ask for (the ZCU102's CMA is far smaller).
pub const MAX_BUFFER_BYTES: u64 = 1 << 31;
pub use fibha_model::manifest::MAX_PLAN_MS;

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
        /// Which version (the field and what it versions).
        what: String,
        /// The version found.
        found: u32,
        /// The version this runtime speaks.
        expected: u32,
    },
    /// A field of the manifest or the plan that does not parse or is out of range.
    #[error("{}: {field}: {problem}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The field, as a path into the document (`modelled.fibha.latency_ms`).
        field: String,
        /// What is wrong with it.
        problem: String,
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
        "{}: SHA-256 {found} differs from the manifest's {field}.sha256 {expected}: the file changed after the build",
        path.display()
    )]
    Hash {
        /// The file.
        path: PathBuf,
        /// The manifest field that names it.
        field: &'static str,
        /// Its hash.
        found: String,
        /// The manifest's.
        expected: String,
    },
    /// A file the manifest names is not in the directory.
    #[error(
        "{}: {what} is missing from the build directory {}: a build directory is used whole; copy all of it, or rebuild it with `fibha-compile build MODEL.tflite --board {board} -o {}`",
        path.display(), dir.display(), dir.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// What it is.
        what: &'static str,
        /// The build directory.
        dir: PathBuf,
        /// The manifest's board.
        board: String,
    },
    /// The model did not load.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The bundle did not validate.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The directory has nothing the fabric at hand can load.
    #[error("{}: {detail}", path.display())]
    NoFirmware {
        /// The file that is missing or wrong.
        path: PathBuf,
        /// What is wrong and how to make it.
        detail: String,
    },
    /// The plan's host operators do not cut the graph into host, accelerator, host.
    #[error("{}: {detail}", plan.display())]
    Split {
        /// The plan file.
        plan: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Parses `manifest.json` and checks every field; `path` is the file, for errors.
pub fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest, InstanceError> {
    let manifest: Manifest = parse_json(bytes, path, "the manifest")?;
    validate_manifest(&manifest, path)?;
    Ok(manifest)
}

fn validate_manifest(manifest: &Manifest, path: &Path) -> Result<(), InstanceError> {
    let bad = |field: &str, problem: String| {
        Err(InstanceError::Field {
            path: path.to_path_buf(),
            field: field.to_owned(),
            problem,
        })
    };
    let versions = [
        (
            "format_version",
            manifest.format_version,
            MANIFEST_FORMAT_VERSION,
            "the manifest layout",
        ),
        (
            "interface_version",
            manifest.interface_version,
            INTERFACE_VERSION,
            "the register interface",
        ),
        (
            "bundle_format_version",
            manifest.bundle_format_version,
            BUNDLE_VERSION,
            "the bundle format",
        ),
    ];
    for (field, found, expected, what) in versions {
        if found != expected {
            return Err(InstanceError::Version {
                path: path.to_path_buf(),
                what: format!("{field} ({what})"),
                found,
                expected,
            });
        }
    }
    if parse_hash(&manifest.plan_hash).is_none() {
        return bad(
            "plan_hash",
            format!("{:?} is not 16 hex digits", manifest.plan_hash),
        );
    }
    for (field, file) in manifest.files() {
        if let Err(problem) = check_relative(&file.file) {
            return bad(&format!("{field}.file"), problem);
        }
        if !is_sha256(&file.sha256) {
            return bad(
                &format!("{field}.sha256"),
                format!("{:?} is not 64 hex digits", file.sha256),
            );
        }
    }
    for (name, &size) in &manifest.buffers {
        if !is_device_name(name) {
            return bad(
                "buffers",
                format!("{name:?} is not a u-dma-buf device name"),
            );
        }
        if !(1..=MAX_BUFFER_BYTES).contains(&size) {
            return bad(
                &format!("buffers.{name}"),
                format!("{size} bytes is outside 1..={MAX_BUFFER_BYTES}"),
            );
        }
    }
    if manifest.board.trim().is_empty() {
        return bad("board", "is empty".into());
    }
    if !fibha_model::manifest::CLOCK_MHZ.contains(&manifest.clock_mhz) {
        return bad(
            "clock_mhz",
            format!(
                "{:?} is not a clock in [{}, {}] MHz",
                manifest.clock_mhz,
                fibha_model::manifest::CLOCK_MHZ.start(),
                fibha_model::manifest::CLOCK_MHZ.end()
            ),
        );
    }
    Ok(())
}

/// A file name inside the build directory: relative, without `..`.
fn check_relative(file: &str) -> Result<(), String> {
    let inside = !file.is_empty()
        && !file.contains('\0')
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(format!(
            "{file:?} is not a path inside the build directory (relative, without `..`)"
        ))
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Letters, digits, `_` and `-`: what a u-dma-buf device may be called.
fn is_device_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses JSON, naming the field (`modelled.fibha.latency_ms`) an error is in.
fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<T, InstanceError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer);
    let at = |field: String, problem: String| {
        if field == "." {
            InstanceError::Json {
                path: path.to_path_buf(),
                detail: format!("{what} does not parse: {problem}"),
            }
        } else {
            InstanceError::Field {
                path: path.to_path_buf(),
                field,
                problem,
            }
        }
    };
    let value = parsed.map_err(|e| at(e.path().to_string(), e.into_inner().to_string()))?;
    deserializer
        .end()
        .map_err(|e| at(".".into(), e.to_string()))?;
    Ok(value)
}

/// Parses `plan.json` and checks what the runtime uses ([`PlanDoc::check`]: the plan hash,
/// modelled times in range: they become timeouts and report figures).
pub fn parse_plan(bytes: &[u8], path: &Path) -> Result<PlanDoc, InstanceError> {
    let plan: PlanDoc = parse_json(bytes, path, "the plan")?;
    plan.check()
        .map_err(|(field, problem)| InstanceError::Field {
            path: path.to_path_buf(),
            field: field.to_owned(),
            problem,
        })?;
    Ok(plan)
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
    /// The tensor the accelerator reads (8-bit NHWC; a uint8 one is stored minus 128).
    pub accel_input: TensorId,
    /// The tensor the accelerator writes (8-bit NHWC, likewise).
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

/// Parses and validates the build's timing report (its hash was checked with the others).
fn read_timing(path: PathBuf, bytes: &[u8]) -> Result<TimingReport, InstanceError> {
    let report: TimingReport = serde_json::from_slice(bytes).map_err(|e| InstanceError::Json {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    report
        .validate()
        .map_err(|detail| InstanceError::Json { path, detail })?;
    Ok(report)
}

/// What a fabric loads for an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fabric {
    /// The bitstream (the virtual board's descriptor on the virtual board).
    pub bitstream: PathBuf,
    /// The compiled device-tree overlay, applied after the bitstream is loaded.
    pub overlay: Option<PathBuf>,
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
        let manifest = parse_manifest(&read_file(&manifest_path, "the manifest")?, &manifest_path)?;
        // parse_manifest checked it.
        let plan_hash = parse_hash(&manifest.plan_hash).unwrap_or_default();
        let mut contents = check_files(dir, &manifest)?;
        let plan_path = dir.join(&manifest.plan.file);
        let plan = parse_plan(&contents.remove("plan").unwrap_or_default(), &plan_path)?;
        if plan.plan_hash() != Some(plan_hash) {
            return Err(InstanceError::Inconsistent {
                dir: dir.to_path_buf(),
                detail: format!(
                    "{} has plan hash {}, the manifest {}",
                    manifest.plan.file, plan.plan_hash, manifest.plan_hash
                ),
            });
        }
        let bundle_path = dir.join(&manifest.bundle.file);
        let bytes = contents.remove("bundle").unwrap_or_default();
        let bundle = Bundle::from_bytes(bytes, &bundle_path, Some(plan_hash))?;
        if !plan
            .model
            .source
            .sha256
            .eq_ignore_ascii_case(&manifest.model.sha256)
        {
            return Err(InstanceError::Inconsistent {
                dir: dir.to_path_buf(),
                detail: format!(
                    "{} was planned for a model of SHA-256 {}, the manifest's {} is {}",
                    manifest.plan.file,
                    plan.model.source.sha256,
                    manifest.model.file,
                    manifest.model.sha256
                ),
            });
        }
        let model_path = dir.join(&manifest.model.file);
        let model = contents.remove("model").unwrap_or_default();
        let mut graph = fibha_model::tflite::parse(&model, &model_path)?;
        // Reports name the model by the file it was built from, not by its copy's name.
        graph.source = plan.model.source.file.clone();
        let graph = Arc::new(graph);
        let split = split(&graph, plan.host(), &plan_path)?;
        check_io_sizes(&graph, &split, &bundle, &plan_path)?;
        let timing = match (&manifest.timing, contents.remove("timing")) {
            (Some(file), Some(bytes)) => Some(read_timing(dir.join(&file.file), &bytes)?),
            _ => None,
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

    /// What the fabric loads: the board's firmware set when the directory has one (its
    /// firmware manifest checked: this plan's hash, and the SHA-256 of the bitstream and the
    /// overlay), else, on the virtual board only, the build's own descriptor.
    pub fn fabric(&self, virtual_board: bool) -> Result<Fabric, InstanceError> {
        let bitstream = self.dir.join(layout::BOARD_BITSTREAM);
        if bitstream.is_file() {
            return self.board_firmware(bitstream);
        }
        if !virtual_board {
            return Err(InstanceError::NoFirmware {
                path: bitstream,
                detail: format!(
                    "this build has no bitstream yet: export the kernel IP with Vitis HLS (`FIBHA_HLS_DIR=.../hls vitis_hls -f {}`), then run `make -C bitstreams/zcu102 firmware PARAMS={}`, which writes the bitstream, the overlay and their manifest to {}",
                    self.dir.join(layout::HLS_SCRIPT).display(),
                    self.dir.join(layout::VIVADO_PARAMS).display(),
                    self.dir.join(layout::BOARD_FIRMWARE_DIR).display()
                ),
            });
        }
        let (Some(kernel), Some(descriptor)) =
            (&self.manifest.vboard_kernel, &self.manifest.vboard_instance)
        else {
            return Err(InstanceError::NoFirmware {
                path: self.dir.join(layout::VBOARD_DESCRIPTOR),
                detail: "this build has no virtual-board kernel (built with --no-vboard) and no board firmware: rebuild it without --no-vboard".into(),
            });
        };
        // Both were checked against the manifest at open when present; here they must be.
        for (field, file) in [("vboard_kernel", kernel), ("vboard_instance", descriptor)] {
            let path = self.dir.join(&file.file);
            if !path.is_file() {
                return Err(InstanceError::Missing {
                    path,
                    what: field_description(field),
                    dir: self.dir.clone(),
                    board: self.manifest.board.clone(),
                });
            }
        }
        Ok(Fabric {
            bitstream: self.dir.join(&descriptor.file),
            overlay: None,
        })
    }

    /// The Vivado flow's firmware set, checked against its manifest.
    fn board_firmware(&self, bitstream: PathBuf) -> Result<Fabric, InstanceError> {
        let manifest_path = self.dir.join(layout::BOARD_FIRMWARE_MANIFEST);
        let bytes = std::fs::read(&manifest_path).map_err(|source| InstanceError::Io {
            path: manifest_path.clone(),
            what: "the firmware manifest (written by `make -C bitstreams/zcu102 firmware`)",
            source,
        })?;
        let firmware = FirmwareManifest::parse(&bytes).map_err(|detail| InstanceError::Json {
            path: manifest_path.clone(),
            detail,
        })?;
        if !firmware
            .plan_hash
            .eq_ignore_ascii_case(&self.manifest.plan_hash)
        {
            return Err(InstanceError::Inconsistent {
                dir: self.dir.clone(),
                detail: format!(
                    "the bitstream in {} was built for plan {}, this build is plan {}: rebuild the firmware from this directory (`make -C bitstreams/zcu102 firmware PARAMS={}`)",
                    self.dir.join(layout::BOARD_FIRMWARE_DIR).display(),
                    firmware.plan_hash,
                    self.manifest.plan_hash,
                    self.dir.join(layout::VIVADO_PARAMS).display()
                ),
            });
        }
        let firmware_dir = self.dir.join(layout::BOARD_FIRMWARE_DIR);
        for (name, expected, what) in [
            (&firmware.bitstream, &firmware.bitstream_sha256, "bitstream"),
            (&firmware.overlay, &firmware.overlay_sha256, "overlay"),
        ] {
            let path = firmware_dir.join(name);
            let bytes = std::fs::read(&path).map_err(|source| InstanceError::Io {
                path: path.clone(),
                what: "a file the firmware manifest names",
                source,
            })?;
            let found = sha256_hex(&bytes);
            if !found.eq_ignore_ascii_case(expected) {
                return Err(InstanceError::Field {
                    path: manifest_path.clone(),
                    field: format!("{what}_sha256"),
                    problem: format!(
                        "{} has SHA-256 {found}, the firmware manifest records {expected}: the file changed after `make ... firmware`",
                        path.display()
                    ),
                });
            }
        }
        if firmware_dir.join(&firmware.bitstream) != bitstream {
            return Err(InstanceError::Field {
                path: manifest_path,
                field: "bitstream".into(),
                problem: format!(
                    "names {:?}, the layout's bitstream is {}",
                    firmware.bitstream,
                    layout::BOARD_BITSTREAM
                ),
            });
        }
        Ok(Fabric {
            bitstream,
            overlay: Some(firmware_dir.join(&firmware.overlay)),
        })
    }

    /// Bytes the accelerator reads from its input buffer.
    pub fn input_bytes(&self) -> usize {
        self.bundle.view().header().input_bytes.get() as usize
    }

    /// Bytes the accelerator writes to its output buffer.
    pub fn output_bytes(&self) -> usize {
        self.bundle.view().header().output_bytes.get() as usize
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

/// Reads every file the manifest names and checks its SHA-256; returns the bytes of those
/// the runtime reads, the model, the plan, the bundle and the timing report, by field. The
/// virtual board's files may be absent (an installed image leaves out host executables);
/// [`Instance::fabric`] asks for them when the virtual board is used.
fn check_files(
    dir: &Path,
    manifest: &Manifest,
) -> Result<BTreeMap<&'static str, Vec<u8>>, InstanceError> {
    let mut kept = BTreeMap::new();
    for (field, file) in manifest.files() {
        let path = dir.join(&file.file);
        if field.starts_with("vboard_") && !path.exists() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                InstanceError::Missing {
                    what: field_description(field),
                    path: path.clone(),
                    dir: dir.to_path_buf(),
                    board: manifest.board.clone(),
                }
            } else {
                InstanceError::Io {
                    what: field_description(field),
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let found = sha256_hex(&bytes);
        if !found.eq_ignore_ascii_case(&file.sha256) {
            return Err(InstanceError::Hash {
                path,
                field,
                found,
                expected: file.sha256.clone(),
            });
        }
        if matches!(field, "model" | "plan" | "bundle" | "timing") {
            kept.insert(field, bytes);
        }
    }
    Ok(kept)
}

/// What the file of a manifest field is, for "cannot read ...".
fn field_description(field: &str) -> &'static str {
    match field {
        "model" => "the model (manifest field model)",
        "bundle" => "the weight bundle (manifest field bundle)",
        "plan" => "the plan (manifest field plan)",
        "hls_config" => "the HLS configuration (manifest field hls_config)",
        "hls_script" => "the Vitis HLS script (manifest field hls_script)",
        "vivado_params" => "the Vivado parameters (manifest field vivado_params)",
        "overlay_source" => "the device-tree overlay source (manifest field overlay_source)",
        "vboard_kernel" => "the virtual board's kernel (manifest field vboard_kernel)",
        "vboard_instance" => {
            "the virtual board's instance descriptor (manifest field vboard_instance)"
        }
        _ => "a file the manifest names",
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        // After the SEML part each pixel of the output takes whole 16-channel words.
        let c = tensor.shape.last().copied().unwrap_or(1);
        let padded = tensor.byte_len() / c.max(1) * fm_words(c) * FM_LANES;
        let fits =
            tensor.byte_len() == bytes as usize || (what == "output" && padded == bytes as usize);
        if !tensor.dtype.is_quantized_8bit() || !fits {
            return Err(InstanceError::Split {
                plan: plan.to_path_buf(),
                detail: format!(
                    "the accelerator's {what} tensor {:?} is {} {:?} ({} bytes), the bundle says 8-bit of {bytes} bytes",
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

    fn file(name: &str) -> FileRef {
        FileRef {
            file: name.into(),
            sha256: "ab".repeat(32),
        }
    }

    /// A manifest as `fibha-compile build` writes it.
    fn sample_manifest() -> Manifest {
        Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            plan_hash: "32a5dc76e5cc893a".into(),
            interface_version: INTERFACE_VERSION,
            model: file("model.tflite"),
            bundle: file("model.fibha"),
            bundle_format_version: BUNDLE_VERSION,
            plan: file("plan.json"),
            hls_config: file("fibha_config.hpp"),
            hls_script: file("hls/fibha_top.tcl"),
            vivado_params: Some(file("vivado/params.tcl")),
            overlay_source: Some(file("vivado/fibha.dtso")),
            vboard_kernel: Some(file("vboard/fibha_kernel")),
            vboard_instance: Some(file("vboard/fibha.bit.bin")),
            timing: Some(file("timing.json")),
            buffers: BTreeMap::from([
                ("fibha_in0".into(), 150_528),
                ("fibha_weights".into(), 2_401_408),
            ]),
            board: "zcu102".into(),
            part: "xczu9eg-ffvb1156-2-e".into(),
            clock_mhz: 200.0,
            generator: "fibha-compile 0.1.0".into(),
        }
    }

    /// The plan's fields the runtime reads, among some it does not.
    fn sample_plan() -> serde_json::Value {
        serde_json::json!({
            "plan_hash": "32a5dc76e5cc893a",
            "model": {
                "name": "mobilenet_v2",
                "source": {"kind": "tflite", "file": "mobilenet_v2.tflite", "sha256": "ab".repeat(32)},
                "host": ["#0 QUANTIZE (input)", "#63 MEAN"]
            },
            "modelled": {"fibha": {"latency_ms": 1.75, "period_ms": 1.2, "fps": 800.0}},
            "board": {"clock_mhz": 200.0}
        })
    }

    const MANIFEST_PATH: &str = "dir/manifest.json";
    const PLAN_PATH: &str = "dir/plan.json";

    fn manifest_error(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut doc = serde_json::to_value(sample_manifest()).unwrap();
        edit(&mut doc);
        let bytes = serde_json::to_vec(&doc).unwrap();
        parse_manifest(&bytes, Path::new(MANIFEST_PATH))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_written_manifest_parses_back() {
        let bytes = serde_json::to_vec_pretty(&sample_manifest()).unwrap();
        let parsed = parse_manifest(&bytes, Path::new(MANIFEST_PATH)).unwrap();
        assert_eq!(parsed, sample_manifest());
        // Nine files and the timing report.
        assert_eq!(parsed.files().len(), 10);
    }

    #[test]
    fn manifest_fields_out_of_range_are_refused_naming_the_field() {
        use serde_json::json;
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "clock_mhz",
                json!(0.0),
                "dir/manifest.json: clock_mhz: 0.0 is not a clock in [1, 1000] MHz",
            ),
            (
                "clock_mhz",
                json!(-200.0),
                "clock_mhz: -200.0 is not a clock",
            ),
            ("clock_mhz", json!(1e300), "clock_mhz: 1e300 is not a clock"),
            (
                "clock_mhz",
                json!("fast"),
                "dir/manifest.json: clock_mhz: invalid type: string \"fast\", expected f64",
            ),
            (
                "plan_hash",
                json!("12"),
                "plan_hash: \"12\" is not 16 hex digits",
            ),
            (
                "format_version",
                json!(3),
                "format_version (the manifest layout) is version 3, this runtime reads version 5",
            ),
            (
                "interface_version",
                json!(-1),
                "interface_version: invalid value: integer `-1`",
            ),
            ("board", json!(" "), "board: is empty"),
        ];
        for (field, value, expect) in cases {
            let err = manifest_error(|m| m[field] = value.clone());
            assert!(err.contains(expect), "{field}: {err}");
        }
        let err = manifest_error(|m| m["plan"]["file"] = "../plan.json".into());
        assert!(
            err.contains("plan.file: \"../plan.json\" is not a path inside the build directory"),
            "{err}"
        );
        let err = manifest_error(|m| m["bundle"]["file"] = "/etc/passwd".into());
        assert!(err.contains("bundle.file: "), "{err}");
        let err = manifest_error(|m| m["vboard_kernel"]["sha256"] = "00".into());
        assert!(
            err.contains("vboard_kernel.sha256: \"00\" is not 64 hex digits"),
            "{err}"
        );
        let err = manifest_error(|m| m["buffers"]["fibha_in0"] = 0.into());
        assert!(
            err.contains("buffers.fibha_in0: 0 bytes is outside"),
            "{err}"
        );
        let err = manifest_error(|m| m["buffers"]["../x"] = 1.into());
        assert!(
            err.contains("buffers: \"../x\" is not a u-dma-buf device name"),
            "{err}"
        );
        let err = manifest_error(|m| m["clock"] = 200.into());
        assert!(err.contains("unknown field `clock`"), "{err}");
        let err = manifest_error(|m| {
            m.as_object_mut().unwrap().remove("clock_mhz");
        });
        assert!(err.contains("missing field `clock_mhz`"), "{err}");
    }

    #[test]
    fn plan_figures_out_of_range_are_refused_naming_the_field() {
        for (value, expect) in [
            (
                serde_json::json!(-1.0),
                "modelled.fibha.latency_ms: -1.0 is not a time in (0, 60000] ms",
            ),
            (
                serde_json::json!(0),
                "modelled.fibha.latency_ms: 0.0 is not a time",
            ),
            (
                serde_json::json!(null),
                "modelled.fibha.latency_ms: invalid type: null, expected f64",
            ),
        ] {
            let mut plan = sample_plan();
            plan["modelled"]["fibha"]["latency_ms"] = value;
            let err = parse_plan(&serde_json::to_vec(&plan).unwrap(), Path::new(PLAN_PATH))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("dir/plan.json: ") && err.contains(expect),
                "{err}"
            );
        }
        let plan = parse_plan(
            &serde_json::to_vec(&sample_plan()).unwrap(),
            Path::new(PLAN_PATH),
        )
        .unwrap();
        assert_eq!(plan.host().len(), 2);
        assert_eq!(plan.plan_hash(), Some(0x32a5_dc76_e5cc_893a));
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Every path to a leaf of `doc` (object keys), with the leaf's key.
        fn leaves(doc: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            match doc {
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        at.push(key.clone());
                        out.push(at.clone());
                        leaves(value, at, out);
                        at.pop();
                    }
                }
                serde_json::Value::Array(items) => {
                    for (i, value) in items.iter().enumerate() {
                        at.push(i.to_string());
                        leaves(value, at, out);
                        at.pop();
                    }
                }
                _ => {}
            }
        }

        fn values() -> impl Strategy<Value = serde_json::Value> {
            use serde_json::json;
            prop_oneof![
                Just(json!(null)),
                any::<bool>().prop_map(|b| json!(b)),
                any::<i64>().prop_map(|n| json!(n)),
                any::<u64>().prop_map(|n| json!(n)),
                (-1e6f64..1e6).prop_map(|x| json!(x)),
                prop_oneof![
                    Just(0.0),
                    Just(-0.0),
                    Just(f64::MAX),
                    Just(f64::MIN_POSITIVE),
                    Just(1e-300)
                ]
                .prop_map(|x| json!(x)),
                "[ -~]{0,20}".prop_map(|s| json!(s)),
                "[0-9a-f]{16}".prop_map(|s| json!(s)),
                "[0-9a-f]{64}".prop_map(|s| json!(s)),
                Just(json!([])),
                Just(json!({})),
            ]
        }

        /// An edit of one field of `doc`: a new value, the field removed, or an unknown
        /// field beside it. Returns the key that was edited.
        fn edit(
            doc: &mut serde_json::Value,
            which: usize,
            kind: u8,
            value: serde_json::Value,
        ) -> String {
            let mut paths = Vec::new();
            leaves(doc, &mut Vec::new(), &mut paths);
            let path = &paths[which % paths.len()];
            let (last, parent) = path.split_last().unwrap();
            let mut node = &mut *doc;
            for key in parent {
                node = match node {
                    serde_json::Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
                    other => &mut other[key.as_str()],
                };
            }
            match (kind % 3, node) {
                (0, node) => {
                    node[last.as_str()] = value;
                    last.clone()
                }
                (1, serde_json::Value::Object(map)) => {
                    map.remove(last);
                    last.clone()
                }
                (_, serde_json::Value::Object(map)) => {
                    map.insert("surplus_field".into(), value);
                    "surplus_field".into()
                }
                (_, _) => last.clone(),
            }
        }

        /// `doc` parses to a value that writes back and parses to itself, or is refused
        /// with an error that starts with `path` and names `key` (or the map `container`
        /// the key is an entry of).
        fn round_trips_or_names<T: serde::Serialize + PartialEq + std::fmt::Debug>(
            doc: &serde_json::Value,
            key: &str,
            path: &str,
            container: &str,
            parse: impl Fn(&[u8], &Path) -> Result<T, InstanceError>,
        ) -> Result<(), TestCaseError> {
            let path = Path::new(path);
            match parse(&serde_json::to_vec(doc).unwrap(), path) {
                Ok(parsed) => {
                    let again = parse(&serde_json::to_vec(&parsed).unwrap(), path).unwrap();
                    prop_assert_eq!(again, parsed);
                }
                Err(e) => {
                    let text = e.to_string();
                    prop_assert!(
                        text.starts_with(&format!("{}: ", path.display())),
                        "{}",
                        text
                    );
                    prop_assert!(
                        text.contains(key) || text.contains(container),
                        "{} does not name {}",
                        text,
                        key
                    );
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]

            /// Any edit of one manifest field is accepted (and then what parsed writes back
            /// and parses to the same manifest) or refused naming the file and the field.
            #[test]
            fn manifest_edits_round_trip_or_name_file_and_field(
                which in any::<usize>(), kind in any::<u8>(), value in values(),
            ) {
                let mut doc = serde_json::to_value(sample_manifest()).unwrap();
                let key = edit(&mut doc, which, kind, value);
                round_trips_or_names(&doc, &key, MANIFEST_PATH, "buffers", parse_manifest)?;
            }

            /// The same for the plan's fields the runtime reads (and those it ignores).
            #[test]
            fn plan_edits_round_trip_or_name_file_and_field(
                which in any::<usize>(), kind in any::<u8>(), value in values(),
            ) {
                let mut doc = sample_plan();
                let key = edit(&mut doc, which, kind, value);
                round_trips_or_names(&doc, &key, PLAN_PATH, "host", parse_plan)?;
            }

            /// Byte-level corruption of either document never panics; a refusal names the file.
            #[test]
            fn corrupted_manifests_and_plans_never_panic(
                edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>(),
            ) {
                let docs = [
                    (serde_json::to_vec_pretty(&sample_manifest()).unwrap(), MANIFEST_PATH),
                    (serde_json::to_vec_pretty(&sample_plan()).unwrap(), PLAN_PATH),
                ];
                for (mut bytes, name) in docs {
                    for &(at, v) in &edits {
                        let at = at % bytes.len();
                        bytes[at] = v;
                    }
                    bytes.truncate(bytes.len() - cut % 8);
                    let path = Path::new(name);
                    let result = if name == MANIFEST_PATH {
                        parse_manifest(&bytes, path).map(drop)
                    } else {
                        parse_plan(&bytes, path).map(drop)
                    };
                    if let Err(e) = result {
                        prop_assert!(e.to_string().starts_with(&format!("{name}: ")), "{}", e);
                    }
                }
            }
        }
    }
}
