"""Images of one size translated together (``inference/batching.py``): by evaluate and
by validation while training, with the numbers each image gets alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cyclegan.apps.evaluate import _translated
from cyclegan.evaluation import validation
from cyclegan.inference.batching import MAX_BATCH_PIXELS, one_size_batches
from cyclegan.inference.translate import load_translator


def test_batches_are_runs_of_one_size_within_the_limits():
    sizes = [(32, 32, 3)] * 5 + [(32, 40, 3), (32, 32, 3), (32, 32, 1), (32, 32, 1)]
    assert one_size_batches(sizes, 2) == [range(0, 2), range(2, 4), range(4, 5), range(5, 6),
                                          range(6, 7), range(7, 9)]  # fmt: skip
    assert one_size_batches(sizes, 100)[0] == range(0, 5)
    assert one_size_batches([], 8) == []
    side = 2048  # over the pixel bound: one at a time, whatever the batch size
    assert one_size_batches([(side, side)] * 3, 8) == [range(0, 1), range(1, 2), range(2, 3)]
    fit = MAX_BATCH_PIXELS // (512 * 512)
    assert one_size_batches([(512, 512)] * (fit + 1), 64) == [range(0, fit), range(fit, fit + 1)]


def _images():
    rng = np.random.default_rng(0)
    shapes = [(32, 32, 3)] * 3 + [(40, 24, 3), (32, 32), (32, 32, 3)]  # a size change, gray
    return [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]


@pytest.mark.parametrize("batch_size", [1, 8])
def test_evaluate_translates_in_batches_as_translate_does_one_by_one(tiny_run, batch_size):
    translator = load_translator(tiny_run, device="cpu")
    images, done = _images(), []
    batched = _translated(translator, images, "AtoB", batch_size, done.append)
    assert done[-1] == len(images) and len(done) == (len(images) if batch_size == 1 else 4)
    for image, got in zip(images, batched, strict=True):
        alone = translator.translate(image, "AtoB")
        assert got.dtype == np.uint8 and got.shape == alone.shape
        assert np.abs(got.astype(int) - alone.astype(int)).max() <= 1  # another kernel's rounding


def test_validation_translates_in_batches_as_one_by_one(tiny_run):
    translator = load_translator(tiny_run, device="cpu")
    images = [torch.from_numpy(img).float().div(127.5).sub(1) for img in _images() if img.ndim == 3]
    tensors = [x.permute(2, 0, 1)[None] for x in images]
    batched = validation._translated(translator, tensors, "AtoB")
    for x, got in zip(tensors, batched, strict=True):
        alone = translator.translate_tensor(x, "AtoB")
        assert got.shape == alone.shape
        torch.testing.assert_close(got, alone, rtol=0, atol=2 / 255)  # one 8-bit level
