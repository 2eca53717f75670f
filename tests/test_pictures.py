"""Pictures translated in batches with reading and writing overlapped (issue 20)."""

from __future__ import annotations

import threading

import pytest
import torch

from conftest import write_images
from cyclegan.data.imageio import array_to_tensor, load_image, save_image, tensor_to_array
from cyclegan.inference import pictures as pictures_module
from cyclegan.inference.pictures import translate_picture_batches
from cyclegan.inference.translate import load_translator
from cyclegan.settings import ImageOutput, Tiling


def _inputs(tmp_path):
    """Six pictures of two sizes and a broken file among them, in batches of three."""
    src = tmp_path / "in"
    files = write_images(src, 3, size=(32, 32), seed=1) + write_images(
        src / "wide", 2, size=(48, 32), seed=2
    )
    broken = src / "broken.png"
    broken.write_bytes(b"not a png")
    files.insert(2, broken)
    return [files[:3], files[3:]], broken


def _destination(out):
    return lambda src: out / f"{src.parent.name}_{src.name}"


def test_files_equal_translating_one_batch_after_the_other(tiny_run, tmp_path):
    translator = load_translator(tiny_run)
    batches, broken = _inputs(tmp_path)
    out, output = tmp_path / "out", ImageOutput(batch_size=3)
    out.mkdir()
    done = []
    written = translate_picture_batches(
        translator, batches, "AtoB", _destination(out), output, Tiling(),
        on_done=lambda src, dst, error: done.append((src, dst, error)),
    )  # fmt: skip
    # By hand, in one thread: each batch's images of one size in one call.
    expected = tmp_path / "expected"
    expected.mkdir()
    for batch in batches:
        by_size = {}
        for src in batch:
            if src != broken:
                arr = load_image(src, 3)
                by_size.setdefault(arr.shape, []).append((src, arr))
        for group in by_size.values():
            x = torch.stack([array_to_tensor(arr) for _, arr in group])
            for (src, _), img in zip(group, translator.translate_tensor(x), strict=True):
                save_image(tensor_to_array(img), _destination(expected)(src))
    assert sorted(p.name for p in written) == sorted(p.name for p in expected.iterdir())
    for path in written:
        assert path.read_bytes() == (expected / path.name).read_bytes(), path.name
    failed = [(src, error) for src, dst, error in done if dst is None]
    assert len(failed) == 1 and failed[0][0] == broken and "broken.png" in failed[0][1]
    assert [dst for _, dst, _ in done if dst is not None] == written


def test_the_next_batch_is_read_while_one_is_translated(tiny_run, tmp_path, monkeypatch):
    """The translation of a batch waits until the next batch's reading has begun; one
    after the other, that would never happen and the wait would time out. Writing
    happens off the caller's thread."""
    translator = load_translator(tiny_run)
    batches = [write_images(tmp_path / f"b{i}", 2, seed=i) for i in range(3)]
    reading = [threading.Event() for _ in batches]
    writers = set()
    real_load, real_save = pictures_module.load_image, pictures_module.save_image

    def load(src, *args):
        reading[int(src.parent.name[1:])].set()
        return real_load(src, *args)

    def save(*args, **kwargs):
        writers.add(threading.current_thread().name)
        return real_save(*args, **kwargs)

    real_translate, calls = translator.translate_tensor, []

    def translate(x, *args, **kwargs):
        index = len(calls)
        calls.append(index)
        if index + 1 < len(batches):
            assert reading[index + 1].wait(timeout=20), f"batch {index + 1} was not read ahead"
        return real_translate(x, *args, **kwargs)

    monkeypatch.setattr(pictures_module, "load_image", load)
    monkeypatch.setattr(pictures_module, "save_image", save)
    monkeypatch.setattr(translator, "translate_tensor", translate)
    out = tmp_path / "out"
    out.mkdir()
    written = translate_picture_batches(
        translator, batches, "AtoB", _destination(out), ImageOutput(), Tiling()
    )
    assert len(written) == 6 and calls == [0, 1, 2]
    assert writers and threading.current_thread().name not in writers


def test_a_failing_write_stops_the_work_with_its_error(tiny_run, tmp_path, monkeypatch):
    translator = load_translator(tiny_run)
    batches = [write_images(tmp_path / "in", 2, seed=3)]

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pictures_module, "save_image", full_disk)
    with pytest.raises(OSError, match="No space left"):
        translate_picture_batches(
            translator, batches, "AtoB", _destination(tmp_path), ImageOutput(), Tiling()
        )
