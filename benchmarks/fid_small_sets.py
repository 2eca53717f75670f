"""FID on sets smaller than the feature dimension: the time of the two ways to compute
it, and how far apart their numbers are.

``metrics.fid`` takes the trace of (S1 S2)^(1/2) from the singular values of the
centred features' product when either set has fewer images than dimensions (as a
test set of a few hundred images has against Inception's 2048); before 2026-12-06
it always took two eigendecompositions of 2048 x 2048 matrices
(``metrics.frechet_distance`` of the fitted Gaussians, still used for larger sets).
Both are timed here, side by side in one run, on features shaped like Inception's
(correlated, 2048-d, non-negative), for several set sizes.

Usage:
    python benchmarks/fid_small_sets.py [--sizes 15 100 500 1500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.evaluation import metrics


def features(rng: np.random.Generator, n: int, d: int, shift: float) -> np.ndarray:
    """``n`` correlated, non-negative ``d``-dimensional features (pool3 is post-ReLU)."""
    mixing = np.random.default_rng(1).normal(size=(d // 8, d)) / np.sqrt(d // 8)
    return np.abs(rng.normal(loc=shift, size=(n, d // 8)) @ mixing)


def best_of(repeat: int, fn, *args) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), value


def eigen(a: np.ndarray, b: np.ndarray) -> float:
    """The way before 2026-12-06: the Frechet distance of the two fitted Gaussians."""
    return metrics.frechet_distance(*metrics.gaussian_stats(a), *metrics.gaussian_stats(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 100, 500, 1500])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(describe_machine(torch.device("cpu")), f"torch {torch.__version__}")
    print(f"{'images':>7} {'eigen (s)':>10} {'singular (s)':>13} {'speed-up':>9} {'rel. diff':>10}")
    for n in args.sizes:
        a, b = features(rng, n, args.dim, 0.0), features(rng, n, args.dim, 0.3)
        t_eigen, v_eigen = best_of(args.repeat, eigen, a, b)
        t_few, v_few = best_of(args.repeat, metrics.fid, a, b)
        diff = abs(v_eigen - v_few) / v_eigen
        print(f"{n:>7} {t_eigen:>10.3f} {t_few:>13.4f} {t_eigen / t_few:>8.0f}x {diff:>10.1e}")


if __name__ == "__main__":
    main()
