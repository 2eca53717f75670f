"""What does a fixed CPU time budget buy? Train on cat2dog, measure FID/KID both ways.

Protocol:
- data: ../shared/datasets/cat2dog_afhq (AFHQ, 512 px). The first 399 cats and
  400 dogs train; the last 100 of each are held out, never trained on, and
  resized (bicubic) to the training scale for evaluation, since a model trained
  on 64 px crops is meant for images of that scale. (The set's own testA/testB
  hold 2 images each: too few for FID.)
- training: `cyclegan train` defaults (ResNet-9, lsgan, identity 0.5, pool 50,
  Adam 2e-4) except ngf 32, 64 px (resize 72, random crop 64), mixed precision
  auto, a wall-time budget (--minutes), constant learning rate.
- evaluation: `cyclegan evaluate` (TF-FID Inception, protocol in every report)
  on the 100 + 100 held-out images, both directions, against the baseline of
  not translating at all (the held-out inputs compared with the target domain).

Usage: python benchmarks/quality.py [--minutes 15] [--size 64] [--out bench_out/quality]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cyclegan import NetworkConfig, TrainConfig, train
from cyclegan.apps.evaluate import evaluate_model, load_folder
from cyclegan.data.imageio import load_image, resize, save_image
from cyclegan.evaluation.inception import FeatureCache, InceptionFeatures, set_distance

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets" / "cat2dog_afhq"
HELD_OUT = 100


def prepare(out: Path, size: int) -> Path:
    """Train folders (links to the originals) and held-out test folders at the training scale."""
    root = out / "data"
    for domain in ("A", "B"):
        files = sorted((DATA / f"train{domain}").iterdir())
        train_dir, test_dir = root / f"train{domain}", root / f"test{domain}"
        train_dir.mkdir(parents=True, exist_ok=True)
        for f in files[:-HELD_OUT]:
            link = train_dir / f.name
            if not link.exists():
                link.symlink_to(f.resolve())
        for f in files[-HELD_OUT:]:
            dst = test_dir / (f.stem + ".png")
            if not dst.exists():
                save_image(resize(load_image(f, 3), size, size), dst)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "quality")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/datasets")
    data = prepare(args.out, args.size)
    run = args.out / f"run_{time.strftime('%Y%m%d_%H%M%S')}"
    cfg = TrainConfig(
        data=str(data),
        run=str(run),
        seed=0,
        load_size=args.size * 9 // 8,
        crop_size=args.size,
        network=NetworkConfig(ngf=32),
        n_epochs=10_000,
        n_epochs_decay=0,
        max_minutes=args.minutes,
        save_epoch_freq=10_000,
        log_every=50,
    )
    start = time.perf_counter()
    final = train(cfg)
    seconds = time.perf_counter() - start
    steps = json.loads((final / "config.json").read_text())["global_step"]
    print(f"trained {steps} steps in {seconds:.0f} s", flush=True)

    extractor = InceptionFeatures("cpu")
    cache = FeatureCache(args.out / "cache")
    report = evaluate_model(
        run, data, device="cpu", extractor=extractor, cache_dir=args.out / "cache"
    )
    test_a, test_b = load_folder(data / "testA").images, load_folder(data / "testB").images
    baseline = {
        "AtoB": set_distance(test_a, test_b, extractor, cache),
        "BtoA": set_distance(test_b, test_a, extractor, cache),
    }
    summary = {
        "minutes": args.minutes,
        "size": args.size,
        "steps": steps,
        "train_seconds": seconds,
        "report": report,
        "untranslated": baseline,
    }
    (args.out / "report.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{'direction':10} {'FID':>8} {'KID':>16} | untranslated {'FID':>8} {'KID':>8}")
    for d in ("AtoB", "BtoA"):
        r, b = report["directions"][d], baseline[d]
        print(
            f"{d:10} {r['fid']:8.2f} {r['kid_mean']:8.4f}+-{r['kid_std']:.4f} |"
            f"              {b['fid']:8.2f} {b['kid_mean']:8.4f}"
        )
    print(f"protocol: {report['protocol']}")
    print(
        f"cycle L1: AtoB {report['directions']['AtoB']['cycle_l1']:.4f}, "
        f"BtoA {report['directions']['BtoA']['cycle_l1']:.4f}"
    )
    print(
        f"held out: {HELD_OUT} + {HELD_OUT} images at {args.size} px; "
        f"mean KID subset size {np.mean([baseline[d]['kid_subset_size'] for d in baseline])}"
    )


if __name__ == "__main__":
    main()
