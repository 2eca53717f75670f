"""``cyclegan demo``: train on generated scenes whose true translation is known, and score it.

The scenes (``demo_scenes.py``) are drawn in two styles, by day (A) and as a night
negative with outlines (B). Training sees different scenes in each style; the test
folders hold held-out scenes in both styles under one name, so the demo can say how
close its translations come to the truth, next to two baselines: the untrained
network, and the input unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cyclegan.apps.demo_scenes import make_dataset
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.data.imageio import array_to_tensor, load_image, save_image, tensor_to_array
from cyclegan.errors import ConfigError
from cyclegan.fields import option
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.model.layout import RunFiles
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.training.trainer import TrainingEvents, train


def score(translator: Translator, data: Path) -> dict[str, float]:
    """Mean absolute error (0-255 scale) and PSNR of each direction's test translations."""
    result = {}
    for direction, src, dst in (("AtoB", "testA", "testB"), ("BtoA", "testB", "testA")):
        errors, psnrs = [], []
        for path in sorted((data / src).glob("*.png")):
            x = array_to_tensor(load_image(path, 3))[None]
            truth = load_image(data / dst / path.name, 3)
            out = tensor_to_array(translator.translate_tensor(x, direction)[0])
            mse = float(((out - truth) ** 2).mean())
            errors.append(float(abs(out - truth).mean()) * 255)
            psnrs.append(10 * np.log10(1.0 / max(mse, 1e-12)))
        result[f"{direction}_mae"] = float(np.mean(errors))
        result[f"{direction}_psnr"] = float(np.mean(psnrs))
    return result


def _identity_score(data: Path) -> dict[str, float]:
    ident = Translator(
        NetworkConfig(),
        {"AtoB": torch.nn.Identity(), "BtoA": torch.nn.Identity()},
        torch.device("cpu"),
        "identity",
    )
    return score(ident, data)


# Measured on generated scenes with an AVX2 kernel set, float32, one thread (a stand-in
# for a slow machine; docs/benchmarks.md): after 1,000 steps the trained MAE was
# 8.9/8.4, 10.4/7.0 and 11.5/8.4 (A->B/B->A, seeds 0-2). With the paper's rate (2e-4)
# and identity loss, 1,000 steps gave 28.5/14.9.
DEMO_STEPS = 1000
DEMO_MINUTES = 15.0  # a cap for slow or busy machines; the demo says when it stopped early


@dataclass(frozen=True)
class Demo:
    """The options of ``cyclegan demo`` (``run_demo`` takes them as arguments)."""

    out: Path = option(Path("demo_run"), "a new folder for it")
    steps: int | None = option(
        None,
        f"training steps (default {DEMO_STEPS}, with --kind eo 2000); the defaults learned "
        "the translation on the seeds and CPU kinds tried (docs/benchmarks.md)",
        kind=int,
    )
    minutes: float = option(
        float(DEMO_MINUTES),
        "stop training after this long even if the steps are not done (a busy or slow "
        "machine); the demo then says so",
    )
    seed: int = option(0, "seed of the scenes and the training")
    kind: str = option(
        "shapes",
        "shapes: pictures, day to night; eo: 1-band radar to 4-band optical rasters "
        "(GeoTIFFs) and back, scored band by band; video: shapes, then a moving clip "
        "with sound translated frame by frame and smoothed, scored for flicker",
        choices=("shapes", "eo", "video"),
    )


N_TRAIN = 100  # scenes per domain: an epoch is 100 steps, so the decay is smooth
LEARNED_MAE = 15.0  # both directions at most this: shapes and colours come out right


def demo_config(data: Path, run: Path, steps: int, minutes: float, seed: int) -> TrainConfig:
    """A small, fast CycleGAN: 64 px, ResNet-6 with 16 filters; half the steps at the full
    rate, half decaying to zero.

    Two choices differ from the paper, for speed on this data: a learning rate of 1e-3
    (5x; with 2e-4, 1,000 steps are too few), and no identity loss (it pulls g_ab(b)
    towards b, while the right answer here inverts every colour). No validation while
    training: the demo scores its model itself, against the known true translations.
    """
    epochs = max(2, -(-steps // N_TRAIN))
    return TrainConfig(
        data=str(data),
        run=str(run),
        seed=seed,
        preprocess="none",
        num_workers=0,
        network=NetworkConfig(net_g="resnet_6blocks", ngf=16, ndf=16),
        lr=1e-3,
        lambda_identity=0.0,
        n_epochs=epochs // 2,
        n_epochs_decay=epochs - epochs // 2,
        max_iters=steps,
        max_minutes=minutes,
        save_epoch_freq=1000,
        log_every=25,
        val_images=0,
    )


def check_demo(out: Path, steps: int, minutes: float) -> None:
    """Refuse, before any work, what a demo cannot run with (either kind)."""
    if out.exists() and any(out.iterdir()):  # it writes data/, run/, translations/ there
        raise ConfigError(f"{out} is not empty: pass a new --out folder (nothing is overwritten)")
    if steps < 1:
        raise ConfigError(f"option 'steps' is {steps}; give a positive number of steps")
    if not minutes > 0:
        raise ConfigError(f"option 'minutes' is {minutes}; give a positive time limit")


def run_demo(
    out: Path,
    steps: int = DEMO_STEPS,
    minutes: float = DEMO_MINUTES,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Generate data, train ``steps`` steps (at most ``minutes``), score against baselines,
    save example strips, and say plainly whether the model learned the translation."""
    out = Path(out)
    data, run = out / "data", out / "run"
    check_demo(out, steps, minutes)
    log(f"generating demo scenes in {data}")
    make_dataset(data, n_train=N_TRAIN, seed=seed)
    cfg = demo_config(data, run, steps, minutes, seed)

    baseline = _untrained_score(cfg, data, seed)

    log(f"training {steps} steps, at most {minutes:g} minutes (run folder: {run})")
    started = time.perf_counter()
    events = _DemoEvents(log, steps, minutes)
    final = train(cfg, events=events)
    elapsed = time.perf_counter() - started
    log(f"trained {events.step} steps in {elapsed:.0f} s; checkpoint {final}")

    trained = load_translator(run, device="cpu")
    scores = {
        "trained": score(trained, data),
        "untrained": baseline,
        "input unchanged": _identity_score(data),
    }
    strips = _save_examples(trained, data, out / "translations")
    _log_scores(scores, log)
    log("  (MAE on a 0-255 scale: lower is better; PSNR: higher is better)")
    log("")
    for line in verdict(scores["trained"], events.step, steps, elapsed, minutes):
        log(line)
    log(f"\nlook at: {strips}  (each strip: input | translation | true translation)")
    log(f"losses and samples: {RunFiles(run).report}; model: {final}")
    log(
        f"translate your own: cyclegan translate --model {run} --direction AtoB "
        f"--input {data / 'testA'} --output {out / 'mine'}"
    )
    return scores


def _untrained_score(cfg: TrainConfig, data: Path, seed: int) -> dict[str, float]:
    """The first baseline: the network as training starts it (same seed, same init)."""
    torch.manual_seed(seed)
    untrained = CycleGANNetworks(cfg.network, discriminators=False)
    untrained.init_weights(cfg.network)
    generators = {"AtoB": untrained.g_ab, "BtoA": untrained.g_ba}
    return score(Translator(cfg.network, generators, torch.device("cpu"), "untrained"), data)


def _log_scores(scores: dict[str, dict[str, float]], log: Callable[[str], None]) -> None:
    log("\nheld-out test scenes, translation against the known true translation:")
    log(f"  {'model':<16} {'A->B MAE':>9} {'A->B PSNR':>10} {'B->A MAE':>9} {'B->A PSNR':>10}")
    for name, s in scores.items():
        log(
            f"  {name:<16} {s['AtoB_mae']:9.1f} {s['AtoB_psnr']:9.1f}dB "
            f"{s['BtoA_mae']:9.1f} {s['BtoA_psnr']:9.1f}dB"
        )


def verdict(
    trained: dict[str, float], done: int, steps: int, elapsed: float, minutes: float
) -> list[str]:
    """Whether the demo's model learned the translation, in words, and what to do if not."""
    worst = max(trained["AtoB_mae"], trained["BtoA_mae"])
    if done < steps:
        state = (
            "learned the translation all the same"
            if worst <= LEARNED_MAE
            else "has not learned the translation yet"
        )
        rate = done / max(elapsed, 1e-9)
        need = steps / max(rate, 1e-9) / 60
        return [
            f"STOPPED EARLY: {done} of {steps} steps in {minutes:g} minutes "
            f"({rate:.1f} steps/s: this machine is slow or busy).",
            f"The model {state} (worst MAE {worst:.1f}; {LEARNED_MAE:g} or less means "
            "shapes and colours come out right).",
            f"Give it the time it needs: cyclegan demo --out NEW_FOLDER --minutes {need:.0f}",
        ]
    if worst <= LEARNED_MAE:
        return [
            f"Learned: MAE {worst:.1f} or less both ways after {done} steps "
            f"({LEARNED_MAE:g} or less: shapes and colours come out right)."
        ]
    return [
        f"NOT LEARNED YET: worst MAE {worst:.1f} after {done} steps (above {LEARNED_MAE:g}); "
        "GAN training varies from run to run.",
        f"Train longer: cyclegan demo --out NEW_FOLDER --steps {2 * steps}",
    ]


def _save_examples(translator: Translator, data: Path, out: Path) -> Path:
    for direction, src, dst in (("AtoB", "testA", "testB"), ("BtoA", "testB", "testA")):
        for path in sorted((data / src).glob("*.png"))[:8]:
            x = load_image(path, 3)
            y = tensor_to_array(translator.translate_tensor(array_to_tensor(x)[None], direction)[0])
            truth = load_image(data / dst / path.name, 3)
            save_image(np.concatenate([x, y, truth], axis=1), out / direction / path.name)
    return out


class _DemoEvents(TrainingEvents):
    """Progress for the demo: a time estimate once the speed is known, then a line every
    30 seconds."""

    def __init__(self, log: Callable[[str], None], steps: int, minutes: float):
        self.log, self.steps, self.minutes = log, steps, minutes
        self.last, self.t0, self.step = time.monotonic(), time.monotonic(), 0
        self.estimated = False

    def scanning(self, *args) -> None: ...
    def skipped(self, *args) -> None: ...
    def saved(self, folder) -> None: ...
    def note(self, message: str) -> None:
        self.log(message)

    def started(self, info: dict) -> None:
        self.t0 = time.monotonic()
        self.log(
            f"  {info['images_a']} + {info['images_b']} training images on {info['device']} "
            f"({info['precision']})"
        )

    def stepped(self, info: dict) -> None:
        self.step = info["step"]
        now = time.monotonic()
        if not self.estimated and self.step >= 50:  # past the first, slower steps
            self.estimated = True
            total = (now - self.t0) / self.step * self.steps
            self.log(
                f"  {self.step / (now - self.t0):.1f} steps/s: about "
                f"{total / 60:.1f} minutes for {self.steps} steps"
            )
            if total > self.minutes * 60:
                self.log(
                    f"  that is more than --minutes {self.minutes:g}: this machine is slow or "
                    "busy, so training will stop early and the model may not be right yet "
                    f"(--minutes {total / 60 + 1:.0f} would let it finish)"
                )
        if now - self.last >= 30:
            self.last = now
            loss = info["losses"]
            self.log(
                f"  step {info['step']}/{self.steps}: cycle {loss['cycle_a']:.3f}/"
                f"{loss['cycle_b']:.3f}, {info['images_per_s']:.1f} img/s"
            )
