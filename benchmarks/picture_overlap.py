"""Translating pictures with reading and writing overlapped, against one after the other.

``inference/pictures.py`` decodes the next batch and encodes the previous one while
the translator works. This times both ways on the same files, model and machine,
alternating them (``--repeats`` rounds, median), and checks that they wrote the
same bytes. Two models:

- ``full``: resnet_9blocks, ngf 64, the paper's generator (random weights: speed
  does not depend on them). On a CPU the translation is most of the time, so the
  overlap can win little there.
- ``light``: the same architecture at ngf 8, about 60x fewer operations: a stand-in
  for a device that translates faster than the CPU decodes, as a GPU does.

Usage: python benchmarks/picture_overlap.py [--data ../shared/datasets/cat2dog_afhq]
       [--count 32] [--batch-size 4] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.config import NetworkConfig
from cyclegan.inference.pictures import translate_picture_batches
from cyclegan.inference.translate import Translator
from cyclegan.model.networks import build_generator
from cyclegan.settings import ImageOutput, Tiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/cat2dog_afhq"))
    parser.add_argument("--count", type=int, default=32, help="photos to translate")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of both ways (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    photos = sorted((args.data / "trainA").glob("*.jpg"))[: args.count]
    if len(photos) < args.count:
        sys.exit(f"{args.data}/trainA: fewer than {args.count} photos")
    device = torch.device(args.device)
    print(f"{describe_machine(device)}; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}")
    batches = [photos[i : i + args.batch_size] for i in range(0, len(photos), args.batch_size)]
    output = ImageOutput(batch_size=args.batch_size, format="png")
    print(f"{len(photos)} photos of cat2dog_afhq (JPEG, 512 x 512) -> PNG, batch {args.batch_size}")
    for name, ngf in (("full", 64), ("light", 8)):
        torch.manual_seed(0)
        network = NetworkConfig(ngf=ngf)
        generator = build_generator(network, 3, 3)
        translator = Translator(network, {"AtoB": generator}, device, name, "auto")
        times, files = {False: [], True: []}, {}
        with tempfile.TemporaryDirectory(prefix="overlap-bench-") as tmp:
            for _ in range(args.repeats):
                for overlap in (False, True):
                    out = Path(tmp) / str(overlap)
                    out.mkdir(exist_ok=True)
                    start = time.perf_counter()
                    translate_picture_batches(
                        translator, batches, "AtoB", lambda src, out=out: out / f"{src.stem}.png",
                        output, Tiling(), overlap=overlap,
                    )  # fmt: skip
                    times[overlap].append(time.perf_counter() - start)
                    files[overlap] = {p.name: p.read_bytes() for p in out.iterdir()}
        plain, overlapped = (statistics.median(times[k]) for k in (False, True))
        print(
            f"{name:>5} (resnet_9blocks ngf {ngf}, {translator.precision}): one after the other "
            f"{len(photos) / plain:6.2f} images/s, overlapped {len(photos) / overlapped:6.2f} "
            f"images/s: {plain / overlapped:.2f}x; same bytes: {files[False] == files[True]}"
        )


if __name__ == "__main__":
    main()
