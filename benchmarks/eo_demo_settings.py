"""Which settings let the EO demo learn: the tables in docs/benchmarks.md ("Rasters").

Trains the EO demo's network (``demo_eo.eo_config``) on its generated scenes under
each setting and seed, and prints the RMSE per band of the held-out test scenes both
ways, with whether it learned (``demo_eo.learned``: better than the untrained network
and the input unchanged on every band, both ways):

- ``demo``: the demo itself (speckle of 32 looks, bare soil where the moisture field
  exceeds 0.72, about 17% of a scene; learning rate 2e-4);
- ``common-soil``: the demo before 2026-12-07, soil above 0.62 (about 27%);
- ``raw-speckle``: common soil, 4-look speckle (about 2.3 dB), lr 2e-4;
- ``lr-1e-3``: common soil, 32 looks at the shapes demo's rate, 1e-3;
- ``8-looks-lr-1e-3``: common soil, 8 looks, lr 1e-3, 2,500 steps;
- ``padded``: common soil, arcgis.learn's way, domain A's one band repeated to four
  so that the identity loss (0.5) applies, 32 looks, lr 2e-4.

Each run takes about 3 minutes on two CPU cores (``--only NAME`` runs one setting,
``--seeds 0 1 2`` several seeds). The numbers in the docs came from these settings on
the machine named there.

Usage:
    python benchmarks/eo_demo_settings.py [--only NAME] [--seeds 0 1 2]
        [--out bench_out/eo_settings]
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

SETTINGS = {  # name: (looks, soil threshold, learning rate, steps, padded)
    "demo": (32, 0.72, 2e-4, 2000, False),
    "common-soil": (32, 0.62, 2e-4, 2000, False),
    "raw-speckle": (4, 0.62, 2e-4, 2000, False),
    "lr-1e-3": (32, 0.62, 1e-3, 2000, False),
    "8-looks-lr-1e-3": (8, 0.62, 1e-3, 2500, False),
    "padded": (32, 0.62, 2e-4, 2000, True),
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
    looks, soil, lr, steps, padded = SETTINGS[name]
    demo_eo.LOOKS, demo_eo.SOIL_MOISTURE = looks, soil  # read when a scene is drawn
    data = demo_eo.make_eo_dataset(folder / "data", seed=seed)
    if padded:
        data = pad_domain_a(data, folder / "padded")
    cfg = demo_eo.eo_config(data, folder / "run", steps, 60.0, seed)
    train(replace(cfg, lr=lr, lambda_identity=0.5 if padded else 0.0))
    trained = load_translator(folder / "run", device="cpu")
    models = {"trained": trained, **demo_eo.baselines(trained, cfg, seed)}
    scores = {m: demo_eo.score(t, data, folder / "out" / m) for m, t in models.items()}
    rmse = {d: [round(v, 2) for v in s["rmse"]] for d, s in scores["trained"].items()}
    return {"seed": seed, "learned": demo_eo.learned(scores), **rmse}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=tuple(SETTINGS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", type=Path, default=Path("bench_out/eo_settings"))
    args = p.parse_args()
    for name in [args.only] if args.only else SETTINGS:
        for seed in args.seeds:
            folder = args.out / f"{name}-seed{seed}"
            if folder.exists():
                raise SystemExit(f"{folder} exists: choose another --out (nothing is overwritten)")
            print(name, json.dumps(run(name, folder, seed)), flush=True)


if __name__ == "__main__":
    main()
