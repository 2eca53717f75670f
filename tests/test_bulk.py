"""Translation as a job (inference/bulk.py, manifest.py, raster_shards.py): every input
once, by one process of many, equal to one process; resumable; a large raster shared
by rows of tiles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_main, subprocess_env, write_images
from cyclegan.inference.bulk import balance
from cyclegan.model.layout import ManifestFiles

rasterio = pytest.importorskip("rasterio")


def _torchrun(nproc: int, *args: str, wait: bool = True):
    """``cyclegan ARGS`` under torchrun, one thread per process (two share two cores)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "cyclegan", *args]  # fmt: skip
    env = subprocess_env(threads=1)
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _mixed_folder(folder: Path, count: int = 25) -> list[Path]:
    """``count`` images of five sizes (and one sub-folder), named so that sorting by
    name does not sort by size."""
    sizes = [(40, 36), (96, 64), (33, 47), (128, 100), (64, 64)]
    paths = []
    for i in range(count):
        sub = folder / ("deep" if i % 7 == 3 else "")
        (path,) = write_images(sub, 1, size=sizes[i % 5], seed=i)
        paths.append(path.rename(sub / f"photo_{(i * 11) % count:03d}.png"))
    return paths


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*.png"))
        if ManifestFiles(out).folder not in p.parents
    }


def _records(out: Path) -> list[dict]:
    rows = []
    for path in ManifestFiles(out).all_records():
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def test_balance_is_a_partition_by_pixels_within_one_item():
    rng = np.random.default_rng(0)
    for world in (1, 2, 3, 8):
        pixels = [int(p) for p in rng.integers(1, 10**6, 101)]
        shares = balance(pixels, world)
        assert sorted(i for s in shares for i in s) == list(range(101))  # once each
        assert all(s == sorted(s) for s in shares)  # input order within a share
        loads = [sum(pixels[i] for i in s) for s in shares]
        assert max(loads) - min(loads) <= max(pixels)  # greedy largest-first bound
        assert balance(pixels, world) == shares  # every process deals the same
    assert balance([5, 5, 5], 4) == [[0], [1], [2], []]  # more processes than items


def test_a_rerun_skips_what_is_done_and_redoes_what_is_missing(tiny_run, tmp_path, capsys):
    images, out = tmp_path / "in", tmp_path / "out"
    _mixed_folder(images, 9)
    args = ["translate", "--model", str(tiny_run), "--input", str(images), "--output", str(out)]
    assert run_main(*args).returncode == 0
    first = _outputs(out)
    assert len(first) == 9
    times = {p: (out / p).stat().st_mtime_ns for p in first}
    gone = sorted(first)[:3]
    for name in gone:
        (out / name).unlink()
    (images / "photo_004.png").touch()  # an input changed since: translated again
    time.sleep(0.01)
    result = run_main(*args)
    assert result.returncode == 0, result.stderr
    assert "5 of 9 done before" in result.stdout, result.stdout
    assert _outputs(out) == first  # the same bytes back
    redone = {p for p in first if (out / p).stat().st_mtime_ns != times[p]}
    assert redone == {*gone, "photo_004.png"}

    times = {p: (out / p).stat().st_mtime_ns for p in first}
    again = run_main(*args)  # nothing left: nothing written
    assert "translated 0 file(s)" in again.stdout and "9 of 9 done before" in again.stdout
    assert {p: (out / p).stat().st_mtime_ns for p in first} == times


def test_another_model_or_options_is_refused_without_overwrite(tiny_run, tmp_path):
    import shutil

    from cyclegan.model.layout import weights_file
    from cyclegan.model.run_checkpoints import resolve_checkpoint

    images, out = tmp_path / "in", tmp_path / "out"
    write_images(images, 3)
    args = ["translate", "--model", str(tiny_run), "--input", str(images), "--output", str(out)]
    assert run_main(*args).returncode == 0
    before = _outputs(out)

    other = tmp_path / "other"  # the same model, its last layer's bias moved by 0.5: an
    shutil.copytree(resolve_checkpoint(tiny_run), other)  # output that differs on any CPU
    from safetensors.torch import load_file, save_file

    weights = load_file(weights_file(other, "g_ab"))
    (last,) = [n for n, t in weights.items() if t.ndim == 4 and t.shape[0] == 3]  # RGB out
    bias = last.removesuffix("weight") + "bias"
    weights[bias] = weights[bias] + 0.5
    save_file(weights, weights_file(other, "g_ab"))
    refused = run_main("translate", "--model", str(other), "--input", str(images),
                       "--output", str(out))  # fmt: skip
    assert refused.returncode == 1
    assert "--model differs" in refused.stderr and "--overwrite" in refused.stderr
    tiled = run_main(*args, "--tile", "32")
    assert "--tile differs" in tiled.stderr, tiled.stderr
    assert _outputs(out) == before  # nothing touched

    forced = run_main("translate", "--model", str(other), "--input", str(images),
                      "--output", str(out), "--overwrite")  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert _outputs(out).keys() == before.keys() and _outputs(out) != before


def test_a_bad_file_is_reported_and_the_others_translated(tiny_run, tmp_path):
    images, out = tmp_path / "in", tmp_path / "out"
    write_images(images, 3)
    (images / "broken.png").write_bytes(b"not a picture")
    args = ["translate", "--model", str(tiny_run), "--input", str(images), "--output", str(out)]
    result = run_main(*args)
    assert result.returncode == 1
    assert "failed: " in result.stderr and "broken.png" in result.stderr
    assert len(_outputs(out)) == 3
    (images / "broken.png").unlink()
    write_images(images / "late", 1)
    retry = run_main(*args)  # the failure is not done: a rerun retries what is there
    assert retry.returncode == 0 and "3 of 4 done before" in retry.stdout


def test_a_second_job_into_the_same_folder_is_refused(tiny_run, tmp_path):
    from cyclegan.inference.manifest import output_lock

    images, out = tmp_path / "in", tmp_path / "out"
    write_images(images, 2)
    held = output_lock(out).acquire()  # a job that has just started, before its plan
    try:
        result = run_main("translate", "--model", str(tiny_run), "--input", str(images),
                          "--output", str(out))  # fmt: skip
        assert result.returncode == 1
        assert "being written by another translation" in result.stderr
        assert f"pid {os.getpid()}" in result.stderr
        assert ManifestFiles(out).lock.exists()  # the running job's lock stays
    finally:
        held.release()
    assert run_main("translate", "--model", str(tiny_run), "--input", str(images),
                    "--output", str(out)).returncode == 0  # fmt: skip


def test_progress_reads_the_manifest(tiny_run, tmp_path):
    images, out = tmp_path / "in", tmp_path / "out"
    write_images(images, 4)
    assert run_main("translate", "--model", str(tiny_run), "--input", str(images),
                    "--output", str(out)).returncode == 0  # fmt: skip
    shown = run_main("progress", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "4 of 4 done" in shown.stdout and "AtoB" in shown.stdout
    nothing = run_main("progress", str(tmp_path))
    assert nothing.returncode == 1 and "no translation manifest" in nothing.stderr


def test_a_large_raster_in_parts_equals_the_one_process_stream(tmp_path):
    """Rows of tiles shared 1, 2, 3 and 5 ways: each part starts its stream at the
    first row of tiles reaching into it, so the assembled pixels equal the stream's."""
    from cyclegan.inference import raster_shards
    from cyclegan.inference.manifest import Item
    from cyclegan.inference.stream import translate_raster
    from cyclegan.settings import ImageOutput, Tiling
    from test_rasters import random_translator, uint16_scene, write_geotiff

    src = write_geotiff(tmp_path / "scene.tif", uint16_scene(203, 150), nodata=0)
    translator, tiling = random_translator(), Tiling(tile=64, tile_overlap=24)
    whole = translate_raster(translator, src, tmp_path / "whole.tif", "AtoB", tiling)
    expected = rasterio.open(whole).read()
    for world in (2, 3, 5):
        out = tmp_path / f"out{world}"
        item = Item.of(src, out / "scene.tif", "scene.tif")
        parts = [
            raster_shards.translate_part(
                translator, item, out, "AtoB", ImageOutput(), tiling, "job", span
            )[0]  # fmt: skip
            for span in raster_shards.parts_of(translator, item, tiling, world)
        ]
        raster_shards.assemble(translator, item, parts, "AtoB", ImageOutput(), tiling, world)
        with rasterio.open(item.dst) as got, rasterio.open(whole) as ref:
            assert np.array_equal(got.read(), expected, equal_nan=True)
            assert (got.crs, got.transform, str(got.nodata)) == (
                ref.crs,
                ref.transform,
                str(ref.nodata),
            )
            assert got.descriptions == ref.descriptions
        assert not any(p.exists() for p in parts)  # removed once assembled


@pytest.mark.slow
def test_two_processes_equal_one_file_for_file(tiny_run, tmp_path):
    images = tmp_path / "in"
    _mixed_folder(images, 25)  # an odd count, five sizes
    one, two = tmp_path / "one", tmp_path / "two"
    base = ["translate", "--model", str(tiny_run), "--input", str(images)]
    _one_thread_run(*base, "--output", str(one))
    result = _torchrun(2, *base, "--output", str(two))
    assert result.stdout.count("translated 25 file(s)") == 1  # one summary, by process 0
    assert "process 0:" in result.stdout and "process 1:" in result.stdout
    assert _outputs(two) == _outputs(one)  # byte for byte, none missing
    done = [r for r in _records(two) if r["event"] == "done"]
    assert sorted(r["key"] for r in done) == sorted(_outputs(one))  # each once
    pixels = {rank: sum(r["pixels"] for r in done if r["rank"] == rank) for rank in (0, 1)}
    assert abs(pixels[0] - pixels[1]) <= 128 * 100  # balanced within one (largest) image


@pytest.mark.slow
def test_a_killed_process_costs_only_its_items(tiny_run, tmp_path):
    images, out = tmp_path / "in", tmp_path / "out"
    write_images(images, 40, size=(200, 200))
    args = ["translate", "--model", str(tiny_run), "--input", str(images), "--output", str(out)]
    launcher = _torchrun(2, *args, wait=False)
    deadline = time.monotonic() + 120
    while True:  # until process 1 has finished a few of its 20 items
        rows = [r for r in _records(out) if r["rank"] == 1 and r["event"] == "done"]
        if len(rows) >= 3:
            break
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.stderr.read()
        time.sleep(0.01)
    workers = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True,
                             text=True).stdout.split()  # fmt: skip
    victim = next(int(p) for p in workers if _rank_of(int(p)) == 1)
    os.kill(victim, signal.SIGSTOP)  # frozen first: what it had done is now fixed
    done_by_victim = len([r for r in _records(out) if r["rank"] == 1 and r["event"] == "done"])
    assert done_by_victim < 20, "process 1 finished before it was killed: use larger images"
    os.kill(victim, signal.SIGKILL)
    launcher.communicate(timeout=120)
    assert launcher.returncode != 0
    kept = {p: (out / p).stat().st_mtime_ns for p in _outputs(out)}

    result = _torchrun(2, *args)
    assert "done before" in result.stdout
    final = _outputs(out)
    assert len(final) == 40
    for name in final:  # every output valid, the finished ones untouched
        assert Image.open(out / name).size == (200, 200)
    untouched = [p for p in kept if (out / p).stat().st_mtime_ns == kept[p]]
    assert len(untouched) >= len(kept) - 2  # at most the items in flight were redone
    assert not list(out.rglob("*.part"))


def _one_thread_run(*args: str) -> None:
    """The one-process reference, with the thread count of each torchrun process: the
    same arithmetic on any CPU (a reduction split across threads may round otherwise)."""
    import torch

    torch.set_num_threads(1)  # (the autouse fixture sets 2 again for the next test)
    result = run_main(*args)
    assert result.returncode == 0, result.stderr


def _rank_of(pid: int) -> int:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(v for v in env if v.startswith(b"RANK=")).split(b"=")[1])


@pytest.mark.slow
def test_two_processes_share_one_georeferenced_raster_by_rows(tiny_run, tmp_path):
    from test_rasters import write_geotiff

    rng = np.random.default_rng(3)
    scene = rng.integers(0, 256, (3, 230, 170), dtype=np.uint8)
    src = write_geotiff(tmp_path / "in" / "scene.tif", scene)
    base = ["translate", "--model", str(tiny_run), "--input", str(src), "--tile", "64"]
    _one_thread_run(*base, "--output", str(tmp_path / "one"))
    result = _torchrun(2, *base, "--output", str(tmp_path / "two"))
    assert "process 1:" in result.stdout
    with rasterio.open(tmp_path / "one" / "scene.tif") as a, \
            rasterio.open(tmp_path / "two" / "scene.tif") as b:  # fmt: skip
        assert np.array_equal(a.read(), b.read())
        assert (a.crs, a.transform) == (b.crs, b.transform)
    assert not any(ManifestFiles(tmp_path / "two").parts.glob("*.tif"))
