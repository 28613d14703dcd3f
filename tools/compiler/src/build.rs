//! `fibha-compile build`: plan a quantized model and write the deployable directory.
//!
//! | file | what |
//! | --- | --- |
//! | `model.tflite` | the model file, copied: the host runs the operators before and after the accelerator's part from it |
//! | `plan.json` | the plan document, its `hardware` and `plan_hash` |
//! | `fibha_config.hpp` | the HLS configuration `hls/src/fibha_top.cpp` is compiled against ([`crate::codegen`]) |
//! | `model.fibha` | the weight bundle (`fibha_model::bundle`), exactly the image the kernel reads |
//! | `hls/fibha_top.tcl` | the Vitis HLS script of this instance's kernel (csynth, export as IP) |
//! | `vivado/params.tcl`, `vivado/fibha.dtso` | ZCU102 only: the parameters of `bitstreams/zcu102/build.tcl` and the device-tree overlay |
//! | `vboard/fibha_kernel`, `vboard/fibha.bit.bin` | the virtual board's executable form: the same HLS C++ compiled by g++ for the timed C simulation behind the kernel shell (`make -C hls kernel`), and the instance descriptor the virtual board loads as its "bitstream"; host files, which never go to a board |
//! | `bitstream/firmware/` | not written here: the board's firmware set (`fibha.bit.bin`, `fibha.dtbo`, `fibha.manifest.json`) that `make -C bitstreams/zcu102 firmware PARAMS=DIR/vivado/params.tcl` adds |
//! | `timing.json` | the plan's cycles against the timed C simulation's, per engine, SEML layer and image ([`crate::timing`]) |
//! | `manifest.json` | ties the plan hash, the bundle's SHA-256, the model and every file above |
//!
//! Every path is [`fibha_model::manifest::layout`]'s. The directory is self-contained: every file the runtime reads is in it, named relative to
//! it, so it runs after being copied or moved anywhere (the Vitis HLS script finds fibha's
//! HLS sources through `FIBHA_HLS_DIR`, not through a path of the machine that built it).
//!
//! Invariant: nothing is written before the plan fits, the HLS configuration renders and
//! the bundle has been read back and validated against the plan hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::board::{Board, Budget};
use crate::codegen::{self, Depths};
use crate::import::Imported;
use crate::models::Model;
use crate::overlay::{self, OverlayParams};
use crate::pack;
use crate::planner::{PlanOptions, Planner};
use crate::report::{self, PlanDoc, Search};
use crate::topology::hex;
use fibha_model::manifest::layout;
use fibha_model::timing::TimingReport;

pub use crate::hw::M_AXI_MASTERS;
pub use fibha_model::manifest::{FORMAT_VERSION as MANIFEST_FORMAT_VERSION, FileRef, Manifest};
/// The boards whose Vivado flow exists (`bitstreams/<board>`).
const VIVADO_BOARDS: [&str; 1] = ["zcu102"];

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Topology files have no weights.
    #[error(
        "{file} is a topology file (shapes only, no weights); `build` needs a quantized .tflite model (use `plan` to explore topologies)"
    )]
    NoWeights {
        /// The model file.
        file: String,
    },
    /// The imported model has no file to copy into the directory.
    #[error(
        "{file}: the model's file is not at hand (SHA-256 {found} of {bytes} bytes, the import's is {expected}); build from the .tflite file"
    )]
    NoModelFile {
        /// The model.
        file: String,
        /// SHA-256 of the bytes at hand.
        found: String,
        /// How many.
        bytes: usize,
        /// The imported model's SHA-256.
        expected: String,
    },
    /// No design fits.
    #[error("no design fits the budget: {0}")]
    DoesNotFit(String),
    /// Packing failed.
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    /// The plan's engines have no template.
    #[error("the plan cannot be built by the HLS templates")]
    Codegen(#[from] codegen::CodegenError),
    /// The bundle written does not read back.
    #[error(transparent)]
    Bundle(#[from] fibha_model::bundle::BundleError),
    /// The overlay cannot be rendered.
    #[error("rendering the device-tree overlay")]
    Overlay(#[from] overlay::OverlayError),
    /// The HLS sources are nowhere to be found.
    #[error(
        "cannot find fibha's HLS sources (hls/ with its Makefile); pass --hls-dir DIR or set FIBHA_HLS_DIR (looked in {looked})"
    )]
    NoHlsSources {
        /// Where it looked.
        looked: String,
    },
    /// The timed C simulation of the instance failed.
    #[error(transparent)]
    Timing(#[from] crate::timing::TimingError),
    /// The timed C simulation takes longer than the plan says, beyond the tolerance.
    #[error(
        "the plan and its HLS code disagree (timed C simulation against the plan, both in {timing}):\n  {details}"
    )]
    PlanMismatch {
        /// The timing report written.
        timing: PathBuf,
        /// Each figure beyond the tolerance, with both numbers.
        details: String,
    },
    /// The C-simulation kernel did not compile or run.
    #[error("{what} failed ({command}):\n{output}")]
    Tool {
        /// What was being done.
        what: String,
        /// The command line.
        command: String,
        /// Its output (or why it did not start).
        output: String,
    },
    /// The virtual-board instance descriptor could not be written.
    #[error(transparent)]
    Descriptor(#[from] fibha_model::descriptor::DescriptorError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// JSON encoding failed.
    #[error("encoding {what}: {source}")]
    Json {
        /// Which document.
        what: &'static str,
        /// serde_json's error.
        source: serde_json::Error,
    },
}

/// One engine's multipliers as the template instantiates them and as the model charged
/// them, read back from the compiled kernel (`fibha_kernel --resources`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineResources {
    /// The plan's engine name.
    pub engine: String,
    /// int8 multiplies the template instantiates per cycle.
    pub template_macs: u32,
    /// 32 x 32-bit multiplies of its requantizers (and ADD rescaling).
    pub template_requantizers: u32,
    /// DSP slices the template instantiates (MACs and requantizers).
    pub template_dsp: u32,
    /// PEs the model charged.
    pub modelled_pes: u32,
    /// DSP slices the model charged.
    pub modelled_dsp: u32,
    /// The plan's modelled cycles per image.
    pub plan_cycles: u64,
}

/// How to build besides the plan.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Compile the virtual board's executable form (and time it).
    pub vboard: bool,
    /// The HLS sources (`hls/`, with its Makefile).
    pub hls_dir: PathBuf,
    /// The C++ compiler.
    pub cxx: String,
}

impl BuildOptions {
    /// Options with the HLS sources at `hls_dir`, `$CXX` or g++.
    pub fn with_hls_dir(hls_dir: PathBuf) -> BuildOptions {
        BuildOptions {
            vboard: true,
            hls_dir,
            cxx: std::env::var("CXX").unwrap_or_else(|_| "g++".into()),
        }
    }
}

/// Where the HLS sources are when no option names them: `FIBHA_HLS_DIR`, else beside the
/// running executable: an installation's `../share/fibha/hls`, or the checkout the
/// executable was built in (`hls/` above `target/<profile>/`).
pub fn find_hls_dir() -> Result<PathBuf, BuildError> {
    if let Some(dir) = std::env::var_os("FIBHA_HLS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().map_err(|e| BuildError::NoHlsSources {
        looked: format!("(the running executable's path is unknown: {e})"),
    })?;
    let mut looked = Vec::new();
    for dir in exe.ancestors().skip(1) {
        for candidate in [dir.join("share/fibha/hls"), dir.join("hls")] {
            if candidate.join("Makefile").is_file() && candidate.join("include/fibha").is_dir() {
                return Ok(candidate);
            }
            looked.push(candidate.display().to_string());
        }
    }
    Err(BuildError::NoHlsSources {
        looked: looked.join(", "),
    })
}

/// What `build` wrote.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// The hardware ID.
    pub hardware_id: u64,
    /// The files, in the order written.
    pub files: Vec<PathBuf>,
    /// Per engine, template multipliers against the model's charge (with the vboard kernel).
    pub resources: Option<Vec<EngineResources>>,
    /// The plan against the timed C simulation (with the vboard kernel).
    pub timing: Option<TimingReport>,
    /// Seconds the C-simulation kernel took to compile.
    pub compile_seconds: Option<f64>,
    /// Seconds its timed run took.
    pub timing_seconds: Option<f64>,
}

/// The generator string recorded in outputs.
pub fn generator() -> String {
    format!("fibha-compile {}", env!("CARGO_PKG_VERSION"))
}

/// Writes the files of one build directory, recording each for the manifest.
struct Writer<'a> {
    out: &'a Path,
    files: Vec<PathBuf>,
}

impl Writer<'_> {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
        move |source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<FileRef, BuildError> {
        let path = self.out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Self::io(dir))?;
        }
        std::fs::write(&path, bytes).map_err(Self::io(&path))?;
        self.record(rel)
    }

    /// A file something else wrote.
    fn record(&mut self, rel: &str) -> Result<FileRef, BuildError> {
        let path = self.out.join(rel);
        let bytes = std::fs::read(&path).map_err(Self::io(&path))?;
        self.files.push(path);
        Ok(FileRef {
            file: rel.to_string(),
            sha256: hex(&Sha256::digest(&bytes)),
        })
    }
}

/// Plans `model` and writes the build directory `out`.
pub fn build(
    model: &Model,
    board: &Board,
    budget: &Budget,
    opts: PlanOptions,
    search: Search,
    out: &Path,
    bopts: &BuildOptions,
) -> Result<BuildOutput, BuildError> {
    let Some(imported) = &model.imported else {
        return Err(BuildError::NoWeights {
            file: model.network.source.file().to_string(),
        });
    };
    let net = &model.network;
    let plans = Planner::new(net, budget, opts).plan(budget);
    let doc = report::plan_document(net, board, budget, &plans, search, opts.firb);
    build_plan(imported, &doc, board, out, bopts)
}

/// Writes the build directory `out` for a plan `doc` of the imported model (the plan
/// must fit).
pub fn build_plan(
    imported: &Imported,
    doc: &PlanDoc,
    board: &Board,
    out: &Path,
    bopts: &BuildOptions,
) -> Result<BuildOutput, BuildError> {
    if !doc.fits() {
        return Err(BuildError::DoesNotFit(format!(
            "fibha's SEML engines alone: {}; FiBHA: {}",
            doc.modelled.seml_fibha.problems.join("; "),
            doc.modelled.fibha.problems.join("; ")
        )));
    }
    let net = &imported.network;
    let model_sha256 = hex(&Sha256::digest(&imported.model_file));
    if model_sha256 != net.source.sha256() {
        return Err(BuildError::NoModelFile {
            file: net.source.file().to_string(),
            found: model_sha256,
            bytes: imported.model_file.len(),
            expected: net.source.sha256().to_string(),
        });
    }
    let hardware_id = doc.hardware_id();
    let bundle_bytes = pack::bundle_bytes(imported, doc)?;
    let bundle_path = out.join(fibha_model::bundle::FILE_NAME);
    let view = fibha_model::bundle::parse(&bundle_bytes, &bundle_path, Some(hardware_id))?;
    let h = view.header();
    let sizes = Depths {
        input: u64::from(h.input_bytes.get()) * overlay::STREAM_IMAGES,
        output: u64::from(h.output_bytes.get()) * overlay::STREAM_IMAGES,
        bundle: bundle_bytes.len() as u64,
    };
    let header = codegen::hls_config(doc, sizes, &generator())?;
    let buffers = overlay::fibha_buffers(sizes.input, sizes.output, sizes.bundle);
    let vivado = VIVADO_BOARDS.contains(&board.name.as_str());
    let dtso = if vivado {
        let mut p = OverlayParams::zcu102((board.clock.mhz * 1e6).round() as u64, buffers.clone());
        p.plan_hash = Some(format!("{hardware_id:016x}"));
        Some(overlay::render_overlay(&p)?)
    } else {
        None
    };

    std::fs::create_dir_all(out).map_err(Writer::io(out))?;
    let mut w = Writer {
        out,
        files: Vec::new(),
    };
    let model_ref = w.write(fibha_model::manifest::MODEL_FILE, &imported.model_file)?;
    let plan_ref = w.write(layout::PLAN, &to_json("plan.json", doc)?)?;
    let hls_ref = w.write(layout::HLS_CONFIG, header.as_bytes())?;
    let bundle_ref = w.write(fibha_model::bundle::FILE_NAME, &bundle_bytes)?;
    let tcl_ref = w.write(layout::HLS_SCRIPT, hls_tcl(doc).as_bytes())?;
    let (params_ref, dtso_ref) = match &dtso {
        Some(dtso) => (
            Some(w.write(layout::VIVADO_PARAMS, vivado_params(doc).as_bytes())?),
            Some(w.write(layout::OVERLAY_SOURCE, dtso.as_bytes())?),
        ),
        None => (None, None),
    };
    let buffer_sizes: BTreeMap<String, u64> = buffers
        .iter()
        .map(|b| (b.name.clone(), b.size_bytes))
        .collect();
    let (mut kernel_ref, mut instance_ref, mut resources, mut compile_seconds) =
        (None, None, None, None);
    let (mut timing, mut timing_ref, mut timing_seconds) = (None, None, None);
    if bopts.vboard {
        let started = Instant::now();
        compile_kernel(out, bopts)?;
        compile_seconds = Some(started.elapsed().as_secs_f64());
        kernel_ref = Some(w.record(KERNEL)?);
        resources = Some(read_resources(&out.join(KERNEL))?);
        let started = Instant::now();
        let report = crate::timing::measure(&out.join(KERNEL), &bundle_path, doc)?;
        timing_seconds = Some(started.elapsed().as_secs_f64());
        timing_ref = Some(w.write(
            fibha_model::timing::FILE_NAME,
            &to_json("timing.json", &report)?,
        )?);
        let exceeding = report.exceeding();
        if !exceeding.is_empty() {
            return Err(BuildError::PlanMismatch {
                timing: out.join(fibha_model::timing::FILE_NAME),
                details: exceeding.join("\n  "),
            });
        }
        let spec = fibha_model::descriptor::DescriptorSpec {
            plan_hash: hardware_id,
            executable: PathBuf::from(
                Path::new(KERNEL)
                    .file_name()
                    .expect("the kernel's path names a file"),
            ),
            args: Vec::new(),
            modelled_cycles: report.image.timed_cycles,
            clock_mhz: board.clock.mhz,
            buffers: buffer_sizes.clone(),
        };
        timing = Some(report);
        spec.write(&out.join(layout::VBOARD_DIR))?;
        instance_ref = Some(w.record(layout::VBOARD_DESCRIPTOR)?);
    }
    let manifest = Manifest {
        format_version: MANIFEST_FORMAT_VERSION,
        plan_hash: doc.plan_hash.clone(),
        interface_version: fibha_model::device::INTERFACE_VERSION,
        model: model_ref,
        bundle: bundle_ref,
        bundle_format_version: fibha_model::device::BUNDLE_VERSION,
        plan: plan_ref,
        hls_config: hls_ref,
        hls_script: tcl_ref,
        vivado_params: params_ref,
        overlay_source: dtso_ref,
        vboard_kernel: kernel_ref,
        vboard_instance: instance_ref,
        timing: timing_ref,
        buffers: buffer_sizes,
        board: board.name.clone(),
        part: board.part.clone(),
        clock_mhz: board.clock.mhz,
        generator: generator(),
    };
    w.write("manifest.json", &to_json("manifest.json", &manifest)?)?;
    Ok(BuildOutput {
        hardware_id,
        files: w.files,
        resources,
        timing,
        compile_seconds,
        timing_seconds,
    })
}

/// The virtual board's kernel, relative to the build directory.
pub const KERNEL: &str = layout::VBOARD_KERNEL;

fn run_tool(what: &str, cmd: &mut Command) -> Result<std::process::Output, BuildError> {
    let command = format!("{cmd:?}");
    let fail = |output: String| BuildError::Tool {
        what: what.to_string(),
        command: command.clone(),
        output,
    };
    let child = cmd
        .output()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if !child.status.success() {
        return Err(fail(format!(
            "{}{}",
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        )));
    }
    Ok(child)
}

/// Builds the virtual board's kernel for this directory's configuration with the HLS
/// sources' own make target (`make -C hls kernel`, the one the tests use), then removes
/// the objects.
fn compile_kernel(out: &Path, b: &BuildOptions) -> Result<(), BuildError> {
    let obj = out.join("vboard/obj");
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(&b.hls_dir)
        .args(["--no-print-directory", "-j2", "kernel"])
        .arg(format!("CXX={}", b.cxx))
        .arg(format!("CONFIG_DIR={}", absolute(out)?.display()))
        .arg(format!(
            "KERNEL_OUT={}",
            absolute(&out.join(KERNEL))?.display()
        ))
        .arg(format!("KERNEL_OBJ={}", absolute(&obj)?.display()));
    run_tool(
        "compiling the C-simulation kernel (make -C hls kernel)",
        &mut make,
    )?;
    std::fs::remove_dir_all(&obj).map_err(Writer::io(&obj))?;
    Ok(())
}

/// `path` made absolute against the working directory (make runs in the HLS directory).
fn absolute(path: &Path) -> Result<PathBuf, BuildError> {
    std::path::absolute(path).map_err(Writer::io(path))
}

/// Runs `kernel --resources`: one tab-separated line per engine.
fn read_resources(kernel: &Path) -> Result<Vec<EngineResources>, BuildError> {
    let output = run_tool(
        "reading the kernel's resource table",
        Command::new(kernel).arg("--resources"),
    )?;
    let text = String::from_utf8_lossy(&output.stdout);
    let bad = |line: &str| BuildError::Tool {
        what: "reading the kernel's resource table".into(),
        command: format!("{} --resources", kernel.display()),
        output: format!("unexpected line {line:?}"),
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [engine, macs, wide, tdsp, pes, dsp, pc] = f[..] else {
                return Err(bad(line));
            };
            let n = |s: &str| s.parse::<u64>().map_err(|_| bad(line));
            Ok(EngineResources {
                engine: engine.to_string(),
                template_macs: n(macs)? as u32,
                template_requantizers: n(wide)? as u32,
                template_dsp: n(tdsp)? as u32,
                modelled_pes: n(pes)? as u32,
                modelled_dsp: n(dsp)? as u32,
                plan_cycles: n(pc)?,
            })
        })
        .collect()
}

/// The Vitis HLS script of this instance: `hls/scripts/run_hls.tcl` with the kernel's
/// source, this directory's configuration and the plan's part and clock. fibha's HLS
/// sources come from `FIBHA_HLS_DIR`, so the directory names no path of the machine that
/// built it.
fn hls_tcl(doc: &PlanDoc) -> String {
    format!(
        "# @generated by {gen} for plan {hash}. Do not edit: regenerate with `fibha-compile build`.\n\
         #\n\
         # Vitis HLS 2023.2 flow of this instance's kernel (fibha_top against ../fibha_config.hpp),\n\
         # from the build directory, with FIBHA_HLS_DIR naming fibha's hls/ folder (the sources of\n\
         # {gen}):\n\
         #   FIBHA_HLS_DIR=/path/to/fibha/hls vitis_hls -f hls/fibha_top.tcl\n\
         # The IP lands in hls/fibha_top/sol1/impl/ip, where vivado/params.tcl expects it.\n\
         # Flags as in hls/scripts/run_hls.tcl (FIBHA_CSYNTH, FIBHA_COSIM, FIBHA_EXPORT); C simulation\n\
         # of this instance is the virtual board's kernel (vboard/fibha_kernel), so FIBHA_CSIM is 0.\n\
         set here [file normalize [file dirname [info script]]]\n\
         if {{![info exists ::env(FIBHA_HLS_DIR)] || $::env(FIBHA_HLS_DIR) eq \"\"}} {{\n\
         \x20   error \"hls/fibha_top.tcl: set FIBHA_HLS_DIR to fibha's hls/ folder (the HLS sources of {gen})\"\n\
         }}\n\
         proc fibha_default {{name value}} {{\n\
         \x20   if {{![info exists ::env($name)] || $::env($name) eq \"\"}} {{\n\
         \x20       set ::env($name) $value\n\
         \x20   }}\n\
         }}\n\
         fibha_default FIBHA_CSIM 0\n\
         fibha_default FIBHA_PART {part}\n\
         fibha_default FIBHA_CLOCK_MHZ {clock}\n\
         fibha_default FIBHA_BUILD $here\n\
         set ::env(FIBHA_CONFIG_DIR) [file dirname $here]\n\
         set INSTANCE fibha_top\n\
         set TOP fibha_top\n\
         set SOURCES {{src/fibha_top.cpp}}\n\
         set TB {{}}\n\
         set TB_ARGS \"\"\n\
         set EXTRA_INCLUDE [list $::env(FIBHA_CONFIG_DIR)]\n\
         source [file join $::env(FIBHA_HLS_DIR) scripts run_hls.tcl]\n",
        gen = generator(),
        hash = doc.plan_hash,
        part = doc.hardware.part,
        clock = doc.hardware.clock_mhz,
    )
}

/// `vivado/params.tcl` for `bitstreams/zcu102/build.tcl` (paths relative to this file).
fn vivado_params(doc: &PlanDoc) -> String {
    format!(
        "# @generated by {gen} for plan {hash}. Parameters of bitstreams/zcu102/build.tcl:\n\
         #   make -C bitstreams/zcu102 all PARAMS=$PWD/vivado/params.tcl   (after `vitis_hls -f hls/fibha_top.tcl`)\n\
         set fibha(ip_repo)   ../{ip}\n\
         set fibha(hp_ports)  {M_AXI_MASTERS}\n\
         set fibha(clock_mhz) {clock}\n\
         set fibha(plan)      ../plan.json\n\
         set fibha(plan_hash) {hash}\n\
         set fibha(out_dir)   ../{out}\n\
         set fibha(dtso)      fibha.dtso\n\
         set fibha(part)      {part}\n",
        gen = generator(),
        hash = doc.plan_hash,
        clock = doc.hardware.clock_mhz,
        part = doc.hardware.part,
        ip = layout::HLS_IP,
        out = layout::BOARD_DIR,
    )
}

/// Pretty JSON with a trailing newline.
fn to_json<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, BuildError> {
    let mut bytes =
        serde_json::to_vec_pretty(v).map_err(|source| BuildError::Json { what, source })?;
    bytes.push(b'\n');
    Ok(bytes)
}
