//! The MobileNetV2 topology file against the layers imported from the shipped `.tflite`
//! models, and import errors for operators the engines cannot run.

use std::path::PathBuf;

use fibha_compiler::import::{self, from_graph};
use fibha_compiler::models;
use fibha_compiler::network::Network;
use fibha_model::{Op, Pool2d};

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/models")
        .join(name)
}

fn signature(net: &Network) -> Vec<String> {
    net.layers
        .iter()
        .map(|l| {
            format!(
                "{} {} -> {} k{} s{} pad{:?} skip{:?}",
                l.kind.short(),
                l.input,
                l.output,
                l.kernel,
                l.stride,
                l.pad,
                l.skip
            )
        })
        .collect()
}

#[test]
fn mobilenet_v2_topology_matches_both_tflite_models() {
    let topo = models::load("mobilenet_v2_1.0_224").unwrap().network;
    for file in [
        "tf2_mobilenet_v2_1.0_224_ptq.tflite",
        "mobilenet_v2_1.0_224_quant.tflite",
    ] {
        let imported = import::load(&asset(file)).unwrap();
        let net = &imported.network;
        assert_eq!(net.input, topo.input, "{file}");
        // The topology is the feature extractor; the model adds the classifier head (1001
        // classes in these files, 1000 in the paper), which the SEML part runs.
        let layers = signature(net);
        let (features, head) = layers.split_at(net.head_start());
        assert_eq!(features, signature(&topo), "{file}");
        assert_eq!(
            head,
            [
                "gap 7x7x1280 -> 1x1x1280 k1 s1 pad[0, 0] skipNone",
                "pw 1x1x1280 -> 1x1x1001 k1 s1 pad[0, 0] skipNone"
            ],
            "{file}"
        );
        assert_eq!(net.blocks, topo.blocks, "{file}");
        assert_eq!(net.macs(), topo.macs() + 7 * 7 * 1280 + 1280 * 1001);
        // What is left to the host after the accelerator: the classes' reshape and
        // softmax (and the int8 file's output QUANTIZE).
        let host: Vec<&str> = net
            .host
            .iter()
            .filter(|h| !h.ends_with("(input)"))
            .map(|h| h.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(host[..2], ["RESHAPE", "SOFTMAX"], "{:?}", net.host);
        assert_eq!(imported.tensors.len(), net.layers.len());
    }
}

/// The shipped int8 MobileNetV2 with its first operator matching `is` after file index
/// `after` replaced by a 3x3 max pooling; that operator's index.
fn with_max_pool(is: fn(&Op) -> bool, after: usize) -> (fibha_model::Graph, usize) {
    let mut graph =
        fibha_model::tflite::load(asset("tf2_mobilenet_v2_1.0_224_ptq.tflite")).unwrap();
    let pos = graph
        .nodes
        .iter()
        .position(|n| is(&n.op) && n.index > after)
        .unwrap();
    graph.nodes[pos].op = Op::MaxPool2d(Pool2d {
        filter: [3, 3],
        stride: [2, 2],
        padding: fibha_model::Padding::Same,
        activation: fibha_model::Activation::None,
    });
    let index = graph.nodes[pos].index;
    (graph, index)
}

#[test]
fn an_operator_the_engines_cannot_run_ends_their_part_where_the_host_can_take_over() {
    // The second depthwise convolution (#5 of the file) becomes a max pooling: the
    // engines keep the stem, the first bottleneck and the next expansion (96 channels,
    // whole 16-channel words, all the host needs); everything from #5 on runs on the
    // host, the pooling listed with the reason.
    let (graph, index) = with_max_pool(|op| matches!(op, Op::DepthwiseConv2d(_)), 3);
    let imported = from_graph(graph).unwrap();
    let net = &imported.network;
    assert_eq!(net.layers.len(), 4, "{:?}", net.layers);
    assert_eq!(net.layers.last().unwrap().output.c, 96);
    let first_host = net
        .host
        .iter()
        .position(|h| h.starts_with(&format!("#{index} ")))
        .unwrap();
    assert!(
        net.host[first_host]
            .contains("MAX_POOL_2D (the engines stop here: it is not an operator the engines run)"),
        "{:?}",
        net.host
    );
    assert!(net.host.iter().any(|h| h.contains("SOFTMAX")));

    // A depth multiplier of 2 on the first depthwise convolution: only the stem is left.
    let mut graph =
        fibha_model::tflite::load(asset("tf2_mobilenet_v2_1.0_224_ptq.tflite")).unwrap();
    let pos = graph
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::DepthwiseConv2d(_)))
        .unwrap();
    if let Op::DepthwiseConv2d(d) = &mut graph.nodes[pos].op {
        d.depth_multiplier = 2;
    }
    let imported = from_graph(graph).unwrap();
    assert_eq!(imported.network.layers.len(), 1);
    assert!(
        imported
            .network
            .host
            .iter()
            .any(|h| h.contains("DEPTHWISE_CONV_2D") && h.contains("depth multiplier")),
        "{:?}",
        imported.network.host
    );
}

#[test]
fn a_model_whose_first_layer_the_engines_cannot_run_is_refused_naming_it() {
    let (graph, index) = with_max_pool(|op| matches!(op, Op::Conv2d(_)), 0);
    let err = from_graph(graph).unwrap_err().to_string();
    assert!(
        err.contains(&format!("operator #{index} (MAX_POOL_2D)"))
            && err.contains("tf2_mobilenet_v2")
            && err.contains("is not an operator the engines run"),
        "{err}"
    );
}
