//! The compiler's view of a CNN: the layers the accelerator runs, in order, with their
//! shapes, and the inverted-residual bottlenecks they form.
//!
//! A [`Network`] is built from a quantized model ([`crate::import`]) or from a topology file
//! ([`crate::topology`]); both produce the same thing, so a test can compare them.
//!
//! Invariants (checked by [`Network::new`]):
//! - layers are in execution order; each layer's input is the network input or the output
//!   of the layer before it, except an `Add`, whose second operand (`skip`) is an earlier
//!   tensor of the same shape;
//! - shapes chain: a layer's input shape is its producer's output shape;
//! - every bottleneck lists consecutive layers: optional expand PW, DW, optional SE,
//!   project PW, optional ADD joining the bottleneck's input.
//!
//! Everything after the feature extractor (global pooling, the classifier, softmax) runs on
//! the host CPU, as in the FiBHA prototype, and is kept only as names in [`Network::host`].

use fibha_model::host_cost::HostOps;
use serde::{Deserialize, Serialize};

/// Height, width and channels of a feature map (batch 1, NHWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Shape {
    /// A shape from its three dimensions.
    pub const fn new(h: usize, w: usize, c: usize) -> Shape {
        Shape { h, w, c }
    }

    /// Bytes of an int8 tensor of this shape.
    pub fn bytes(self) -> u64 {
        (self.h * self.w * self.c) as u64
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

/// What a layer computes; the engines run these and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Standard KxK convolution over all input channels.
    Conv,
    /// Depthwise KxK convolution (one filter per channel, multiplier 1).
    Depthwise,
    /// 1x1 convolution.
    Pointwise,
    /// Element-wise addition of the layer before it and an earlier tensor (residual).
    Add,
    /// Squeeze-and-excitation: global average, FC down to `se_channels`, ReLU, FC back up,
    /// sigmoid, per-channel scaling of the input.
    SqueezeExcite,
    /// Global average pooling of the whole map into one pixel (TFLite MEAN over height and
    /// width, or AVERAGE_POOL_2D with the map as its window): the start of the classifier
    /// head, which always runs on the SEML part (the SEML depthwise engine pools, the
    /// pointwise engine runs the fully connected layer as a 1 x 1 convolution).
    GlobalPool,
}

impl LayerKind {
    /// Short lowercase name for tables.
    pub fn short(self) -> &'static str {
        match self {
            LayerKind::Conv => "conv",
            LayerKind::Depthwise => "dw",
            LayerKind::Pointwise => "pw",
            LayerKind::Add => "add",
            LayerKind::SqueezeExcite => "se",
            LayerKind::GlobalPool => "gap",
        }
    }
}

/// The clamp fused into a layer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// No clamp (linear bottleneck projections).
    None,
    /// ReLU.
    Relu,
    /// ReLU6.
    Relu6,
}

/// One accelerator layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// A stable name (`b3.dw`, or the TFLite op index).
    pub name: String,
    /// What it computes.
    pub kind: LayerKind,
    /// Input feature map.
    pub input: Shape,
    /// Output feature map.
    pub output: Shape,
    /// Square kernel size (1 for PW, ADD, SE).
    pub kernel: usize,
    /// Stride along both axes.
    pub stride: usize,
    /// Zero padding before the first row and column (TFLite SAME: floor of the total / 2).
    pub pad: [usize; 2],
    /// Fused activation.
    pub act: Act,
    /// For `Add`: index of the layer whose output is the skip operand (`None`: the network input).
    pub skip: Option<usize>,
    /// For `SqueezeExcite`: channels after the squeeze FC.
    pub se_channels: usize,
    /// Operator index in the source `.tflite` file, where the layer came from one.
    pub source_op: Option<usize>,
}

impl Layer {
    /// Multiply-accumulates per image.
    pub fn macs(&self) -> u64 {
        let o = self.output;
        let k2 = (self.kernel * self.kernel) as u64;
        match self.kind {
            LayerKind::Conv | LayerKind::Pointwise => o.bytes() * self.input.c as u64 * k2,
            LayerKind::Depthwise => o.bytes() * k2,
            LayerKind::Add => 0,
            LayerKind::SqueezeExcite => 2 * (o.c * self.se_channels) as u64 + o.bytes(),
            LayerKind::GlobalPool => self.input.bytes(),
        }
    }

    /// Weight bytes (int8) of the layer.
    pub fn weight_bytes(&self) -> u64 {
        let k2 = (self.kernel * self.kernel) as u64;
        match self.kind {
            LayerKind::Conv | LayerKind::Pointwise => (self.output.c * self.input.c) as u64 * k2,
            LayerKind::Depthwise => self.output.c as u64 * k2,
            LayerKind::Add | LayerKind::GlobalPool => 0,
            LayerKind::SqueezeExcite => 2 * (self.output.c * self.se_channels) as u64,
        }
    }

    /// Channels that carry per-channel parameters (bias, requantization).
    pub fn param_channels(&self) -> u64 {
        match self.kind {
            LayerKind::Add => 0,
            LayerKind::SqueezeExcite => (self.output.c + self.se_channels) as u64,
            _ => self.output.c as u64,
        }
    }
}

/// An inverted-residual bottleneck: the layers FIRB fuses into one fine-grained pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// The expansion PW, absent when the expansion factor is 1.
    pub expand: Option<usize>,
    /// The depthwise layer.
    pub dw: usize,
    /// The squeeze-and-excitation layer between DW and project, if any.
    pub se: Option<usize>,
    /// The projection PW.
    pub project: usize,
    /// The ADD joining the bottleneck's input, if residual.
    pub add: Option<usize>,
}

impl Bottleneck {
    /// Index of the first layer.
    pub fn first(&self) -> usize {
        self.expand.unwrap_or(self.dw)
    }

    /// Index of the last layer.
    pub fn last(&self) -> usize {
        self.add.unwrap_or(self.project)
    }

    /// The layer indices, in order.
    pub fn layers(&self) -> Vec<usize> {
        (self.first()..=self.last()).collect()
    }
}

/// A scheduling unit: what SplitCNN moves between the SEML and SESL parts in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Unit {
    /// A layer outside any bottleneck.
    Layer {
        /// Its index.
        index: usize,
    },
    /// A whole bottleneck.
    Bottleneck {
        /// Index into [`Network::blocks`].
        block: usize,
    },
}

/// Where a network came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    /// A topology file: shapes only, no weights.
    Topology {
        /// The file.
        file: String,
        /// SHA-256 of the file, hex.
        sha256: String,
        /// The published definition it was written from.
        reference: String,
    },
    /// A quantized TFLite model.
    Tflite {
        /// The file.
        file: String,
        /// SHA-256 of the file, hex.
        sha256: String,
    },
}

impl ModelSource {
    /// The file name.
    pub fn file(&self) -> &str {
        match self {
            ModelSource::Topology { file, .. } | ModelSource::Tflite { file, .. } => file,
        }
    }

    /// The file's SHA-256.
    pub fn sha256(&self) -> &str {
        match self {
            ModelSource::Topology { sha256, .. } | ModelSource::Tflite { sha256, .. } => sha256,
        }
    }
}

/// Why a layer list is not a network the engines can run.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Shapes or producers do not chain.
    #[error("{model}: layer {index} ({name}): {detail}")]
    Inconsistent {
        /// Model name.
        model: String,
        /// Layer index.
        index: usize,
        /// Layer name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// No accelerator layers at all.
    #[error("{model}: no layers the accelerator runs (CONV_2D, DEPTHWISE_CONV_2D, ADD)")]
    Empty {
        /// Model name.
        model: String,
    },
}

/// A CNN as the compiler sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Model name.
    pub name: String,
    /// Where it came from.
    pub source: ModelSource,
    /// The network input (after the host's quantization).
    pub input: Shape,
    /// Accelerator layers, in execution order.
    pub layers: Vec<Layer>,
    /// Bottlenecks, in order; found by [`find_bottlenecks`].
    pub blocks: Vec<Bottleneck>,
    /// What runs on the host after the accelerator (pool, classifier, softmax).
    pub host: Vec<String>,
    /// Operators of the model file evaluated at import (shape arithmetic on static
    /// shapes), as `"#29 SHAPE"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folded: Vec<String>,
    /// The host's operators as its CPU cost model counts them (a TFLite model's only).
    #[serde(default)]
    pub host_ops: HostOps,
}

impl Network {
    /// Validates `layers` and groups them into bottlenecks.
    pub fn new(
        name: String,
        source: ModelSource,
        input: Shape,
        layers: Vec<Layer>,
        host: Vec<String>,
    ) -> Result<Network, NetworkError> {
        if layers.is_empty() {
            return Err(NetworkError::Empty { model: name });
        }
        let bad = |i: usize, detail: String| NetworkError::Inconsistent {
            model: name.clone(),
            index: i,
            name: layers[i].name.clone(),
            detail,
        };
        for (i, l) in layers.iter().enumerate() {
            let expected_in = if i == 0 { input } else { layers[i - 1].output };
            if l.input != expected_in {
                return Err(bad(
                    i,
                    format!("input is {}, expected {}", l.input, expected_in),
                ));
            }
            if l.kernel == 0 || l.stride == 0 {
                return Err(bad(i, "kernel and stride must be positive".into()));
            }
            let (h, w) = if l.kind == LayerKind::GlobalPool {
                (1, 1)
            } else {
                (l.input.h.div_ceil(l.stride), l.input.w.div_ceil(l.stride))
            };
            let same_c = match l.kind {
                LayerKind::Conv | LayerKind::Pointwise => true,
                _ => l.output.c == l.input.c,
            };
            if l.output.h != h || l.output.w != w || !same_c {
                return Err(bad(
                    i,
                    format!(
                        "output {} does not follow from input {} with stride {}",
                        l.output, l.input, l.stride
                    ),
                ));
            }
            if l.kind == LayerKind::Add {
                let skip_shape = match l.skip {
                    None => input,
                    Some(s) if s + 1 < i => layers[s].output,
                    Some(s) => {
                        return Err(bad(i, format!("skip operand {s} is not an earlier tensor")));
                    }
                };
                if skip_shape != l.output {
                    return Err(bad(
                        i,
                        format!("skip operand is {skip_shape}, output is {}", l.output),
                    ));
                }
            }
            let head = layers[..i].iter().any(|p| p.kind == LayerKind::GlobalPool);
            if l.kind == LayerKind::GlobalPool && (i == 0 || head) {
                return Err(bad(
                    i,
                    "a global pooling must follow a layer and start the only classifier head"
                        .into(),
                ));
            }
            if head && (l.kind != LayerKind::Pointwise || (l.input.h, l.input.w) != (1, 1)) {
                return Err(bad(
                    i,
                    "after the global pooling only fully connected (1 x 1) layers run".into(),
                ));
            }
            if l.kind == LayerKind::SqueezeExcite && l.se_channels == 0 {
                return Err(bad(i, "squeeze-excite needs se_channels > 0".into()));
            }
        }
        let blocks = find_bottlenecks(&layers);
        Ok(Network {
            name,
            source,
            input,
            layers,
            blocks,
            host,
            folded: Vec::new(),
            host_ops: HostOps::default(),
        })
    }

    /// Where the classifier head starts (its global pooling), or the number of layers
    /// without one. The head always runs on the SEML part, after every unit.
    pub fn head_start(&self) -> usize {
        self.layers
            .iter()
            .position(|l| l.kind == LayerKind::GlobalPool)
            .unwrap_or(self.layers.len())
    }

    /// The scheduling units in order, up to the classifier head: bottlenecks whole, other
    /// layers one by one.
    pub fn units(&self) -> Vec<Unit> {
        let mut units = Vec::new();
        let mut i = 0;
        while i < self.head_start() {
            if let Some(b) = self.blocks.iter().position(|b| b.first() == i) {
                units.push(Unit::Bottleneck { block: b });
                i = self.blocks[b].last() + 1;
            } else {
                units.push(Unit::Layer { index: i });
                i += 1;
            }
        }
        units
    }

    /// The layer indices of a unit.
    pub fn unit_layers(&self, unit: Unit) -> Vec<usize> {
        match unit {
            Unit::Layer { index } => vec![index],
            Unit::Bottleneck { block } => self.blocks[block].layers(),
        }
    }

    /// Total multiply-accumulates per image.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(Layer::macs).sum()
    }

    /// Total weight bytes.
    pub fn weight_bytes(&self) -> u64 {
        self.layers.iter().map(Layer::weight_bytes).sum()
    }
}

/// Groups layers into bottlenecks from the structure alone.
///
/// Scanning in order, a bottleneck starts at the first layer not yet claimed that begins
/// `PW -> DW -> [SE] -> PW` or `DW -> [SE] -> PW` (the expansion-free first bottleneck of
/// MobileNetV2, and MobileNetV1's separable pairs), and takes the ADD after it when that
/// ADD's skip operand is the bottleneck's input.
pub fn find_bottlenecks(layers: &[Layer]) -> Vec<Bottleneck> {
    let kind = |i: usize| layers.get(i).map(|l| l.kind);
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let (expand, dw) = match (kind(i), kind(i + 1)) {
            (Some(LayerKind::Pointwise), Some(LayerKind::Depthwise)) => (Some(i), i + 1),
            (Some(LayerKind::Depthwise), _) => (None, i),
            _ => {
                i += 1;
                continue;
            }
        };
        let se = (kind(dw + 1) == Some(LayerKind::SqueezeExcite)).then_some(dw + 1);
        let project = se.unwrap_or(dw) + 1;
        if kind(project) != Some(LayerKind::Pointwise) {
            i += 1;
            continue;
        }
        // The bottleneck's input is the output of the layer before its first one.
        let input_producer = expand.unwrap_or(dw).checked_sub(1);
        let add = (kind(project + 1) == Some(LayerKind::Add)
            && layers[project + 1].skip == input_producer)
            .then_some(project + 1);
        let b = Bottleneck {
            expand,
            dw,
            se,
            project,
            add,
        };
        i = b.last() + 1;
        blocks.push(b);
    }
    blocks
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A layer with SAME padding, for tests.
    pub(crate) fn layer(kind: LayerKind, input: Shape, out_c: usize, k: usize, s: usize) -> Layer {
        let c = if matches!(kind, LayerKind::Conv | LayerKind::Pointwise) {
            out_c
        } else {
            input.c
        };
        Layer {
            name: format!("{}{}", kind.short(), input),
            kind,
            input,
            output: Shape::new(input.h.div_ceil(s), input.w.div_ceil(s), c),
            kernel: k,
            stride: s,
            pad: [0, 0],
            act: Act::Relu6,
            skip: None,
            se_channels: 0,
            source_op: None,
        }
    }

    fn src() -> ModelSource {
        ModelSource::Topology {
            file: "t".into(),
            sha256: String::new(),
            reference: String::new(),
        }
    }

    #[test]
    fn bottlenecks_found_with_and_without_expansion() {
        let i = Shape::new(8, 8, 8);
        let mut l = vec![layer(LayerKind::Conv, Shape::new(16, 16, 3), 8, 3, 2)];
        l.push(layer(LayerKind::Depthwise, i, 0, 3, 1));
        l.push(layer(LayerKind::Pointwise, i, 8, 1, 1));
        l.push(layer(LayerKind::Pointwise, i, 48, 1, 1));
        l.push(layer(LayerKind::Depthwise, Shape::new(8, 8, 48), 0, 3, 1));
        l.push(layer(LayerKind::Pointwise, Shape::new(8, 8, 48), 8, 1, 1));
        let mut add = layer(LayerKind::Add, i, 8, 1, 1);
        add.skip = Some(2);
        l.push(add);
        let net = Network::new("t".into(), src(), Shape::new(16, 16, 3), l, vec![]).unwrap();
        assert_eq!(
            net.blocks,
            vec![
                Bottleneck {
                    expand: None,
                    dw: 1,
                    se: None,
                    project: 2,
                    add: None
                },
                Bottleneck {
                    expand: Some(3),
                    dw: 4,
                    se: None,
                    project: 5,
                    add: Some(6)
                },
            ]
        );
        assert_eq!(
            net.units(),
            vec![
                Unit::Layer { index: 0 },
                Unit::Bottleneck { block: 0 },
                Unit::Bottleneck { block: 1 }
            ]
        );
    }

    #[test]
    fn inconsistent_shapes_are_refused_with_the_layer_named() {
        let l = vec![
            layer(LayerKind::Conv, Shape::new(16, 16, 3), 8, 3, 2),
            layer(LayerKind::Pointwise, Shape::new(8, 8, 9), 8, 1, 1),
        ];
        let err = Network::new("m".into(), src(), Shape::new(16, 16, 3), l, vec![])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer 1") && err.contains("8x8x9") && err.contains("8x8x8"),
            "{err}"
        );
    }
}
