"""Validation while training: a fixed held-out sample translated both ways, scored.

The sample is chosen once per run (``held_out`` and ``ValidationSample``): the
dataset's test folders when they hold at least ``MIN_IMAGES`` images per domain,
otherwise a seeded share of the training images, set aside from training (the
run writes which files in ``validation_split.json``). Each image is seen as the
run sees it: its preprocessing, centre crop, no flip.

Each validation translates the sample both ways with the live generators,
exactly as ``cyclegan translate`` would (``Translator``), and measures per
direction, against the real images of the target domain:

- ``kid_mean``, ``kid_std`` and ``fid`` (with ``n_fake``, ``n_real``) on the
  TF-FID Inception features of ``evaluate`` (real images' features computed once
  per run and cached in the run folder); absent when the Inception weights are not
  installed, which the result says;
- ``cycle_l1``: |translated back - input| on a 0-1 scale;
- the alarms of ``health.translations``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cyclegan import directions
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.data.datasets import check_images, list_images
from cyclegan.data.domain import Domain, picture_domains
from cyclegan.data.imageio import array_to_tensor, tensor_to_array, to_uint8
from cyclegan.evaluation import health, metrics
from cyclegan.evaluation.inception import (
    FeatureCache,
    InceptionFeatures,
    MetricsUnavailable,
    set_distance,
)
from cyclegan.fields import write_json
from cyclegan.inference.batching import one_size_batches
from cyclegan.inference.translate import Translator
from cyclegan.model.layout import RunFiles
from cyclegan.settings import Evaluation

MIN_IMAGES = 8  # test folders with fewer images per domain than this are too few to score


def held_out(files: list[Path], count: int, seed: int, domain: str) -> tuple[list, list]:
    """(training files, validation files): a seeded ``count`` of ``files`` set aside, at
    most a fifth of them, so that training keeps the rest."""
    count = min(count, len(files) // 5)
    order = np.random.default_rng([seed, ord(domain)]).permutation(len(files))
    chosen = set(order[:count].tolist())
    keep = [f for i, f in enumerate(files) if i not in chosen]
    return keep, [f for i, f in enumerate(files) if i in chosen]


@dataclass
class ValidationSample:
    """The fixed images of both domains, as ``(1, C, H, W)`` tensors in [-1, 1]."""

    a: list[torch.Tensor]
    b: list[torch.Tensor]
    source: str  # where the images come from, in words
    domains: tuple = (None, None)  # A's and B's Domain: how a raster shows as RGB for FID/KID

    @classmethod
    def load(
        cls,
        files_a: list[Path],
        files_b: list[Path],
        cfg: TrainConfig,
        source: str,
        domains: dict[str, Domain] | None = None,
    ):
        from cyclegan.data.samples import load_sample

        net = cfg.network
        domains = domains or picture_domains(net)

        def tensors(files, domain):
            return [array_to_tensor(load_sample(domain, p, cfg))[None] for p in files]

        return cls(
            tensors(files_a, domains["A"]),
            tensors(files_b, domains["B"]),
            source,
            (domains["A"], domains["B"]),
        )


def _rgb8(t: torch.Tensor, domain: Domain | None) -> np.ndarray:
    """What Inception sees: the picture, a raster's RGB composite, or gray as RGB."""
    a = tensor_to_array(t[0])
    if domain is not None:
        return to_uint8(domain.display(a))
    return to_uint8(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a)


class Validator:
    """Scores the live generators on a ``ValidationSample``."""

    def __init__(self, sample: ValidationSample, cache_dir: Path, device: torch.device):
        self.sample = sample
        self.cache = FeatureCache(cache_dir)
        self.note = ""
        self.estimate = 0.0  # seconds a validation will take, before the first is timed
        self.setup_seconds = 0.0  # spent here on the real images' features
        try:
            self.extractor: InceptionFeatures | None = InceptionFeatures(device, batch_size=16)
        except MetricsUnavailable as exc:
            self.extractor, self.note = None, f"no FID/KID during validation: {exc}"
            return
        # The real images' features, once per run (cached in the run folder); timing them
        # tells what a validation will cost: as many images through Inception again (the
        # translations cost little beside them, and this first pass also pays for the
        # network's warm-up, which makes up for them).
        start = time.perf_counter()
        for images, domain in zip((sample.a, sample.b), sample.domains, strict=True):
            self.cache.features([_rgb8(t, domain) for t in images], self.extractor)
        self.setup_seconds = time.perf_counter() - start
        self.estimate = self.setup_seconds

    def __call__(
        self, g_ab: torch.nn.Module, g_ba: torch.nn.Module, network: NetworkConfig, precision: str
    ) -> dict:
        start = time.perf_counter()
        was_training = g_ab.training, g_ba.training
        device = next(g_ab.parameters()).device
        try:
            live = Translator(network, {"AtoB": g_ab, "BtoA": g_ba}, device, "training", precision)
            result: dict = {"alarms": []}
            a, b = self.sample.domains
            for direction, source, target, shown in (
                ("AtoB", self.sample.a, self.sample.b, b),
                ("BtoA", self.sample.b, self.sample.a, a),
            ):
                scores, alarms = self._direction(live, direction, source, target, shown)
                result[direction] = scores
                result["alarms"] += [a.as_dict() for a in alarms]
        finally:
            g_ab.train(was_training[0]), g_ba.train(was_training[1])
        result["seconds"] = time.perf_counter() - start
        return result

    def _direction(self, live: Translator, direction: str, source: list, target: list, shown):
        back = directions.back(direction)
        fakes = _translated(live, source, direction)
        recs = _translated(live, fakes, back)
        errors = [(r - x).abs().mean().item() / 2 for r, x in zip(recs, source, strict=True)]
        scores = {"cycle_l1": float(np.mean(errors)), "n": len(source)}
        if self.extractor is not None and len(fakes) >= 2 and len(target) >= 2:
            fake8, real8 = [_rgb8(f, shown) for f in fakes], [_rgb8(t, shown) for t in target]
            scores.update(set_distance(fake8, real8, self.extractor, self.cache))
        alarms = []
        if len({tuple(x.shape) for x in source + fakes}) == 1:  # one size: compare as a batch
            alarms = health.translations(torch.cat(source), torch.cat(fakes), direction)
        return scores, alarms


def _translated(live: Translator, images: list[torch.Tensor], direction: str) -> list:
    """``(1, C, H, W)`` images translated in batches of one size (``batching.py``)."""
    sizes = [(*x.shape[-2:], x.shape[-3]) for x in images]
    out: list[torch.Tensor] = []
    for batch in one_size_batches(sizes, Evaluation.batch_size):
        x = torch.cat([images[i] for i in batch]).to(live.device)
        out += live.translate_tensor(x, direction).cpu().split(1)
    return out


def validation_sample(cfg: TrainConfig, folders, files: dict, note: Callable[[str], None]):
    """(training files, validation files, where the latter come from) for each domain:
    the test folders when both hold enough usable images, else a seeded share held out
    of ``files``, which training then does without (the two never share an image)."""
    if not cfg.val_images:
        return files, {}, ""
    min_size = cfg.crop_size if cfg.preprocess == "crop" else 1  # as for training images
    usable = {}
    for domain, folder in (("A", folders.test_a), ("B", folders.test_b)):
        listed = list_images(folder) if folder else []
        bad = {p for p, _ in check_images(listed, min_size)}
        usable[domain] = [p for p in listed if p not in bad]
    if all(len(usable[d]) >= MIN_IMAGES for d in "AB"):
        picks = {}
        for d in "AB":
            spread = np.linspace(0, len(usable[d]) - 1, min(cfg.val_images, len(usable[d])))
            picks[d] = [usable[d][i] for i in spread.astype(int)]
        return files, picks, "the test folders"
    split = {d: held_out(files[d], cfg.val_images, cfg.seed, d) for d in "AB"}
    picks = {d: held for d, (_, held) in split.items()}
    if min(len(picks["A"]), len(picks["B"])) < 2:  # training keeps every image then
        note(
            "no validation: the test folders hold too few images and the training folders "
            f"too few to set {cfg.val_images} aside (at most a fifth of each is)"
        )
        return files, {}, ""
    source = (
        f"held out of training: {len(picks['A'])} A and {len(picks['B'])} B images "
        f"(seed {cfg.seed})"
    )
    note(f"validation images {source}; listed in validation_split.json")
    return {d: keep for d, (keep, _) in split.items()}, picks, source


def write_split(run: Path, data: str, picks: dict, source: str) -> None:
    """``RUN/validation_split.json``: where the sample comes from and its files."""

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(data))
        except ValueError:
            return str(p)

    write_json(
        RunFiles(run).validation_split,
        {"source": source, **{d: [rel(p) for p in picks[d]] for d in "AB"}},
    )


def score(result: dict, metric: str) -> float | None:
    """One number per validation, lower is better: ``metric`` averaged over directions
    (None when it was not measured)."""
    return metrics.direction_mean({d: result[d] for d in ("AtoB", "BtoA") if d in result}, metric)
