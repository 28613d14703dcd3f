//! From an imported model and a plan to the weight bundle: requantization parameters
//! computed exactly as TensorFlow Lite computes them, weights in the order the engines
//! read them, the SEML layers' descriptors with their feature maps placed in the kernel's
//! buffers. The bundle format itself is `fibha_model::bundle` (and the layouts
//! `fibha_model::device`, generated from `hls/regmap.toml`); this module only fills it.
//!
//! TFLite's int8 arithmetic (the reference kernels): a convolution accumulates
//! (input - input_zp) x (filter - filter_zp) in int32, adds the int32 bias, scales by
//! `M = input_scale x filter_scale / output_scale` represented as a 32-bit fixed-point
//! multiplier and a power-of-two shift (QuantizeMultiplier), adds the output zero point and
//! clamps to the activation range. Per-channel int8 models compute M per output channel in
//! double precision. ADD rescales both operands to twice the larger input scale with a
//! left shift of 20, adds, and rescales to the output. The multipliers come from
//! `fibha_kernels::quant`, the code the CPU reference kernels use, so the bundle and the
//! golden model cannot disagree.
//!
//! The engines compute on signed bytes: (x - input zp) x (w - filter zp). TFLite's int8
//! scheme fills them as they are (symmetric weights, filter zp 0, per-channel multipliers
//! from double-precision products). A per-tensor uint8 model (TensorFlow 1's
//! quantization-aware training) runs with every 8-bit value and zero point stored minus
//! 128 ([`DType::stored_offset`]): the differences, and so every accumulator, are the uint8
//! kernel's; its multiplier comes from the `f32` product of the scales, as TFLite's uint8
//! kernels compute it. A layer mixing the two schemes is refused.
//!
//! Weights go in the order the engines hold them: a dedicated stage's words in its
//! memory's order (`hls/include/fibha/mvau.hpp`, `dwmac.hpp`), an SEML layer's blob in its
//! engine's (`fibha_model::bundle::pointwise_blob`, `depthwise_blob`).
//!
//! Feature maps: the SESL part's output (the hand-off) lands in the SEML part's memory
//! fm0; each SEML layer writes the first of the four memories that holds neither its
//! input, nor a map a later layer still reads (a residual kept for its ADD), nor, after a
//! depthwise layer, that layer's input (the two run together); a residual ADD is fused
//! into the pointwise layer before it.
//!
//! Invariant: every number written here is derived from the model file; a tensor that is
//! missing or has an unexpected type is an error naming the layer, never a default.

use std::collections::HashMap;

use fibha_kernels::quant::{self, QuantizedMultiplier};
use fibha_model::bundle::{
    self, BundleSpec, ChannelTables, FM_LANES, SemlLayer, SeslSection, depthwise_blob,
    pointwise_blob,
};
use fibha_model::device::{
    FLAG_RESIDUAL, FLAG_ROUND_DIVIDE, LayerKind as DevKind, SeslAdd, SeslLayerHead,
};
use fibha_model::{Activation, DType, Graph, Op, Tensor, TensorId};
use zerocopy::little_endian::{I32, U32};

use crate::design::Part;
use crate::hw::{SeslEngineHw, StageHw};
use crate::import::{Imported, LayerTensors};
use crate::network::{Act, LayerKind};
use crate::report::{LayerDoc, PlanDoc};

/// Why weights could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A layer's tensors are not what the engines run.
    #[error("{file}: layer {layer}: {detail}")]
    Layer {
        /// The model file.
        file: String,
        /// The layer name.
        layer: String,
        /// What is wrong.
        detail: String,
    },
    /// The bundle cannot be written.
    #[error("{file}: {source}")]
    Bundle {
        /// The model file.
        file: String,
        /// The writer's error.
        source: bundle::BundleErrorKind,
    },
}

/// The clamp of a layer's fused activation on its 8-bit output (TFLite's rule, from
/// `fibha_kernels::quant`), in the tensor's own type.
pub fn activation_range(act: Act, dtype: DType, scale: f32, zero_point: i32) -> (i32, i32) {
    let activation = match act {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Relu6 => Activation::Relu6,
    };
    let bounds = dtype.range_8bit().unwrap_or((-128, 127));
    quant::activation_range_for(activation, bounds, scale, zero_point)
}

/// Per-output-channel multipliers of a convolution or fully connected layer as TFLite
/// computes them: for an int8 convolution or a per-channel fully connected layer, per
/// channel in double precision; for per-tensor uint8 and per-tensor fully connected
/// layers, from the `f32` product of the scales.
pub fn conv_multipliers(
    input: &Tensor,
    filter: &Tensor,
    output: &Tensor,
    channels: usize,
    fully_connected: bool,
) -> Vec<QuantizedMultiplier> {
    let (iq, fq, oq) = (input.q(), filter.q(), output.q());
    let per_tensor = input.dtype == DType::UInt8 || (fully_connected && !fq.is_per_channel());
    let multiplier = if per_tensor {
        quant::per_tensor_conv_multiplier
    } else {
        quant::per_channel_conv_multiplier
    };
    (0..channels)
        .map(|c| multiplier(iq.scale(), fq.scale_of(c), oq.scale()))
        .collect()
}

/// Largest pixel count a pool layer divides exactly (`fibha::kMaxRoundDividePixels`).
pub const MAX_ROUND_DIVIDE_PIXELS: usize = 1 << 15;

/// The reciprocal a pool layer multiplies by to divide by `n` as AVERAGE_POOL_2D does
/// (`fibha::round_divide_reciprocal`): `ceil(2^(23 + s) / n)` and `s = ceil(log2 n)`; `None`
/// past [`MAX_ROUND_DIVIDE_PIXELS`], where the engine's 23-bit range would not hold the sums.
pub fn round_divide_reciprocal(n: usize) -> Option<(i32, i32)> {
    if n == 0 || n > MAX_ROUND_DIVIDE_PIXELS {
        return None;
    }
    let s = n.next_power_of_two().trailing_zeros();
    let reciprocal = (1u64 << (23 + s)).div_ceil(n as u64);
    Some((reciprocal as i32, s as i32))
}

/// A conv-like layer's quantization: its scalars and per-channel tables.
struct ConvQuant {
    head: SeslLayerHead,
    weights: Vec<i8>,
    bias: Vec<i32>,
    multipliers: Vec<i32>,
    shifts: Vec<i32>,
}

/// Reads one layer's tensors from the graph, refusing what the engines cannot run.
struct LayerReader<'a> {
    graph: &'a Graph,
    layer: &'a LayerDoc,
    tensors: &'a LayerTensors,
}

impl LayerReader<'_> {
    fn bad(&self, detail: impl Into<String>) -> PackError {
        PackError::Layer {
            file: self.graph.source.clone(),
            layer: self.layer.name.clone(),
            detail: detail.into(),
        }
    }

    /// An 8-bit activation tensor of the layer's scheme (the type of its input).
    fn activation(&self, id: TensorId, what: &str) -> Result<&Tensor, PackError> {
        let t = self.graph.tensor(id);
        let scheme = self.graph.tensor(self.tensors.input).dtype;
        if !t.dtype.is_quantized_8bit() || t.quant.is_none() || t.q().is_per_channel() {
            return Err(self.bad(format!(
                "its {what} {} is {}, not a per-tensor quantized int8 or uint8 tensor",
                t.name, t.dtype
            )));
        }
        if t.dtype != scheme {
            return Err(self.bad(format!(
                "its {what} {} is {} and its input {scheme}; TFLite's kernels take one 8-bit type per layer",
                t.name, t.dtype
            )));
        }
        Ok(t)
    }

    /// A zero point as the engines store it.
    fn stored_zp(t: &Tensor) -> I32 {
        I32::new(t.q().zero_point() - t.dtype.stored_offset())
    }

    /// The clamp of the layer's output, as the engines store it.
    fn clamp(&self) -> Result<(i32, i32), PackError> {
        let out = self.activation(self.tensors.output, "output")?;
        let (lo, hi) = activation_range(
            self.layer.act,
            out.dtype,
            out.q().scale(),
            out.q().zero_point(),
        );
        let offset = out.dtype.stored_offset();
        Ok((lo - offset, hi - offset))
    }

    /// The filter's values and zero point as the engines store them: int8 filters must be
    /// symmetric (TFLite's int8 kernels ignore a filter zero point), uint8 ones per-tensor.
    fn filter(&self, input: &Tensor) -> Result<(&Tensor, Vec<i8>, i32), PackError> {
        let filter = self.graph.tensor(
            self.tensors
                .filter
                .ok_or_else(|| self.bad("no filter tensor"))?,
        );
        let fq = filter
            .quant
            .as_ref()
            .ok_or_else(|| self.bad("filter has no quantization"))?;
        let weights = filter
            .data_i8()
            .ok_or_else(|| self.bad("filter is not a constant"))?;
        let zps = &fq.zero_points[..fq.zero_points.len().min(4)];
        match (input.dtype, filter.dtype) {
            (DType::Int8, DType::Int8) if fq.zero_points.iter().all(|&z| z == 0) => {
                Ok((filter, weights, 0))
            }
            (DType::UInt8, DType::UInt8) if !fq.is_per_channel() => {
                // Raw bytes 0..255 read as i8 are v - 256 for v >= 128; flipping the sign
                // bit gives v - 128 for every v.
                let stored = weights.iter().map(|&w| w ^ i8::MIN).collect();
                Ok((filter, stored, fq.zero_point() - 128))
            }
            _ => Err(self.bad(format!(
                "filter {} is {} with zero point(s) {zps:?} for a {} input; the engines take TFLite's \
                 int8 scheme (symmetric int8 filters) or per-tensor uint8 filters with uint8 activations",
                filter.name, filter.dtype, input.dtype
            ))),
        }
    }

    /// A conv-like layer's weights (TFLite's layout, which is the engines' read order:
    /// OHWI for convolutions, `[K][K][C]` for depthwise) and requantization.
    fn conv(&self) -> Result<ConvQuant, PackError> {
        let input = self.activation(self.tensors.input, "input")?;
        let output = self.activation(self.tensors.output, "output")?;
        let (filter, weights, filter_zp) = self.filter(input)?;
        let l = self.layer;
        let f = l.output.c;
        let per_filter = match l.kind {
            LayerKind::Depthwise => l.kernel * l.kernel,
            _ => l.kernel * l.kernel * l.input.c,
        };
        if weights.len() != f * per_filter {
            return Err(self.bad(format!(
                "filter has {} weights, its shape needs {}",
                weights.len(),
                f * per_filter
            )));
        }
        let bias = match self.tensors.bias {
            Some(b) => self
                .graph
                .tensor(b)
                .data_i32()
                .ok_or_else(|| self.bad("bias is not a constant int32 tensor"))?,
            None => vec![0; f],
        };
        if bias.len() != f {
            return Err(self.bad(format!("{} biases for {f} channels", bias.len())));
        }
        let fully_connected = matches!(
            self.graph.nodes[self.tensors.node].op,
            Op::FullyConnected { .. }
        );
        let mults = conv_multipliers(input, filter, output, f, fully_connected);
        let (act_min, act_max) = self.clamp()?;
        Ok(ConvQuant {
            head: SeslLayerHead {
                in_zp: Self::stored_zp(input),
                out_zp: Self::stored_zp(output),
                act_min: I32::new(act_min),
                act_max: I32::new(act_max),
                filter_zp: I32::new(filter_zp),
            },
            weights,
            bias,
            multipliers: mults.iter().map(|m| m.multiplier).collect(),
            shifts: mults.iter().map(|m| m.shift).collect(),
        })
    }

    /// A global pooling's scalars and tables (no weights), and whether it divides as
    /// AVERAGE_POOL_2D (else it rescales as MEAN).
    fn pool(&self) -> Result<(ConvQuant, bool), PackError> {
        let input = self.activation(self.tensors.input, "input")?;
        let output = self.activation(self.tensors.output, "output")?;
        let c = self.layer.input.c;
        let n = self.layer.input.h * self.layer.input.w;
        let divide = matches!(self.graph.nodes[self.tensors.node].op, Op::AveragePool2d(_));
        let offset = input.dtype.stored_offset();
        let (in_zp, out_zp, m) = if divide {
            if input.q().scale() != output.q().scale()
                || input.q().zero_point() != output.q().zero_point()
            {
                return Err(self.bad(
                    "its input and output quantization differ (TFLite's AVERAGE_POOL_2D requires them equal)",
                ));
            }
            let (multiplier, shift) = round_divide_reciprocal(n)
                .ok_or_else(|| self.bad(format!("averages {n} pixels; the engine divides at most {MAX_ROUND_DIVIDE_PIXELS} exactly")))?;
            // The raw values are summed: zero points of minus the stored offset.
            (-offset, -offset, QuantizedMultiplier { multiplier, shift })
        } else {
            let rescale = quant::rescale_multiplier(input.q().scale(), output.q().scale());
            (
                Self::stored_zp(input).get(),
                Self::stored_zp(output).get(),
                fibha_kernels::mean::mean_multiplier(rescale, n),
            )
        };
        let (act_min, act_max) = if divide { self.clamp()? } else { (-128, 127) };
        Ok((
            ConvQuant {
                head: SeslLayerHead {
                    in_zp: I32::new(in_zp),
                    out_zp: I32::new(out_zp),
                    act_min: I32::new(act_min),
                    act_max: I32::new(act_max),
                    filter_zp: I32::new(0),
                },
                weights: Vec::new(),
                bias: vec![0; c],
                multipliers: vec![m.multiplier; c],
                shifts: vec![m.shift; c],
            },
            divide,
        ))
    }

    /// An ADD's parameters: a = the previous layer's output, b = the residual.
    fn add(&self) -> Result<SeslAdd, PackError> {
        let skip = self
            .tensors
            .skip
            .ok_or_else(|| self.bad("ADD without a residual"))?;
        let a = self.activation(self.tensors.input, "input")?;
        let b = self.activation(skip, "residual")?;
        let out = self.activation(self.tensors.output, "output")?;
        let p = quant::add_multipliers(a.q().scale(), b.q().scale(), out.q().scale());
        let (act_min, act_max) = self.clamp()?;
        let v = I32::new;
        Ok(SeslAdd {
            a_zp: Self::stored_zp(a),
            a_mult: v(p.input1.multiplier),
            a_shift: v(p.input1.shift),
            b_zp: Self::stored_zp(b),
            b_mult: v(p.input2.multiplier),
            b_shift: v(p.input2.shift),
            left_shift: v(p.left_shift),
            out_mult: v(p.output.multiplier),
            out_shift: v(p.output.shift),
            out_zp: Self::stored_zp(out),
            act_min: v(act_min),
            act_max: v(act_max),
        })
    }
}

fn layer_reader<'a>(imported: &'a Imported, l: &'a LayerDoc) -> Result<LayerReader<'a>, PackError> {
    let tensors = imported
        .tensors
        .get(l.index)
        .ok_or_else(|| PackError::Layer {
            file: imported.graph.source.clone(),
            layer: l.name.clone(),
            detail: "is not a layer of the imported model".into(),
        })?;
    Ok(LayerReader {
        graph: &imported.graph,
        layer: l,
        tensors,
    })
}

/// The words of an MVAU's weight memory (`Mvau::Weights`, row-major): word
/// `(pe, nf * sf + s)` holds `w[nf * pe_count + pe][s * simd ..][..simd]` of the
/// `rows x cols` matrix.
fn mvau_words(w: &[i8], rows: usize, cols: usize, pe: usize, simd: usize) -> Vec<i8> {
    let (nf, sf) = (rows / pe, cols / simd);
    let mut out = Vec::with_capacity(w.len());
    for p in 0..pe {
        for f in 0..nf {
            for s in 0..sf {
                let at = (f * pe + p) * cols + s * simd;
                out.extend_from_slice(&w[at..at + simd]);
            }
        }
    }
    out
}

/// The words of a depthwise stage's weight memory (`DwMac::Weights`): word `g * taps + t`
/// holds `w[t][g * simd ..][..simd]` of the `taps x c` matrix.
fn dw_words(w: &[i8], taps: usize, c: usize, simd: usize) -> Vec<i8> {
    let mut out = Vec::with_capacity(w.len());
    for g in 0..c / simd {
        for t in 0..taps {
            let at = t * c + g * simd;
            out.extend_from_slice(&w[at..at + simd]);
        }
    }
    out
}

/// Appends one dedicated stage's blob.
fn sesl_stage(sesl: &mut SeslSection, st: &StageHw, q: &ConvQuant) {
    let (words, word) = match st.kind {
        LayerKind::Depthwise => {
            let taps = st.kernel * st.kernel;
            let pf = st.pf as usize;
            (dw_words(&q.weights, taps, st.output.c, pf), pf)
        }
        _ => {
            let cols = q.weights.len() / st.output.c;
            let (pe, simd) = (st.pf as usize, st.pc as usize);
            (mvau_words(&q.weights, st.output.c, cols, pe, simd), simd)
        }
    };
    sesl.conv_like(q.head, &q.bias, &q.multipliers, &q.shifts, &words, word);
}

/// The SESL section, in chain order: each engine's stages, then its ADD.
fn sesl_section(
    engines: &[SeslEngineHw],
    doc: &PlanDoc,
    imported: &Imported,
) -> Result<SeslSection, PackError> {
    let reader = |l| layer_reader(imported, l);
    let by_name: HashMap<&str, &LayerDoc> =
        doc.layers.iter().map(|l| (l.name.as_str(), l)).collect();
    let mut sesl = SeslSection::new();
    for engine in engines {
        for st in &engine.stages {
            let l = by_name[st.layer.as_str()];
            sesl_stage(&mut sesl, st, &reader(l)?.conv()?);
        }
        if engine.residual {
            let add = doc
                .layers
                .iter()
                .find(|l| l.engine == engine.name && l.kind == LayerKind::Add)
                .expect("a residual engine runs an ADD layer");
            sesl.add(reader(add)?.add()?);
        }
    }
    Ok(sesl)
}

/// Which of the four feature-map memories holds which map while the SEML layers run.
#[derive(Debug, Default)]
struct FeatureMaps {
    /// Per memory, the map it holds.
    holds: [Option<TensorId>; 4],
}

impl FeatureMaps {
    fn of(&self, t: TensorId) -> Option<u32> {
        self.holds
            .iter()
            .position(|h| *h == Some(t))
            .map(|i| i as u32)
    }

    /// The first memory holding none of `keep` (maps still to be read).
    fn free(&self, keep: &[TensorId]) -> Option<u32> {
        self.holds
            .iter()
            .position(|h| h.is_none_or(|t| !keep.contains(&t)))
            .map(|i| i as u32)
    }
}

/// Packs the bundle for `imported` under the plan `doc`.
pub fn bundle_spec(imported: &Imported, doc: &PlanDoc) -> Result<BundleSpec, PackError> {
    let graph = &imported.graph;
    let hw = &doc.hardware;
    let reader = |l| layer_reader(imported, l);
    let sesl = sesl_section(&hw.sesl, doc, imported)?;

    let seml: Vec<&LayerDoc> = doc.layers.iter().filter(|l| l.part == Part::Seml).collect();
    let sesl_output: TensorId = doc
        .layers
        .iter()
        .rev()
        .find(|l| l.part == Part::Sesl)
        .map_or(imported.tensors[0].input, |l| {
            imported.tensors[l.index].output
        });
    let mut maps = FeatureMaps::default();
    maps.holds[0] = Some(sesl_output);
    // The last SEML layer reading each map (an ADD's operands count for the layer it is
    // fused into, the one before it).
    let mut last_use: HashMap<TensorId, usize> = HashMap::new();
    for (i, l) in seml.iter().enumerate() {
        let t = &imported.tensors[l.index];
        last_use.insert(t.input, i);
        if let Some(s) = t.skip {
            last_use.insert(s, i);
        }
    }
    let pe = hw.seml.part.as_ref().map_or(16, |p| p.par.pe) as usize;
    let mut layers: Vec<SemlLayer> = Vec::new();
    let mut i = 0;
    while i < seml.len() {
        let l = seml[i];
        let r = reader(l)?;
        let t = r.tensors;
        let kind = match l.kind {
            LayerKind::Depthwise => DevKind::Depthwise,
            LayerKind::Pointwise => DevKind::Pointwise,
            LayerKind::GlobalPool => DevKind::Pool,
            other => {
                return Err(r.bad(format!(
                    "a {} layer in the SEML part: its engines run depthwise, pointwise and global pooling layers",
                    other.short()
                )));
            }
        };
        // A residual ADD right after a pointwise layer is fused into it.
        let add = seml
            .get(i + 1)
            .filter(|n| n.kind == LayerKind::Add && kind == DevKind::Pointwise)
            .filter(|n| imported.tensors[n.index].input == t.output);
        let input = maps
            .of(t.input)
            .ok_or_else(|| r.bad("reads a feature map no earlier layer produced"))?;
        let last = i + usize::from(add.is_some());
        // Maps the layer must not overwrite: its input, its residual, every map a later
        // layer reads, and after a depthwise layer that one's input (the two run together).
        let residual = add.and_then(|a| imported.tensors[a.index].skip);
        let beside = (i > 0 && seml[i - 1].kind == LayerKind::Depthwise)
            .then(|| imported.tensors[seml[i - 1].index].input);
        let live: Vec<TensorId> = last_use
            .iter()
            .filter(|&(_, &u)| u > last)
            .map(|(&id, _)| id)
            .chain([t.input])
            .chain(residual)
            .chain(beside)
            .collect();
        let mut d = bundle::shaped_descriptor(
            kind,
            [l.input.h as u32, l.input.w as u32, l.input.c as u32],
            [l.output.h as u32, l.output.w as u32, l.output.c as u32],
            l.kernel as u32,
            l.stride as u32,
            [l.pad[0] as u32, l.pad[1] as u32],
        );
        d.in_buf = U32::new(input);
        let (q, divide) = if kind == DevKind::Pool {
            r.pool()?
        } else {
            (r.conv()?, false)
        };
        if divide {
            d.flags = U32::new(FLAG_ROUND_DIVIDE);
        }
        d.in_zp = q.head.in_zp;
        d.filter_zp = q.head.filter_zp;
        let out_tensor = match add {
            Some(a) => {
                let ar = reader(a)?;
                let skip = ar
                    .tensors
                    .skip
                    .ok_or_else(|| ar.bad("ADD without a residual"))?;
                let res = maps
                    .of(skip)
                    .ok_or_else(|| ar.bad("adds a map no earlier layer produced"))?;
                let p = ar.add()?;
                d.flags = U32::new(FLAG_RESIDUAL);
                d.res_buf = U32::new(res);
                d.conv_zp = q.head.out_zp;
                d.res_zp = p.b_zp;
                d.left_shift = p.left_shift;
                (d.a_mult, d.a_shift) = (p.a_mult, p.a_shift);
                (d.b_mult, d.b_shift) = (p.b_mult, p.b_shift);
                (d.add_mult, d.add_shift) = (p.out_mult, p.out_shift);
                (d.out_zp, d.act_min, d.act_max) = (p.out_zp, p.act_min, p.act_max);
                if (q.head.act_min.get(), q.head.act_max.get()) != (-128, 127) {
                    return Err(r.bad(
                        "a pointwise layer feeding a residual ADD clamps its output; the fused ADD takes it unclamped",
                    ));
                }
                ar.tensors.output
            }
            None => {
                (d.out_zp, d.act_min, d.act_max) = (q.head.out_zp, q.head.act_min, q.head.act_max);
                t.output
            }
        };
        let out = maps.free(&live).filter(|&o| o != input).ok_or_else(|| {
            r.bad("needs a fifth feature-map memory: four hold maps still to be read")
        })?;
        d.out_buf = U32::new(out);
        let tables = ChannelTables {
            bias: q.bias,
            multipliers: q.multipliers,
            shifts: q.shifts,
        };
        let blob = if kind == DevKind::Pool {
            depthwise_blob(&[], &tables, l.input.c, 0)
        } else if kind == DevKind::Depthwise {
            depthwise_blob(&q.weights, &tables, l.input.c, l.kernel * l.kernel)
        } else {
            let fill =
                i8::try_from(q.head.filter_zp.get()).expect("filter() gives an int8 zero point");
            pointwise_blob(&q.weights, &tables, (l.input.c, l.output.c), pe, fill)
        };
        layers.push(SemlLayer { desc: d, blob });
        maps.holds[out as usize] = Some(out_tensor);
        i = last + 1;
    }
    // The SEML part writes whole 16-channel words per pixel.
    let output_bytes = seml.last().map_or(hw.sesl_output.bytes(), |l| {
        (l.output.h * l.output.w * bundle::fm_words(l.output.c) * FM_LANES) as u64
    });
    let as_u32 = |v: u64, what: &'static str| {
        u32::try_from(v).map_err(|_| PackError::Bundle {
            file: graph.source.clone(),
            source: bundle::BundleErrorKind::TooLarge { what },
        })
    };
    Ok(BundleSpec {
        plan_hash: doc.hardware_id(),
        sesl,
        layers,
        input_bytes: as_u32(hw.input.bytes(), "the input image")?,
        output_bytes: as_u32(output_bytes, "the output tensor")?,
        handoff_bytes: as_u32(hw.sesl_output.bytes(), "the hand-off")?,
    })
}

/// Packs and serializes the bundle for `imported` under the plan `doc`.
pub fn bundle_bytes(imported: &Imported, doc: &PlanDoc) -> Result<Vec<u8>, PackError> {
    let spec = bundle_spec(imported, doc)?;
    bundle::write(&spec).map_err(|source| PackError::Bundle {
        file: imported.graph.source.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundle's multipliers come from `fibha_kernels::quant`; these hand-computed
    /// values pin what the bundle will hold.
    #[test]
    fn round_divide_reciprocals_by_hand() {
        // 7 x 7: s = 6, ceil(2^29 / 49) = 10956550 (49 x 10956549 = 536870901 < 2^29).
        assert_eq!(round_divide_reciprocal(49), Some((10_956_550, 6)));
        assert_eq!(round_divide_reciprocal(1), Some((1 << 23, 0)));
        assert_eq!(round_divide_reciprocal(64), Some((1 << 23, 6)));
        assert_eq!(round_divide_reciprocal(MAX_ROUND_DIVIDE_PIXELS + 1), None);
    }

    #[test]
    fn multipliers_in_the_bundle_by_hand() {
        let q = |m: f64| {
            let r = quant::quantize_multiplier(m);
            (r.multiplier, r.shift)
        };
        // 0.75 = 0.75 x 2^0 -> 0.75 * 2^31; 0.1 = 0.8 x 2^-3 -> round(0.8 * 2^31).
        assert_eq!(q(0.75), (1_610_612_736, 0));
        assert_eq!(q(0.1), (1_717_986_918, -3));
        // Just below 1 rounds up to 2^31 and renormalizes; below 2^-32 flushes to zero.
        assert_eq!(q(1.0 - 1e-12), (1 << 30, 1));
        assert_eq!(q(1e-11), (0, 0));
    }

    #[test]
    fn activation_ranges_follow_tflite() {
        // ReLU6 with scale 6/255 and zero point -128: 6/scale = 255 -> -128 + 255 = 127.
        assert_eq!(
            activation_range(Act::Relu6, DType::Int8, 6.0 / 255.0, -128),
            (-128, 127)
        );
        // scale 0.05, zp -10: relu floor -10, six -> -10 + 120 = 110.
        assert_eq!(
            activation_range(Act::Relu6, DType::Int8, 0.05, -10),
            (-10, 110)
        );
        assert_eq!(activation_range(Act::None, DType::UInt8, 0.1, 3), (0, 255));
        assert_eq!(activation_range(Act::Relu, DType::UInt8, 0.1, 3), (3, 255));
    }

    #[test]
    fn add_parameters_by_hand() {
        // Equal input scales 0.1 and output 0.2: each input 0.1 / (2 x 0.1) = 0.5 ->
        // (2^30, 0); output 0.2 / (2^20 x 0.2) = 2^-20 -> (2^30, -19).
        let p = quant::add_multipliers(0.1, 0.1, 0.2);
        assert_eq!(p.left_shift, 20);
        assert_eq!((p.input1.multiplier, p.input1.shift), (1 << 30, 0));
        assert_eq!((p.input2.multiplier, p.input2.shift), (1 << 30, 0));
        assert_eq!((p.output.multiplier, p.output.shift), (1 << 30, -19));
    }

    #[test]
    fn weight_words_in_the_engines_memory_order() {
        // A 4 x 6 matrix, 2 PEs x 3 SIMD: word (pe, nf * 2 + sf) = W[nf * 2 + pe][3 sf..].
        let w: Vec<i8> = (0..24).collect();
        let words = mvau_words(&w, 4, 6, 2, 3);
        let expect: Vec<i8> = [
            0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, // pe 0: rows 0 and 2
            6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23, // pe 1: rows 1 and 3
        ]
        .to_vec();
        assert_eq!(words, expect);
        // 2 taps x 4 channels, SIMD 2: word g * 2 + t = W[t][2 g..2 g + 2].
        let w: Vec<i8> = (0..8).collect();
        assert_eq!(dw_words(&w, 2, 4, 2), [0, 1, 4, 5, 2, 3, 6, 7]);
    }

    #[test]
    fn feature_maps_go_to_the_first_memory_nobody_still_reads() {
        let mut m = FeatureMaps::default();
        let (a, b, c): (TensorId, TensorId, TensorId) = (1, 2, 3);
        m.holds = [Some(a), Some(b), None, None];
        assert_eq!(m.free(&[a, b]), Some(2));
        assert_eq!(m.free(&[a]), Some(1));
        m.holds[2] = Some(c);
        m.holds[3] = Some(a);
        assert_eq!(m.free(&[a, b, c]), None);
        assert_eq!(m.of(c), Some(2));
    }
}
