//! The hardware a plan describes, and nothing else: the engines with their kinds, shapes
//! and parallelism, the SEML part's parallelism and memories, the board part, the clock and
//! the device interface version. [`HwDesign`] is what `fibha_config.hpp` is generated from
//! ([`crate::codegen`]) and what the plan hash covers ([`plan_hash`]).
//!
//! The modelled figures, the search that found the design and the model's weights are
//! left out on purpose: two builds whose hardware is the same get the same hash (and the
//! same bitstream runs both bundles), and a change of anything the bitstream depends on
//! changes it.
//!
//! Invariant: [`HwDesign::of`] is total (a plan whose engines the templates cannot build,
//! such as a squeeze-and-excitation engine, is still described; [`crate::codegen`] refuses
//! it with the reason), and a pure function of its inputs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::design::{Part, SemlPartHw};
use crate::network::{LayerKind, Shape};
use crate::report::{EngineDoc, LayerDoc};

/// AXI masters of the kernel (the m_axi bundles of `hls/src/fibha_top.cpp`: `gmem0` images,
/// `gmem1` bundle header, descriptors and SESL weights, `gmem2` and `gmem3` the SEML
/// parameter halves), one HP port each in the ZCU102 block design: the ports whose
/// bandwidth every design's DDR traffic shares ([`crate::board::Budget::ddr_bytes_per_s`]).
pub const M_AXI_MASTERS: u32 = 4;

/// Layout version of [`HwDesign`].
pub const HW_FORMAT: &str = "fibha-hw/2";

/// How a windowed stage pads its input, as the templates' `Padding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// TensorFlow SAME: output = ceil(input / stride), the smaller half of the padding first.
    Same,
    /// No padding.
    Valid,
    /// Anything else (no template implements it).
    Other,
}

impl Padding {
    /// The padding of a layer with these shapes and its top/left padding.
    pub fn of(l: &LayerDoc) -> Padding {
        let dims = [
            (l.input.h, l.output.h, l.pad[0]),
            (l.input.w, l.output.w, l.pad[1]),
        ];
        let same = dims.iter().all(|&(i, o, p)| {
            let total = ((o - 1) * l.stride + l.kernel).saturating_sub(i);
            o == i.div_ceil(l.stride) && p == total / 2
        });
        let valid = dims
            .iter()
            .all(|&(i, o, p)| p == 0 && i >= l.kernel && o == (i - l.kernel) / l.stride + 1);
        match (same, valid) {
            (true, _) => Padding::Same,
            (false, true) => Padding::Valid,
            _ => Padding::Other,
        }
    }
}

/// One compute stage of a dedicated engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageHw {
    /// The layer it runs.
    pub layer: String,
    /// Its kind.
    pub kind: LayerKind,
    /// Input map.
    pub input: Shape,
    /// Output map.
    pub output: Shape,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub padding: Padding,
    /// Output channels per cycle (the template's `t_Pe`; `t_Simd` of a depthwise stage).
    pub pf: u32,
    /// Input channels per cycle (the template's `t_Simd`; 1 for a depthwise stage).
    pub pc: u32,
}

/// One dedicated (SESL) engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeslEngineHw {
    /// Its name in the plan (`e3.firb`).
    pub name: String,
    /// `conv`, `dw`, `pw`, `se` or `firb`.
    pub kind: String,
    /// Its stages, in data-flow order.
    pub stages: Vec<StageHw>,
    /// Whether it ends with the bottleneck's residual ADD.
    pub residual: bool,
    /// PEs the model charged it.
    pub pes: u32,
    /// DSP slices the model charged it.
    pub dsp: u32,
}

/// The SEML part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemlHw {
    /// Descriptors a run accepts (the plan's SEML layers).
    pub max_layers: usize,
    /// The engines' parallelism and memories (none without an SEML part).
    pub part: Option<SemlPartHw>,
    /// Per engine: its plan name, PEs and DSP slices charged.
    pub charged: Vec<(String, u32, u32)>,
}

/// Everything the bitstream depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HwDesign {
    /// [`HW_FORMAT`].
    pub format: String,
    /// The register map's version (`fibha_model::device::INTERFACE_VERSION`).
    pub interface_version: u32,
    /// The device bundle format the kernel reads.
    pub bundle_version: u32,
    /// FPGA part.
    pub part: String,
    /// Kernel clock, MHz.
    pub clock_mhz: f64,
    /// The accelerator's input image.
    pub input: Shape,
    /// The SESL chain, in order.
    pub sesl: Vec<SeslEngineHw>,
    /// The SESL part's output map (the input when there is no SESL part): the hand-off to
    /// the SEML part, or the output.
    pub sesl_output: Shape,
    /// The SEML part.
    pub seml: SemlHw,
}

fn stage(l: &LayerDoc, pf: u32, pc: u32) -> StageHw {
    StageHw {
        layer: l.name.clone(),
        kind: l.kind,
        input: l.input,
        output: l.output,
        kernel: l.kernel,
        stride: l.stride,
        padding: Padding::of(l),
        pf,
        pc: if l.kind == LayerKind::Depthwise {
            1
        } else {
            pc
        },
    }
}

impl HwDesign {
    /// The hardware of a plan with these engines and layers on this part and clock.
    pub fn of(
        engines: &[EngineDoc],
        layers: &[LayerDoc],
        input: Shape,
        seml_part: Option<&SemlPartHw>,
        part: &str,
        clock_mhz: f64,
    ) -> HwDesign {
        let layer = |name: &str| layers.iter().find(|l| l.name == name);
        let sesl: Vec<SeslEngineHw> = engines
            .iter()
            .filter(|e| e.part == Part::Sesl)
            .map(|e| SeslEngineHw {
                name: e.name.clone(),
                kind: e.kind.clone(),
                stages: e
                    .stages
                    .iter()
                    .filter_map(|st| {
                        let p = st.parallelism;
                        layer(&st.layer).map(|l| stage(l, p.pf, p.pc))
                    })
                    .collect(),
                residual: e
                    .layers
                    .iter()
                    .any(|n| layer(n).is_some_and(|l| l.kind == LayerKind::Add)),
                pes: e.pes,
                dsp: e.dsp,
            })
            .collect();
        let seml_layers: Vec<&LayerDoc> = layers.iter().filter(|l| l.part == Part::Seml).collect();
        let sesl_output = layers
            .iter()
            .rev()
            .find(|l| l.part == Part::Sesl)
            .map_or(input, |l| l.output);
        HwDesign {
            format: HW_FORMAT.to_string(),
            interface_version: fibha_model::device::INTERFACE_VERSION,
            bundle_version: fibha_model::device::BUNDLE_VERSION,
            part: part.to_string(),
            clock_mhz,
            input,
            sesl,
            sesl_output,
            seml: SemlHw {
                max_layers: seml_layers
                    .iter()
                    .filter(|l| l.kind != LayerKind::Add)
                    .count(),
                part: seml_part.cloned(),
                charged: engines
                    .iter()
                    .filter(|e| e.part == Part::Seml)
                    .map(|e| (e.name.clone(), e.pes, e.dsp))
                    .collect(),
            },
        }
    }
}

/// The plan hash: SHA-256 over the canonical JSON of `hw` (serde_json's compact form, fields
/// in declaration order) with the stages' layer names blanked (they name the model's
/// operators, not hardware: a topology file and the `.tflite` of the same network give the
/// same hash), its first 8 bytes read as a big-endian `u64`. This is the value of the
/// kernel's `id` register and of the bundle header's plan hash.
pub fn plan_hash(hw: &HwDesign) -> u64 {
    let mut hw = hw.clone();
    hw.sesl
        .iter_mut()
        .flat_map(|e| e.stages.iter_mut())
        .for_each(|s| s.layer.clear());
    let bytes = serde_json::to_vec(&hw).expect("hardware designs serialize");
    let digest = Sha256::digest(&bytes);
    u64::from_be_bytes(digest[..8].try_into().expect("SHA-256 has 32 bytes"))
}
