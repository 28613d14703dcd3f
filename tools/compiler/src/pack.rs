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
//! The engines multiply int8 activations by symmetric int8 weights (filter zero point 0),
//! TFLite's full-integer scheme; a per-tensor uint8 model (activations 0..255, weights with
//! a zero point) is refused with the reason.
//!
//! Feature maps: the SESL part writes its output at offset 0 of the scratch buffer (of
//! the output buffer when there is no SEML part); every SEML layer's output gets a
//! 64-byte-aligned region of scratch that stays allocated until its last reader has run
//! (first fit, so a residual kept for a later ADD is never overwritten), and the last
//! layer writes offset 0 of the output buffer.
//!
//! Invariant: every number written here is derived from the model file; a tensor that is
//! missing or has an unexpected type is an error naming the layer, never a default.

use std::collections::HashMap;

use fibha_kernels::quant::{self, QuantizedMultiplier};
use fibha_model::bundle::{self, BundleSpec, OwnedParams, SemlLayer, SeslSection};
use fibha_model::device::{BufferId, LayerKind as DevKind, SeslAdd, SeslLayerHead};
use fibha_model::{Activation, DType, Graph, Tensor, TensorId};
use zerocopy::little_endian::{I32, U32};

use crate::design::Part;
use crate::hw::SeslOut;
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
/// `fibha_kernels::quant`).
pub fn activation_range(act: Act, dtype: DType, scale: f32, zero_point: i32) -> (i32, i32) {
    let activation = match act {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Relu6 => Activation::Relu6,
    };
    let bounds = dtype.range_8bit().unwrap_or((-128, 127));
    quant::activation_range_for(activation, bounds, scale, zero_point)
}

/// Per-output-channel multipliers of an int8 convolution with per-channel (or per-tensor)
/// symmetric weights, as TFLite computes them: per channel, in double precision.
pub fn conv_multipliers(
    input: &Tensor,
    filter: &Tensor,
    output: &Tensor,
    channels: usize,
) -> Vec<QuantizedMultiplier> {
    let (iq, fq, oq) = (input.q(), filter.q(), output.q());
    (0..channels)
        .map(|c| quant::per_channel_conv_multiplier(iq.scale(), fq.scale_of(c), oq.scale()))
        .collect()
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

    /// An int8 activation tensor.
    fn activation(&self, id: TensorId, what: &str) -> Result<&Tensor, PackError> {
        let t = self.graph.tensor(id);
        if t.dtype != DType::Int8 || t.quant.is_none() {
            return Err(self.bad(format!(
                "its {what} is {} ({}); the engines compute int8 activations (TFLite's full-integer int8 scheme), \
                 so per-tensor uint8 models cannot be built",
                t.dtype, t.name
            )));
        }
        Ok(t)
    }

    fn zero_point(&self, id: TensorId, what: &str) -> Result<i32, PackError> {
        Ok(self.activation(id, what)?.q().zero_point())
    }

    /// The clamp of the layer's output.
    fn clamp(&self) -> Result<(i32, i32), PackError> {
        let out = self.activation(self.tensors.output, "output")?;
        Ok(activation_range(
            self.layer.act,
            out.dtype,
            out.q().scale(),
            out.q().zero_point(),
        ))
    }

    /// A conv-like layer's weights (TFLite's layout, which is the engines' read order:
    /// OHWI for convolutions, `[K][K][C]` for depthwise) and requantization.
    fn conv(&self) -> Result<ConvQuant, PackError> {
        let input = self.activation(self.tensors.input, "input")?;
        let output = self.activation(self.tensors.output, "output")?;
        let filter = self.graph.tensor(
            self.tensors
                .filter
                .ok_or_else(|| self.bad("no filter tensor"))?,
        );
        let fq = filter
            .quant
            .as_ref()
            .ok_or_else(|| self.bad("filter has no quantization"))?;
        if filter.dtype != DType::Int8 || fq.zero_points.iter().any(|&z| z != 0) {
            return Err(self.bad(format!(
                "filter {} is {} with zero point(s) {:?}; the engines multiply by symmetric int8 weights",
                filter.name,
                filter.dtype,
                &fq.zero_points[..fq.zero_points.len().min(4)]
            )));
        }
        let weights = filter
            .data_i8()
            .ok_or_else(|| self.bad("filter is not a constant"))?;
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
        let mults = conv_multipliers(input, filter, output, f);
        let (act_min, act_max) = self.clamp()?;
        Ok(ConvQuant {
            head: SeslLayerHead {
                in_zp: I32::new(input.q().zero_point()),
                out_zp: I32::new(output.q().zero_point()),
                act_min: I32::new(act_min),
                act_max: I32::new(act_max),
            },
            weights,
            bias,
            multipliers: mults.iter().map(|m| m.multiplier).collect(),
            shifts: mults.iter().map(|m| m.shift).collect(),
        })
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
            a_zp: v(a.q().zero_point()),
            a_mult: v(p.input1.multiplier),
            a_shift: v(p.input1.shift),
            b_zp: v(b.q().zero_point()),
            b_mult: v(p.input2.multiplier),
            b_shift: v(p.input2.shift),
            left_shift: v(p.left_shift),
            out_mult: v(p.output.multiplier),
            out_shift: v(p.output.shift),
            out_zp: v(out.q().zero_point()),
            act_min: v(act_min),
            act_max: v(act_max),
        })
    }
}

/// First-fit allocation of 64-byte-aligned scratch regions.
#[derive(Debug, Default)]
struct Scratch {
    /// Live regions, (offset, bytes), sorted by offset.
    live: Vec<(u64, u64)>,
    /// High-water mark.
    peak: u64,
}

impl Scratch {
    fn alloc(&mut self, bytes: u64) -> u64 {
        let align = bundle::ARRAY_ALIGN as u64;
        let mut at = 0u64;
        let mut slot = self.live.len();
        for (i, &(off, len)) in self.live.iter().enumerate() {
            if at + bytes <= off {
                slot = i;
                break;
            }
            at = (off + len).next_multiple_of(align);
        }
        self.live.insert(slot, (at, bytes));
        self.peak = self.peak.max(at + bytes);
        at
    }

    fn free(&mut self, offset: u64) {
        self.live.retain(|&(off, _)| off != offset);
    }
}

/// Where a feature map lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    buf: BufferId,
    off: u64,
}

fn u32_of(v: u64, reader: &LayerReader<'_>, what: &str) -> Result<U32, PackError> {
    u32::try_from(v).map(U32::new).map_err(|_| {
        reader.bad(format!(
            "{what} {v} does not fit the kernel's 32-bit registers"
        ))
    })
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

/// Packs the bundle for `imported` under the plan `doc`.
pub fn bundle_spec(imported: &Imported, doc: &PlanDoc) -> Result<BundleSpec, PackError> {
    let graph = &imported.graph;
    let hw = &doc.hardware;
    let reader = |l| layer_reader(imported, l);
    let by_name: HashMap<&str, &LayerDoc> =
        doc.layers.iter().map(|l| (l.name.as_str(), l)).collect();

    // The SESL section, in chain order: each engine's stages, then its ADD.
    let mut sesl = SeslSection::new();
    for engine in &hw.sesl {
        for st in &engine.stages {
            let l = by_name[st.layer.as_str()];
            let q = reader(l)?.conv()?;
            sesl.conv_like(q.head, &q.bias, &q.multipliers, &q.shifts, &q.weights);
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

    // Feature maps: the SESL output (or the accelerator input) first.
    let seml: Vec<&LayerDoc> = doc.layers.iter().filter(|l| l.part == Part::Seml).collect();
    let first_tensors = &imported.tensors[0];
    let sesl_output: TensorId = doc
        .layers
        .iter()
        .rev()
        .find(|l| l.part == Part::Sesl)
        .map_or(first_tensors.input, |l| imported.tensors[l.index].output);
    let mut places: HashMap<TensorId, Place> = HashMap::new();
    let mut scratch = Scratch::default();
    let sesl_bytes = hw.sesl_output.bytes();
    match hw.sesl_out {
        SeslOut::Scratch => {
            let off = scratch.alloc(sesl_bytes);
            places.insert(
                sesl_output,
                Place {
                    buf: BufferId::Scratch,
                    off,
                },
            );
        }
        SeslOut::Output => {
            places.insert(
                sesl_output,
                Place {
                    buf: BufferId::Output,
                    off: 0,
                },
            );
        }
    }
    // The last SEML layer reading each tensor.
    let mut last_use: HashMap<TensorId, usize> = HashMap::new();
    for (i, l) in seml.iter().enumerate() {
        let t = &imported.tensors[l.index];
        last_use.insert(t.input, i);
        if let Some(s) = t.skip {
            last_use.insert(s, i);
        }
    }
    let mut layers = Vec::with_capacity(seml.len());
    for (i, l) in seml.iter().enumerate() {
        let r = reader(l)?;
        let t = r.tensors;
        let place = |id: TensorId| {
            places
                .get(&id)
                .copied()
                .ok_or_else(|| r.bad("reads a feature map no earlier layer produced"))
        };
        let input = place(t.input)?;
        let out_bytes = l.output.bytes();
        let output = if i + 1 == seml.len() {
            Place {
                buf: BufferId::Output,
                off: 0,
            }
        } else {
            Place {
                buf: BufferId::Scratch,
                off: scratch.alloc(out_bytes),
            }
        };
        let kind = match l.kind {
            LayerKind::Conv => DevKind::Conv,
            LayerKind::Depthwise => DevKind::Depthwise,
            LayerKind::Pointwise => DevKind::Pointwise,
            LayerKind::Add => DevKind::Add,
            LayerKind::SqueezeExcite => {
                return Err(r.bad("squeeze-and-excitation has no SEML engine in the HLS kernel"));
            }
        };
        let shape = |s: crate::network::Shape| [s.h as u32, s.w as u32, s.c as u32];
        let (kernel, stride, pad) = match kind {
            DevKind::Conv | DevKind::Depthwise => (
                l.kernel as u32,
                l.stride as u32,
                [l.pad[0] as u32, l.pad[1] as u32],
            ),
            _ => (1, 1, [0, 0]),
        };
        let mut d =
            bundle::shaped_descriptor(kind, shape(l.input), shape(l.output), kernel, stride, pad);
        d.in_buf = U32::new(input.buf as u32);
        d.in_off = u32_of(input.off, &r, "input offset")?;
        d.out_buf = U32::new(output.buf as u32);
        d.out_off = u32_of(output.off, &r, "output offset")?;
        let (act_min, act_max) = r.clamp()?;
        d.act_min = I32::new(act_min);
        d.act_max = I32::new(act_max);
        d.out_zp = I32::new(r.zero_point(t.output, "output")?);
        let params = if kind == DevKind::Add {
            let skip = place(t.skip.ok_or_else(|| r.bad("ADD without a residual"))?)?;
            let a = r.add()?;
            d.in2_buf = U32::new(skip.buf as u32);
            d.in2_off = u32_of(skip.off, &r, "residual offset")?;
            d.in_zp = a.a_zp;
            d.in2_zp = a.b_zp;
            d.left_shift = a.left_shift;
            (d.in1_mult, d.in1_shift) = (a.a_mult, a.a_shift);
            (d.in2_mult, d.in2_shift) = (a.b_mult, a.b_shift);
            (d.out_mult, d.out_shift) = (a.out_mult, a.out_shift);
            None
        } else {
            let q = r.conv()?;
            d.in_zp = q.head.in_zp;
            Some(OwnedParams {
                weights: q.weights,
                bias: q.bias,
                multipliers: q.multipliers,
                shifts: q.shifts,
            })
        };
        layers.push(SemlLayer { desc: d, params });
        // Free what this layer read for the last time, after its output was placed.
        for id in [Some(t.input), t.skip].into_iter().flatten() {
            if last_use.get(&id) == Some(&i)
                && let Some(p) = places.get(&id)
                && p.buf == BufferId::Scratch
            {
                scratch.free(p.off);
            }
        }
        places.insert(t.output, output);
    }
    let output_bytes = seml.last().map_or(sesl_bytes, |l| l.output.bytes());
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
        scratch_bytes: as_u32(scratch.peak, "the scratch buffer")?,
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
    fn scratch_regions_are_reused_first_fit_and_aligned() {
        let mut s = Scratch::default();
        let a = s.alloc(100); // [0, 100)
        let b = s.alloc(10); // [128, 138)
        assert_eq!((a, b), (0, 128));
        s.free(a);
        // 64 bytes fit before b; 200 do not and go after it.
        assert_eq!(s.alloc(64), 0);
        assert_eq!(s.alloc(200), 192);
        assert_eq!(s.peak, 392);
    }
}
