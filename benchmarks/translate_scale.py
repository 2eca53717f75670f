"""Native scale against training scale: which translates real photos better?

A model trained on ``cat2dog_afhq`` at 128 px crops of 143 px images (see
docs/training_health.md for the run) translates the run's held-out photos (512 x 512,
never trained on) three ways:

- ``native``: at their own size, 512 px (3.6 times the scale training saw);
- ``training``: scaled to 143 px (the training scale), translated, scaled back to 512;
- ``training, translated size``: the same, kept at 143 px.

Each set of translations is scored with KID (mean and spread over subsets) and FID
against the held-out real photos of the target domain (at their own size; the
Inception network sees every image at 299 px), both directions. A side-by-side
strip (input | native | training scale) goes to ``--out``; it is made of dataset
images, so it stays out of the repository.

Usage: python benchmarks/translate_scale.py --run RUN --data ../shared/datasets/cat2dog_afhq
       [--checkpoint best] [--out bench_out/translate_scale]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cyclegan.apps.bench import describe_machine
from cyclegan.data.imageio import load_image, save_image, to_uint8
from cyclegan.evaluation.inception import FeatureCache, InceptionFeatures, set_distance
from cyclegan.inference.translate import load_translator
from cyclegan.model.precision import pick_device
from cyclegan.settings import Scale

MODES = {
    "native": Scale("native"),
    "training": Scale("training", "original"),
    "training, translated size": Scale("training", "translated"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--checkpoint", default="best", help="best, latest, or a folder name")
    parser.add_argument("--out", type=Path, default=Path("bench_out/translate_scale"))
    args = parser.parse_args()
    split = json.loads((args.run / "validation_split.json").read_text())
    model = args.run / args.checkpoint
    if not model.exists() and args.checkpoint not in ("best", "latest"):
        model = args.run / "checkpoints" / args.checkpoint
    translator = load_translator(model, device="cpu")
    photos = {d: [load_image(args.data / p, 3) for p in split[d]] for d in "AB"}
    real = {d: [to_uint8(img) for img in photos[d]] for d in "AB"}
    extractor = InceptionFeatures(pick_device("cpu"), batch_size=16)
    cache = FeatureCache(args.out / "features")
    print(f"model {translator.source}; {len(real['A'])} A and {len(real['B'])} B held-out "
          f"photos; training scale: {translator.training_scale.describe()}")  # fmt: skip
    print(describe_machine(pick_device("cpu")), time.strftime("%Y-%m-%d"))
    results, strips = {}, {}
    for name, scale in MODES.items():
        translator.at_scale(scale)
        for direction, source, target in (("AtoB", "A", "B"), ("BtoA", "B", "A")):
            start = time.perf_counter()
            fakes = [to_uint8(translator.translate(img, direction)) for img in photos[source]]
            seconds = time.perf_counter() - start
            scores = set_distance(fakes, real[target], extractor, cache)
            results[(name, direction)] = {**scores, "seconds": seconds}
            strips[(name, direction)] = fakes[:3]
            print(f"  {name:<27} {direction}: KID {scores['kid_mean']:.4f} +- "
                  f"{scores['kid_std']:.4f}  FID {scores['fid']:6.1f}  "
                  f"({seconds:.0f} s, {fakes[0].shape[1]}x{fakes[0].shape[0]} px out)")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    for direction, source in (("AtoB", "A"), ("BtoA", "B")):
        rows = [
            np.concatenate(
                [
                    real[source][i],
                    strips[("native", direction)][i],
                    strips[("training", direction)][i],
                ],
                axis=1,
            )  # fmt: skip
            for i in range(3)
        ]
        save_image(np.concatenate(rows, axis=0) / 255.0, args.out / f"{direction}.png")
    (args.out / "results.json").write_text(
        json.dumps({f"{n} {d}": v for (n, d), v in results.items()}, indent=2)
    )
    print(f"strips (input | native | training scale): {args.out}/AtoB.png, BtoA.png")


if __name__ == "__main__":
    main()
