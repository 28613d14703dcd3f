#!/usr/bin/env python3
"""Makes the Keras application models of tests/models/ the way a fibha user makes theirs.

Each model is a `keras.applications` network (include_top, 1000 classes) converted by
TensorFlow's own converter to full-integer int8 TFLite, calibrated with a representative set
cut from the shipped photos. No ImageNet checkpoint can be downloaded here, so the weights
are seeded random ones; the batch normalisations are then set to the statistics of the
photos (one training-mode pass with momentum 0), so every layer carries a well-scaled signal
and the quantized arithmetic is exercised over its whole range, as with trained weights; the
classifier is scaled so that the softmax is peaked, as a trained one is.

Run by hand, not by the test suite (TensorFlow is large), in a venv of its own:

    python3 -m venv /tmp/keras-venv
    /tmp/keras-venv/bin/pip install -r scripts/requirements-keras.txt
    /tmp/keras-venv/bin/python scripts/make-keras-models.py --out tests/models

The same versions and seed give the same bytes. Afterwards, regenerate the goldens:
tests/models/README.md says how.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "assets" / "images").iterdir())

# name -> (application, keyword arguments, input/output type of the converted model)
MODELS = {
    "keras_mobilenet_0.25_128": (
        "MobileNet", {"alpha": 0.25, "input_shape": (128, 128, 3)}, "int8"),
    "keras_mobilenet_v2_0.35_96": (
        "MobileNetV2", {"alpha": 0.35, "input_shape": (96, 96, 3)}, "int8"),
    "keras_mobilenet_v2_0.5_96": (
        "MobileNetV2", {"alpha": 0.5, "input_shape": (96, 96, 3)}, "float32"),
}


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


def calibrate_batch_norms(model, batch, rng):
    """Random affine parameters for each batch normalisation, then its moving statistics
    set to the batch's (momentum 0, one training-mode pass)."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
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


def convert(model, representative, io_type):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_type == "int8":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, (app, kwargs, io_type) in MODELS.items():
        if args.only and name not in args.only:
            continue
        tf.keras.utils.set_random_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        model = getattr(tf.keras.applications, app)(weights=None, classes=1000, **kwargs)
        size = kwargs["input_shape"][:2]
        calibration = photo_crops(size, 32, rng)
        calibrate_batch_norms(model, calibration, rng)
        sharpen_classifier(model, calibration)
        flat = convert(model, photo_crops(size, 48, rng), io_type)
        path = args.out / f"{name}.tflite"
        path.write_bytes(flat)
        made[name] = {
            "application": f"keras.applications.{app}",
            "arguments": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
            "io_type": io_type,
            "bytes": len(flat),
            "sha256": hashlib.sha256(flat).hexdigest(),
        }
        print(f"{path}: {len(flat)} bytes", file=sys.stderr)
    versions = {"tensorflow": tf.__version__, "keras": tf.keras.__version__,
                "numpy": np.__version__, "seed": args.seed}
    (args.out / "keras_models.json").write_text(
        json.dumps({"made_with": versions, "models": made}, indent=1) + "\n")


if __name__ == "__main__":
    main()
