#!/usr/bin/env python3
"""TFLite reference-kernel oracle for fibha's int8 engine.

The Rust engine is checked bit for bit, layer by layer, against the TFLite
interpreter from PyPI ``ai-edge-litert`` running its *reference* kernels
(``OpResolverType.BUILTIN_REF``). The default resolver (XNNPACK delegate plus
optimized builtins) rounds differently in places and is therefore only timed
here, never used as ground truth.

Subcommands:

``inputs``   write model input tensors (seeded random ones and preprocessed photos)
             as ``.npy`` files of the model's input dtype and shape;
``dump``     run the reference interpreter on each input and write every
             non-constant tensor touched by an operator, plus a manifest;
``summary``  condense dumps into a small JSON golden of hashes, shapes and dtypes;
``compare``  compare a directory of tensors written by the Rust engine with a dump;
``bench``    time the default (XNNPACK, one thread) and reference kernels and
             report how far their outputs are apart.

Invariants kept by every subcommand: tensors are identified by their index in
the model's primary subgraph and stored as ``t{index}.npy`` in C order with the
interpreter's exact dtype and shape; a tensor's hash is the SHA-256 of those raw
C-order bytes, so the Rust side can hash its own buffers without parsing ``.npy``.

Pixel mapping used by ``inputs`` (stated here because the goldens depend on it):
photos are decoded with Pillow, converted to RGB and resized to the model's
input height x width with ``Image.Resampling.BILINEAR`` on the whole image (no
crop). Each pixel value p in 0..255 then becomes a model input code in one of
two ways:

* ``raw`` (default): the code is the pixel itself (``q = p`` for uint8 inputs,
  ``q = p - 128`` for int8 inputs). This is how MobileNet-style quantized models
  are fed in practice, and it is only accepted when the input's (scale, zero
  point) make the code dequantize onto the model's expected float range (by
  default [-1, 1]) within one quantization step at both ends. For the TF1 quant
  model (scale 1/128, zero point 128) the code means f = (p - 128) / 128; for the
  TF2 PTQ model (scale 1/127.5, zero point 127) it means f = (p - 127) / 127.5.
* ``affine``: the pixel becomes the float f = lo + p * (hi - lo) / 255 with
  ``--float-range lo hi``, then ``q = clamp(round_half_away(f / scale) + zp)``,
  computed in float32 as TFLite's QUANTIZE kernel does. Float-input models take
  f directly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

PACKAGE = "ai-edge-litert"
MANIFEST = "manifest.json"
DEFAULT_FLOAT_RANGE = (-1.0, 1.0)
RAW_PIXEL_OFFSET = {np.dtype(np.uint8): 0, np.dtype(np.int8): -128}


class OracleError(Exception):
    """A failure with a message that names the file or tensor involved."""


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def tensor_sha256(array: np.ndarray) -> str:
    """Hash a tensor's raw C-order bytes (the invariant the Rust side relies on)."""
    return sha256_bytes(np.ascontiguousarray(array).tobytes())


def file_sha256(path: Path) -> str:
    """Hash a file's contents."""
    return sha256_bytes(path.read_bytes())


def tensor_file(index: int) -> str:
    """Name of the ``.npy`` file that holds tensor ``index``."""
    return f"t{index}.npy"


def interpreter_label(resolver: str) -> str:
    """Describe the interpreter build and resolver used, for manifests and reports."""
    return f"{PACKAGE} {package_version(PACKAGE)} {resolver}"


def is_leaf(value: Any) -> bool:
    """Scalars, lists of scalars, and dicts of those fit on one JSON line."""
    if isinstance(value, dict):
        return all(is_leaf(v) and not isinstance(v, dict) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, (dict, list)) for v in value)
    return True


def format_json(value: Any, indent: int = 0) -> str:
    """Indented JSON that keeps each leaf (one tensor, one operator) on one line.

    Goldens are committed, so one line per tensor keeps their diffs readable.
    """
    if is_leaf(value):
        return json.dumps(value)
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {format_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + format_json(v, indent + 1) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as stable JSON (see ``format_json``) with a trailing newline."""
    path.write_text(format_json(value) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file, naming it in the error when it is missing or malformed."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise OracleError(f"cannot read JSON from {path}: {err}") from err


def load_npy(path: Path) -> np.ndarray:
    """Load a ``.npy`` file without allowing pickled objects."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise OracleError(f"cannot load tensor file {path}: {err}") from err


def json_safe(value: Any) -> Any:
    """Convert flatbuffer option values (numpy scalars/arrays, lists) to JSON types."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def enum_names(enum_class: type) -> dict[int, str]:
    """Map the integer values of a flatbuffer-generated enum class to their names."""
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


BUILTIN_NAMES = enum_names(schema.BuiltinOperator)
OPTION_ENUMS = {
    "fusedActivationFunction": enum_names(schema.ActivationFunctionType),
    "padding": enum_names(schema.Padding),
}


# --------------------------------------------------------------------------
# Model description
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorQuant:
    """Quantization of one tensor: per-tensor when ``scales`` has one entry."""

    scales: list[float]
    zero_points: list[int]
    quantized_dimension: int

    def to_json(self) -> dict[str, Any]:
        """JSON form used in manifests."""
        return {
            "scales": self.scales,
            "zero_points": self.zero_points,
            "quantized_dimension": self.quantized_dimension,
        }


@dataclass(frozen=True)
class OperatorInfo:
    """One operator of the primary subgraph, in execution order."""

    index: int
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON form used in manifests and summaries."""
        return {
            "index": self.index,
            "op": self.op,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "options": self.options,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What the oracle needs to know about a model file."""

    path: Path
    sha256: str
    operators: list[OperatorInfo]
    constant_tensors: frozenset[int]
    graph_inputs: list[int]
    graph_outputs: list[int]

    def activation_tensors(self) -> list[int]:
        """Indices of every non-constant tensor that an operator reads or writes."""
        used = {t for op in self.operators for t in (*op.inputs, *op.outputs) if t >= 0}
        return sorted(used - self.constant_tensors)


def operator_options(op: Any) -> dict[str, Any]:
    """Builtin options of a flatbuffer operator as a JSON-safe dict with enum names."""
    if op.builtinOptions is None:
        return {}
    options: dict[str, Any] = {}
    for key, value in vars(op.builtinOptions).items():
        names = OPTION_ENUMS.get(key)
        options[key] = names.get(value, value) if names else json_safe(value)
    return options


def is_constant(model: Any, tensor: Any) -> bool:
    """A tensor is constant when its buffer carries data (inline or by offset)."""
    if tensor.buffer <= 0 or tensor.buffer >= len(model.buffers):
        return False
    buffer = model.buffers[tensor.buffer]
    has_inline = buffer.data is not None and len(buffer.data) > 0
    return has_inline or (buffer.offset or 0) > 1


def load_model_info(path: Path) -> ModelInfo:
    """Parse the model flatbuffer with the schema bindings that ship in ai-edge-litert."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise OracleError(f"cannot read model {path}: {err}") from err
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    if not model.subgraphs:
        raise OracleError(f"model {path} has no subgraph")
    graph = model.subgraphs[0]
    operators = []
    for i, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        # Old converters only fill the deprecated byte; new ones use the int32 field.
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if builtin == schema.BuiltinOperator.CUSTOM:
            name = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
        operators.append(
            OperatorInfo(
                index=i,
                op=name,
                inputs=[int(t) for t in json_safe(op.inputs)],
                outputs=[int(t) for t in json_safe(op.outputs)],
                options=operator_options(op),
            )
        )
    constants = frozenset(i for i, t in enumerate(graph.tensors) if is_constant(model, t))
    return ModelInfo(
        path=path,
        sha256=sha256_bytes(data),
        operators=operators,
        constant_tensors=constants,
        graph_inputs=[int(t) for t in json_safe(graph.inputs)],
        graph_outputs=[int(t) for t in json_safe(graph.outputs)],
    )


def make_interpreter(path: Path, reference: bool, preserve: bool = False, threads: int | None = None) -> Interpreter:
    """Create an allocated interpreter with reference or default kernels."""
    kwargs: dict[str, Any] = {"model_path": str(path)}
    if reference:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    if preserve:
        # Without this the arena reuses intermediate buffers and only outputs survive.
        kwargs["experimental_preserve_all_tensors"] = True
    if threads is not None:
        kwargs["num_threads"] = threads
    try:
        interpreter = Interpreter(**kwargs)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise OracleError(f"cannot load model {path} into the interpreter: {err}") from err
    return interpreter


def single_input(interpreter: Interpreter, path: Path) -> dict[str, Any]:
    """Details of the model's only input; multi-input models are out of scope."""
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise OracleError(f"model {path} has {len(inputs)} inputs; the oracle handles exactly one")
    return inputs[0]


def quant_of(details: dict[str, Any]) -> TensorQuant:
    """Quantization parameters from a tensor-details dict."""
    params = details["quantization_parameters"]
    return TensorQuant(
        scales=[float(s) for s in params["scales"]],
        zero_points=[int(z) for z in params["zero_points"]],
        quantized_dimension=int(params["quantized_dimension"]),
    )


def describe_io(details: dict[str, Any]) -> dict[str, Any]:
    """Dtype, shape, scale and zero point of a graph input or output."""
    scale, zero_point = details["quantization"]
    return {
        "index": int(details["index"]),
        "name": details["name"],
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(d) for d in details["shape"]],
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------


def round_half_away(values: np.ndarray) -> np.ndarray:
    """Round to nearest with ties away from zero, as C's ``std::round`` in TFLite."""
    return np.sign(values) * np.floor(np.abs(values) + np.float32(0.5))


def check_raw_mapping(dtype: np.dtype, scale: float, zero_point: int, float_range: tuple[float, float]) -> tuple[float, float]:
    """Check that raw pixel codes dequantize onto ``float_range``; return the implied range."""
    if dtype not in RAW_PIXEL_OFFSET:
        raise OracleError(f"raw pixel mapping needs a uint8 or int8 input, the model's is {dtype}; use --pixel-mapping affine")
    offset = RAW_PIXEL_OFFSET[dtype]
    lo = (0 + offset - zero_point) * scale
    hi = (255 + offset - zero_point) * scale
    # One step of slack: (p-128)/128 and (p-127)/127.5 are both "the [-1, 1] preprocessing".
    slack = scale * (1 + 1e-6)
    if abs(lo - float_range[0]) > slack or abs(hi - float_range[1]) > slack:
        raise OracleError(
            f"raw pixel codes dequantize to [{lo:.6f}, {hi:.6f}] with scale {scale} and zero point "
            f"{zero_point}, not to the expected float range {list(float_range)}; "
            "use --pixel-mapping affine or a different --float-range"
        )
    return lo, hi


def pixels_to_input(
    pixels: np.ndarray, dtype: np.dtype, scale: float, zero_point: int, mapping: str, float_range: tuple[float, float]
) -> np.ndarray:
    """Turn uint8 RGB pixels into model input codes with the documented mapping."""
    if mapping == "raw":
        return (pixels.astype(np.int16) + RAW_PIXEL_OFFSET[dtype]).astype(dtype)
    lo, hi = (np.float32(v) for v in float_range)
    floats = lo + pixels.astype(np.float32) * ((hi - lo) / np.float32(255))
    if np.issubdtype(dtype, np.floating):
        return floats.astype(dtype)
    if scale == 0:
        raise OracleError("input has no quantization (scale 0) but an integer dtype; cannot map floats to codes")
    info = np.iinfo(dtype)
    codes = round_half_away(floats / np.float32(scale)) + zero_point
    return np.clip(codes, info.min, info.max).astype(dtype)


def load_image(path: Path, height: int, width: int) -> np.ndarray:
    """Decode, convert to RGB and bilinearly resize a photo; returns HxWx3 uint8."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    except OSError as err:
        raise OracleError(f"cannot decode image {path}: {err}") from err
    return np.asarray(rgb, dtype=np.uint8)


def random_input(rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, ...], float_range: tuple[float, float]) -> np.ndarray:
    """A uniform random tensor over the dtype's full range (or the float range for floats)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.uniform(float_range[0], float_range[1], size=shape).astype(dtype)


def cmd_inputs(args: argparse.Namespace) -> int:
    """Write seeded random inputs and preprocessed photos for a model."""
    model = Path(args.model)
    interpreter = make_interpreter(model, reference=True)
    details = single_input(interpreter, model)
    io = describe_io(details)
    dtype = np.dtype(details["dtype"])
    shape = tuple(io["shape"])
    float_range = (float(args.float_range[0]), float(args.float_range[1]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    report: dict[str, Any] = {"model": model.name, "input": io, "pixel_mapping": args.pixel_mapping, "float_range": list(float_range)}
    if args.images:
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            raise OracleError(f"model {model} input shape {list(shape)} is not [1, H, W, 3]; cannot feed photos")
        if args.pixel_mapping == "raw":
            lo, hi = check_raw_mapping(dtype, io["scale"], io["zero_point"], float_range)
            report["raw_code_float_range"] = [lo, hi]

    written: list[str] = []
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        path = out / f"random_{i}.npy"
        np.save(path, random_input(rng, dtype, shape, float_range))
        written.append(path.name)
    for image in args.images:
        image_path = Path(image)
        pixels = load_image(image_path, shape[1], shape[2])
        tensor = pixels_to_input(pixels, dtype, io["scale"], io["zero_point"], args.pixel_mapping, float_range)
        path = out / f"{image_path.stem}.npy"
        np.save(path, tensor.reshape(shape))
        written.append(path.name)
    report["seed"] = args.seed
    report["written"] = written
    print(format_json(report))
    return 0


# --------------------------------------------------------------------------
# dump
# --------------------------------------------------------------------------


def check_ops_match(info: ModelInfo, interpreter: Interpreter) -> None:
    """The interpreter's node list must be the flatbuffer's operator list (no delegate)."""
    nodes = interpreter._get_ops_details()  # noqa: SLF001 -- only source of node I/O in this API
    if len(nodes) != len(info.operators):
        raise OracleError(f"interpreter reports {len(nodes)} nodes, model {info.path.name} has {len(info.operators)} operators")
    for node, op in zip(nodes, info.operators):
        same = (
            node["op_name"] == op.op
            and [int(t) for t in node["inputs"]] == op.inputs
            and [int(t) for t in node["outputs"]] == op.outputs
        )
        if not same:
            raise OracleError(f"interpreter node {node['index']} ({node['op_name']}) differs from model operator {op.index} ({op.op})")


def dump_one(interpreter: Interpreter, info: ModelInfo, details: dict[int, dict[str, Any]], tensor: np.ndarray, out: Path) -> dict[str, Any]:
    """Run one input through the reference interpreter and write its tensors."""
    input_index = info.graph_inputs[0]
    interpreter.set_tensor(input_index, tensor)
    interpreter.invoke()
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Any] = {}
    for index in info.activation_tensors():
        value = interpreter.get_tensor(index)
        name = tensor_file(index)
        np.save(out / name, value)
        entry = {
            "name": details[index]["name"],
            "dtype": value.dtype.name,
            "shape": [int(d) for d in value.shape],
            "file": name,
            "sha256": tensor_sha256(value),
        }
        quant = quant_of(details[index])
        if quant.scales:
            entry["quantization"] = quant.to_json()
        tensors[str(index)] = entry
    return tensors


def check_complete(info: ModelInfo, tensors: dict[str, Any], out: Path) -> None:
    """Every operator output must have been dumped, and its file must exist."""
    for op in info.operators:
        for t in op.outputs:
            if str(t) not in tensors or not (out / tensor_file(t)).is_file():
                raise OracleError(f"dump {out} lacks output tensor {t} of operator {op.index} ({op.op})")
            if t in info.constant_tensors:
                raise OracleError(f"operator {op.index} ({op.op}) writes constant tensor {t}")


def cmd_dump(args: argparse.Namespace) -> int:
    """Dump every activation tensor of the reference interpreter for each input file."""
    model = Path(args.model)
    info = load_model_info(model)
    interpreter = make_interpreter(model, reference=True, preserve=True)
    check_ops_match(info, interpreter)
    input_details = single_input(interpreter, model)
    details = {int(d["index"]): d for d in interpreter.get_tensor_details()}
    inputs = sorted(Path(args.inputs).glob("*.npy"))
    if not inputs:
        raise OracleError(f"no .npy inputs in {args.inputs}")
    label = interpreter_label("BUILTIN_REF")
    operators = [op.to_json() for op in info.operators]
    for path in inputs:
        tensor = load_npy(path)
        expected_shape = [int(d) for d in input_details["shape"]]
        if tensor.dtype != input_details["dtype"] or list(tensor.shape) != expected_shape:
            raise OracleError(
                f"input {path} is {tensor.dtype}{list(tensor.shape)}, model {model.name} wants "
                f"{np.dtype(input_details['dtype']).name}{expected_shape}"
            )
        out = Path(args.out) / path.stem
        tensors = dump_one(interpreter, info, details, tensor, out)
        check_complete(info, tensors, out)
        manifest = {
            "model": model.name,
            "model_sha256": info.sha256,
            "interpreter": label,
            "input": path.stem,
            "operators": operators,
            "tensors": tensors,
        }
        write_json(out / MANIFEST, manifest)
        size = sum((out / e["file"]).stat().st_size for e in tensors.values())
        print(f"{path.stem}: {len(operators)} operators, {len(tensors)} tensors, {size} bytes -> {out}")
    return 0


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------


def manifests_in(dump: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Per-input manifests under a dump directory, sorted by input name."""
    found = [(m.parent, read_json(m)) for m in sorted(dump.glob(f"*/{MANIFEST}"))]
    if not found:
        raise OracleError(f"no */{MANIFEST} under {dump}; run the dump subcommand first")
    return found


def verify_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Re-hash the dumped files so a summary never certifies stale or edited data."""
    for index, entry in manifest["tensors"].items():
        value = load_npy(directory / entry["file"])
        if tensor_sha256(value) != entry["sha256"]:
            raise OracleError(f"{directory / entry['file']} (tensor {index}) no longer matches its manifest hash")


def cmd_summary(args: argparse.Namespace) -> int:
    """Condense a dump into a committed golden: hashes, shapes and dtypes only."""
    found = manifests_in(Path(args.dump))
    first = found[0][1]
    inputs: dict[str, Any] = {}
    for directory, manifest in found:
        for key in ("model", "model_sha256", "interpreter", "operators"):
            if manifest[key] != first[key]:
                raise OracleError(f"{directory / MANIFEST} has a different {key} from {found[0][0] / MANIFEST}")
        verify_files(directory, manifest)
        inputs[manifest["input"]] = {
            index: {"dtype": e["dtype"], "shape": e["shape"], "sha256": e["sha256"]}
            for index, e in sorted(manifest["tensors"].items(), key=lambda kv: int(kv[0]))
        }
    summary = {
        "model": first["model"],
        "model_sha256": first["model_sha256"],
        "interpreter": first["interpreter"],
        "hash": "sha256 of the tensor's raw C-order bytes",
        "operators": [{k: op[k] for k in ("index", "op", "inputs", "outputs")} for op in first["operators"]],
        "inputs": inputs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, summary)
    print(f"{out}: {len(inputs)} inputs, {len(first['operators'])} operators, {len(next(iter(inputs.values())))} tensors each")
    return 0


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """How one tensor of ours differs from the oracle's (``count == 0`` means equal)."""

    count: int
    first_index: tuple[int, ...] | None = None
    expected: int | float | None = None
    actual: int | float | None = None
    max_abs_diff: float = 0.0
    problem: str | None = None


def diff_tensors(expected: np.ndarray, actual: np.ndarray) -> Difference:
    """Compare two tensors byte for byte; report the first differing element."""
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        problem = f"expected {expected.dtype.name}{list(expected.shape)}, got {actual.dtype.name}{list(actual.shape)}"
        return Difference(count=-1, problem=problem)
    if expected.tobytes() == actual.tobytes():
        return Difference(count=0)
    wide = np.float64 if np.issubdtype(expected.dtype, np.floating) else np.int64
    delta = np.abs(expected.astype(wide) - actual.astype(wide))
    # Floats may differ only in bit pattern (e.g. -0.0); count those too.
    unequal = expected.view(np.uint8).reshape(expected.shape + (-1,)) != actual.view(np.uint8).reshape(actual.shape + (-1,))
    mask = unequal.any(axis=-1)
    first = np.unravel_index(int(np.argmax(mask)), expected.shape)
    return Difference(
        count=int(mask.sum()),
        first_index=tuple(int(i) for i in first),
        expected=expected[first].item(),
        actual=actual[first].item(),
        max_abs_diff=float(delta.max()),
    )


def cmd_compare(args: argparse.Namespace) -> int:
    """Report, operator by operator, where the Rust engine's tensors leave the oracle's."""
    dump = Path(args.dump)
    ours = Path(args.ours)
    if not ours.is_dir():
        raise OracleError(f"{ours} is not a directory of t{{index}}.npy tensors written by the engine")
    manifest = read_json(dump / MANIFEST)
    mismatches = missing = matched = 0
    for op in manifest["operators"]:
        for t in op["outputs"]:
            entry = manifest["tensors"][str(t)]
            mine = ours / entry["file"]
            label = f"op {op['index']:3d} {op['op']:<18} t{t:<4}"
            if not mine.is_file():
                missing += 1
                if args.require_all:
                    print(f"{label} MISSING {mine}")
                continue
            diff = diff_tensors(load_npy(dump / entry["file"]), load_npy(mine))
            if diff.problem:
                mismatches += 1
                print(f"{label} MISMATCH {diff.problem}")
            elif diff.count:
                mismatches += 1
                total = int(np.prod(entry["shape"]))
                print(
                    f"{label} MISMATCH {diff.count}/{total} elements differ; first at {list(diff.first_index or ())}: "
                    f"oracle {diff.expected}, ours {diff.actual}; max |diff| {diff.max_abs_diff:g}"
                )
            else:
                matched += 1
                if args.verbose:
                    print(f"{label} match")
    print(f"{matched} match, {mismatches} mismatch, {missing} missing in {ours} (oracle: {manifest['interpreter']}, input {manifest['input']})")
    failed = mismatches > 0 or (args.require_all and missing > 0) or matched == 0
    return 1 if failed else 0


# --------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------


def time_invokes(interpreter: Interpreter, tensor: np.ndarray, iters: int, warmup: int) -> tuple[dict[str, float], np.ndarray]:
    """Time ``invoke`` alone (input set once); return stats in ms and the output."""
    index = interpreter.get_input_details()[0]["index"]
    interpreter.set_tensor(index, tensor)
    for _ in range(warmup):
        interpreter.invoke()
    samples = []
    for _ in range(iters):
        start = time.perf_counter_ns()
        interpreter.invoke()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()
    stats = {
        "iters": iters,
        "warmup": warmup,
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "min": min(samples),
        "max": max(samples),
    }
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in stats.items()}, output


def cmd_bench(args: argparse.Namespace) -> int:
    """Time default (XNNPACK, one thread) against reference kernels on one input."""
    model = Path(args.model)
    tensor = load_npy(Path(args.input))
    if args.iters < 1 or args.warmup < 0:
        raise OracleError("--iters must be at least 1 and --warmup at least 0")
    fast = make_interpreter(model, reference=False, threads=1)
    # Delegate kernels are appended after the model's own nodes; their outputs show
    # which part of the graph XNNPACK took over (the rest runs on optimized builtins).
    nodes = fast._get_ops_details()  # noqa: SLF001
    delegates = [[int(t) for t in n["outputs"]] for n in nodes if n["op_name"] == "DELEGATE"]
    fast_stats, fast_out = time_invokes(fast, tensor, args.iters, args.warmup)
    ref = make_interpreter(model, reference=True)
    ref_stats, ref_out = time_invokes(ref, tensor, min(args.iters, args.ref_iters), min(args.warmup, 1))
    delta = np.abs(fast_out.astype(np.int64) - ref_out.astype(np.int64))
    report = {
        "model": model.name,
        "input": Path(args.input).name,
        "host_note": "host CPU timings of the TFLite interpreter, not board measurements",
        "xnnpack_1thread_ms": fast_stats,
        "xnnpack_delegate_node_outputs": delegates,
        "builtin_ref_ms": ref_stats,
        "output_vs_ref": {
            "max_abs_diff_lsb": int(delta.max()),
            "differing_elements": int((delta != 0).sum()),
            "elements": int(delta.size),
            "same_top1": bool(int(np.argmax(fast_out)) == int(np.argmax(ref_out))),
        },
        "interpreter": interpreter_label("default(XNNPACK) vs BUILTIN_REF"),
    }
    print(format_json(report))
    return 0


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; each subcommand maps to a ``cmd_*`` function."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inputs", help="write random and photo input tensors as .npy")
    p.add_argument("--model", required=True, help="TFLite model file")
    p.add_argument("--out", required=True, help="directory for the .npy inputs")
    p.add_argument("--random", type=int, default=0, metavar="N", help="number of seeded random inputs (random_{i}.npy)")
    p.add_argument("--seed", type=int, default=0, help="seed for numpy.random.default_rng")
    p.add_argument("--images", nargs="*", default=[], metavar="IMG", help="photos, each written as <stem>.npy")
    p.add_argument("--pixel-mapping", choices=("raw", "affine"), default="raw", help="how pixels become input codes (see module doc)")
    p.add_argument("--float-range", nargs=2, type=float, default=list(DEFAULT_FLOAT_RANGE), metavar=("LO", "HI"), help="float range the model expects for pixels 0..255")
    p.set_defaults(func=cmd_inputs)

    p = sub.add_parser("dump", help="dump every activation tensor of the reference interpreter")
    p.add_argument("--model", required=True, help="TFLite model file")
    p.add_argument("--inputs", required=True, help="directory of input .npy files")
    p.add_argument("--out", required=True, help="dump directory; one sub-directory per input")
    p.set_defaults(func=cmd_dump)

    p = sub.add_parser("summary", help="condense a dump into a JSON golden (hashes, shapes, dtypes)")
    p.add_argument("--dump", required=True, help="dump directory written by the dump subcommand")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("compare", help="compare the Rust engine's t{index}.npy tensors with one dump")
    p.add_argument("--dump", required=True, help="one input's dump directory (holds manifest.json)")
    p.add_argument("--ours", required=True, help="directory of t{index}.npy written by the Rust engine")
    p.add_argument("--require-all", action="store_true", help="fail when an operator output is missing from --ours")
    p.add_argument("--verbose", action="store_true", help="also list matching tensors")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("bench", help="time default (XNNPACK, 1 thread) and reference kernels")
    p.add_argument("--model", required=True, help="TFLite model file")
    p.add_argument("--input", required=True, help="input .npy file")
    p.add_argument("--iters", type=int, default=20, help="timed iterations for the default kernels")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations before timing")
    p.add_argument("--ref-iters", type=int, default=5, help="cap on timed iterations for the (slow) reference kernels")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the subcommand, and turn known failures into exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OracleError as err:
        print(f"tflite_oracle: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
