"""Tests for the TFLite oracle: its arithmetic helpers and the committed goldens.

The golden test regenerates the photo and random inputs and the reference dumps
for both shipped models and the Keras models of tests/models, and checks every
tensor hash against
``tests/goldens/<model stem>.json``; it fails when the interpreter, the
preprocessing or the seeded generator drift from what was committed.

Run with ``.venv/bin/python -m unittest discover -s tests/oracle -v``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np

import tflite_oracle as oracle

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "assets" / "models"
GOLDENS = ROOT / "tests" / "goldens"
PHOTO = ROOT / "assets" / "images" / "cat.bmp"
# model stem -> (the .tflite file, how its photo inputs are made). The Keras models
# are calibrated on photo crops, so their input range is not exactly [-1, 1]: their
# photo codes come from Keras's preprocessing (pixel / 127.5 - 1) quantized.
ZOO = ROOT / "tests" / "models"
AFFINE = ["--pixel-mapping", "affine"]
RAW = ["--pixel-mapping", "raw"]
# stem -> (folder, pixel mapping of the regenerated inputs; None: the committed inputs,
# which for the operator models include hand-picked extremes no generator makes).
GOLDEN_MODELS: dict[str, tuple[Path, list[str] | None]] = {
    "tf2_mobilenet_v2_1.0_224_ptq": (MODELS, []),
    "mobilenet_v2_1.0_224_quant": (MODELS, []),
    **{stem: (ZOO, AFFINE) for stem in (
        "keras_mobilenet_0.25_128", "keras_mobilenet_0.5_160", "keras_mobilenet_v2_0.35_96",
        "keras_mobilenet_v2_0.5_96", "keras_mobilenet_v2_1.4_128", "keras_efficientnet_lite0_224",
        "keras_mnasnet_a1_160", "keras_proxylessnas_mobile_128")},
    **{stem: (ZOO, RAW) for stem in ("keras_mobilenet_0.25_128_uint8", "uint8_blocks_a", "uint8_blocks_b")},
    **{path.stem: (ZOO / "ops", None) for path in sorted((ZOO / "ops").glob("*.tflite"))},
}
GOLDEN_SEED = 7


def run_quietly(argv: list[str]) -> int:
    """Run the CLI with its stdout swallowed; return its exit code."""
    with contextlib.redirect_stdout(io.StringIO()):
        return oracle.main(argv)


class RoundingTest(unittest.TestCase):
    def test_ties_go_away_from_zero(self) -> None:
        values = np.array([-2.5, -0.5, 0.5, 1.5, 2.4, -2.6], dtype=np.float32)
        self.assertEqual(oracle.round_half_away(values).tolist(), [-3, -1, 1, 2, 2, -3])


class PixelMappingTest(unittest.TestCase):
    def test_raw_accepted_for_both_mobilenet_conventions(self) -> None:
        tf1 = oracle.check_raw_mapping(np.dtype(np.uint8), 1 / 128, 128, (-1.0, 1.0))
        tf2 = oracle.check_raw_mapping(np.dtype(np.uint8), 0.007843137718737125, 127, (-1.0, 1.0))
        self.assertEqual(tf1, (-1.0, 127 / 128))
        self.assertAlmostEqual(tf2[0], -127 / 127.5, places=6)

    def test_raw_rejected_when_range_is_off(self) -> None:
        with self.assertRaises(oracle.OracleError):
            oracle.check_raw_mapping(np.dtype(np.uint8), 1 / 255, 0, (-1.0, 1.0))
        with self.assertRaises(oracle.OracleError):
            oracle.check_raw_mapping(np.dtype(np.float32), 1.0, 0, (-1.0, 1.0))

    def test_affine_with_the_exact_range_reproduces_raw(self) -> None:
        pixels = np.arange(256, dtype=np.uint8)
        dtype = np.dtype(np.uint8)
        affine = oracle.pixels_to_input(pixels, dtype, 1 / 128, 128, "affine", (-1.0, 127 / 128))
        raw = oracle.pixels_to_input(pixels, dtype, 1 / 128, 128, "raw", (-1.0, 1.0))
        np.testing.assert_array_equal(affine, raw)
        np.testing.assert_array_equal(raw, pixels)

    def test_raw_int8_is_shifted(self) -> None:
        pixels = np.array([0, 128, 255], dtype=np.uint8)
        codes = oracle.pixels_to_input(pixels, np.dtype(np.int8), 1 / 128, 0, "raw", (-1.0, 1.0))
        self.assertEqual(codes.tolist(), [-128, 0, 127])

    def test_affine_clamps_to_the_dtype(self) -> None:
        pixels = np.array([0, 255], dtype=np.uint8)
        codes = oracle.pixels_to_input(pixels, np.dtype(np.uint8), 1 / 128, 128, "affine", (-2.0, 2.0))
        self.assertEqual(codes.tolist(), [0, 255])


class DiffTest(unittest.TestCase):
    def test_equal_tensors(self) -> None:
        a = np.arange(12, dtype=np.int8).reshape(3, 4)
        self.assertEqual(oracle.diff_tensors(a, a.copy()).count, 0)

    def test_reports_first_difference_in_c_order(self) -> None:
        a = np.zeros((2, 3, 4), dtype=np.int8)
        b = a.copy()
        b[1, 2, 3] = 5
        b[0, 1, 0] = -2
        diff = oracle.diff_tensors(a, b)
        self.assertEqual((diff.count, diff.first_index, diff.expected, diff.actual), (2, (0, 1, 0), 0, -2))
        self.assertEqual(diff.max_abs_diff, 5)

    def test_int8_extremes_do_not_wrap(self) -> None:
        diff = oracle.diff_tensors(np.array([-128], dtype=np.int8), np.array([127], dtype=np.int8))
        self.assertEqual(diff.max_abs_diff, 255)

    def test_shape_or_dtype_mismatch(self) -> None:
        a = np.zeros((2, 2), dtype=np.int8)
        self.assertIsNotNone(oracle.diff_tensors(a, a.astype(np.uint8)).problem)
        self.assertIsNotNone(oracle.diff_tensors(a, a.reshape(4)).problem)

    def test_negative_zero_counts_as_different_bytes(self) -> None:
        diff = oracle.diff_tensors(np.array([0.0], dtype=np.float32), np.array([-0.0], dtype=np.float32))
        self.assertEqual(diff.count, 1)


class JsonFormatTest(unittest.TestCase):
    def test_round_trips_and_keeps_leaves_on_one_line(self) -> None:
        value = {"a": [1, 2], "t": {"0": {"dtype": "int8", "shape": [1, 2]}}, "ops": [{"i": 0}, {"i": 1}]}
        text = oracle.format_json(value)
        self.assertEqual(json.loads(text), value)
        self.assertIn('"0": {"dtype": "int8", "shape": [1, 2]}', text)


class GoldenTest(unittest.TestCase):
    """Regenerate one photo and the first random input per model; match the goldens."""

    def check_model(self, stem: str) -> None:
        golden = json.loads((GOLDENS / f"{stem}.json").read_text())
        folder, mapping = GOLDEN_MODELS[stem]
        model = folder / f"{stem}.tflite"
        with tempfile.TemporaryDirectory() as tmp:
            dump = Path(tmp) / "dump"
            if mapping is None:
                inputs = GOLDENS / stem / "inputs"
                names = sorted(p.stem for p in inputs.glob("*.npy"))
            else:
                inputs = Path(tmp) / "inputs"
                names = ["random_0", PHOTO.stem]
                args = ["inputs", "--model", str(model), "--out", str(inputs), "--random", "1", "--seed", str(GOLDEN_SEED), "--images", str(PHOTO), *mapping]
                self.assertEqual(run_quietly(args), 0)
            self.assertEqual(run_quietly(["dump", "--model", str(model), "--inputs", str(inputs), "--out", str(dump)]), 0)
            self.assertTrue(names, f"{stem}: no inputs")
            for name in names:
                manifest = json.loads((dump / name / oracle.MANIFEST).read_text())
                self.assertEqual(manifest["model_sha256"], golden["model_sha256"])
                ours = {i: {k: e[k] for k in ("dtype", "shape", "sha256")} for i, e in manifest["tensors"].items()}
                self.assertEqual(ours, golden["inputs"][name], f"{stem}/{name} drifted from its golden")
                # A dump must compare clean against itself, and fail once a byte changes.
                self.assertEqual(run_quietly(["compare", "--dump", str(dump / name), "--ours", str(dump / name)]), 0)
                last = oracle.tensor_file(manifest["operators"][-1]["outputs"][0])
                tensor = np.load(dump / name / last)
                tensor.view(np.uint8).flat[0] ^= 1  # one bit of the first byte, any dtype
                ours_dir = Path(tmp) / f"ours_{name}"
                ours_dir.mkdir()
                np.save(ours_dir / last, tensor)
                self.assertEqual(run_quietly(["compare", "--dump", str(dump / name), "--ours", str(ours_dir)]), 1)

    def test_goldens(self) -> None:
        for stem in GOLDEN_MODELS:
            with self.subTest(model=stem):
                self.check_model(stem)


if __name__ == "__main__":
    unittest.main()
