"""Unpaired training data: finding the two domains, checking them, and feeding the step.

Layouts recognised under a dataset folder (first match wins):

==========================  ==========================  ===================
domain A                    domain B                    from
==========================  ==========================  ===================
``trainA`` (+ ``testA``)    ``trainB`` (+ ``testB``)    the reference
``train_a`` (+ ``test_a``)  ``train_b`` (+ ``test_b``)  arcgis.learn
``A/images``                ``B/images``                arcgis.learn export
==========================  ==========================  ===================

Pairing, as in the reference: an epoch is ``max(|A|, |B|)`` samples; A is read
in a shuffled order (cycling when it is the smaller set), B is drawn at random.
Unlike the reference, every random choice of an epoch (order, B draws, crop
positions, flips) comes from a generator seeded by ``(seed, epoch)``, so an
epoch is the same whatever the number of workers, and a resumed run can start
in the middle of one.

Each sample is read and preprocessed by ``samples.py``: the reference's
``--preprocess`` modes, or windows of a raster scene.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cyclegan.config import TrainConfig
from cyclegan.data.domain import Domain, picture_domains
from cyclegan.data.imageio import (
    IMAGE_EXTENSIONS,
    array_to_tensor,
    is_image_file,
    open_image,
)
from cyclegan.data.rasters import check_readable, is_raster_path, raster_info
from cyclegan.data.samples import load_sample, scene_windows, windowed_size
from cyclegan.errors import DataError
from cyclegan.seeds import epoch_seed

LAYOUTS = (
    ("trainA", "trainB", "testA", "testB"),
    ("train_a", "train_b", "test_a", "test_b"),
    ("A/images", "B/images", None, None),
)


@dataclass(frozen=True)
class DomainFolders:
    train_a: Path
    train_b: Path
    test_a: Path | None
    test_b: Path | None


def find_domains(root: Path) -> DomainFolders:
    """The train (and test, when present) folders of both domains under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    for train_a, train_b, test_a, test_b in LAYOUTS:
        a, b = root / train_a, root / train_b
        if a.is_dir() or b.is_dir():
            for folder in (a, b):
                if not folder.is_dir():
                    raise DataError(f"{root}: found {a if folder is b else b} but not {folder}")
            ta = root / test_a if test_a and (root / test_a).is_dir() else None
            tb = root / test_b if test_b and (root / test_b).is_dir() else None
            return DomainFolders(a, b, ta, tb)
    raise DataError(
        f"{root}: no domain folders found; expected trainA/ and trainB/ "
        "(or train_a/ and train_b/, or A/images/ and B/images/)"
    )


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder``, recursively, in a stable order."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_file(p))


def check_images(
    paths: list[Path], min_size: int = 1, progress: Callable[[int], None] | None = None
) -> list[tuple[Path, str]]:
    """Decode every file; return ``(path, reason)`` for each one that cannot be used."""
    bad = []
    for i, path in enumerate(paths):
        try:
            size = _raster_size(path)
            if size is None:
                size = open_image(path).size
            if min(size) < min_size:
                bad.append((path, f"{size[0]}x{size[1]} is smaller than the crop size {min_size}"))
        except DataError as exc:
            bad.append((path, str(exc).removeprefix(f"{path}: ")))
        if progress:
            progress(i + 1)
    return bad


def training_images(
    cfg: TrainConfig,
    scanning: Callable[[str, int, int], None],
    skipped: Callable[[str, list], None],
) -> tuple[DomainFolders, dict[str, list[Path]]]:
    """The dataset's folders, and each domain's usable training images, checked up front:
    ``scanning(domain, done, total)`` as files are checked, ``skipped(domain, bad)``."""
    folders = find_domains(Path(cfg.data))
    files = {}
    for domain, folder in (("A", folders.train_a), ("B", folders.train_b)):
        files[domain], bad = resolve_images(
            folder, cfg, domain, lambda d, t, domain=domain: scanning(domain, d, t)
        )
        if bad:
            skipped(domain, bad)
    return folders, files


def _raster_size(path: Path) -> tuple[int, int] | None:
    """A raster's (width, height) from its header, checked readable; None for a picture
    (which Pillow then decodes in full)."""
    if not is_raster_path(path):
        return None
    info = raster_info(path)
    if info.plain_image:
        return None
    check_readable(info)
    return info.width, info.height


def resolve_images(
    folder: Path, cfg: TrainConfig, label: str, progress: Callable[[int, int], None] | None = None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """List and check one domain's images; raises unless ``skip_bad_images`` is set."""
    files = list_images(folder)
    others = [
        p
        for p in Path(folder).rglob("*")
        if p.is_file() and not is_image_file(p) and not p.name.startswith(".")
    ]
    if not files:
        raise DataError(
            f"domain {label} folder {folder} contains no images "
            f"(looked for {', '.join(IMAGE_EXTENSIONS)})"
        )
    if cfg.max_dataset_size:
        files = files[: cfg.max_dataset_size]
    min_size = cfg.crop_size if cfg.preprocess == "crop" else 1
    bad = check_images(files, min_size, (lambda i: progress(i, len(files))) if progress else None)
    bad += [(p, "not an image file (unknown extension)") for p in others]
    if bad and not cfg.skip_bad_images:
        listing = "\n".join(f"  {p}: {why}" for p, why in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise DataError(
            f"domain {label}: {len(bad)} file(s) cannot be used:\n{listing}{more}\n"
            "Remove or fix them, or pass --skip-bad-images to train without them."
        )
    bad_set = {p for p, _ in bad}
    good = [p for p in files if p not in bad_set]
    if not good:
        raise DataError(f"domain {label} folder {folder}: none of its images can be used")
    return good, bad


class UnpairedImages(Dataset):
    """Indexed by ``(a_index, b_index, seed)`` triples from ``EpochPlan``."""

    def __init__(
        self,
        files_a: list[Path],
        files_b: list[Path],
        cfg: TrainConfig,
        domains: dict[str, Domain] | None = None,
    ):
        self.files_a, self.files_b, self.cfg = files_a, files_b, cfg
        net = cfg.network
        self.domains = domains or picture_domains(net)
        # Sizes of rasters read by windows, read once here rather than at every sample.
        self.sizes_a = [windowed_size(p, self.domains["A"], cfg) for p in files_a]
        self.sizes_b = [windowed_size(p, self.domains["B"], cfg) for p in files_b]
        # Sample slots: one per file, or one per crop window of a raster scene.
        self.slots_a = self._slots(self.sizes_a)
        self.slots_b = self._slots(self.sizes_b)

    def _slots(self, sizes: list[tuple[int, int] | None]) -> list[int]:
        crop = self.cfg.crop_size
        return [i for i, size in enumerate(sizes) for _ in range(scene_windows(size, crop))]

    @property
    def sizes(self) -> tuple[int, int]:
        """Samples per epoch of A and B, as ``EpochPlan`` counts them."""
        return len(self.slots_a), len(self.slots_b)

    def __len__(self) -> int:
        return max(self.sizes)

    def __getitem__(self, item: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        a_index, b_index, seed = item
        rng_a, rng_b = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        i, j = self.slots_a[a_index], self.slots_b[b_index]
        a = load_sample(self.domains["A"], self.files_a[i], self.cfg, rng_a, self.sizes_a[i])
        b = load_sample(self.domains["B"], self.files_b[j], self.cfg, rng_b, self.sizes_b[j])
        return {
            "a": array_to_tensor(a),
            "b": array_to_tensor(b),
            "a_index": a_index,
            "b_index": b_index,
        }


class EpochPlan:
    """Every sample of an epoch, decided up front from ``(seed, epoch)``.

    Iterating from ``start`` skips the first batches without loading them, which
    is how a run resumed mid-epoch continues exactly where it stopped. With
    several processes, each takes every ``world``-th sample from ``rank`` on.
    """

    def __init__(
        self, n_a: int, n_b: int, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ):
        self.n_a, self.n_b, self.batch_size = n_a, n_b, batch_size
        self.seed, self.rank, self.world = seed, rank, world
        self.samples_per_rank = -(-max(n_a, n_b) // world)
        self.epoch, self.start = 1, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """What the next iteration (the DataLoader's) yields: ``epoch`` from batch ``start``."""
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        return self.batches(self.epoch, self.start)

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return -(-self.samples_per_rank // self.batch_size)

    def samples(self, epoch: int) -> list[tuple[int, int, int]]:
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        n = max(self.n_a, self.n_b)
        order = torch.randperm(n, generator=g)
        b_draws = torch.randint(self.n_b, (n,), generator=g)
        seeds = torch.randint(2**62, (n,), generator=g)
        # Pad so every rank gets the same count (DDP needs equal steps), reusing the start.
        total = self.samples_per_rank * self.world
        idx = [i % n for i in range(total)][self.rank :: self.world]
        return [(int(order[i]) % self.n_a, int(b_draws[i]), int(seeds[i])) for i in idx]

    def batches(self, epoch: int, start: int = 0) -> Iterator[list[tuple[int, int, int]]]:
        s = self.samples(epoch)
        for i in range(start, len(self)):
            yield s[i * self.batch_size : (i + 1) * self.batch_size]
