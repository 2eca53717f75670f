"""Dataset layouts, up-front checks, preprocessing and the epoch plan."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_images
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.data.datasets import EpochPlan, find_domains, resolve_images
from cyclegan.data.samples import preprocess
from cyclegan.errors import DataError


@pytest.mark.parametrize(
    "a,b", [("trainA", "trainB"), ("train_a", "train_b"), ("A/images", "B/images")]
)
def test_layouts_are_found(tmp_path, a, b):
    (tmp_path / a).mkdir(parents=True)
    (tmp_path / b).mkdir(parents=True)
    found = find_domains(tmp_path)
    assert found.train_a == tmp_path / a and found.train_b == tmp_path / b


def test_missing_domain_is_named(tmp_path):
    (tmp_path / "trainA").mkdir()
    with pytest.raises(DataError, match="trainB"):
        find_domains(tmp_path)
    with pytest.raises(DataError, match="no domain folders"):
        find_domains(tmp_path / "trainA")


def test_images_found_recursively_and_empty_folder_refused(tmp_path):
    write_images(tmp_path / "A" / "sub" / "deeper", 2)
    files, bad = resolve_images(tmp_path / "A", TrainConfig(), "A")
    assert len(files) == 2 and not bad
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="domain B folder .*empty contains no images"):
        resolve_images(tmp_path / "empty", TrainConfig(), "B")


def test_bad_files_listed_up_front_or_skipped(tmp_path):
    folder = tmp_path / "A"
    write_images(folder, 2)
    (folder / "zero.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(DataError) as err:
        resolve_images(folder, TrainConfig(), "A")
    message = str(err.value)
    assert "2 file(s) cannot be used" in message and "zero.png" in message
    assert "notes.txt" in message and "--skip-bad-images" in message
    files, bad = resolve_images(folder, TrainConfig(skip_bad_images=True), "A")
    assert len(files) == 2 and {p.name for p, _ in bad} == {"zero.png", "notes.txt"}


def test_image_smaller_than_crop_is_refused_in_crop_mode(tmp_path):
    write_images(tmp_path / "A", 1, size=(20, 20))
    cfg = TrainConfig(preprocess="crop", crop_size=32)
    with pytest.raises(DataError, match="20x20 is smaller than the crop size 32"):
        resolve_images(tmp_path / "A", cfg, "A")


@pytest.mark.parametrize(
    "mode,shape",
    [
        ("resize_and_crop", (32, 32)),
        ("crop", (32, 32)),
        ("scale_width", (32, 36)),
        ("scale_width_and_crop", (32, 32)),
        ("none", (48, 72)),
    ],
)
def test_preprocess_output_sizes(mode, shape):
    cfg = TrainConfig(
        preprocess=mode, load_size=36, crop_size=32, network=NetworkConfig(net_g="resnet_6blocks")
    )
    img = np.zeros((50, 70, 3), dtype=np.float32)  # H x W
    out = preprocess(img, cfg, np.random.default_rng(0))
    assert out.shape[:2] == shape
    assert out.shape[0] % 4 == 0 and out.shape[1] % 4 == 0 or "crop" in mode


def test_epoch_plan_is_reproducible_and_covers_a():
    plan = EpochPlan(n_a=5, n_b=3, batch_size=2, seed=7)
    first = plan.samples(1)
    assert first == EpochPlan(5, 3, 2, seed=7).samples(1)  # same seed, same epoch
    assert first != plan.samples(2)  # reshuffled each epoch
    assert sorted(a for a, _, _ in first) == [0, 1, 2, 3, 4]  # every A once per epoch
    assert all(0 <= b < 3 for _, b, _ in first)
    assert len(plan) == 3 and [len(b) for b in plan.batches(1)] == [2, 2, 1]
    assert list(plan.batches(1, start=2)) == [first[4:]]  # resuming mid-epoch


def test_epoch_plan_shards_across_ranks():
    ranks = [EpochPlan(7, 7, 1, seed=0, rank=r, world=2).samples(1) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 4
    assert {s[0] for s in ranks[0]} | {s[0] for s in ranks[1]} == set(range(7))
