"""Video translation speed: frames a second at 256 x 256, 512 x 512 and 1280 x 720.

For each size, a clip panning slowly across a real photo (``cat2dog_afhq``,
resized; H.264 at CRF 18, with a tone) is translated three ways, each timed end to
end (decode, translate, encode, the sound copied):

- ``codec only``: an identity generator, so the time is decoding and encoding;
- ``generator``: the full-size generator (resnet_9blocks, ngf 64; random weights,
  speed does not depend on them) at the default precision of the device;
- ``+ smoothing``: the same with ``--temporal-smoothing 0.6`` (two DIS flows a frame).

Usage: python benchmarks/video.py [--data ../shared/datasets/cat2dog_afhq]
       [--device cpu] [--batch-size 1] [--frames 24 12 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.config import NetworkConfig
from cyclegan.data.imageio import load_image, resize, to_uint8
from cyclegan.data.video_writer import write_video
from cyclegan.inference.translate import Translator
from cyclegan.inference.video import translate_video
from cyclegan.model.networks import build_generator
from cyclegan.settings import VideoOutput

SIZES = ((256, 256), (512, 512), (1280, 720))


def pan(photo: np.ndarray, width: int, height: int, n: int):
    """``n`` frames of a slow pan (a pixel or two a frame) over ``photo``."""
    side = int(max(width, height) * 1.25)  # (the photos are square)
    big = resize(photo, side, side)
    for t in range(n):
        x, y = round(t * 1.5), round(t * 0.7)
        yield to_uint8(big[y : y + height, x : x + width])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/cat2dog_afhq"))
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument(
        "--frames", type=int, nargs=3, default=(24, 12, 6), help="frames at each size"
    )
    args = parser.parse_args()
    photos = sorted((args.data / "trainA").glob("*.jpg"))
    if not photos:
        sys.exit(f"{args.data}/trainA: no photos (is ../shared beside the repository?)")
    photo = load_image(photos[0], 3)
    device = torch.device(args.device)
    print(describe_machine(device))
    torch.manual_seed(0)
    network = NetworkConfig()
    full = Translator(network, {"AtoB": build_generator(network, 3, 3)}, device, "random", "auto")
    codec = Translator(network, {"AtoB": torch.nn.Identity()}, device, "identity")
    print(f"generator precision: {full.precision}; batch size {args.batch_size}")
    print(f"{'size':>10} {'frames':>6} {'codec only':>12} {'generator':>12} {'+ smoothing':>12}")
    with tempfile.TemporaryDirectory(prefix="video-bench-") as tmp:
        for (w, h), n in zip(SIZES, args.frames, strict=True):
            clip = write_video(Path(tmp) / f"pan{w}.mp4", pan(photo, w, h, n), 25, tone_hz=440)
            warm = write_video(Path(tmp) / f"warm{w}.mp4", pan(photo, w, h, 2), 25)
            rates = []
            for translator, smoothing in ((codec, 0.0), (full, 0.0), (full, 0.6)):
                # untimed first: kernels chosen, memory taken
                translate_video(translator, warm, Path(tmp) / "warm_out.mp4", batch_size=1)
                start = time.perf_counter()
                translate_video(
                    translator,
                    clip,
                    Path(tmp) / "out.mp4",
                    video=VideoOutput(temporal_smoothing=smoothing),
                    batch_size=args.batch_size,
                )
                rates.append(n / (time.perf_counter() - start))
            print(f"{w:>5}x{h:<4} {n:>6} " + " ".join(f"{r:>8.2f} f/s" for r in rates))


if __name__ == "__main__":
    main()
