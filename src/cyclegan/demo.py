"""``cyclegan demo``: train on generated scenes whose true translation is known, and score it.

Every scene is a few shapes (circles, squares, triangles) on a sky. Domain A
draws it by day: a light sky, red circles, green squares, blue triangles.
Domain B draws it as a night negative: every colour inverted (the sky turns
dark, red turns cyan), and each shape outlined in white. Learning it takes
both a colour mapping and spatial work (finding edges, drawing or erasing
outlines).

The training folders hold *different* scenes in each style (unpaired data, as
a real user has), so the model never sees a pair. The test folders hold
held-out scenes drawn in both styles under the same file name, so the true
translation of every test image is known, and the demo says how close its
translations come next to two baselines: the untrained network, and returning
the input unchanged.

Why one global colour transform rather than a free palette per domain: from
unpaired data, a model that swapped two shape colours would fool the
discriminator just as well, so the "true" answer would not be identifiable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.errors import ConfigError
from cyclegan.imageio import array_to_tensor, load_image, save_image, tensor_to_array
from cyclegan.networks import CycleGANNetworks
from cyclegan.trainer import train
from cyclegan.translate import Translator, load_translator

SIZE = 64
SKY = ((0.55, 0.75, 0.95), (0.95, 0.95, 0.85))  # top, bottom
COLOURS = {
    "circle": (0.90, 0.20, 0.20),
    "square": (0.20, 0.60, 0.20),
    "triangle": (0.20, 0.30, 0.80),
}
SHAPES = tuple(COLOURS)
OUTLINE = 0.025  # outline width in B, as a fraction of the image side


def random_scene(rng: np.random.Generator) -> list[tuple[str, float, float, float]]:
    """2-4 shapes as (kind, centre x, centre y, radius), in image fractions."""
    count = int(rng.integers(2, 5))
    return [
        (SHAPES[int(rng.integers(3))], *rng.uniform(0.18, 0.82, 2), rng.uniform(0.08, 0.16))
        for _ in range(count)
    ]


def _shape_mask(
    kind: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float
) -> np.ndarray:
    if kind == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if kind == "square":
        return (abs(x - cx) <= r * 0.9) & (abs(y - cy) <= r * 0.9)
    return (y <= cy + r * 0.7) & (y - (cy - r) >= 1.7 * abs(x - cx))  # upward triangle


def render(scene: list, style: str, size: int = SIZE, supersample: int = 4) -> np.ndarray:
    """Draw a scene in a style: float ``H x W x 3`` in [0, 1], anti-aliased by supersampling."""
    n = size * supersample
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    top, bottom = (np.array(c, dtype=np.float32) for c in SKY)
    img = top + (bottom - top) * y[..., None]
    if style == "B":
        img = 1.0 - img
    for kind, cx, cy, r in scene:
        mask = _shape_mask(kind, x, y, cx, cy, r)
        colour = np.array(COLOURS[kind], dtype=np.float32)
        img[mask] = colour if style == "A" else 1.0 - colour
        if style == "B":  # a ring: inside the shape, but not inside the shape shrunk inwards
            inner = _shape_mask(kind, x, y, cx, cy, r - OUTLINE * 1.6)
            img[mask & ~inner] = 1.0
    return img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))


def make_dataset(root: Path, n_train: int = 300, n_test: int = 16, seed: int = 0) -> Path:
    """trainA/trainB with different scenes; testA/testB with the same scenes in both styles."""
    rng = np.random.default_rng(seed)
    for style in ("A", "B"):
        for i in range(n_train):
            save_image(render(random_scene(rng), style), root / f"train{style}" / f"{i:04d}.png")
    for i in range(n_test):
        scene = random_scene(rng)
        for style in ("A", "B"):
            save_image(render(scene, style), root / f"test{style}" / f"{i:04d}.png")
    return root


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


def demo_config(data: Path, run: Path, minutes: float, seed: int) -> TrainConfig:
    """A small, fast CycleGAN: 64 px, ResNet-6 with 16 filters, constant learning rate."""
    return TrainConfig(
        data=str(data),
        run=str(run),
        seed=seed,
        preprocess="none",
        num_workers=0,
        network=NetworkConfig(net_g="resnet_6blocks", ngf=16, ndf=16),
        n_epochs=1000,
        n_epochs_decay=0,
        max_minutes=minutes,
        save_epoch_freq=1000,
        log_every=25,
    )


def run_demo(
    out: Path, minutes: float = 4.0, seed: int = 0, log: Callable[[str], None] = print
) -> dict[str, dict[str, float]]:
    """Generate data, train for ``minutes``, score against baselines, save example strips."""
    out = Path(out)
    data, run = out / "data", out / "run"
    if run.exists():
        raise ConfigError(f"{run} already exists: pass another --out folder or remove it")
    log(f"generating demo scenes in {data}")
    make_dataset(data, seed=seed)
    cfg = demo_config(data, run, minutes, seed)

    torch.manual_seed(seed)
    untrained = CycleGANNetworks(cfg.network, discriminators=False)
    untrained.init_weights(cfg.network)
    baseline = score(
        Translator(
            cfg.network,
            {"AtoB": untrained.g_ab, "BtoA": untrained.g_ba},
            torch.device("cpu"),
            "untrained",
        ),
        data,
    )

    log(f"training for {minutes:g} minutes (run folder: {run})")
    started = time.perf_counter()
    final = train(cfg, events=_DemoEvents(log))
    log(f"trained in {time.perf_counter() - started:.0f} s; checkpoint {final}")

    trained = load_translator(run, device="cpu")
    scores = {
        "trained": score(trained, data),
        "untrained": baseline,
        "input unchanged": _identity_score(data),
    }
    strips = _save_examples(trained, data, out / "translations")
    log("\nheld-out test scenes, translation against the known true translation:")
    log(f"  {'model':<16} {'A->B MAE':>9} {'A->B PSNR':>10} {'B->A MAE':>9} {'B->A PSNR':>10}")
    for name, s in scores.items():
        log(
            f"  {name:<16} {s['AtoB_mae']:9.1f} {s['AtoB_psnr']:9.1f}dB "
            f"{s['BtoA_mae']:9.1f} {s['BtoA_psnr']:9.1f}dB"
        )
    log("  (MAE on a 0-255 scale: lower is better; PSNR: higher is better)")
    log(f"\nlook at: {strips}  (each strip: input | translation | true translation)")
    log(f"losses: {run / 'losses.jsonl'}; model: {final}")
    log(
        f"translate your own: cyclegan translate --model {run} --direction AtoB "
        f"--input {data / 'testA'} --output {out / 'mine'}"
    )
    return scores


def _save_examples(translator: Translator, data: Path, out: Path) -> Path:
    for direction, src, dst in (("AtoB", "testA", "testB"), ("BtoA", "testB", "testA")):
        for path in sorted((data / src).glob("*.png"))[:8]:
            x = load_image(path, 3)
            y = tensor_to_array(translator.translate_tensor(array_to_tensor(x)[None], direction)[0])
            truth = load_image(data / dst / path.name, 3)
            save_image(np.concatenate([x, y, truth], axis=1), out / direction / path.name)
    return out


class _DemoEvents:
    """Progress for the demo: a line every 30 seconds."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.last = log, time.monotonic()

    def scanning(self, *args) -> None: ...
    def skipped(self, *args) -> None: ...
    def saved(self, folder) -> None: ...
    def note(self, message: str) -> None:
        self.log(message)

    def started(self, info: dict) -> None:
        self.log(f"  {info['images_a']} + {info['images_b']} training images on {info['device']}")

    def stepped(self, info: dict) -> None:
        if time.monotonic() - self.last >= 30:
            self.last = time.monotonic()
            loss = info["losses"]
            self.log(
                f"  step {info['step']}: cycle {loss['cycle_a']:.3f}/{loss['cycle_b']:.3f}, "
                f"{info['images_per_s']:.1f} img/s"
            )
