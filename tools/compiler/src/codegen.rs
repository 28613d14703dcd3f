//! The generated HLS configuration header (`fibha_config.hpp`): what `hls/src/fibha_top.cpp`
//! needs to become this plan's kernel. The SESL chain instantiates the engine templates
//! (`SeslConv`, `SeslDw`, `SeslPw`, `Firb`, with `StreamResize` between engines whose word
//! widths differ) with the plan's shapes and parallelism as template parameters under one
//! DATAFLOW function; the SEML part is a `SemlEngines<...>` instantiation whose maximums and
//! tiles come from the plan's SEML layers; `kEngines` puts each engine's multipliers per
//! cycle next to the PEs the model charged, and a `static_assert` refuses to compile a
//! configuration where they differ.
//!
//! Invariant: the header is a pure function of the plan's [`HwDesign`] (plus the modelled
//! figures in its comments and the buffer sizes of its co-simulation depths); it is
//! regenerated, never edited. Engines no template implements are refused by name.

use std::fmt::Write as _;

use crate::hw::{HwDesign, Padding, SeslEngineHw, SeslOut, StageHw};
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
    /// Scratch bytes.
    pub scratch: u64,
    /// Bundle bytes.
    pub bundle: u64,
}

/// One engine of the chain as C++: its type, parameters type and stream word widths.
struct ChainEngine {
    /// The C++ alias (`E3`).
    alias: String,
    /// The template instantiation.
    ty: String,
    /// The on-chip parameter type.
    params: String,
    /// Input and output stream word widths.
    in_word: u32,
    out_word: u32,
    /// Output map.
    output: Shape,
    /// How `sesl_chain` runs it on `p_w.<member>`.
    run: fn(&str, &str, &str, &str) -> String,
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

fn run_layer(alias: &str, member: &str, input: &str, output: &str) -> String {
    format!("{alias}::run({input}, {output}, p_w.{member}.w, p_w.{member}.cq, p_w.{member}.q);")
}

fn run_firb(_alias: &str, member: &str, input: &str, output: &str) -> String {
    format!("p_w.{member}.run({input}, {output});")
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
            params: format!("FirbParams<{alias}>"),
            alias,
            ty,
            in_word: simd_e,
            out_word: project.pf,
            output: project.output,
            run: run_firb,
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
    let (ty, params, in_word, out_word) = match st.kind {
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
            format!("LayerParams<{}, {alias}::kDepth, {}>", o.c, o.c),
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
            format!("LayerParams<{alias}::kTaps, {}, {}>", o.c, o.c),
            st.pf,
            st.pf,
        ),
        LayerKind::Pointwise => (
            format!(
                "SeslPw<{}, {}, {}, {}, {}, {}>",
                i.h, i.w, i.c, o.c, st.pc, st.pf
            ),
            format!("LayerParams<{}, {}, {}>", o.c, i.c, o.c),
            st.pc,
            st.pf,
        ),
        LayerKind::Add | LayerKind::SqueezeExcite => {
            return Err(bad(format!(
                "a dedicated {} engine has no template",
                st.kind.short()
            )));
        }
    };
    Ok(ChainEngine {
        alias,
        ty,
        params,
        in_word,
        out_word,
        output: o,
        run: run_layer,
    })
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The `StreamResize` stages between a producer of `from`-wide words and a consumer of
/// `to`-wide words over a map of `bytes`: none, one, or two through their gcd when neither
/// width divides the other. Each with the word width it produces.
fn resizes(bytes: u64, from: u32, to: u32) -> Vec<(String, u32)> {
    if from == to {
        return Vec::new();
    }
    let steps = if from.is_multiple_of(to) || to.is_multiple_of(from) {
        vec![(from, to)]
    } else {
        let g = gcd(from, to);
        vec![(from, g), (g, to)]
    };
    steps
        .into_iter()
        .map(|(a, b)| {
            (
                format!("StreamResize<{}, {a}, {b}>", bytes / u64::from(a)),
                b,
            )
        })
        .collect()
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
        "// Modelled (analytical model, not measured): {:.1} images/s, {:.3} ms latency, {} DSP, {} BRAM36.",
        doc.modelled.fibha.fps,
        doc.modelled.fibha.latency_ms,
        doc.modelled.fibha.dsp,
        doc.modelled.fibha.bram36
    );
    o.push_str(
        "//\n// The instance src/fibha_top.cpp is compiled against (its header comment lists what\n\
         // this file defines). Template parameters: shapes first, then parallelism.\n",
    );
    o.push_str("#ifndef FIBHA_CONFIG_HPP\n#define FIBHA_CONFIG_HPP\n\n#include <cstdint>\n\n");
    for h in [
        "axi",
        "bundle",
        "firb",
        "latency",
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
    o.push_str("\n/// m_axi depths (elements) of this plan's buffers, for C/RTL co-simulation.\n");
    for (name, v) in [
        ("INPUT", depths.input),
        ("OUTPUT", depths.output),
        ("SCRATCH", depths.scratch),
        ("BUNDLE", depths.bundle.div_ceil(4)),
    ] {
        let _ = writeln!(o, "#define FIBHA_CFG_{name}_DEPTH {}", v.max(1));
    }
    o.push_str("\nnamespace fibha {\nnamespace config {\n\n");
    let _ = writeln!(
        o,
        "/// The plan hash: SHA-256 of the plan's hardware design (plan.json `hardware`), first 8 bytes.\nconstexpr uint64_t kPlanHash = 0x{hash:016x}ull;"
    );
    let _ = writeln!(
        o,
        "/// SEML descriptors a run accepts (the plan's SEML layers).\nconstexpr uint32_t kMaxLayers = {};\n",
        hw.seml.max_layers.max(1)
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
        "\nconstexpr unsigned kSeslInH = {};\nconstexpr unsigned kSeslInW = {};\nconstexpr unsigned kSeslInC = {};\nconstexpr unsigned kSeslInWord = {in_word};\nconstexpr unsigned kSeslOutH = {};\nconstexpr unsigned kSeslOutW = {};\nconstexpr unsigned kSeslOutC = {};\nconstexpr unsigned kSeslOutWord = {out_word};\nconstexpr BufferId kSeslOutBuf = BufferId::{};\nconstexpr uint32_t kSeslOutOff = 0;",
        input.h,
        input.w,
        input.c,
        out.h,
        out.w,
        out.c,
        match hw.sesl_out {
            SeslOut::Scratch => "kScratch",
            SeslOut::Output => "kOutput",
        }
    );
    // Streams and resizes between the stages.
    let mut body = String::new();
    let mut decls = String::new();
    let mut prev = "p_in".to_string();
    let mut prev_word = in_word;
    let mut prev_bytes = input.bytes();
    for (i, c) in chain.iter().enumerate() {
        for (r, (ty, word)) in resizes(prev_bytes, prev_word, c.in_word)
            .into_iter()
            .enumerate()
        {
            let name = format!("l_resize{i}_{r}");
            let _ = writeln!(
                decls,
                "  hls::stream<Vec<{word}>> {name}(\"sesl.{}_in{r}\");",
                hw.sesl[i].name
            );
            let _ = writeln!(
                body,
                "  FIBHA_PROCESS(sesl_chain, \"{}.resize{r}\", {ty}::run({prev}, {name}));",
                hw.sesl[i].name
            );
            prev = name;
        }
        let dst = if i + 1 == chain.len() {
            "p_out".to_string()
        } else {
            let name = format!("l_e{i}Out");
            let _ = writeln!(
                decls,
                "  hls::stream<{}::OutWord> {name}(\"sesl.{}_out\");",
                c.alias, hw.sesl[i].name
            );
            name
        };
        let _ = writeln!(
            body,
            "  FIBHA_PROCESS(sesl_chain, \"{}\", {});",
            hw.sesl[i].name,
            (c.run)(&c.alias, &format!("e{i}"), &prev, &dst).trim_end_matches(';')
        );
        prev = dst;
        prev_word = c.out_word;
        prev_bytes = c.output.bytes();
    }
    if chain.is_empty() {
        let _ = writeln!(
            body,
            "  // No SESL part: the image goes to the SEML part unchanged.\n\
             \x20 FIBHA_PROCESS(sesl_chain, \"copy\", copy_words(p_in, p_out));"
        );
    }
    // On-chip weights.
    o.push_str("\n/// On-chip parameters of the SESL engines, loaded from the bundle's SESL section.\nstruct SeslWeights {\n");
    for (i, c) in chain.iter().enumerate() {
        let _ = writeln!(o, "  {} e{i};", c.params);
    }
    let bytes: Vec<String> = chain
        .iter()
        .map(|c| format!("{}::kBlobBytes", c.params))
        .collect();
    let _ = writeln!(
        o,
        "\n  static constexpr uint32_t kBytes = {};\n\n  bool load(AxiIn<uint32_t> p_bundle, uint32_t p_off) {{\n    bool l_ok = true;",
        if bytes.is_empty() {
            "0".to_string()
        } else {
            bytes.join(" + ")
        }
    );
    for i in 0..chain.len() {
        let _ = writeln!(o, "    l_ok = e{i}.load(p_bundle, p_off) && l_ok;");
    }
    if chain.is_empty() {
        o.push_str("    (void)p_bundle;\n    (void)p_off;\n");
    }
    o.push_str("    return l_ok;\n  }\n};\n");
    if chain.is_empty() {
        o.push_str(
            "\n/// The image unchanged, word by word (no SESL engine in this plan).\n\
             inline void copy_words(hls::stream<Vec<kSeslInWord>>& p_in, hls::stream<Vec<kSeslOutWord>>& p_out) {\n\
             \x20 FIBHA_PIPELINED_FOR(copy_loop, latency::kCopy) (unsigned l_i = 0; l_i < kSeslInH * kSeslInW * kSeslInC / kSeslInWord; ++l_i) {\n\
             \x20   FIBHA_PIPELINE(copy_loop, 1);\n\
             \x20   p_out.write(p_in.read());\n\
             \x20 }\n}\n",
        );
    }
    let _ = writeln!(
        o,
        "\n/// The SESL chain: one DATAFLOW process per engine, joined by named streams.\n\
         inline void sesl_chain(hls::stream<Vec<kSeslInWord>>& p_in, hls::stream<Vec<kSeslOutWord>>& p_out,\n\
         {}const SeslWeights& p_w) {{\n  FIBHA_DATAFLOW(sesl_chain);\n{}{}{}  FIBHA_DATAFLOW_RUN(sesl_chain);\n}}",
        " ".repeat(23),
        if chain.is_empty() {
            "  (void)p_w;\n"
        } else {
            ""
        },
        decls,
        body
    );
    seml_block(&mut o, hw);
    resources_block(&mut o, doc, &chain)?;
    o.push_str("\n}  // namespace config\n}  // namespace fibha\n\n#endif  // FIBHA_CONFIG_HPP\n");
    Ok(o)
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

fn seml_block(o: &mut String, hw: &HwDesign) {
    let s = &hw.seml;
    o.push_str(
        "\n// SEML engines: maximums from the plan's SEML layers, tiles from its parallelism.\n",
    );
    let conv = s.conv.as_ref().map_or("SemlAbsent".to_string(), |c| {
        format!(
            "SemlConv<{}, {}, {}, {}, {}, {}, {}>",
            c.max_in_c, c.max_w, c.max_k, c.tile_oc, c.tile_rows, c.simd, c.pe
        )
    });
    let dw = s.dw.as_ref().map_or("SemlAbsent".to_string(), |d| {
        format!(
            "SemlDw<{}, {}, {}, {}, {}>",
            d.max_w, d.max_k, d.tile_c, d.tile_rows, d.simd
        )
    });
    let pw = s.pw.as_ref().map_or("SemlAbsent".to_string(), |p| {
        format!(
            "SemlPw<{}, {}, {}, {}, {}>",
            p.max_c, p.tile_oc, p.tile_pix, p.simd, p.pe
        )
    });
    let add = s
        .add
        .as_ref()
        .map_or("SemlAbsent".to_string(), |a| format!("SemlAdd<{}>", a.simd));
    let _ = writeln!(
        o,
        "using SemlConvEngine = {conv};\nusing SemlDwEngine = {dw};\nusing SemlPwEngine = {pw};\nusing SemlAddEngine = {add};\n\
         using Seml = SemlEngines<SemlConvEngine, SemlDwEngine, SemlPwEngine, SemlAddEngine>;"
    );
}

fn resources_block(
    o: &mut String,
    doc: &PlanDoc,
    chain: &[ChainEngine],
) -> Result<(), CodegenError> {
    let hw = &doc.hardware;
    if hw.seml.has_se {
        return Err(CodegenError::Engine {
            engine: "seml".into(),
            detail: "squeeze-and-excitation layers have no SEML engine in the HLS kernel".into(),
        });
    }
    let plan_cycles = |name: &str| {
        doc.engines
            .iter()
            .find(|e| e.name == name)
            .map_or(0, |e| e.cycles)
    };
    let mut rows = Vec::new();
    for (c, e) in chain.iter().zip(&hw.sesl) {
        rows.push((e.name.clone(), c.alias.clone(), e.pes, e.dsp));
    }
    for (name, pes, dsp) in &hw.seml.charged {
        let ty = match name.as_str() {
            "seml.conv" => "SemlConvEngine",
            "seml.dw" => "SemlDwEngine",
            "seml.pw" => "SemlPwEngine",
            other => {
                return Err(CodegenError::Engine {
                    engine: other.to_string(),
                    detail: "no SEML template runs this kind".into(),
                });
            }
        };
        rows.push((name.clone(), ty.to_string(), *pes, *dsp));
    }
    o.push_str(
        "\n/// Per engine: the int8 multipliers its template instantiates per cycle, next to the PEs\n\
         /// and DSP slices the compiler's model charged it and the plan's cycles per image.\n\
         constexpr EngineResources kEngines[] = {\n",
    );
    for (name, ty, pes, dsp) in &rows {
        let _ = writeln!(
            o,
            "    {{\"{name}\", {ty}::kMacsPerCycle, {pes}, {dsp}, {}}},",
            plan_cycles(name)
        );
    }
    o.push_str("};\n\n");
    for (name, ty, pes, _) in &rows {
        let _ = writeln!(
            o,
            "static_assert({ty}::kMacsPerCycle == {pes}, \"{name}: the template's multipliers per cycle differ from the {pes} PEs the plan charged\");"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_widths_are_converted_directly_or_through_their_gcd() {
        assert!(resizes(96, 8, 8).is_empty());
        assert_eq!(
            resizes(96, 8, 2),
            [("StreamResize<12, 8, 2>".to_string(), 2)]
        );
        assert_eq!(
            resizes(96, 2, 8),
            [("StreamResize<48, 2, 8>".to_string(), 8)]
        );
        // Neither of 4 and 6 divides the other: 4 -> 2 -> 6.
        assert_eq!(
            resizes(96, 4, 6),
            [
                ("StreamResize<24, 4, 2>".to_string(), 2),
                ("StreamResize<48, 2, 6>".to_string(), 6)
            ]
        );
    }
}
