//! The generated HLS configuration header (`fibha_config.hpp`): what `hls/src/fibha_top.cpp`
//! needs to become this plan's kernel. The SESL chain instantiates the engine templates
//! (`SeslConv`, `SeslDw`, `SeslPw`, `Firb`, with a `Regroup` between engines whose word
//! widths differ) with the plan's shapes and parallelism as template parameters under one
//! DATAFLOW function, each stream as deep as its consumer asks; the SEML part is a
//! `SemlPart<...>` instantiation with the plan's parallelism, requantizers and memory
//! sizes; `kEngines` puts each engine's multipliers and requantizers per cycle next to the
//! PEs and DSP slices the model charged, and `static_assert`s refuse to compile a
//! configuration where they differ.
//!
//! Invariant: the header is a pure function of the plan's [`HwDesign`] (plus the modelled
//! figures in its comments and the buffer sizes of its co-simulation depths); it is
//! regenerated, never edited. Engines no template implements are refused by name.

use std::fmt::Write as _;

use crate::hw::{HwDesign, Padding, SeslEngineHw, StageHw};
use crate::network::{LayerKind, Shape};
use crate::report::PlanDoc;

/// A plan the HLS templates cannot build.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// An engine no template implements, or parameters a template refuses.
    #[error("engine {engine}: {detail}")]
    Engine {
        /// The engine's name.
        engine: String,
        /// What is wrong.
        detail: String,
    },
}

/// The buffer sizes of an instance's run (for the m_axi co-simulation depths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depths {
    /// Input image bytes.
    pub input: u64,
    /// Output tensor bytes.
    pub output: u64,
    /// Bundle bytes.
    pub bundle: u64,
}

/// One engine of the chain as C++: its type and stream word widths.
struct ChainEngine {
    /// The C++ alias (`E3`).
    alias: String,
    /// The template instantiation.
    ty: String,
    /// Input and output stream word widths.
    in_word: u32,
    out_word: u32,
    /// Output map.
    output: Shape,
}

fn padding_cpp(engine: &str, st: &StageHw) -> Result<&'static str, CodegenError> {
    match st.padding {
        Padding::Same => Ok("Padding::kSame"),
        Padding::Valid => Ok("Padding::kValid"),
        Padding::Other => Err(CodegenError::Engine {
            engine: engine.to_string(),
            detail: format!(
                "layer {} pads ({}, {}) which is neither SAME nor VALID; the streaming engines implement those two",
                st.layer, st.input.h, st.input.w
            ),
        }),
    }
}

fn chain_engine(index: usize, e: &SeslEngineHw) -> Result<ChainEngine, CodegenError> {
    let bad = |detail: String| CodegenError::Engine {
        engine: e.name.clone(),
        detail,
    };
    let alias = format!("E{index}");
    let kinds: Vec<LayerKind> = e.stages.iter().map(|s| s.kind).collect();
    if e.kind == "firb" {
        let (expand, dw, project) = match kinds.as_slice() {
            [
                LayerKind::Pointwise,
                LayerKind::Depthwise,
                LayerKind::Pointwise,
            ] => (Some(&e.stages[0]), &e.stages[1], &e.stages[2]),
            [LayerKind::Depthwise, LayerKind::Pointwise] => (None, &e.stages[0], &e.stages[1]),
            _ => {
                return Err(bad(format!(
                    "a FIRB engine of stages {kinds:?} has no template"
                )));
            }
        };
        if dw.padding != Padding::Same || dw.kernel % 2 == 0 {
            return Err(bad(
                "the FIRB template needs SAME padding and an odd kernel".into(),
            ));
        }
        let block_in = expand.map_or(dw.input, |x| x.input);
        if dw.input.c % block_in.c != 0 {
            return Err(bad(format!(
                "expanded channels {} are not a multiple of the block's {}",
                dw.input.c, block_in.c
            )));
        }
        let (simd_e, pe_e) = match expand {
            Some(x) if x.pf != dw.pf => {
                return Err(bad(format!(
                    "expand pf {} differs from the depthwise pf {}: one expand pass must fill one line-buffer word",
                    x.pf, dw.pf
                )));
            }
            Some(x) => (x.pc, x.pf),
            None => (dw.pf, dw.pf),
        };
        let ty = format!(
            "Firb<{}, {}, {}, {}, {}, {}, {}, {}, {simd_e}, {pe_e}, {}, {}, {}>",
            block_in.h,
            block_in.w,
            block_in.c,
            dw.input.c / block_in.c,
            project.output.c,
            dw.kernel,
            dw.stride,
            e.residual,
            dw.pf,
            project.pc,
            project.pf
        );
        return Ok(ChainEngine {
            alias,
            ty,
            in_word: simd_e,
            out_word: project.pf,
            output: project.output,
        });
    }
    if e.residual {
        return Err(bad(
            "a residual ADD outside a FIRB engine has no SESL template (build with FIRB engines)"
                .into(),
        ));
    }
    let [st] = e.stages.as_slice() else {
        return Err(bad(format!(
            "an engine of stages {kinds:?} has no template"
        )));
    };
    let (i, o) = (st.input, st.output);
    let (ty, in_word, out_word) = match st.kind {
        LayerKind::Conv => (
            format!(
                "SeslConv<{}, {}, {}, {}, {}, {}, {}, {}, {}>",
                i.h,
                i.w,
                i.c,
                o.c,
                st.kernel,
                st.stride,
                padding_cpp(&e.name, st)?,
                st.pc,
                st.pf
            ),
            st.pc,
            st.pf,
        ),
        LayerKind::Depthwise => (
            format!(
                "SeslDw<{}, {}, {}, {}, {}, {}, {}>",
                i.h,
                i.w,
                i.c,
                st.kernel,
                st.stride,
                padding_cpp(&e.name, st)?,
                st.pf
            ),
            st.pf,
            st.pf,
        ),
        LayerKind::Pointwise => (
            format!(
                "SeslPw<{}, {}, {}, {}, {}, {}>",
                i.h, i.w, i.c, o.c, st.pc, st.pf
            ),
            st.pc,
            st.pf,
        ),
        LayerKind::Add | LayerKind::SqueezeExcite | LayerKind::GlobalPool => {
            return Err(bad(format!(
                "a dedicated {} engine has no template",
                st.kind.short()
            )));
        }
    };
    Ok(ChainEngine {
        alias,
        ty,
        in_word,
        out_word,
        output: o,
    })
}

/// Renders the header for the plan `doc` (its hardware and, in comments, its modelled
/// figures).
pub fn hls_config(doc: &PlanDoc, depths: Depths, generator: &str) -> Result<String, CodegenError> {
    let hw: &HwDesign = &doc.hardware;
    let hash = doc.hardware_id();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "// @generated by {generator} from plan {hash:016x}. Do not edit: regenerate with\n\
         // `fibha-compile build`. Model: {} ({}), board: {} ({}), {} MHz.",
        doc.model.name,
        doc.model.source.file(),
        doc.board.name,
        hw.part,
        hw.clock_mhz
    );
    let _ = writeln!(
        o,
        "// Modelled (analytical model, not measured): {:.1} images/s pipelined, {:.3} ms latency, {} DSP, {} BRAM36.",
        doc.modelled.fibha.fps_pipelined,
        doc.modelled.fibha.latency_ms,
        doc.modelled.fibha.dsp,
        doc.modelled.fibha.bram36
    );
    o.push_str(
        "//\n// The instance src/fibha_top.cpp is compiled against (its header comment lists what\n\
         // this file defines). Template parameters: shapes first, then parallelism.\n",
    );
    if doc.board.macs_per_dsp != 1 {
        return Err(CodegenError::Engine {
            engine: "all".into(),
            detail: "the HLS engines multiply one int8 pair per DSP slice; plan without int8 packing to build".into(),
        });
    }
    o.push_str("#ifndef FIBHA_CONFIG_HPP\n#define FIBHA_CONFIG_HPP\n\n#include <cstdint>\n\n");
    for h in [
        "axi",
        "firb",
        "latency",
        "params",
        "resources",
        "schedule",
        "seml",
        "sesl_conv",
        "sesl_dw",
        "sesl_pw",
        "stream",
        "types",
    ] {
        let _ = writeln!(o, "#include \"fibha/{h}.hpp\"");
    }
    o.push_str(
        "\n/// m_axi depths (128-bit elements) of this plan's buffers, for C/RTL co-simulation.\n",
    );
    for (name, v) in [
        ("INPUT", depths.input),
        ("OUTPUT", depths.output),
        ("BUNDLE", depths.bundle),
    ] {
        let _ = writeln!(
            o,
            "#define FIBHA_CFG_{name}_DEPTH {}",
            v.div_ceil(16).max(1)
        );
    }
    o.push_str("\nnamespace fibha {\nnamespace config {\n\n");
    let _ = writeln!(
        o,
        "/// The plan hash: SHA-256 of the plan's hardware design (plan.json `hardware`), first 8 bytes.\nconstexpr uint64_t kPlanHash = 0x{hash:016x}ull;"
    );
    let _ = writeln!(
        o,
        "/// SEML descriptors a run accepts (the plan's SEML layers; 0: no SEML part).\nconstexpr uint32_t kMaxLayers = {};\n",
        if hw.seml.part.is_some() {
            hw.seml.max_layers
        } else {
            0
        }
    );
    platform_block(&mut o, doc);
    let chain: Vec<ChainEngine> = hw
        .sesl
        .iter()
        .enumerate()
        .map(|(i, e)| chain_engine(i, e))
        .collect::<Result<_, _>>()?;
    for (c, e) in chain.iter().zip(&hw.sesl) {
        let layers: Vec<&str> = e.stages.iter().map(|s| s.layer.as_str()).collect();
        let _ = writeln!(
            o,
            "// {}: {}{}\nusing {} = {};",
            e.name,
            layers.join(" -> "),
            if e.residual { " + ADD" } else { "" },
            c.alias,
            c.ty
        );
    }
    let input = hw.input;
    let in_word = chain.first().map_or(input.c as u32, |c| c.in_word);
    let out_word = chain.last().map_or(input.c as u32, |c| c.out_word);
    let out = hw.sesl_output;
    let _ = writeln!(
        o,
        "\nconstexpr unsigned kSeslInH = {};\nconstexpr unsigned kSeslInW = {};\nconstexpr unsigned kSeslInC = {};\nconstexpr unsigned kSeslInWord = {in_word};\nconstexpr unsigned kSeslOutH = {};\nconstexpr unsigned kSeslOutW = {};\nconstexpr unsigned kSeslOutC = {};\nconstexpr unsigned kSeslOutWord = {out_word};",
        input.h, input.w, input.c, out.h, out.w, out.c,
    );
    weights_block(&mut o, &chain);
    chain_block(&mut o, hw, &chain, in_word);
    seml_block(&mut o, hw)?;
    resources_block(&mut o, doc, &chain)?;
    o.push_str("\n}  // namespace config\n}  // namespace fibha\n\n#endif  // FIBHA_CONFIG_HPP\n");
    Ok(o)
}

/// The SESL engines' on-chip parameters and their loader.
fn weights_block(o: &mut String, chain: &[ChainEngine]) {
    o.push_str("\n/// On-chip parameters of the SESL engines, loaded from the bundle's SESL section.\nstruct SeslWeights {\n");
    for (i, c) in chain.iter().enumerate() {
        let _ = writeln!(o, "  {}::Params e{i};", c.alias);
    }
    let beats: Vec<String> = chain
        .iter()
        .map(|c| format!("{}::Params::kBlobBeats", c.alias))
        .collect();
    let _ = writeln!(
        o,
        "\n  static constexpr uint32_t kBlobBeats = {};\n\n  bool load(AxiIn<BundleBeat> p_bundle, uint32_t p_beat) {{\n    bool l_ok = true;",
        if beats.is_empty() {
            "0".to_string()
        } else {
            beats.join(" + ")
        }
    );
    for i in 0..chain.len() {
        let _ = writeln!(o, "    l_ok = e{i}.load(p_bundle, p_beat) && l_ok;");
    }
    if chain.is_empty() {
        o.push_str("    (void)p_bundle;\n    (void)p_beat;\n");
    }
    o.push_str("    return l_ok;\n  }\n};\n");
}

/// The SESL chain: one DATAFLOW process per engine (and per word-width change), each
/// stream as deep as its consumer asks.
fn chain_block(o: &mut String, hw: &HwDesign, chain: &[ChainEngine], in_word: u32) {
    let mut body = String::new();
    let mut decls = String::new();
    let mut prev = "p_in".to_string();
    let mut prev_word = in_word;
    let mut prev_bytes = hw.input.bytes();
    for (i, c) in chain.iter().enumerate() {
        let name = &hw.sesl[i].name;
        if prev_word != c.in_word {
            let stream = format!("l_regroup{i}");
            let _ = writeln!(
                decls,
                "  hls::stream<Vec<{}>, {}::kInputFifoDepth> {stream}(\"sesl.{name}_in\");",
                c.in_word, c.alias
            );
            let _ = writeln!(
                body,
                "  FIBHA_PROCESS(sesl_chain, \"{name}.regroup\", (Regroup<{}, {prev_word}, {}>::run({prev}, {stream}, p_images)));",
                prev_bytes / u64::from(prev_word),
                c.in_word
            );
            prev = stream;
        }
        let dst = if i + 1 == chain.len() {
            "p_out".to_string()
        } else {
            let stream = format!("l_e{i}Out");
            let next = &chain[i + 1];
            let depth = if next.in_word == c.out_word {
                format!("{}::kInputFifoDepth", next.alias)
            } else {
                "2".to_string()
            };
            let _ = writeln!(
                decls,
                "  hls::stream<{}::OutWord, {depth}> {stream}(\"sesl.{name}_out\");",
                c.alias
            );
            stream
        };
        let _ = writeln!(
            body,
            "  FIBHA_PROCESS(sesl_chain, \"{name}\", {}::run({prev}, {dst}, p_w.e{i}, p_images));",
            c.alias
        );
        prev = dst;
        prev_word = c.out_word;
        prev_bytes = c.output.bytes();
    }
    if chain.is_empty() {
        let _ = writeln!(
            body,
            "  (void)p_w;\n  // No SESL part: the image goes to the SEML part unchanged.\n  \
             FIBHA_PROCESS(sesl_chain, \"copy\", (copy_words<kSeslInH * kSeslInW * kSeslInC / kSeslInWord, kSeslInWord>(p_in, p_out, p_images)));"
        );
    }
    let _ = writeln!(
        o,
        "\n/// The SESL chain on p_images images: one DATAFLOW process per engine, joined by named streams.\n\
         template <int t_InDepth, int t_OutDepth>\n\
         void sesl_chain(hls::stream<Vec<kSeslInWord>, t_InDepth>& p_in, hls::stream<Vec<kSeslOutWord>, t_OutDepth>& p_out,\n\
         {}const SeslWeights& p_w, uint32_t p_images) {{\n  FIBHA_DATAFLOW(sesl_chain);\n{decls}{body}  FIBHA_DATAFLOW_RUN(sesl_chain);\n}}",
        " ".repeat(16),
    );
}

/// The memory system the kernel's m_axi ports see, from the board file: what the timed C
/// simulation keeps time with.
fn platform_block(o: &mut String, doc: &PlanDoc) {
    let p = &doc.board.ports;
    let ddr_bytes_per_cycle = doc.board.ddr_gbps * 1e9 / (doc.board.clock_mhz * 1e6);
    let _ = writeln!(
        o,
        "/// The memory system of {} as the timed C simulation models it (board file [ports] and\n\
         /// [memory]; each figure's source is given there).\n\
         constexpr unsigned kAxiPortBytes = {};\nconstexpr unsigned kAxiLatency = {};\n\
         constexpr unsigned kAxiMaxBurst = {};\nconstexpr unsigned kAxiOutstanding = {};\n\
         constexpr double kDdrBytesPerCycle = {ddr_bytes_per_cycle:?};\n",
        doc.board.name,
        p.width_bytes(),
        p.latency_cycles,
        p.max_burst_beats,
        p.outstanding
    );
}

/// The SEML part's instantiation (a minimal one, never run, without an SEML part).
fn seml_block(o: &mut String, hw: &HwDesign) -> Result<(), CodegenError> {
    let Some(part) = &hw.seml.part else {
        o.push_str(
            "\n// No SEML part: the smallest SemlPart stands in for the checks' types (never run).\n\
             using Seml = SemlPart<1, 16, 2, 1, 1, 1, 1, 1, 1, 1, 1>;\n",
        );
        return Ok(());
    };
    if let Some(why) = &part.unsupported {
        return Err(CodegenError::Engine {
            engine: "seml".into(),
            detail: format!("{why}; plan with that layer in the SESL part"),
        });
    }
    let p = part.par;
    let _ = writeln!(
        o,
        "\n// SEML part: {} pixels x {} channels x 16 pointwise, {} words depthwise; requantizers:\n\
         // {} word(s), {} residual lane(s), {} depthwise word(s) a cycle; memories for maps of up to\n\
         // {} pixels and {} words, {} words a bank, windows of up to {} taps.\n\
         using Seml = SemlPart<{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, kSeslOutH * kSeslOutW * fm_words(kSeslOutC)>;",
        p.pp,
        p.pe,
        p.kd,
        p.rq_words,
        p.add_lanes,
        p.dw_rq_words,
        part.max_pixels,
        part.max_words,
        part.fm_depth,
        part.max_taps,
        p.pp,
        p.pe,
        p.kd,
        part.max_pixels,
        part.max_words,
        part.fm_depth,
        part.max_taps,
        p.rq_words,
        p.add_lanes,
        p.dw_rq_words,
    );
    Ok(())
}

fn resources_block(
    o: &mut String,
    doc: &PlanDoc,
    chain: &[ChainEngine],
) -> Result<(), CodegenError> {
    let hw = &doc.hardware;
    let plan_cycles = |name: &str| {
        doc.engines
            .iter()
            .find(|e| e.name == name)
            .map_or(0, |e| e.cycles)
    };
    // Per engine: name, the template's MACs and requantizers, the PEs and DSP charged.
    let mut rows: Vec<(String, String, String, u32, u32)> = Vec::new();
    for (c, e) in chain.iter().zip(&hw.sesl) {
        rows.push((
            e.name.clone(),
            format!("{}::kMacsPerCycle", c.alias),
            format!("{}::kRequantizers", c.alias),
            e.pes,
            e.dsp,
        ));
    }
    if hw.seml.part.is_some() {
        for (name, pes, dsp) in &hw.seml.charged {
            let which = match name.as_str() {
                "seml.pw" => "Pw",
                "seml.dw" => "Dw",
                other => {
                    return Err(CodegenError::Engine {
                        engine: other.to_string(),
                        detail: "no SEML template runs this kind".into(),
                    });
                }
            };
            rows.push((
                name.clone(),
                format!("Seml::k{which}MacsPerCycle"),
                format!("Seml::k{which}Requantizers"),
                *pes,
                *dsp,
            ));
        }
    }
    o.push_str(
        "\n/// Per engine: the int8 multipliers and 32 x 32-bit requantizer multipliers its template\n\
         /// instantiates per cycle, next to the PEs and DSP slices the compiler's model charged it\n\
         /// and the plan's cycles per image.\n\
         constexpr EngineResources kEngines[] = {\n",
    );
    for (name, macs, wide, pes, dsp) in &rows {
        let _ = writeln!(
            o,
            "    {{\"{name}\", {macs}, {wide}, {pes}, {dsp}, {}}},",
            plan_cycles(name)
        );
    }
    o.push_str("};\n\n");
    for (name, macs, wide, pes, dsp) in &rows {
        let _ = writeln!(
            o,
            "static_assert({macs} == {pes}, \"{name}: the template's multipliers per cycle differ from the {pes} PEs the plan charged\");\n\
             static_assert(engine_dsp({macs}, {wide}) == {dsp}, \"{name}: the template's DSP slices (MACs and requantizers) differ from the {dsp} the plan charged\");"
        );
    }
    Ok(())
}
