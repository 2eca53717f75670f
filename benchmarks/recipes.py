"""Which training recipe gives better models from the same data, at equal steps?

For each seed, one run trains with ``--ema`` (the average only follows, it never
changes training). Each run is then evaluated twice on the same held-out images,
with its trained generators (the reference's recipe: what a run without ``--ema``
gives) and with their weight averages: a paired comparison, free of the run-to-run
noise of GAN training. It reports KID (and FID) both ways per seed, and their mean
and spread over the seeds. With ``--diffaug POLICIES`` the runs also augment what
the discriminators see (that changes training: compare with a run without it, at
the same seeds).

Data (``--data``):
- ``cat2dog``: ``../shared/datasets/cat2dog_afhq``; the first 399 cats and 400 dogs
  train, the last 100 of each are held out (resized to the training size);
- ``vangogh2photo``: a small set, 20 + 20 training crops (``extra_train_crops_*``,
  128 px), evaluated on the 50 + 50 test images (resized).

Training: ResNet-6 with ngf 16 at ``--size`` (default 64; resize 9/8, random crop),
Adam 2e-4, constant then linear decay over ``--steps``, bf16 where the CPU has it.

Usage: python benchmarks/recipes.py [--data cat2dog] [--steps 2000] [--seeds 0 1 2]
       [--ema 0.999] [--out bench_out/recipes]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cyclegan import NetworkConfig, TrainConfig, train
from cyclegan.apps.evaluate import evaluate_model
from cyclegan.data.imageio import load_image, resize, save_image
from cyclegan.evaluation.inception import InceptionFeatures
from cyclegan.model.checkpoint import read_meta
from cyclegan.model.run_checkpoints import list_checkpoints

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


def _resized(files: list[Path], folder: Path, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        dst = folder / (f.stem + ".png")
        if not dst.exists():
            save_image(resize(load_image(f, 3), size, size), dst)


def _linked(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = folder / f.name
        if not link.exists():
            link.symlink_to(f.resolve())


def prepare(name: str, out: Path, size: int) -> Path:
    """trainA/trainB (links) and held-out testA/testB at the training size."""
    root = out / name / "data"
    for domain in ("A", "B"):
        if name == "cat2dog":
            files = sorted((DATASETS / "cat2dog_afhq" / f"train{domain}").iterdir())
            train_files, held_out = files[:-100], files[-100:]
        else:
            base = DATASETS / "vangogh2photo"
            train_files = sorted((base / f"extra_train_crops_{domain}").iterdir())
            held_out = sorted((base / f"test{domain}").iterdir())
        _linked(train_files, root / f"train{domain}")
        _resized(held_out, root / f"test{domain}", size)
    return root


def config(data: Path, run: Path, args, seed: int) -> TrainConfig:
    """Half the epochs at the full rate, half decaying to zero, cut at ``--steps``."""
    per_epoch = max(len(list((data / f"train{d}").iterdir())) for d in "AB")
    epochs = max(2, -(-args.steps // per_epoch))
    return TrainConfig(
        data=str(data),
        run=str(run),
        seed=seed,
        load_size=args.size * 9 // 8,
        crop_size=args.size,
        network=NetworkConfig(net_g="resnet_6blocks", ngf=16, ndf=32),
        n_epochs=epochs // 2,
        n_epochs_decay=epochs - epochs // 2,
        max_iters=args.steps,
        save_epoch_freq=1_000_000,
        save_iter_freq=args.steps // 2,  # also the end of the constant rate: see main
        log_every=100,
        val_images=0,
        report=False,
        num_workers=1,
        ema=args.ema,
        diffaug=args.diffaug,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("cat2dog", "vangogh2photo"), default="cat2dog")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--diffaug", default="", help="e.g. color,translation,cutout")
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "recipes")
    args = parser.parse_args()
    if not DATASETS.is_dir():
        raise SystemExit(f"{DATASETS} is absent: this benchmark needs ../shared/datasets")
    data = prepare(args.data, args.out, args.size)
    extractor, cache = InceptionFeatures("cpu"), args.out / "cache"
    rows = []
    for seed in args.seeds:
        run = args.out / args.data / f"run_seed{seed}_{time.strftime('%H%M%S')}"
        start = time.perf_counter()
        train(config(data, run, args, seed))
        seconds = time.perf_counter() - start
        aug = f"diffaug {args.diffaug}" if args.diffaug else ""
        # The end of the constant rate, where the weights still move and an average
        # differs most from the last weights, and the end of the decay.
        for checkpoint in list_checkpoints(run):
            step = read_meta(checkpoint)["global_step"]
            ema = f"ema {args.ema}"
            recipes = ((aug or "reference", False), (f"{aug}, {ema}" if aug else ema, True))
            for recipe, averaged in recipes:
                report = evaluate_model(checkpoint, data, device="cpu", extractor=extractor,
                                        cache_dir=cache, averaged=averaged)  # fmt: skip
                d = report["directions"]
                scores = {f"{k}_{m}": d[k][m] for k in d for m in ("kid_mean", "fid")}
                rows.append({"seed": seed, "step": step, "recipe": recipe,
                             "train_seconds": seconds, **scores})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    name = f"{args.data}{'_diffaug' if args.diffaug else ''}"
    (args.out / f"{name}.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{args.data}, {args.steps} steps at {args.size} px, seeds {args.seeds}")
    heads = ("KID A->B", "KID B->A", "FID A->B", "FID B->A")
    print(f"{'recipe @ step':22} " + " ".join(f"{h:>18}" for h in heads))
    for recipe, step in dict.fromkeys((r["recipe"], r["step"]) for r in rows):
        mine = [r for r in rows if (r["recipe"], r["step"]) == (recipe, step)]

        def cell(key, digits, mine=mine):
            v = np.array([r[key] for r in mine])
            return f"{v.mean():.{digits}f} +- {v.std(ddof=1) if len(v) > 1 else 0:.{digits}f}"

        cells = [cell(f"{d}_kid_mean", 4) for d in ("AtoB", "BtoA")]
        cells += [cell(f"{d}_fid", 1) for d in ("AtoB", "BtoA")]
        print(f"{recipe + f' @{step}':22} " + " ".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
