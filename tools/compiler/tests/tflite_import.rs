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
        assert_eq!(signature(net), signature(&topo), "{file}");
        assert_eq!(net.blocks, topo.blocks, "{file}");
        assert_eq!(net.macs(), topo.macs());
        // The classifier (1001 classes in these files, 1000 in the paper) runs on the host.
        assert!(
            net.host.iter().any(|h| h.contains("global pooling")),
            "{:?}",
            net.host
        );
        assert_eq!(imported.tensors.len(), net.layers.len());
    }
}

#[test]
fn operators_the_engines_cannot_run_are_named() {
    let mut graph =
        fibha_model::tflite::load(asset("tf2_mobilenet_v2_1.0_224_ptq.tflite")).unwrap();
    // Replace the second depthwise convolution by a max pooling of the same shape.
    let pos = graph
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::DepthwiseConv2d(_)) && n.index > 3)
        .unwrap();
    let index = graph.nodes[pos].index;
    graph.nodes[pos].op = Op::MaxPool2d(Pool2d {
        filter: [3, 3],
        stride: [2, 2],
        padding: fibha_model::Padding::Same,
        activation: fibha_model::Activation::None,
    });
    let err = from_graph(graph).unwrap_err().to_string();
    assert!(
        err.contains(&format!("operator #{index} (MAX_POOL_2D)"))
            && err.contains("tf2_mobilenet_v2"),
        "{err}"
    );

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
    let err = from_graph(graph).unwrap_err().to_string();
    assert!(
        err.contains("DEPTHWISE_CONV_2D") && err.contains("depth multiplier"),
        "{err}"
    );
}
