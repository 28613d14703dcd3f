//! The CPU engine is total over graphs it did not import: any node, however odd its
//! operands (ranks 0 to 4, any element type, missing or per-channel quantization, constant
//! or computed weights, constants short of their shape, out-of-range axes and windows), is
//! refused at construction with an error naming the node or tensor, or prepared and run,
//! never a panic.

use fibha_kernels::CpuEngine;
use fibha_model::{
    Activation, Conv2d, DType, DepthwiseConv2d, Graph, Node, Op, Padding, Pool2d, Quantization,
    Tensor,
};
use proptest::prelude::*;

/// How a generated tensor is quantized.
#[derive(Clone, Copy, Debug)]
enum Quant {
    None,
    PerTensor(f32, i32),
    PerChannel,
}

/// Mostly 8-bit types, so that many cases get past the type checks to the deeper ones.
fn dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(vec![
        DType::Int8,
        DType::Int8,
        DType::Int8,
        DType::UInt8,
        DType::Int32,
        DType::Int64,
        DType::Float32,
    ])
}

fn quant() -> impl Strategy<Value = Quant> {
    prop_oneof![
        1 => Just(Quant::None),
        6 => (prop::sample::select(vec![0.0_f32, 1.0 / 256.0, 0.5, 2.0]), -2i32..3)
            .prop_map(|(s, z)| Quant::PerTensor(s, z)),
        1 => Just(Quant::PerChannel),
    ]
}

/// A tensor of rank 0 to 4 with small dimensions, half of them NHWC; `constant` gives it data of its size.
fn tensor(name: &'static str) -> impl Strategy<Value = Tensor> {
    (
        prop_oneof![
            prop::collection::vec(1usize..4, 0..5),
            prop::collection::vec(1usize..3, 4),
        ],
        dtype(),
        quant(),
        any::<bool>(),
        prop::bool::weighted(0.05),
    )
        .prop_map(move |(shape, dtype, q, constant, short)| {
            let mut t = Tensor {
                name: name.into(),
                shape,
                dtype,
                quant: None,
                data: None,
            };
            t.quant = match q {
                Quant::None => None,
                Quant::PerTensor(s, z) => Some(Quantization {
                    scales: vec![s],
                    zero_points: vec![z],
                    axis: 0,
                }),
                Quant::PerChannel => {
                    let n = t.shape.first().copied().unwrap_or(1).max(2);
                    Some(Quantization {
                        scales: vec![0.25; n],
                        zero_points: vec![0; n],
                        axis: 0,
                    })
                }
            };
            let len = t.byte_len().saturating_sub(usize::from(short));
            t.data = constant.then(|| vec![1; len]);
            t
        })
}

fn activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(vec![Activation::None, Activation::Relu, Activation::Relu6])
}

fn pair() -> impl Strategy<Value = [usize; 2]> {
    [0usize..3, 0usize..3]
}

fn padding() -> impl Strategy<Value = Padding> {
    prop::sample::select(vec![Padding::Same, Padding::Valid])
}

/// Any operator of the IR, with options that may not fit its operands.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (pair(), pair(), padding(), activation()).prop_map(|(stride, dilation, padding, a)| {
            Op::Conv2d(Conv2d {
                stride,
                dilation,
                padding,
                activation: a,
            })
        }),
        (pair(), pair(), padding(), 0usize..3, activation()).prop_map(
            |(stride, dilation, padding, depth_multiplier, a)| {
                Op::DepthwiseConv2d(DepthwiseConv2d {
                    stride,
                    dilation,
                    padding,
                    depth_multiplier,
                    activation: a,
                })
            }
        ),
        activation().prop_map(|activation| Op::Add { activation }),
        activation().prop_map(|activation| Op::Mul { activation }),
        Just(Op::Logistic),
        Just(Op::HardSwish),
        (prop::collection::vec(0usize..5, 0..3), any::<bool>())
            .prop_map(|(axes, keep_dims)| Op::Mean { axes, keep_dims }),
        (pair(), pair(), padding(), activation(), any::<bool>()).prop_map(
            |(filter, stride, padding, activation, max)| {
                let p = Pool2d {
                    filter,
                    stride,
                    padding,
                    activation,
                };
                if max {
                    Op::MaxPool2d(p)
                } else {
                    Op::AveragePool2d(p)
                }
            }
        ),
        activation().prop_map(|activation| Op::FullyConnected { activation }),
        Just(Op::Reshape),
        prop::sample::select(vec![1.0_f32, 0.0, 1e-30]).prop_map(|beta| Op::Softmax { beta }),
        Just(Op::Quantize),
        Just(Op::Dequantize),
        prop::collection::vec([0usize..2, 0usize..2], 0..5)
            .prop_map(|paddings| Op::Pad { paddings }),
        (0usize..5, activation())
            .prop_map(|(axis, activation)| Op::Concatenation { axis, activation }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]

    #[test]
    fn odd_nodes_are_refused_or_run(
        op in op(),
        input in tensor("input"),
        weights in tensor("weights"),
        bias in tensor("bias"),
        output in tensor("output"),
        inputs in prop::sample::select(vec![vec![0], vec![0, 1], vec![0, 1, 2], vec![0, 0]]),
    ) {
        let mut input = input;
        // The graph input is written at run time; an 8-bit output of a first node too.
        input.data = None;
        let mut output = output;
        output.data = None;
        let graph = Graph {
            source: "odd".into(),
            source_sha256: [0; 32],
            tensors: vec![input, weights, bias, output],
            nodes: vec![Node {
                index: 0,
                op,
                inputs,
                outputs: vec![3],
            }],
            inputs: vec![0],
            outputs: vec![3],
            folded: Vec::new(),
        };
        let size = graph.tensors[0].byte_len();
        match CpuEngine::new(graph) {
            Err(e) => {
                let e = e.to_string();
                // The node, or a constant whose data does not fill its shape.
                prop_assert!(e.starts_with("node #0 (") || e.contains("got"), "{e}");
            }
            Ok(mut engine) => {
                // Prepared: running it on zeros gives an output or an error, never a panic.
                let _ = engine.run(&vec![0; size]);
            }
        }
    }
}
