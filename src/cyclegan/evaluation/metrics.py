"""Image-quality numbers: set distances on features (FID, KID) and paired pixel metrics.

All functions are plain NumPy on arrays and know nothing of networks or files.

- Frechet distance (Heusel et al. 2017) between Gaussians fitted to two feature
  sets: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the matrix
  square root is taken as the sum of square roots of the eigenvalues of
  S1^(1/2) S2 S1^(1/2), which is symmetric positive semi-definite, so no complex
  parts appear as with a general ``sqrtm`` of the non-symmetric S1 S2. With fewer
  images than dimensions (the usual test set against Inception's 2048), the same
  trace is the sum of the singular values of the centred features' product
  X1 X2' / sqrt((n1 - 1)(n2 - 1)): exact, and on 2 CPU cores 1.7 s became under
  0.05 s up to 500 images (``benchmarks/fid_small_sets.py``).
- KID (Binkowski et al. 2018): the unbiased estimate of the squared MMD with the
  kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets; mean and
  standard deviation over the subsets.
- PSNR, SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01,
  K2 0.03, averaged over channels) and per-pixel accuracy within a threshold,
  for images in [0, 1] as ``H x W x C`` arrays.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    if features.shape[0] < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(value, 0.0))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID of two feature sets (rows). With fewer images than feature dimensions (a
    test set of a few hundred against Inception's 2048), the same number from the
    centred features themselves, in a fraction of the time (``_fid_of_few``)."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if min(len(a), len(b)) < a.shape[1]:
        return _fid_of_few(a, b)
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def _fid_of_few(a: np.ndarray, b: np.ndarray) -> float:
    """With centred features X (n x d), S = X'X / (n - 1), so tr S = |X|^2 / (n - 1),
    and the non-zero eigenvalues of S1 S2 are the squared singular values of
    X1 X2' / sqrt((n1 - 1)(n2 - 1)): tr (S1 S2)^(1/2) is the sum of those singular
    values. An n1 x n2 problem instead of two d x d eigendecompositions."""
    if min(len(a), len(b)) < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    xa, xb = a - mean_a, b - mean_b
    na, nb = len(a) - 1, len(b) - 1
    trace_sqrt = np.linalg.svd(xa @ xb.T, compute_uv=False).sum() / np.sqrt(na * nb)
    diff = mean_a - mean_b
    value = diff @ diff + (xa * xa).sum() / na + (xb * xb).sum() / nb - 2 * trace_sqrt
    return float(max(value, 0.0))


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sum_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    sum_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2 * k_xy.mean())


def kid(
    features_a: np.ndarray,
    features_b: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over ``subsets`` random subsets of each set."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least 2 images in each set")
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd2(
            a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _gaussian_filter(img: np.ndarray, sigma: float = 1.5, size: int = 11) -> np.ndarray:
    """Separable 'valid' Gaussian filtering of a 2-D array."""
    r = np.arange(size) - size // 2
    k = np.exp(-(r**2) / (2 * sigma**2))
    k /= k.sum()
    rows = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, img)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, rows)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM over channels of two ``H x W x C`` images in [0, 1] (sides >= 11)."""
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for ch in range(x.shape[2]):
        a, b = x[..., ch].astype(np.float64), y[..., ch].astype(np.float64)
        mu_a, mu_b = _gaussian_filter(a), _gaussian_filter(b)
        var_a = _gaussian_filter(a * a) - mu_a**2
        var_b = _gaussian_filter(b * b) - mu_b**2
        cov = _gaussian_filter(a * b) - mu_a * mu_b
        num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
        den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        values.append(float(np.mean(num / den)))
    return float(np.mean(values))


def pixel_accuracy(x: np.ndarray, y: np.ndarray, threshold: float = 5 / 255) -> float:
    """Share of pixels whose every channel is within ``threshold`` of the target
    (the maps task's metric: a pixel is right when all its channels are)."""
    close = np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)) <= threshold + 1e-9
    return float(np.mean(close.all(axis=2)))


def direction_mean(directions: dict[str, dict], metric: str) -> float | None:
    """``metric`` (``kid`` meaning ``kid_mean``) averaged over the directions that
    measured it: the one number ``evaluate`` and validation choose checkpoints by,
    lower or higher better as the metric is. None when no direction measured it."""
    key = "kid_mean" if metric == "kid" else metric
    values = [scores[key] for scores in directions.values() if key in scores]
    return float(np.mean(values)) if values else None


def band_errors(
    pred: np.ndarray, truth: np.ndarray, valid: np.ndarray, data_range: np.ndarray
) -> dict[str, list[float] | float]:
    """Paired errors of a raster translation in the data's own units, band by band:
    RMSE and MAE, PSNR against each band's ``data_range`` (its high minus low), and
    for two or more bands the mean spectral angle (SAM, degrees) between each
    pixel's predicted and true spectra. ``pred`` and ``truth`` are ``N x H x W x C``
    (or ``H x W x C``); only pixels where ``valid`` is True count."""
    pred = np.asarray(pred, np.float64).reshape(-1, pred.shape[-1])
    truth = np.asarray(truth, np.float64).reshape(-1, truth.shape[-1])
    keep = np.asarray(valid, bool).reshape(-1)
    pred, truth = pred[keep], truth[keep]
    diff = pred - truth
    mse = (diff**2).mean(axis=0)
    rng = np.asarray(data_range, np.float64)
    result: dict[str, list[float] | float] = {
        "rmse": np.sqrt(mse).tolist(),
        "mae": np.abs(diff).mean(axis=0).tolist(),
        "psnr": (10 * np.log10(rng**2 / np.maximum(mse, 1e-12))).tolist(),
        "pixels": int(keep.sum()),
    }
    if pred.shape[1] >= 2:
        dot = (pred * truth).sum(axis=1)
        norms = np.linalg.norm(pred, axis=1) * np.linalg.norm(truth, axis=1)
        cos = np.clip(dot / np.maximum(norms, 1e-12), -1.0, 1.0)
        result["sam_degrees"] = float(np.degrees(np.arccos(cos)).mean())
    return result
