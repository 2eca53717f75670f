"""Images of one size translated together (``inference/batching.py``): by evaluate and
by validation while training, with the numbers each image gets alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from conftest import write_images
from cyclegan.apps.evaluate import _translated
from cyclegan.evaluation import validation
from cyclegan.inference import files
from cyclegan.inference.batching import (
    MAX_BATCH_PIXELS,
    SharedBatches,
    default_batch,
    one_size_batches,
)
from cyclegan.inference.files import translate_files
from cyclegan.inference.translate import load_translator
from cyclegan.settings import ImageOutput


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


def _callers(batches, images, **call):
    """Each image through ``batches`` on a thread of its own; the results in order."""
    results: list = [None] * len(images)

    def call_one(i):
        try:
            results[i] = batches(images[i], "AtoB", **call)
        except RuntimeError as exc:
            results[i] = exc

    threads = [threading.Thread(target=call_one, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    return threads, results


class _Device:
    """A translation that holds the device until ``waiting`` more callers wait."""

    def __init__(self, waiting: int, fail=False):
        self.waiting, self.fail, self.batches = waiting, fail, None

    def __call__(self, x, direction):
        if self.batches.sizes == [1]:  # the first batch: let the others queue up
            _until(lambda: len(self.batches.waiting) >= self.waiting)
        if self.fail == "error" and len(self.batches.sizes) > 1:
            raise RuntimeError("inductor could not lower an op")
        if self.fail == "memory" and len(x) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return x * 2  # each image's own answer, so a mix-up shows


def _until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)


def _shared(waiting, together=True, fail=False):
    device = _Device(waiting, fail)
    device.batches = SharedBatches(device, together)
    return device.batches


def test_uploads_that_wait_go_through_together_each_with_its_own_answer():
    batches = _shared(waiting=5)
    first, _ = _callers(batches, [torch.zeros(1, 3, 8, 8)])
    _until(lambda: batches.sizes == [1])  # the first holds the device
    images = [torch.full((1, 3, 8, 8), float(i)) for i in range(4)] + [torch.ones(1, 3, 8, 16)]
    threads, results = _callers(batches, images)
    for t in first + threads:
        t.join(10)
    assert sorted(batches.sizes) == [1, 1, 4]  # the lone first, four of one size, the other
    for image, result in zip(images, results, strict=True):
        assert torch.equal(result, image * 2)
    assert batches.waiting == []


@pytest.mark.parametrize("together, alone", [(False, False), (True, True)])
def test_on_a_cpu_and_for_tiled_uploads_each_runs_alone(together, alone):
    batches = _shared(waiting=3, together=together)
    first, _ = _callers(batches, [torch.zeros(1, 3, 8, 8)], alone=alone)
    _until(lambda: batches.sizes == [1])
    threads, results = _callers(batches, [torch.ones(1, 3, 8, 8)] * 3, alone=alone)
    for t in first + threads:
        t.join(10)
    assert batches.sizes == [1, 1, 1, 1] and all(torch.equal(r, torch.ones(1, 3, 8, 8) * 2)
                                                 for r in results)  # fmt: skip


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_run():
    batches = _shared(waiting=2, fail="error")
    first, firsts = _callers(batches, [torch.zeros(1, 3, 8, 8)])
    _until(lambda: batches.sizes == [1])
    threads, results = _callers(batches, [torch.ones(1, 3, 8, 8)] * 2)
    for t in first + threads:
        t.join(10)
    assert torch.equal(firsts[0], torch.zeros(1, 3, 8, 8))
    assert batches.sizes == [1, 2]
    assert all(isinstance(r, RuntimeError) and "could not lower" in str(r) for r in results)


def test_a_batch_out_of_memory_runs_again_one_by_one():
    batches = _shared(waiting=3, fail="memory")
    first, _ = _callers(batches, [torch.zeros(1, 3, 8, 8)])
    _until(lambda: batches.sizes == [1])
    images = [torch.full((1, 3, 8, 8), float(i)) for i in range(3)]
    threads, results = _callers(batches, images)
    for t in first + threads:
        t.join(10)
    assert batches.sizes == [1, 3, 1, 1, 1]
    for image, result in zip(images, results, strict=True):
        assert torch.equal(result, image * 2)


def test_translate_batches_by_device_within_the_pixel_bound_unless_told(
    tiny_run, tmp_path, monkeypatch
):
    assert default_batch(None, torch.device("cpu")) == (1, MAX_BATCH_PIXELS)
    assert default_batch(None, torch.device("cuda")) == (8, MAX_BATCH_PIXELS)
    assert default_batch(3, torch.device("cuda")) == (3, None)  # as told: no bound
    translator = load_translator(tiny_run, device="cpu")
    seen, translate_tensor = [], translator.translate_tensor

    def counting(x, *args, **kwargs):
        seen.append((len(x), *x.shape[-2:]))
        return translate_tensor(x, *args, **kwargs)

    monkeypatch.setattr(translator, "translate_tensor", counting)
    small = write_images(tmp_path / "in", 5, size=(40, 36))
    large = write_images(tmp_path / "in" / "large", 3, size=(1000, 1000), seed=1)
    # the default's bound, as on a GPU: 2 of these 1 MP images in a batch, not 3
    assert MAX_BATCH_PIXELS // (1000 * 1000) == 2
    monkeypatch.setattr(files, "default_batch", lambda asked, device: (8, MAX_BATCH_PIXELS))
    out = translate_files(translator, small + large, tmp_path / "out", "AtoB", tmp_path / "in")
    assert len(out) == 8
    assert sorted(seen) == [(1, 1000, 1000), (2, 1000, 1000), (5, 36, 40)]
    seen.clear()
    monkeypatch.undo()
    monkeypatch.setattr(translator, "translate_tensor", counting)
    translate_files(translator, small + large, tmp_path / "told", "AtoB", tmp_path / "in",
                    ImageOutput(batch_size=8))  # fmt: skip
    assert sorted(seen) == [(3, 1000, 1000), (5, 36, 40)]  # --batch-size 8 said: as told
