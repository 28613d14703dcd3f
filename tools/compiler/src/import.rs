//! From a quantized model ([`fibha_model::Graph`]) to the compiler's [`Network`].
//!
//! The accelerator runs the feature extractor: every operator from the graph input up to
//! the global pooling. The pooling, the classifier and everything after them run on the
//! host (as in the FiBHA prototype, where the FC layer runs on the CPU), and so does a
//! QUANTIZE at the input. Inside the accelerator's part the graph must be a chain of
//! CONV_2D / DEPTHWISE_CONV_2D with residual ADDs (an explicit PAD in front of a VALID
//! convolution is folded into it); any other operator there is refused by name.
//!
//! Besides the network, import keeps for every layer the tensors it reads and writes
//! ([`LayerTensors`]), which weight packing needs.

use std::collections::HashMap;
use std::path::Path;

use fibha_model::{Activation, Graph, ModelError, Op, Padding, TensorId};

use crate::network::{Act, Layer, LayerKind, ModelSource, Network, NetworkError, Shape};

/// Why a model cannot be mapped onto the engines.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The importer refused the file.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An operator the engines cannot run, where the accelerator would have to run it.
    #[error(
        "{file}: operator #{op_index} ({op}) {detail}; the engines run CONV_2D, DEPTHWISE_CONV_2D (multiplier 1) and residual ADD up to the global pooling"
    )]
    Unsupported {
        /// The model file.
        file: String,
        /// Operator index in the file.
        op_index: usize,
        /// TFLite operator name.
        op: String,
        /// Why it cannot run.
        detail: String,
    },
    /// The layers do not form a valid network.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

/// The tensors one accelerator layer reads and writes, by TFLite tensor id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTensors {
    /// Index of the node in [`Graph::nodes`].
    pub node: usize,
    /// The activation input (for ADD: the operand produced by the previous layer).
    pub input: TensorId,
    /// The second ADD operand (the residual).
    pub skip: Option<TensorId>,
    /// Filter (constant).
    pub filter: Option<TensorId>,
    /// Bias (constant).
    pub bias: Option<TensorId>,
    /// The output.
    pub output: TensorId,
}

/// A model mapped onto the accelerator.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The compiler's view.
    pub network: Network,
    /// The graph it came from.
    pub graph: Graph,
    /// Per layer of `network`, its tensors.
    pub tensors: Vec<LayerTensors>,
    /// The `.tflite` file itself, which `build` copies into the build directory (the host
    /// runs its head and tail from it); empty for a graph made in memory.
    pub model_file: Vec<u8>,
}

/// Loads a `.tflite` file and maps it onto the accelerator.
pub fn load(path: &Path) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(path).map_err(|error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let graph = fibha_model::tflite::parse(&bytes, path)?;
    Ok(Imported {
        model_file: bytes,
        ..from_graph(graph)?
    })
}

fn act(a: Activation) -> Act {
    match a {
        Activation::None => Act::None,
        Activation::Relu => Act::Relu,
        Activation::Relu6 => Act::Relu6,
    }
}

fn hw_shape(graph: &Graph, id: TensorId) -> Option<Shape> {
    match graph.tensor(id).shape.as_slice() {
        [1, h, w, c] => Some(Shape::new(*h, *w, *c)),
        _ => None,
    }
}

/// Maps an imported graph onto the accelerator.
pub fn from_graph(graph: Graph) -> Result<Imported, ImportError> {
    let file = graph.source.clone();
    let unsupported = |index: usize, op: &str, detail: &str| ImportError::Unsupported {
        file: file.clone(),
        op_index: index,
        op: op.to_string(),
        detail: detail.to_string(),
    };
    // The tensor each accelerator layer produced; the accelerator's input is the graph's
    // input, or the output of a QUANTIZE applied to it on the host.
    let mut producer: HashMap<TensorId, Option<usize>> = HashMap::new();
    let graph_input = graph
        .inputs
        .first()
        .copied()
        .ok_or_else(|| unsupported(0, "-", "has no input"))?;
    let mut accel_input = graph_input;
    let mut layers: Vec<Layer> = Vec::new();
    let mut tensors: Vec<LayerTensors> = Vec::new();
    let mut host: Vec<String> = Vec::new();
    let mut pending_pad: Option<(usize, TensorId, TensorId, [usize; 2])> = None;
    // Set at the global pooling: from there on everything runs on the host.
    let mut in_head = false;

    for (ni, node) in graph.nodes.iter().enumerate() {
        let name = node.op.name();
        if in_head {
            host.push(format!("#{} {name}", node.index));
            continue;
        }
        if layers.is_empty() && matches!(node.op, Op::Quantize) && node.inputs == [accel_input] {
            host.push(format!("#{} {name} (input)", node.index));
            accel_input = node.outputs[0];
            continue;
        }
        // The only tensor an accelerator layer may read besides an ADD's residual.
        let chain_input = tensors.last().map_or(accel_input, |t| t.output);
        let input = node.inputs.first().copied().unwrap_or(chain_input);
        let is_global_pool = match &node.op {
            Op::Mean { axes, .. } => axes.as_slice() == [1, 2],
            Op::AveragePool2d(p) => hw_shape(&graph, input).is_some_and(|s| p.filter == [s.h, s.w]),
            _ => false,
        };
        if is_global_pool {
            if let Some((pad_index, ..)) = pending_pad {
                return Err(unsupported(
                    pad_index,
                    "PAD",
                    "is not followed by a convolution",
                ));
            }
            host.push(format!("#{} {name} (global pooling)", node.index));
            in_head = true;
            continue;
        }
        if let Op::Pad { paddings } = &node.op {
            if paddings.len() != 4 || paddings[0] != [0, 0] || paddings[3] != [0, 0] {
                return Err(unsupported(node.index, name, "pads batch or channels"));
            }
            if input != chain_input || pending_pad.is_some() {
                return Err(unsupported(node.index, name, "is not on the layer chain"));
            }
            pending_pad = Some((
                node.index,
                input,
                node.outputs[0],
                [paddings[1][0], paddings[2][0]],
            ));
            continue;
        }
        let (kind, stride, kernel, dilation, padding, activation) = match &node.op {
            Op::Conv2d(c) => {
                let filter = graph.tensor(node.inputs[1]);
                let (kh, kw) = (filter.shape[1], filter.shape[2]);
                if kh != kw || c.stride[0] != c.stride[1] {
                    return Err(unsupported(
                        node.index,
                        name,
                        "has a non-square kernel or stride",
                    ));
                }
                let kind = if kh == 1 && c.stride == [1, 1] {
                    LayerKind::Pointwise
                } else {
                    LayerKind::Conv
                };
                (kind, c.stride[0], kh, c.dilation, c.padding, c.activation)
            }
            Op::DepthwiseConv2d(d) => {
                if d.depth_multiplier != 1 {
                    return Err(unsupported(
                        node.index,
                        name,
                        "has a depth multiplier other than 1",
                    ));
                }
                let filter = graph.tensor(node.inputs[1]);
                let (kh, kw) = (filter.shape[1], filter.shape[2]);
                if kh != kw || d.stride[0] != d.stride[1] {
                    return Err(unsupported(
                        node.index,
                        name,
                        "has a non-square kernel or stride",
                    ));
                }
                (
                    LayerKind::Depthwise,
                    d.stride[0],
                    kh,
                    d.dilation,
                    d.padding,
                    d.activation,
                )
            }
            Op::Add { activation } => (LayerKind::Add, 1, 1, [1, 1], Padding::Same, *activation),
            _ => {
                return Err(unsupported(
                    node.index,
                    name,
                    "is inside the feature extractor",
                ));
            }
        };
        if dilation != [1, 1] {
            return Err(unsupported(node.index, name, "is dilated"));
        }
        // Where the layer reads from, after folding a pending PAD into it.
        let (read, folded_pad) = match pending_pad.take() {
            Some((pad_index, pad_in, pad_out, before)) => {
                if input != pad_out || padding != Padding::Valid || kind == LayerKind::Add {
                    return Err(unsupported(
                        pad_index,
                        "PAD",
                        "is not followed by a VALID convolution",
                    ));
                }
                (pad_in, Some(before))
            }
            None => (input, None),
        };
        let output = node.outputs[0];
        let (Some(in_shape), Some(out_shape)) = (hw_shape(&graph, read), hw_shape(&graph, output))
        else {
            return Err(unsupported(
                node.index,
                name,
                "does not have NHWC batch-1 tensors",
            ));
        };
        let (skip, first) = if kind == LayerKind::Add {
            let [a, b] = node.inputs[..] else {
                return Err(unsupported(node.index, name, "does not have two operands"));
            };
            let (first, other) = if a == chain_input { (a, b) } else { (b, a) };
            if first != chain_input {
                return Err(unsupported(
                    node.index,
                    name,
                    "does not add the previous layer's output",
                ));
            }
            let skip = match producer.get(&other) {
                Some(p) => *p,
                None => {
                    return Err(unsupported(
                        node.index,
                        name,
                        "adds a tensor the accelerator did not produce",
                    ));
                }
            };
            (Some((skip, other)), first)
        } else {
            if read != chain_input {
                return Err(unsupported(
                    node.index,
                    name,
                    "reads a tensor other than the previous layer's output (the engines run a chain)",
                ));
            }
            (None, read)
        };
        let pad = folded_pad.unwrap_or_else(|| {
            [
                padding.output_and_pad(in_shape.h, kernel, stride, 1).1,
                padding.output_and_pad(in_shape.w, kernel, stride, 1).1,
            ]
        });
        let index = layers.len();
        layers.push(Layer {
            name: format!("op{}.{}", node.index, kind.short()),
            kind,
            input: in_shape,
            output: out_shape,
            kernel,
            stride,
            pad,
            act: act(activation),
            skip: skip.and_then(|(p, _)| p),
            se_channels: 0,
            source_op: Some(node.index),
        });
        tensors.push(LayerTensors {
            node: ni,
            input: first,
            skip: skip.map(|(_, t)| t),
            filter: (kind != LayerKind::Add).then(|| node.inputs[1]),
            bias: (kind != LayerKind::Add)
                .then(|| node.inputs.get(2).copied())
                .flatten(),
            output,
        });
        producer.insert(output, Some(index));
        if index == 0 {
            producer.insert(accel_input, None);
        }
    }
    let input = hw_shape(&graph, accel_input)
        .ok_or_else(|| unsupported(0, "-", "input is not an NHWC batch-1 image"))?;
    let name = Path::new(&file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.clone());
    let source = ModelSource::Tflite {
        file: file.clone(),
        sha256: graph.source_sha256_hex(),
    };
    let mut network = Network::new(name, source, input, layers, host)?;
    network.folded = graph
        .folded
        .iter()
        .map(|f| format!("#{} {}", f.index, f.op))
        .collect();
    Ok(Imported {
        network,
        graph,
        tensors,
        model_file: Vec::new(),
    })
}
