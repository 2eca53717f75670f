"""FID, KID and paired metrics against independent oracles and invariants."""

from __future__ import annotations

import numpy as np
import pytest

from cyclegan.evaluation import metrics


def _random_cov(rng, d):
    m = rng.normal(size=(d, d))
    return m @ m.T / d + np.eye(d) * 0.1


def test_frechet_distance_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    for d in (2, 5, 16):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
        root = linalg.sqrtm(s1 @ s2).real
        oracle = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
        assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(oracle, rel=1e-8)


def test_fid_of_fewer_images_than_dimensions_is_the_full_formula():
    """The shortcut for a few hundred images against 2048 dimensions (singular values of
    an n1 x n2 product) gives the Frechet distance of the fitted Gaussians."""
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(4)
    for n1, n2, d in ((20, 30, 64), (9, 9, 40), (40, 12, 100)):
        a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
        b = rng.normal(loc=0.3, size=(n2, d)) * 1.5
        (mu1, s1), (mu2, s2) = metrics.gaussian_stats(a), metrics.gaussian_stats(b)
        root = linalg.sqrtm(s1 @ s2).real  # the reference implementations' way
        oracle = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
        assert metrics.fid(a, b) == pytest.approx(oracle, rel=1e-6)
        assert metrics.fid(a, b) == pytest.approx(
            metrics.frechet_distance(mu1, s1, mu2, s2), rel=1e-6
        )
    assert metrics.fid(a, a) == pytest.approx(0, abs=1e-9)


def test_kid_matches_the_direct_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 4)), rng.normal(loc=0.3, size=(10, 4))
    k = lambda a, b: (a @ b / 4 + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    # equal sizes: the one subset is each whole set (in some order), so it must agree
    mean, std = metrics.kid(x, y, subsets=1, subset_size=100)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-10) and std == 0


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_shift():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(200, 8))
    assert metrics.fid(feats, feats) == pytest.approx(0, abs=1e-8)
    shifts = [metrics.fid(feats, feats + s) for s in (0.1, 0.5, 1.0)]
    assert shifts == sorted(shifts) and shifts[0] > 0


def test_paired_metrics_on_known_cases():
    rng = np.random.default_rng(3)
    img = rng.random((20, 24, 3))
    assert metrics.psnr(img, img) == float("inf")
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    assert metrics.psnr(img, np.clip(img + 0.1, 0, 1)) < 30
    assert metrics.ssim(img, rng.random((20, 24, 3))) < 0.2
    off = img.copy()
    off[:10] += 0.5  # half the rows far off
    assert metrics.pixel_accuracy(img, off) == pytest.approx(0.5)
    assert metrics.psnr(np.zeros((4, 4, 1)), np.full((4, 4, 1), 0.1)) == pytest.approx(20.0)
