"""Which settings let the EO demo learn: the table in docs/benchmarks.md ("Rasters").

Trains the EO demo's network (``demo_eo.eo_config``) on its generated scenes under
each setting and prints the RMSE per band of the held-out test scenes, both ways:

- ``demo``: the demo itself (speckle of 32 looks, learning rate 2e-4);
- ``raw-speckle``: 4-look speckle (about 2.3 dB), lr 2e-4;
- ``lr-1e-3``: 32 looks at the shapes demo's rate, 1e-3;
- ``8-looks-lr-1e-3``: 8 looks, lr 1e-3, 2,500 steps;
- ``padded``: arcgis.learn's way, domain A's one band repeated to four so that the
  identity loss (0.5) applies, 32 looks, lr 2e-4.

Each run takes about 3 minutes on two CPU cores (``--only NAME`` runs one). The
numbers in the docs came from these settings with seed 0 on the machine named there.

Usage:
    python benchmarks/eo_demo_settings.py [--only NAME] [--out bench_out/eo_settings]
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from cyclegan.apps import demo_eo
from cyclegan.data.rasters import read_raster
from cyclegan.inference.translate import load_translator
from cyclegan.training.trainer import train

SETTINGS = {  # name: (looks, learning rate, steps, padded)
    "demo": (32, 2e-4, 2000, False),
    "raw-speckle": (4, 2e-4, 2000, False),
    "lr-1e-3": (32, 1e-3, 2000, False),
    "8-looks-lr-1e-3": (8, 1e-3, 2500, False),
    "padded": (32, 2e-4, 2000, True),
}


def pad_domain_a(data: Path, out: Path) -> Path:
    """The dataset with every A chip's band repeated to 4 (B copied as it is)."""
    for split in ("trainA", "testA"):
        for i, f in enumerate(sorted((data / split).glob("*.tif"))):
            demo_eo.write_chip(out / split / f.name, np.repeat(read_raster(f), 4, axis=2), i)
    for split in ("trainB", "testB"):
        shutil.copytree(data / split, out / split)
    return out


def run(name: str, folder: Path, seed: int) -> dict:
    looks, lr, steps, padded = SETTINGS[name]
    demo_eo.LOOKS = looks  # the renderer reads it when it draws speckle
    data = demo_eo.make_eo_dataset(folder / "data", seed=seed)
    if padded:
        data = pad_domain_a(data, folder / "padded")
    cfg = demo_eo.eo_config(data, folder / "run", steps, 60.0, seed)
    train(replace(cfg, lr=lr, lambda_identity=0.5 if padded else 0.0))
    scores = demo_eo.score(load_translator(folder / "run", device="cpu"), data, folder / "out")
    return {d: [round(v, 2) for v in s["rmse"]] for d, s in scores.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=tuple(SETTINGS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench_out/eo_settings"))
    args = p.parse_args()
    for name in [args.only] if args.only else SETTINGS:
        folder = args.out / name
        if folder.exists():
            raise SystemExit(f"{folder} exists: choose another --out (nothing is overwritten)")
        print(name, json.dumps(run(name, folder, args.seed)), flush=True)


if __name__ == "__main__":
    main()
