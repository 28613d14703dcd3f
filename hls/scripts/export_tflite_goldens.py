#!/usr/bin/env python3
"""Export real MobileNetV2 layers as fibha golden directories, with TFLite's reference
kernels as the oracle.

Runs the shipped int8 model on a real image with the TFLite interpreter's reference
kernels (OpResolverType.BUILTIN_REF, the bit-exact ones) keeping every intermediate
tensor, and writes one directory per layer in the format of hls/tb/README.md
("fibha-golden-1"): every CONV_2D (op conv, or pointwise for 1x1), DEPTHWISE_CONV_2D and
ADD before the global pooling (the part the accelerator runs; pooling and classifier run
on the CPU), plus the first three inverted-residual bottlenecks (op firb). The
per-channel multipliers and shifts are derived from the tensors' scales exactly as
TFLite's kernels derive them (double precision, QuantizeMultiplier with round half away
from zero); activation clamps from the fused activation as CalculateActivationRangeQuantized.

Needs the project's virtual environment (ai-edge-litert, numpy, pillow):
  ../.venv/bin/python scripts/export_tflite_goldens.py --out build/goldens
The Rust reference engine will export the same format; this exporter gives an oracle
independent of it.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from PIL import Image

HLS = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = HLS.parent / "assets" / "models" / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
DEFAULT_IMAGE = HLS.parent / "assets" / "images" / "cat.bmp"


class ExportError(Exception):
    """The model has something this exporter cannot express; the message says what."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: (Q31 significand, shift), shift positive = left."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(abs(q) * (1 << 31) + 0.5)) * (1 if q >= 0 else -1)
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def round_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def activation_range(fused: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 outputs."""
    act = schema.ActivationFunctionType
    quantize = lambda f: zero_point + round_away(float(np.float32(f) / np.float32(scale)))  # noqa: E731
    if fused == act.NONE:
        return -128, 127
    if fused == act.RELU:
        return max(-128, quantize(0.0)), 127
    if fused == act.RELU6:
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    raise ExportError(f"fused activation {fused} is not supported")


@dataclass
class Tensor:
    values: np.ndarray
    scales: np.ndarray
    zero_point: int

    @property
    def scale(self) -> float:
        return float(self.scales[0])


@dataclass
class Layer:
    """One operator with what a golden directory needs."""

    index: int
    op: str
    inputs: list[int]
    output: int
    options: object


class Model:
    def __init__(self, model_path: Path, image_path: Path):
        self.buffer = model_path.read_bytes()
        self.interpreter = Interpreter(
            model_path=str(model_path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=True,
        )
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        _, height, width, _ = detail["shape"]
        image = Image.open(image_path).convert("RGB").resize((int(width), int(height)), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)[np.newaxis]
        if detail["dtype"] != np.uint8:
            raise ExportError(f"model input is {detail['dtype']}, the exporter feeds uint8 pixels")
        self.interpreter.set_tensor(detail["index"], pixels)
        self.interpreter.invoke()
        self.details = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self.layers = self._layers()

    def _layers(self) -> list[Layer]:
        fb = schema.Model.GetRootAs(self.buffer, 0)
        graph = fb.Subgraphs(0)
        codes = [max(fb.OperatorCodes(i).BuiltinCode(), fb.OperatorCodes(i).DeprecatedBuiltinCode())
                 for i in range(fb.OperatorCodesLength())]
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        layers = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            name = names[codes[op.OpcodeIndex()]]
            options = None
            table = op.BuiltinOptions()
            if name == "CONV_2D":
                options = schema.Conv2DOptions()
            elif name == "DEPTHWISE_CONV_2D":
                options = schema.DepthwiseConv2DOptions()
            elif name == "ADD":
                options = schema.AddOptions()
            if options is not None and table is not None:
                options.Init(table.Bytes, table.Pos)
            layers.append(Layer(i, name, list(op.InputsAsNumpy()), int(op.OutputsAsNumpy()[0]), options))
        return layers

    def tensor(self, index: int) -> Tensor:
        detail = self.details[index]
        quant = detail["quantization_parameters"]
        return Tensor(self.interpreter.get_tensor(index), np.asarray(quant["scales"], dtype=np.float32),
                      int(quant["zero_points"][0]) if len(quant["zero_points"]) else 0)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def write_dir(path: Path, meta: dict[str, object], files: dict[str, np.ndarray]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    lines = ["format fibha-golden-1"] + [f"{key} {value}" for key, value in meta.items()]
    (path / "meta.txt").write_text("\n".join(lines) + "\n", encoding="ascii")
    for name, array in files.items():
        dtype = "<i4" if array.dtype.kind in "iu" and array.dtype.itemsize == 4 else "i1"
        (path / name).write_bytes(np.ascontiguousarray(array).astype(dtype).tobytes())


def conv_like(model: Model, layer: Layer) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """Meta keys and files of a CONV_2D or DEPTHWISE_CONV_2D."""
    opts = layer.options
    if opts.DilationHFactor() != 1 or opts.DilationWFactor() != 1:
        raise ExportError(f"operator {layer.index}: dilation is not supported")
    x, w, b = (model.tensor(i) for i in layer.inputs[:3])
    y = model.tensor(layer.output)
    _, in_h, in_w, in_c = x.values.shape
    _, out_h, out_w, out_c = y.values.shape
    depthwise = layer.op == "DEPTHWISE_CONV_2D"
    if depthwise and opts.DepthMultiplier() != 1:
        raise ExportError(f"operator {layer.index}: depth multiplier {opts.DepthMultiplier()} is not supported")
    kernel = int(w.values.shape[1])
    stride_h, stride_w = opts.StrideH(), opts.StrideW()
    if stride_h != stride_w or w.values.shape[1] != w.values.shape[2]:
        raise ExportError(f"operator {layer.index}: only square kernels and equal strides are supported")
    if opts.Padding() == schema.Padding.SAME:
        pad_top = same_padding(in_h, kernel, stride_h)[1]
        pad_left = same_padding(in_w, kernel, stride_w)[1]
    else:
        pad_top = pad_left = 0
    scales = w.scales if len(w.scales) == out_c else np.full(out_c, w.scales[0], dtype=np.float32)
    pairs = [quantize_multiplier(float(x.scale) * float(s) / float(y.scale)) for s in scales]
    act_min, act_max = activation_range(opts.FusedActivationFunction(), y.scale, y.zero_point)
    op = "depthwise" if depthwise else ("pointwise" if kernel == 1 and stride_h == 1 else "conv")
    meta = dict(op=op, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, kernel=kernel,
                stride=stride_h, pad_top=pad_top, pad_left=pad_left, in_zp=x.zero_point, out_zp=y.zero_point,
                act_min=act_min, act_max=act_max)
    files = {
        "input.bin": x.values,
        # TFLite's layouts as they are: conv OHWI, depthwise [1][K][K][C]; 1x1 OHWI is [O][I].
        "weights.bin": w.values,
        "bias.bin": b.values.astype(np.int32),
        "multiplier.bin": np.array([m for m, _ in pairs], dtype=np.int32),
        "shift.bin": np.array([s for _, s in pairs], dtype=np.int32),
        "expected.bin": y.values,
    }
    return meta, files


def add_params(a: Tensor, b: Tensor, y: Tensor, fused: int) -> dict[str, object]:
    """ADD parameters as TFLite's Prepare computes them (left shift 20)."""
    twice_max = 2.0 * max(float(a.scale), float(b.scale))
    a_mult, a_shift = quantize_multiplier(float(a.scale) / twice_max)
    b_mult, b_shift = quantize_multiplier(float(b.scale) / twice_max)
    out_mult, out_shift = quantize_multiplier(twice_max / ((1 << 20) * float(y.scale)))
    act_min, act_max = activation_range(fused, y.scale, y.zero_point)
    return dict(a_zp=a.zero_point, a_mult=a_mult, a_shift=a_shift, b_zp=b.zero_point, b_mult=b_mult,
                b_shift=b_shift, left_shift=20, out_mult=out_mult, out_shift=out_shift, out_zp=y.zero_point,
                act_min=act_min, act_max=act_max)


def add_layer(model: Model, layer: Layer) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    a, b = (model.tensor(i) for i in layer.inputs[:2])
    y = model.tensor(layer.output)
    if a.values.shape != b.values.shape:
        raise ExportError(f"operator {layer.index}: broadcasting ADD is not supported")
    _, h, w, c = y.values.shape
    meta = dict(op="add", h=h, w=w, c=c, **add_params(a, b, y, layer.options.FusedActivationFunction()))
    return meta, {"input.bin": a.values, "input2.bin": b.values, "expected.bin": y.values}


def bottlenecks(model: Model) -> list[tuple[str, list[Layer]]]:
    """The inverted-residual blocks: [expand PW] -> DW -> project PW [-> ADD of the block input]."""
    by_output = {layer.output: layer for layer in model.layers}
    blocks = []
    for layer in model.layers:
        if layer.op != "DEPTHWISE_CONV_2D":
            continue
        producer = by_output.get(layer.inputs[0])
        expand = producer if producer is not None and producer.op == "CONV_2D" and \
            model.tensor(producer.inputs[1]).values.shape[1] == 1 else None
        consumers = [l for l in model.layers if layer.output in l.inputs]
        if len(consumers) != 1 or consumers[0].op != "CONV_2D":
            continue
        project = consumers[0]
        block_input = expand.inputs[0] if expand is not None else layer.inputs[0]
        if expand is None and producer is not None and producer.op == "CONV_2D" and \
                model.tensor(producer.inputs[1]).values.shape[1] == 1:
            continue
        after = [l for l in model.layers if project.output in l.inputs]
        add = after[0] if len(after) == 1 and after[0].op == "ADD" and block_input in after[0].inputs else None
        blocks.append((f"block{len(blocks)}", [l for l in (expand, layer, project, add) if l is not None]))
    return blocks


def firb_golden(model: Model, layers: list[Layer]) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    expand = layers[0] if layers[0].op == "CONV_2D" else None
    dw = layers[1] if expand is not None else layers[0]
    project = layers[2] if expand is not None else layers[1]
    add = layers[-1] if layers[-1].op == "ADD" else None
    dw_meta, dw_files = conv_like(model, dw)
    proj_meta, proj_files = conv_like(model, project)
    block_in = model.tensor(expand.inputs[0] if expand is not None else dw.inputs[0])
    _, in_h, in_w, in_c = block_in.values.shape
    meta: dict[str, object] = dict(op="firb", in_h=in_h, in_w=in_w, in_c=in_c,
                                   expand=dw_meta["in_c"] // in_c, out_c=proj_meta["out_c"],
                                   kernel=dw_meta["kernel"], stride=dw_meta["stride"], skip=int(add is not None))
    files: dict[str, np.ndarray] = {"input.bin": block_in.values}
    parts = [("dw.", dw_meta, dw_files), ("project.", proj_meta, proj_files)]
    if expand is not None:
        parts.insert(0, ("expand.",) + conv_like(model, expand))
    for prefix, part_meta, part_files in parts:
        for key in ("in_zp", "out_zp", "act_min", "act_max"):
            meta[prefix + key] = part_meta[key]
        for name in ("weights.bin", "bias.bin", "multiplier.bin", "shift.bin"):
            files[prefix + name] = part_files[name]
    if add is not None:
        # a = the project output, b = the block input, whatever order the ADD lists them in.
        y = model.tensor(add.output)
        proj_out = model.tensor(project.output)
        for key, value in add_params(proj_out, block_in, y, add.options.FusedActivationFunction()).items():
            meta["add." + key] = value
        files["expected.bin"] = y.values
    else:
        files["expected.bin"] = model.tensor(project.output).values
    return meta, files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="int8 .tflite model")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="input photo")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the golden directories into")
    parser.add_argument("--blocks", type=int, default=3, help="bottlenecks to export as op firb (from the first)")
    args = parser.parse_args(argv)
    try:
        model = Model(args.model, args.image)
        count = 0
        for layer in model.layers:
            if layer.op in ("MEAN", "AVERAGE_POOL_2D"):
                break  # the pooling and the classifier run on the CPU, not on the accelerator
            if layer.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                meta, files = conv_like(model, layer)
            elif layer.op == "ADD":
                meta, files = add_layer(model, layer)
            else:
                continue
            write_dir(args.out / f"op{layer.index:03d}_{meta['op']}", meta, files)
            count += 1
        for name, layers in bottlenecks(model)[: args.blocks]:
            meta, files = firb_golden(model, layers)
            write_dir(args.out / f"{name}_firb", meta, files)
            count += 1
    except (OSError, ExportError, ValueError) as err:
        print(f"export_tflite_goldens: {err}", file=sys.stderr)
        return 1
    print(f"export_tflite_goldens: {count} golden directories in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
