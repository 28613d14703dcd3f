//! Import of the shipped models, and refusal of bad ones with errors that name the problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fibha_model::tflite::{self, schema};
use fibha_model::{Activation, DType, ModelError, Op};
use proptest::prelude::*;

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/models")
        .join(name)
}

const PTQ: &str = "tf2_mobilenet_v2_1.0_224_ptq.tflite";
const QUANT: &str = "mobilenet_v2_1.0_224_quant.tflite";

fn op_counts(g: &fibha_model::Graph) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for n in &g.nodes {
        *counts.entry(n.op.name()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn imports_the_int8_per_channel_mobilenet_v2() {
    let g = tflite::load(asset(PTQ)).unwrap();
    assert_eq!(g.nodes.len(), 68);
    let counts = op_counts(&g);
    assert_eq!(counts["CONV_2D"], 36);
    assert_eq!(counts["DEPTHWISE_CONV_2D"], 17);
    assert_eq!(counts["ADD"], 10);
    assert_eq!(counts["QUANTIZE"], 2);
    assert_eq!(counts["MEAN"], 1);
    let input = g.input();
    assert_eq!(
        (input.dtype, input.shape.as_slice()),
        (DType::UInt8, &[1, 224, 224, 3][..])
    );
    assert_eq!(g.output().shape, vec![1, 1001]);
    // The first convolution: 3x3 stride 2, 32 filters, per-channel int8, ReLU6.
    let conv = g
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Conv2d(_)))
        .unwrap();
    let Op::Conv2d(c) = conv.op else {
        unreachable!()
    };
    assert_eq!((c.stride, c.activation), ([2, 2], Activation::Relu6));
    let filter = g.tensor(conv.inputs[1]);
    assert_eq!(filter.shape, vec![32, 3, 3, 3]);
    assert_eq!(filter.dtype, DType::Int8);
    assert_eq!(filter.q().scales.len(), 32);
}

#[test]
fn imports_the_uint8_per_tensor_mobilenet_v2() {
    let g = tflite::load(asset(QUANT)).unwrap();
    assert_eq!(g.nodes.len(), 66);
    let counts = op_counts(&g);
    assert_eq!(counts["AVERAGE_POOL_2D"], 1);
    assert_eq!(counts["SOFTMAX"], 1);
    assert_eq!(counts["RESHAPE"], 1);
    let q = g.input().q();
    assert_eq!((q.scale(), q.zero_point()), (0.0078125, 128));
    let filter = g.tensor(g.nodes[0].inputs[1]);
    assert_eq!(filter.dtype, DType::UInt8);
    assert!(!filter.q().is_per_channel());
    assert_eq!(g.source, QUANT);
}

/// A one-operator model: `input [1,4,4,2] -> op -> output`, built with the schema's builders.
fn tiny_model(code: i32, activation_type: schema::TensorType) -> Vec<u8> {
    let conv_options = schema::BuiltinOptions::Conv2DOptions(Box::new(schema::Conv2DOptions {
        padding: schema::Padding::Same,
        stride_w: 1,
        stride_h: 1,
        fused_activation_function: schema::ActivationFunctionType::Relu6,
        dilation_w_factor: 1,
        dilation_h_factor: 1,
    }));
    one_op_model(
        code,
        conv_options,
        [vec![1, 4, 4, 2], vec![3, 1, 1, 2], vec![1, 4, 4, 3]],
        activation_type,
    )
}

/// `input -> op(input, weights) -> output` with the given shapes (weights int8, six bytes of
/// data) and options, every tensor quantized with scale 0.5.
fn one_op_model(
    code: i32,
    options: schema::BuiltinOptions,
    [input, weights, output]: [Vec<i32>; 3],
    activation_type: schema::TensorType,
) -> Vec<u8> {
    let tensors = vec![
        built_tensor("input", input, activation_type, 0, true),
        built_tensor("filter", weights, schema::TensorType::Int8, 1, true),
        built_tensor("output", output, activation_type, 0, true),
    ];
    let data = vec![vec![1, 2, 3, 4, 5, 6]];
    single_op_model(code, Some(options), tensors, data, vec![0, 1])
}

#[test]
fn a_fully_connected_keeping_the_dims_of_a_rank_0_input_is_refused() {
    let fc = |input: Vec<i32>, output: Vec<i32>| {
        let options = schema::BuiltinOptions::FullyConnectedOptions(Box::new(
            schema::FullyConnectedOptions {
                keep_num_dims: true,
                ..Default::default()
            },
        ));
        one_op_model(
            9, // FULLY_CONNECTED
            options,
            [input, vec![6, 1], output],
            schema::TensorType::Int8,
        )
    };
    let e = parse(&fc(vec![], vec![6])).unwrap_err().to_string();
    assert!(
        e.contains("tiny.tflite") && e.contains("keep_num_dims on a rank-0 input 'input'"),
        "{e}"
    );
    // The same with a rank-2 input [2, 1] keeps its rank: output [2, 6].
    let g = parse(&fc(vec![2, 1], vec![2, 6])).unwrap();
    assert_eq!(g.output().shape, vec![2, 6]);
}

/// Puts TFLite's file identifier after the root offset. (planus 1.3 writes an identifier
/// before the root offset, where TFLite readers do not look for it.) The rest of the
/// buffer moves by 8 bytes, which keeps its alignment; only the root offset is absolute.
fn with_file_identifier(bytes: &[u8]) -> Vec<u8> {
    let root = u32::from_le_bytes(bytes[..4].try_into().unwrap()) + 8;
    let mut out = root.to_le_bytes().to_vec();
    out.extend_from_slice(b"TFL3");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&bytes[4..]);
    out
}

fn parse(bytes: &[u8]) -> Result<fibha_model::Graph, ModelError> {
    tflite::parse(bytes, Path::new("tiny.tflite"))
}

#[test]
fn a_built_int8_convolution_imports() {
    let g = parse(&tiny_model(3, schema::TensorType::Int8)).unwrap();
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].inputs, vec![0, 1]);
}

#[test]
fn float_model_is_refused_as_not_quantized() {
    let err = parse(&tiny_model(3, schema::TensorType::Float32)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::NotQuantized { op_index: 0, .. }),
        "{msg}"
    );
    assert!(
        msg.starts_with("tiny.tflite: not a quantized model: operator #0 (CONV_2D)"),
        "{msg}"
    );
}

#[test]
fn unsupported_operator_is_named_with_its_index() {
    let err = parse(&tiny_model(28, schema::TensorType::Int8)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tiny.tflite: operator #0 is TANH, which fibha does not run (it runs {})",
            tflite::supported_ops()
        )
    );
}

#[test]
fn operator_codes_above_127_are_read_from_the_new_field() {
    let err = parse(&tiny_model(150, schema::TensorType::Int8)).unwrap_err();
    assert!(err.to_string().contains("operator #0 is GELU"), "{err}");
}

#[test]
fn truncated_and_garbage_files_are_corrupt() {
    let real = std::fs::read(asset(PTQ)).unwrap();
    for len in [0, 7, 100, 4096, real.len() / 2] {
        let err = parse(&real[..len]).unwrap_err();
        assert!(
            matches!(err, ModelError::Corrupt { .. }),
            "{len} bytes: {err}"
        );
        assert!(
            err.to_string()
                .starts_with("tiny.tflite: not a valid TFLite model")
        );
    }
    let err = parse(b"\x89PNG\r\n\x1a\n not a model at all").unwrap_err();
    assert!(err.to_string().contains("no TFL3 file identifier"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = tflite::load("/nonexistent/model.tflite").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/model.tflite: cannot read the model"),
        "{err}"
    );
}

#[test]
fn inconsistent_output_shape_is_refused() {
    let mut bytes = tiny_model(3, schema::TensorType::Int8);
    // Re-build with a wrong output channel count: 3 filters cannot make 5 channels.
    let pos = find_i32_run(&bytes, &[1, 4, 4, 3]).expect("output shape in the buffer");
    bytes[pos + 12..pos + 16].copy_from_slice(&5i32.to_le_bytes());
    let err = parse(&bytes).unwrap_err();
    assert!(
        err.to_string().contains(
            "operator #0 (CONV_2D): 'output' has shape [1, 4, 4, 5], its inputs imply [1, 4, 4, 3]"
        ),
        "{err}"
    );
}

fn find_i32_run(bytes: &[u8], values: &[i32]) -> Option<usize> {
    let needle: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    bytes.windows(needle.len()).position(|w| w == needle)
}

/// The parser is total: any mutation of a real or built model is a graph or an error.
fn mutated(bytes: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut m = bytes.to_vec();
    for &(pos, val) in edits {
        let i = pos % m.len();
        m[i] = val;
    }
    m.truncate(m.len() - cut % (m.len() / 4).max(1));
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]

    #[test]
    fn mutated_built_models_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let bytes = tiny_model(3, schema::TensorType::Int8);
        check_refused_or_sound(parse(&mutated(&bytes, &edits, cut)))?;
    }

    #[test]
    fn mutated_real_model_headers_never_panic(
        edits in prop::collection::vec((0usize..65536, any::<u8>()), 1..8),
    ) {
        // The tables of a converter-written model sit around the buffers; the first and last
        // 64 KiB hold the root table, subgraph, tensors and operators.
        let bytes = real_model();
        let len = bytes.len();
        let edits: Vec<(usize, u8)> = edits
            .into_iter()
            .map(|(p, v)| (if p % 2 == 0 { p / 2 } else { len - 1 - p / 2 }, v))
            .collect();
        check_refused_or_sound(parse(&mutated(bytes, &edits, 0)))?;
    }
}

/// A mutated model is refused naming the file, or imports into a graph whose every
/// reference is in bounds.
fn check_refused_or_sound(
    result: Result<fibha_model::Graph, ModelError>,
) -> Result<(), TestCaseError> {
    match result {
        Err(e) => {
            let e = e.to_string();
            prop_assert!(e.contains("tiny.tflite"), "{e}");
        }
        Ok(g) => {
            let n = g.tensors.len();
            for node in &g.nodes {
                prop_assert!(node.inputs.iter().chain(&node.outputs).all(|&t| t < n));
            }
            prop_assert!(g.inputs.iter().chain(&g.outputs).all(|&t| t < n));
        }
    }
    Ok(())
}

fn real_model() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(asset(QUANT)).unwrap())
}

/// `input [1,2,2,4] int8 -> SHAPE -> STRIDED_SLICE [0:1] (shrunk to the batch) -> PACK with
/// the constant `second` -> RESHAPE of the input to [1, 16]`: the classifier reshape as
/// TensorFlow's converter writes it under a `None` batch. `slice_input` is the tensor the
/// STRIDED_SLICE reads (1: the shape; 0: the image itself, a shape computed from data).
fn shape_chain_model(slice_input: i32, second: i32) -> Vec<u8> {
    let slice =
        schema::BuiltinOptions::StridedSliceOptions(Box::new(schema::StridedSliceOptions {
            shrink_axis_mask: 1,
            ..Default::default()
        }));
    let pack = schema::BuiltinOptions::PackOptions(Box::new(schema::PackOptions {
        values_count: 2,
        axis: 0,
    }));
    shape_model(
        [
            (45, vec![slice_input, 2, 3, 4], slice),
            (83, vec![5, 6], pack),
        ],
        vec![],
        second,
    )
}

/// The model of [`shape_chain_model`] with its two middle operators given: `(builtin code,
/// inputs, options)` writing tensors 5 (`batch`) and 7 (`new_shape`); `batch` and the
/// constant `units` (= `second`) have shape `scalar_shape`.
fn shape_model(
    middle: [(i32, Vec<i32>, schema::BuiltinOptions); 2],
    scalar_shape: Vec<i32>,
    second: i32,
) -> Vec<u8> {
    let int32 = |values: &[i32]| schema::Buffer {
        data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    };
    let tensor = built_tensor;
    let i32_ = schema::TensorType::Int32;
    let code = |builtin_code: i32| schema::OperatorCode {
        deprecated_builtin_code: builtin_code.min(127) as i8,
        custom_code: None,
        version: 1,
        builtin_code,
    };
    let op = |opcode_index: u32, inputs: Vec<i32>, output: i32, options| schema::Operator {
        opcode_index,
        inputs: Some(inputs),
        outputs: Some(vec![output]),
        builtin_options: options,
        ..Default::default()
    };
    let model = schema::Model {
        version: 3,
        operator_codes: Some(vec![
            code(77),
            code(middle[0].0),
            code(middle[1].0),
            code(22),
        ]),
        subgraphs: Some(vec![schema::SubGraph {
            tensors: Some(vec![
                tensor("input", vec![1, 2, 2, 4], schema::TensorType::Int8, 0, true),
                tensor("shape", vec![4], i32_, 0, false),
                tensor("begin", vec![1], i32_, 1, false),
                tensor("end", vec![1], i32_, 2, false),
                tensor("strides", vec![1], i32_, 2, false),
                tensor("batch", scalar_shape.clone(), i32_, 0, false),
                tensor("units", scalar_shape, i32_, 3, false),
                tensor("new_shape", vec![2], i32_, 0, false),
                tensor("output", vec![1, 16], schema::TensorType::Int8, 0, true),
            ]),
            inputs: Some(vec![0]),
            outputs: Some(vec![8]),
            operators: Some(vec![
                op(0, vec![0], 1, None),
                op(1, middle[0].1.clone(), 5, Some(middle[0].2.clone())),
                op(2, middle[1].1.clone(), 7, Some(middle[1].2.clone())),
                op(3, vec![0, 7], 8, None),
            ]),
            name: None,
        }]),
        buffers: Some(vec![
            schema::Buffer::default(),
            int32(&[0]),
            int32(&[1]),
            int32(&[second]),
        ]),
        ..Default::default()
    };
    with_file_identifier(planus::Builder::new().finish(&model, None))
}

#[test]
fn shape_arithmetic_on_static_shapes_is_folded_at_import() {
    let g = parse(&shape_chain_model(1, -1)).unwrap();
    // Only the RESHAPE is left to run; the three shape operators are listed as folded.
    assert_eq!(g.nodes.len(), 1);
    assert_eq!((g.nodes[0].index, g.nodes[0].op.name()), (3, "RESHAPE"));
    let folded: Vec<(usize, &str)> = g.folded.iter().map(|f| (f.index, f.op.as_str())).collect();
    assert_eq!(folded, [(0, "SHAPE"), (1, "STRIDED_SLICE"), (2, "PACK")]);
    // SHAPE gave [1, 2, 2, 4], the slice its batch 1, PACK [1, -1].
    assert_eq!(g.tensor(1).data_ints(), Some(vec![1, 2, 2, 4]));
    assert_eq!(g.tensor(5).data_ints(), Some(vec![1]));
    assert_eq!(g.tensor(7).data_ints(), Some(vec![1, -1]));
}

#[test]
fn a_shape_computed_from_data_is_refused_with_its_operator() {
    let e = parse(&shape_chain_model(0, -1)).unwrap_err().to_string();
    assert_eq!(
        e,
        "tiny.tflite: operator #1 (STRIDED_SLICE): input 0 'input' is computed from the image at run time: fibha folds shape arithmetic on static shapes only and does not run shapes computed from data"
    );
}

#[test]
fn a_folded_shape_that_contradicts_the_reshape_is_refused() {
    let e = parse(&shape_chain_model(1, 15)).unwrap_err().to_string();
    assert_eq!(
        e,
        "tiny.tflite: operator #3 (RESHAPE): new shape [1, 15] does not give the output's declared shape [1, 16]"
    );
}

/// The same reshape written with GATHER (the batch, by index) and an integer
/// CONCATENATION, as other converters do: folded too, to [1, 16].
#[test]
fn gather_and_an_integer_concatenation_of_shapes_are_folded() {
    let gather = schema::BuiltinOptions::GatherOptions(Box::new(schema::GatherOptions {
        axis: 0,
        batch_dims: 0,
    }));
    let concat =
        schema::BuiltinOptions::ConcatenationOptions(Box::new(schema::ConcatenationOptions {
            axis: 0,
            ..Default::default()
        }));
    let g = parse(&shape_model(
        [(36, vec![1, 2], gather), (2, vec![5, 6], concat)],
        vec![1],
        16,
    ))
    .unwrap();
    assert_eq!(g.nodes.len(), 1);
    let folded: Vec<&str> = g.folded.iter().map(|f| f.op.as_str()).collect();
    assert_eq!(folded, ["SHAPE", "GATHER", "CONCATENATION"]);
    assert_eq!(g.tensor(5).data_ints(), Some(vec![1]));
    assert_eq!(g.tensor(7).data_ints(), Some(vec![1, 16]));
}

/// A tensor of the built models, quantized with scale 0.5 and zero point 0 where
/// `quantized`.
fn built_tensor(
    name: &str,
    shape: Vec<i32>,
    type_: schema::TensorType,
    buffer: u32,
    quantized: bool,
) -> schema::Tensor {
    schema::Tensor {
        shape: Some(shape),
        type_,
        buffer,
        name: Some(name.into()),
        quantization: quantized.then(|| {
            Box::new(schema::QuantizationParameters {
                scale: Some(vec![0.5]),
                zero_point: Some(vec![0]),
                ..Default::default()
            })
        }),
        is_variable: false,
    }
}

/// A model of one operator `code` with `options` reading tensors `inputs` and writing the
/// last tensor, the graph's output; the first tensor is the graph's input. `data` are the
/// buffers after the empty buffer 0.
fn single_op_model(
    code: i32,
    options: Option<schema::BuiltinOptions>,
    tensors: Vec<schema::Tensor>,
    data: Vec<Vec<u8>>,
    inputs: Vec<i32>,
) -> Vec<u8> {
    let output = tensors.len() as i32 - 1;
    let buffers = std::iter::once(schema::Buffer::default())
        .chain(data.into_iter().map(|d| schema::Buffer {
            data: Some(d),
            ..Default::default()
        }))
        .collect();
    let model = schema::Model {
        version: 3,
        operator_codes: Some(vec![schema::OperatorCode {
            deprecated_builtin_code: code.min(127) as i8,
            custom_code: None,
            version: 1,
            builtin_code: code,
        }]),
        subgraphs: Some(vec![schema::SubGraph {
            tensors: Some(tensors),
            inputs: Some(vec![0]),
            outputs: Some(vec![output]),
            operators: Some(vec![schema::Operator {
                opcode_index: 0,
                inputs: Some(inputs),
                outputs: Some(vec![output]),
                builtin_options: options,
                ..Default::default()
            }]),
            name: None,
        }]),
        buffers: Some(buffers),
        ..Default::default()
    };
    with_file_identifier(planus::Builder::new().finish(&model, None))
}

#[test]
fn a_model_whose_output_is_int32_is_refused() {
    let i32_ = schema::TensorType::Int32;
    let reshape = single_op_model(
        22, // RESHAPE
        None,
        vec![
            built_tensor("ids", vec![1, 4], i32_, 0, false),
            built_tensor("output", vec![4], i32_, 0, false),
        ],
        vec![],
        vec![0],
    );
    let e = parse(&reshape).unwrap_err().to_string();
    assert_eq!(
        e,
        "tiny.tflite: graph output tensor #1 'output' is int32; fibha's models end in an int8, \
         uint8 or float32 tensor"
    );
}

/// The options an operator of `code` reads, with the varied fields given.
fn options_for(code: i32, keep_num_dims: bool, axis: i32) -> Option<schema::BuiltinOptions> {
    use schema::BuiltinOptions as O;
    Some(match code {
        3 => O::Conv2DOptions(Box::new(schema::Conv2DOptions {
            stride_w: 1,
            stride_h: 1,
            dilation_w_factor: 1,
            dilation_h_factor: 1,
            ..Default::default()
        })),
        4 => O::DepthwiseConv2DOptions(Box::new(schema::DepthwiseConv2DOptions {
            stride_w: 1,
            stride_h: 1,
            dilation_w_factor: 1,
            dilation_h_factor: 1,
            ..Default::default()
        })),
        1 | 17 => O::Pool2DOptions(Box::new(schema::Pool2DOptions {
            stride_w: 1,
            stride_h: 1,
            filter_width: 1,
            filter_height: 1,
            ..Default::default()
        })),
        9 => O::FullyConnectedOptions(Box::new(schema::FullyConnectedOptions {
            keep_num_dims,
            ..Default::default()
        })),
        2 => O::ConcatenationOptions(Box::new(schema::ConcatenationOptions {
            axis,
            ..Default::default()
        })),
        40 => O::ReducerOptions(Box::new(schema::ReducerOptions {
            keep_dims: keep_num_dims,
        })),
        18 => O::MulOptions(Box::new(schema::MulOptions {
            fused_activation_function: if keep_num_dims {
                schema::ActivationFunctionType::Relu6
            } else {
                schema::ActivationFunctionType::Tanh
            },
        })),
        _ => return None,
    })
}

const TYPES: [schema::TensorType; 4] = [
    schema::TensorType::Int8,
    schema::TensorType::Uint8,
    schema::TensorType::Int32,
    schema::TensorType::Float32,
];

/// Bytes of an element of `t`, one of [`TYPES`].
fn type_size(t: schema::TensorType) -> usize {
    match t {
        schema::TensorType::Int8 | schema::TensorType::Uint8 => 1,
        _ => 4,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]

    /// Any operator fibha runs, on inputs, weights and outputs of any small rank (rank 0
    /// included), of 8-bit, int32 or float types, with a fully-connected layer keeping its
    /// dimensions or not: a graph whose every output fibha can hand back, or an error
    /// naming the file, never a panic.
    #[test]
    fn odd_single_operator_models_are_refused_or_sound(
        code in prop::sample::select(vec![0, 1, 2, 3, 4, 6, 9, 14, 17, 18, 22, 25, 34, 40, 114, 117]),
        input in prop::collection::vec(1i32..4, 0..5),
        weights in prop::collection::vec(1i32..4, 0..5),
        output in prop::collection::vec(1i32..4, 0..5),
        types in prop::collection::vec(prop::sample::select(TYPES.to_vec()), 3),
        weights_constant in any::<bool>(),
        keep_num_dims in any::<bool>(),
        axis in -2i32..4,
    ) {
        let len = weights.iter().product::<i32>() as usize * type_size(types[1]);
        let tensors = vec![
            built_tensor("input", input, types[0], 0, true),
            built_tensor("weights", weights, types[1], u32::from(weights_constant), true),
            built_tensor("output", output, types[2], 0, true),
        ];
        let data = if weights_constant { vec![vec![1; len]] } else { vec![] };
        let bytes = single_op_model(code, options_for(code, keep_num_dims, axis), tensors, data, vec![0, 1]);
        let result = parse(&bytes);
        if let Ok(g) = &result {
            prop_assert!(g.check_outputs().is_ok());
        }
        check_refused_or_sound(result)?;
    }
}

/// The squeeze-and-excitation operators and HARD_SWISH of the operator test models
/// (`scripts/make-op-models.py`): converted int8 and written uint8.
#[test]
fn imports_the_squeeze_and_excitation_and_hard_swish_models() {
    let ops = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models/ops");
    let se = tflite::load(ops.join("op_se_block_int8.tflite")).unwrap();
    let counts = op_counts(&se);
    assert_eq!((counts["MUL"], counts["LOGISTIC"]), (2, 2));
    // The gate [1, 1, 1, 16] is broadcast over the [1, 8, 8, 16] block input.
    let mul = se.nodes.iter().find(|n| n.op.name() == "MUL").unwrap();
    let shapes: Vec<&[usize]> = mul
        .inputs
        .iter()
        .map(|&t| se.tensor(t).shape.as_slice())
        .collect();
    assert_eq!(shapes, [&[1, 8, 8, 16][..], &[1, 1, 1, 16]]);
    let chain = tflite::load(ops.join("op_se_chain_uint8.tflite")).unwrap();
    assert_eq!(chain.input().dtype, DType::UInt8);
    let names: Vec<&str> = chain.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(names, ["HARD_SWISH", "MEAN", "LOGISTIC", "MUL", "MUL"]);
    assert_eq!(
        chain.nodes[3].op,
        Op::Mul {
            activation: Activation::Relu6
        }
    );
    assert_eq!(
        chain.nodes[4].op,
        Op::Mul {
            activation: Activation::Relu
        }
    );
}

/// A model of one 8-bit operator `code` (MUL, LOGISTIC) on tensors of the given shapes, the
/// last one its output, every tensor quantized with scale 0.5.
fn elementwise_model(code: i32, shapes: &[Vec<i32>]) -> Vec<u8> {
    let int8 = schema::TensorType::Int8;
    let names = ["a", "b", "c"];
    let tensors = shapes
        .iter()
        .zip(names)
        .map(|(shape, name)| built_tensor(name, shape.clone(), int8, 0, true))
        .collect();
    let inputs = (0..shapes.len() as i32 - 1).collect();
    let mut bytes = single_op_model(code, None, tensors, vec![], inputs);
    // Its second input is computed as the first is: make it a graph input too.
    if shapes.len() == 3 {
        let model = schema::Model::try_from(
            <schema::ModelRef as planus::ReadAsRoot>::read_as_root(&bytes).unwrap(),
        )
        .unwrap();
        let mut model = model;
        model.subgraphs.as_mut().unwrap()[0].inputs = Some(vec![0, 1]);
        bytes = with_file_identifier(planus::Builder::new().finish(&model, None));
    }
    bytes
}

#[test]
fn a_mul_whose_shapes_do_not_broadcast_is_refused() {
    let ok = elementwise_model(18, &[vec![1, 4, 4, 3], vec![1, 1, 1, 3], vec![1, 4, 4, 3]]);
    let g = parse(&ok).unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Mul {
            activation: Activation::None
        }
    );
    let bad = elementwise_model(18, &[vec![1, 4, 4, 3], vec![1, 1, 1, 2], vec![1, 4, 4, 3]]);
    let e = parse(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        "tiny.tflite: operator #0 (MUL): 'a' [1, 4, 4, 3] and 'b' [1, 1, 1, 2] do not \
         broadcast: dimension 3 is 3 and 2"
    );
    let wrong_output =
        elementwise_model(18, &[vec![1, 1, 1, 3], vec![1, 4, 4, 3], vec![1, 4, 4, 1]]);
    let e = parse(&wrong_output).unwrap_err().to_string();
    assert!(
        e.contains("'c' has shape [1, 4, 4, 1], its inputs imply [1, 4, 4, 3]"),
        "{e}"
    );
}

#[test]
fn a_logistic_whose_output_scale_is_not_one_256th_is_refused() {
    let e = parse(&elementwise_model(
        14,
        &[vec![1, 2, 2, 3], vec![1, 2, 2, 3]],
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "tiny.tflite: operator #0 (LOGISTIC): 'b' has scale 0.5; TFLite's 8-bit LOGISTIC \
         requires 0.00390625"
    );
}
