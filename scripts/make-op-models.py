#!/usr/bin/env python3
"""Makes the single-purpose operator models of tests/models/ops/ and their extreme inputs.

Each model exercises the squeeze-and-excitation operators (MUL with broadcasting, LOGISTIC)
or HARD_SWISH, so that the CPU engine can be checked against TFLite's reference kernels on
them (tests/models/README.md says how the goldens are made from them).

* int8 models come from TensorFlow's own converter, full-integer, calibrated on seeded random
  data, as a user makes them: a squeeze-and-excitation block, a hard-swish layer, a plain
  sigmoid and an elementwise multiply of two tensors of one shape.
* TensorFlow 2.21's converter writes no uint8 per-tensor operators (its uint8 option only
  changes the model's edges), so the uint8 models, and an int8 twin with the same odd
  parameters, are written directly with TFLite's schema object API, quantized as TFLite
  quantizes uint8 (per tensor, zero point in 0..255; LOGISTIC's output at scale 1/256 and
  zero point 0). Their scales are chosen to reach the kernels' corner cases: a MUL multiplier
  above one (a left shift), a RELU6 clamp that bites, a HARD_SWISH input scale small enough
  that its "reluish" multiplier shifts right.

Next to each model, under tests/goldens/<stem>/inputs/, the script writes inputs that hit
saturation: `ramp` (every code of the input type in order, repeated), `min` and `max` (the
type's extremes everywhere) and `minmax` (the two alternating). The oracle adds random ones.

Run by hand, not by the test suite (TensorFlow is large), in a venv of its own:

    /work/tfvenv/bin/python scripts/make-op-models.py     # tensorflow-cpu 2.21, keras 3.15.1

The same versions and seed give the same bytes.
"""

import argparse
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.lite.python import schema_py_generated as schema  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 2024


def se_block():
    """Conv -> squeeze-and-excitation (global average, 1x1 conv ReLU, 1x1 conv sigmoid)
    -> the gate multiplied with the block input."""
    keras = tf.keras
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = keras.layers.Conv2D(4, 1, activation="relu")(s)
    s = keras.layers.Conv2D(16, 1)(s)
    s = keras.layers.Activation("sigmoid")(s)
    y = keras.layers.Multiply()([x, s])
    # The gate first, as some blocks write it: the broadcast operand is MUL's input 0.
    s2 = keras.layers.Activation("sigmoid")(keras.layers.Conv2D(16, 1)(s))
    y = keras.layers.Multiply()([s2, y])
    return keras.Model(inp, y), (-1.0, 1.0)


def hard_swish():
    """A convolution followed by Keras's hard swish (x * relu6(x + 3) / 6)."""
    keras = tf.keras
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, padding="same")(inp)
    x = keras.layers.Activation("hard_swish")(x)
    return keras.Model(inp, x), (-4.0, 4.0)


def sigmoid():
    """A sigmoid straight on the input, over a range where it saturates."""
    keras = tf.keras
    inp = keras.Input((4, 4, 16))
    return keras.Model(inp, keras.layers.Activation("sigmoid")(inp)), (-8.0, 8.0)


def multiply():
    """The input times a 1x1 convolution of itself (two tensors of one shape), ReLU6."""
    keras = tf.keras
    inp = keras.Input((6, 6, 8))
    a = keras.layers.Conv2D(8, 1)(inp)
    y = keras.layers.Multiply()([inp, a])
    return keras.Model(inp, keras.layers.ReLU(max_value=6.0)(y)), (-3.0, 3.0)


CONVERTED = {
    "op_se_block_int8": se_block,
    "op_hard_swish_int8": hard_swish,
    "op_sigmoid_int8": sigmoid,
    "op_mul_int8": multiply,
}


def convert(build, rng):
    """Full-integer int8 conversion with the documented settings."""
    model, (lo, hi) = build()
    shape = model.input_shape[1:]

    def representative():
        for _ in range(32):
            yield [rng.uniform(lo, hi, (1, *shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


# ------------------------------------------------------------------------------------------
# Models written with the schema object API
# ------------------------------------------------------------------------------------------

OPS = schema.BuiltinOperator
ACT = schema.ActivationFunctionType


def chain(dtype):
    """x -> HARD_SWISH -> h; h -> MEAN(1, 2) -> LOGISTIC -> g; MUL(g, h) RELU6 -> y
    (broadcast, gate first); MUL(y, x) RELU -> z (one shape, multiplier above one).

    `dtype` is "uint8" or "int8"; the int8 twin has its zero points moved by -128, finer
    scales, and a HARD_SWISH input scale small enough for a right-shifting reluish
    multiplier."""
    signed = dtype == "int8"
    ttype = schema.TensorType.INT8 if signed else schema.TensorType.UINT8
    shift = -128 if signed else 0
    version = 2 if signed else 1
    h, w, c = 6, 6, 8
    # name -> (shape, scale, zero point as for uint8)
    x_scale = 0.004 if signed else 0.05
    tensors = [
        ("x", [1, h, w, c], x_scale, 120),
        ("hard_swish", [1, h, w, c], 0.002 if signed else 0.04, 20),
        ("axes", [2], None, None),
        ("mean", [1, 1, 1, c], 0.001 if signed else 0.03, 60),
        ("gate", [1, 1, 1, c], 1.0 / 256.0, 0),
        ("gated", [1, h, w, c], 0.002 if signed else 0.03, 5),
        ("product", [1, h, w, c], 0.000007 if signed else 0.0012, 40),
    ]
    model = schema.ModelT()
    model.version = 3
    model.description = f"fibha operator test: squeeze-and-excitation chain, {dtype}"
    model.buffers = [schema.BufferT(), schema.BufferT()]
    model.buffers[1].data = np.array([1, 2], dtype="<i4").view(np.uint8)
    sub = schema.SubGraphT()
    sub.tensors = []
    for name, shape, scale, zp in tensors:
        t = schema.TensorT()
        t.name = name
        t.shape = np.array(shape, dtype=np.int32)
        if scale is None:
            t.type = schema.TensorType.INT32
            t.buffer = 1
        else:
            t.type = ttype
            t.buffer = 0
            q = schema.QuantizationParametersT()
            q.scale = np.array([scale], dtype=np.float32)
            q.zeroPoint = np.array([zp + shift if name != "gate" else shift], dtype=np.int64)
            t.quantization = q
        sub.tensors.append(t)
    codes = [OPS.HARD_SWISH, OPS.MEAN, OPS.LOGISTIC, OPS.MUL]
    model.operatorCodes = []
    for code in codes:
        oc = schema.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = code
        oc.version = 1 if code == OPS.HARD_SWISH else version
        model.operatorCodes.append(oc)

    def op(code, inputs, outputs, options_type=None, options=None):
        o = schema.OperatorT()
        o.opcodeIndex = codes.index(code)
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array(outputs, dtype=np.int32)
        if options is not None:
            o.builtinOptionsType = options_type
            o.builtinOptions = options
        return o

    reducer = schema.ReducerOptionsT()
    reducer.keepDims = True
    relu6 = schema.MulOptionsT()
    relu6.fusedActivationFunction = ACT.RELU6
    relu = schema.MulOptionsT()
    relu.fusedActivationFunction = ACT.RELU
    sub.operators = [
        op(OPS.HARD_SWISH, [0], [1]),
        op(OPS.MEAN, [1, 2], [3], schema.BuiltinOptions.ReducerOptions, reducer),
        op(OPS.LOGISTIC, [3], [4]),
        op(OPS.MUL, [4, 1], [5], schema.BuiltinOptions.MulOptions, relu6),
        op(OPS.MUL, [5, 0], [6], schema.BuiltinOptions.MulOptions, relu),
    ]
    sub.inputs = np.array([0], dtype=np.int32)
    sub.outputs = np.array([6], dtype=np.int32)
    sub.name = "main"
    model.subgraphs = [sub]
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


WRITTEN = {
    "op_se_chain_uint8": lambda: chain("uint8"),
    "op_se_chain_int8": lambda: chain("int8"),
}


# ------------------------------------------------------------------------------------------
# Inputs that saturate
# ------------------------------------------------------------------------------------------


def extreme_inputs(model_bytes, out_dir):
    """Writes ramp, min, max and minmax inputs of the model's input type and shape."""
    interpreter = tf.lite.Interpreter(model_content=model_bytes)
    detail = interpreter.get_input_details()[0]
    dtype, shape = np.dtype(detail["dtype"]), tuple(detail["shape"])
    info = np.iinfo(dtype)
    size = int(np.prod(shape))
    codes = np.arange(info.min, info.max + 1, dtype=np.int64)
    ramp = np.resize(codes, size)
    alternating = np.where(np.arange(size) % 2 == 0, info.min, info.max)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, values in [
        ("ramp", ramp),
        ("min", np.full(size, info.min)),
        ("max", np.full(size, info.max)),
        ("minmax", alternating),
    ]:
        np.save(out_dir / f"{name}.npy", values.astype(dtype).reshape(shape))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "models" / "ops")
    parser.add_argument("--goldens", type=Path, default=ROOT / "tests" / "goldens")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"tensorflow": tf.__version__, "seed": SEED, "models": {}}
    for stem, build in {**CONVERTED, **WRITTEN}.items():
        tf.keras.utils.set_random_seed(SEED)
        rng = np.random.default_rng(SEED)
        data = convert(build, rng) if stem in CONVERTED else build()
        (args.out / f"{stem}.tflite").write_bytes(data)
        extreme_inputs(data, args.goldens / stem / "inputs")
        interpreter = tf.lite.Interpreter(model_content=data)
        ops = [d["op_name"] for d in interpreter._get_ops_details()]
        record["models"][stem] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "operators": ops,
        }
        print(f"{stem}: {len(data)} bytes, {' '.join(ops)}")
    (args.out / "op_models.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
