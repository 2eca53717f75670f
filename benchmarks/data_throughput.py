"""How many training pairs a second the data loader delivers, by worker count.

Issue 20 asks that the GPU never waits: a step of about 10 ms at batch 1 needs 100
image pairs a second, batch 4 several hundred. This builds a real run's loader (the
paper's preprocessing: JPEGs resized to ``--load-size``, a random ``--crop-size`` crop
and flip) on ``--data`` and drains it with 0 (the training process itself), 1, 2, ...
workers, without training, so the numbers are the loader's alone. Each worker is one
process; with ``--workers 0 1 2`` on a 2-core machine the per-worker rate is the
figure that carries over to a GPU machine's cores.

Usage: python benchmarks/data_throughput.py [--data ../shared/datasets/cat2dog_afhq]
       [--workers 0 1 2] [--batches 60] [--batch-size 1] [--crop-size 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.config import TrainConfig
from cyclegan.training.build import build_run


def drain(cfg: TrainConfig, batches: int) -> tuple[float, float]:
    """(pairs a second after the first batch, seconds to the first batch)."""
    run = build_run(cfg)
    try:
        start = time.perf_counter()
        loader = iter(run.loader)
        next(loader)
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(batches):
            next(loader)
        return batches * cfg.batch_size / (time.perf_counter() - start), first
    finally:
        run.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/cat2dog_afhq"))
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=60, help="batches timed per count")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--crop-size", type=int, default=256)
    args = parser.parse_args()
    load = args.crop_size * 286 // 256  # the paper's 286 for 256
    print(f"{describe_machine(torch.device('cpu'))}; torch {torch.__version__}; "
          f"{time.strftime('%Y-%m-%d')}; {args.data.name}, load {load} crop {args.crop_size}, "
          f"batch {args.batch_size}")  # fmt: skip
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(data=str(args.data), run=str(Path(tmp) / "run"),
                              load_size=load, crop_size=args.crop_size,
                              batch_size=args.batch_size, num_workers=workers,
                              val_images=0, report=False)  # fmt: skip
            rate, first = drain(cfg, args.batches)
        per = f", {rate / workers:.1f} per worker" if workers else ""
        print(f"  {workers} workers: {rate:7.1f} pairs/s{per} (first batch after {first:.2f} s)")


if __name__ == "__main__":
    main()
