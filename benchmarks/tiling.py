"""Tiled translation of a large image: time, peak memory, and how far it lands from one pass.

Translates one large image (by default the Monet painting of
``../shared/datasets/single_image_monet_etretat``, upscaled 2x to 2400 x 1932)
once whole, then in tiles of several sizes the way ``translate --tile`` does it
(overlap an eighth of the tile, instance-norm statistics from the whole image
at 1024 px), with statistics from larger copies if ``--stats-sizes`` names
more, then with one remedy left out at a time: no overlap, and each tile's own
statistics. Each configuration runs in a fresh process so that its
peak resident memory is its own. For each it prints the
seconds, the peak RSS, and the mean and 99th-percentile absolute difference
from the whole-image translation on a 0-255 scale; the tiled outputs are saved
as PNG next to the whole one, to look at the seams.

The model: ``--model RUN`` (a run or checkpoint folder; for fidelity, a trained
one, e.g. the ``cyclegan demo`` run), or ``--untrained`` for a freshly
initialized ResNet-9 with ngf 64 (time and memory do not depend on the weights).

Usage:
    python benchmarks/tiling.py --model demo_run/run [--tiles 256 512 1024]
    python benchmarks/tiling.py --untrained
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cyclegan.config import NetworkConfig
from cyclegan.data.imageio import array_to_pil, array_to_tensor, tensor_to_array
from cyclegan.inference.translate import Translator, load_translator
from cyclegan.model.networks import build_generator

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO.parent / "shared" / "datasets" / "single_image_monet_etretat" / "trainA" / "monet.jpg"


def _translator(model: str | None, precision: str) -> Translator:
    if model:
        return load_translator(model, device="cpu", precision=precision)
    torch.manual_seed(0)
    network = NetworkConfig()
    gen = build_generator(network, 3, 3)
    return Translator(network, {"AtoB": gen}, torch.device("cpu"), "untrained", precision)


def worker(job: dict) -> dict:
    """One configuration, in this process: translate, save the result, report."""
    translator = _translator(job["model"], job["precision"])
    image = Image.open(job["image"]).convert("RGB")
    if job["scale"] != 1:
        size = (round(image.width * job["scale"]), round(image.height * job["scale"]))
        image = image.resize(size, Image.Resampling.BICUBIC)
    x = array_to_tensor(np.asarray(image, np.float32) / 255)[None]
    start = time.perf_counter()
    out = translator.translate_tensor(x, "AtoB", job["tile"], job["overlap"], job["stats"])
    seconds = time.perf_counter() - start
    array_to_pil(tensor_to_array(out[0])).save(job["out"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"seconds": seconds, "peak_rss_gib": peak, "size": list(image.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run or checkpoint folder")
    parser.add_argument("--untrained", action="store_true", help="ResNet-9, ngf 64, untrained")
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--scale", type=float, default=2.0, help="upscale the image first")
    parser.add_argument("--tiles", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--stats-sizes", type=int, nargs="+", default=[1024], help="translate's --tile-stats-size"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "tiling")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if not (args.model or args.untrained):
        parser.error("give --model RUN or --untrained")
    if not args.image.is_file():
        sys.exit(f"{args.image}: not found (../shared/datasets is needed beside the repo)")
    args.out.mkdir(parents=True, exist_ok=True)
    # (tile, overlap, stats_size): whole; each tile size as translate does it by default;
    # then what each remedy buys: no overlap, and each tile's own statistics.
    t0 = args.tiles[min(1, len(args.tiles) - 1)]
    stats = args.stats_sizes[0]
    configs = [(None, None, 0)] + [(t, t // 8, stats) for t in args.tiles]
    configs += [(t0, t0 // 8, more) for more in args.stats_sizes[1:]]
    configs += [(t0, 0, stats), (t0, t0 // 8, 0)]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}")
    print(f"model: {args.model or 'untrained ResNet-9, ngf 64'}; image {args.image} x{args.scale}")
    whole = None
    for tile, overlap, stats in configs:
        name = "whole" if tile is None else f"tile{tile}_overlap{overlap}_stats{stats}"
        job = {
            "model": args.model,
            "precision": args.precision,
            "image": str(args.image),
            "scale": args.scale,
            "tile": tile,
            "overlap": overlap,
            "stats": stats,
            "out": str(args.out / f"{name}.png"),
        }
        cmd = [sys.executable, __file__, "--worker", json.dumps(job)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        pixels = np.asarray(Image.open(job["out"]), np.float32)
        if whole is None:
            whole, line = pixels, f"size {result['size'][0]} x {result['size'][1]}"
        else:
            diff = np.abs(pixels - whole)
            line = f"vs whole: mean {diff.mean():.2f}, p99 {np.percentile(diff, 99):.1f} (0-255)"
        print(
            f"  {name:30s} {result['seconds']:7.2f} s  peak RSS {result['peak_rss_gib']:5.2f} GiB"
            f"  {line}"
        )
    print(f"outputs: {args.out}")


if __name__ == "__main__":
    main()
