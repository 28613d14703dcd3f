//! From a quantized model ([`fibha_model::Graph`]) to the compiler's [`Network`].
//!
//! The accelerator runs the feature extractor and the classifier: every operator from the
//! graph input through the global pooling (MEAN over height and width, or an
//! AVERAGE_POOL_2D whose window is the map) and the fully connected layers after it
//! (FULLY_CONNECTED, or CONV_2D on the pooled pixel), which the SEML part always runs.
//! What follows (RESHAPE, SOFTMAX, a QUANTIZE) runs on the host, and so does a QUANTIZE at
//! the input. The engines run a chain of CONV_2D / DEPTHWISE_CONV_2D with
//! residual ADDs (an explicit PAD in front of a VALID convolution is folded into it). An
//! operator they do not run (a squeeze-and-excitation's MEAN, MUL and LOGISTIC, a
//! dilated convolution, a branch) ends their part early: it moves back to where the host
//! needs only the last layer's output, and everything after runs on the host, listed by
//! the plan with the reason. A model whose very first layer the engines cannot run is
//! refused naming the operator.
//!
//! Besides the network, import keeps for every layer the tensors it reads and writes
//! ([`LayerTensors`]), which weight packing needs.

use std::collections::HashMap;
use std::path::Path;

use fibha_model::bundle::FM_LANES;
use fibha_model::host_cost::{HostOps, HostSide};
use fibha_model::{Activation, Graph, ModelError, Node, Op, Padding, TensorId};

use crate::network::{Act, Layer, LayerKind, ModelSource, Network, NetworkError, Shape};

/// Why a model cannot be mapped onto the engines.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The importer refused the file.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An operator the engines cannot run, where the accelerator would have to run it.
    #[error(
        "{file}: operator #{op_index} ({op}) {detail}; the engines run CONV_2D, DEPTHWISE_CONV_2D (multiplier 1) and residual ADD, then the global pooling and the classifier"
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

/// A layer's map: an NHWC tensor, or a `[1, C]` vector as one pixel (a MEAN without
/// `keep_dims`, a FULLY_CONNECTED's input and output).
fn map_shape(graph: &Graph, id: TensorId) -> Option<Shape> {
    match graph.tensor(id).shape.as_slice() {
        [1, c] => Some(Shape::new(1, 1, *c)),
        _ => hw_shape(graph, id),
    }
}

/// Where and why the engines' part of a graph ends.
struct Cut {
    /// The operator's index in the file.
    index: usize,
    /// Its TFLite name.
    op: String,
    /// Why the engines do not run it.
    reason: String,
}

impl Cut {
    fn new(index: usize, op: &str, reason: &str) -> Cut {
        Cut {
            index,
            op: op.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The reason of a cut after the classifier head, where the engines' part normally ends.
const AFTER_CLASSIFIER: &str = "follows the classifier";
/// The reason of a cut at an operator the engines do not run.
const NOT_RUN: &str = "is not an operator the engines run";

/// How many of the chain's layers the accelerator keeps: the most for which no operator
/// after the last kept one reads anything the accelerator computed but that layer's
/// output, the one tensor the host gets back (a cut inside a residual block or a
/// squeeze-and-excitation moves to the block's start), and that output's channels fill
/// whole 16-byte words unless it is the classifier head's (the SESL part hands back its
/// map as packed bytes, which only the head, always on the SEML part, never does).
fn layers_the_host_can_follow(graph: &Graph, tensors: &[LayerTensors], head: usize) -> usize {
    let producer: HashMap<TensorId, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |&t| (t, i)))
        .collect();
    (1..=tensors.len())
        .rev()
        .find(|&k| {
            let last = &tensors[k - 1];
            let whole_words = k > head
                || graph
                    .tensor(last.output)
                    .shape
                    .last()
                    .is_some_and(|c| c % FM_LANES == 0);
            whole_words
                && graph.nodes[last.node + 1..]
                    .iter()
                    .flat_map(|n| &n.inputs)
                    .all(|t| *t == last.output || producer.get(t).is_none_or(|&p| p > last.node))
        })
        .unwrap_or(0)
}

/// Maps an imported graph onto the accelerator: the chain of layers the engines run from
/// the input on, up to the global pooling or the first operator they do not run; the
/// operators after it run on the host and are listed in the network's `host`.
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
    let mut before: Vec<&Node> = Vec::new();
    let mut pending_pad: Option<(usize, TensorId, TensorId, [usize; 2])> = None;

    let cut = 'ops: {
        for (ni, node) in graph.nodes.iter().enumerate() {
            let name = node.op.name();
            if layers.is_empty() && matches!(node.op, Op::Quantize) && node.inputs == [accel_input]
            {
                host.push(format!("#{} {name} (input)", node.index));
                before.push(node);
                accel_input = node.outputs[0];
                continue;
            }
            // The only tensor an accelerator layer may read besides an ADD's residual.
            let chain_input = tensors.last().map_or(accel_input, |t| t.output);
            let input = node.inputs.first().copied().unwrap_or(chain_input);
            let is_global_pool = match &node.op {
                Op::Mean { axes, .. } => axes.as_slice() == [1, 2],
                Op::AveragePool2d(p) => {
                    hw_shape(&graph, input).is_some_and(|s| p.filter == [s.h, s.w])
                }
                _ => false,
            };
            let in_head = layers.iter().any(|l| l.kind == LayerKind::GlobalPool);
            if is_global_pool {
                let output = node.outputs[0];
                let channels = hw_shape(&graph, input).map(|s| s.c);
                if in_head || layers.is_empty() || input != chain_input {
                    break 'ops Some(Cut::new(
                        node.index,
                        name,
                        "is a global pooling that does not end the layer chain",
                    ));
                }
                let (Some(in_shape), Some(out_shape)) =
                    (hw_shape(&graph, input), map_shape(&graph, output))
                else {
                    break 'ops Some(Cut::new(node.index, name, "does not pool an NHWC map"));
                };
                if Some(out_shape) != channels.map(|c| Shape::new(1, 1, c)) {
                    break 'ops Some(Cut::new(node.index, name, "does not pool to one pixel"));
                }
                let activation = match &node.op {
                    Op::AveragePool2d(p) => p.activation,
                    _ => Activation::None,
                };
                let index = layers.len();
                layers.push(Layer {
                    name: format!("op{}.{}", node.index, LayerKind::GlobalPool.short()),
                    kind: LayerKind::GlobalPool,
                    input: in_shape,
                    output: out_shape,
                    kernel: 1,
                    stride: 1,
                    pad: [0, 0],
                    act: act(activation),
                    skip: None,
                    se_channels: 0,
                    source_op: Some(node.index),
                });
                tensors.push(LayerTensors {
                    node: ni,
                    input,
                    skip: None,
                    filter: None,
                    bias: None,
                    output,
                });
                producer.insert(output, Some(index));
                continue;
            }
            if let Op::Pad { paddings } = &node.op {
                if paddings.len() != 4 || paddings[0] != [0, 0] || paddings[3] != [0, 0] {
                    break 'ops Some(Cut::new(node.index, name, "pads batch or channels"));
                }
                if input != chain_input || pending_pad.is_some() {
                    break 'ops Some(Cut::new(node.index, name, "is not on the layer chain"));
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
                        break 'ops Some(Cut::new(
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
                        break 'ops Some(Cut::new(
                            node.index,
                            name,
                            "has a depth multiplier other than 1",
                        ));
                    }
                    let filter = graph.tensor(node.inputs[1]);
                    let (kh, kw) = (filter.shape[1], filter.shape[2]);
                    if kh != kw || d.stride[0] != d.stride[1] {
                        break 'ops Some(Cut::new(
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
                Op::Add { activation } => {
                    (LayerKind::Add, 1, 1, [1, 1], Padding::Same, *activation)
                }
                // The classifier: a 1 x 1 convolution of the pooled pixel.
                Op::FullyConnected { activation } if in_head => (
                    LayerKind::Pointwise,
                    1,
                    1,
                    [1, 1],
                    Padding::Same,
                    *activation,
                ),
                _ => {
                    let reason = if in_head { AFTER_CLASSIFIER } else { NOT_RUN };
                    break 'ops Some(Cut::new(node.index, name, reason));
                }
            };
            if dilation != [1, 1] {
                break 'ops Some(Cut::new(node.index, name, "is dilated"));
            }
            if in_head && kind != LayerKind::Pointwise {
                break 'ops Some(Cut::new(
                    node.index,
                    name,
                    "follows the global pooling and is not a fully connected layer",
                ));
            }
            // Where the layer reads from, after folding a pending PAD into it.
            let (read, folded_pad) = match pending_pad.take() {
                Some((pad_index, pad_in, pad_out, before)) => {
                    if input != pad_out || padding != Padding::Valid || kind == LayerKind::Add {
                        break 'ops Some(Cut::new(
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
            let (Some(in_shape), Some(out_shape)) =
                (map_shape(&graph, read), map_shape(&graph, output))
            else {
                break 'ops Some(Cut::new(
                    node.index,
                    name,
                    "does not have NHWC batch-1 tensors",
                ));
            };
            if (out_shape.h, out_shape.w)
                != (in_shape.h.div_ceil(stride), in_shape.w.div_ceil(stride))
            {
                break 'ops Some(Cut::new(
                    node.index,
                    name,
                    "has an output size other than SAME padding gives (the engines' windows produce ceil(input / stride))",
                ));
            }
            let (skip, first) = if kind == LayerKind::Add {
                let [a, b] = node.inputs[..] else {
                    break 'ops Some(Cut::new(node.index, name, "does not have two operands"));
                };
                let (first, other) = if a == chain_input { (a, b) } else { (b, a) };
                if first != chain_input {
                    break 'ops Some(Cut::new(
                        node.index,
                        name,
                        "does not add the previous layer's output",
                    ));
                }
                let skip = match producer.get(&other) {
                    Some(p) => *p,
                    None => {
                        break 'ops Some(Cut::new(
                            node.index,
                            name,
                            "adds a tensor the accelerator did not produce",
                        ));
                    }
                };
                (Some((skip, other)), first)
            } else {
                if read != chain_input {
                    break 'ops Some(Cut::new(
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
        pending_pad.map(|(index, ..)| Cut::new(index, "PAD", "is not followed by a convolution"))
    };
    let head = layers
        .iter()
        .position(|l| l.kind == LayerKind::GlobalPool)
        .unwrap_or(layers.len());
    let kept = layers_the_host_can_follow(&graph, &tensors, head);
    // A pooling whose pixel the host does not take as it is (a squeeze-and-excitation's,
    // whose scaling reads the map before it) was no classifier.
    let cut = cut.map(|c| match c.reason.as_str() {
        AFTER_CLASSIFIER if kept <= head => Cut::new(c.index, &c.op, NOT_RUN),
        _ => c,
    });
    let Some(last) = kept.checked_sub(1).map(|k| tensors[k].node) else {
        let cut = cut.unwrap_or_else(|| Cut::new(0, "-", "leaves no layer to the engines"));
        if tensors.is_empty() {
            return Err(unsupported(cut.index, &cut.op, &cut.reason));
        }
        let reason = format!(
            "{}, and no layer before it hands the host a map of whole 16-channel words that is all the host needs",
            cut.reason
        );
        return Err(unsupported(cut.index, &cut.op, &reason));
    };
    layers.truncate(kept);
    tensors.truncate(kept);
    for node in &graph.nodes[last + 1..] {
        let why = match &cut {
            Some(c) if c.index == node.index => {
                format!(" (the engines stop here: it {})", c.reason)
            }
            _ => String::new(),
        };
        host.push(format!("#{} {}{why}", node.index, node.op.name()));
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
    network.host_ops = HostOps {
        before: HostSide::of(&graph, before, accel_input),
        after: HostSide::of(&graph, &graph.nodes[last + 1..], tensors[kept - 1].output),
    };
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
