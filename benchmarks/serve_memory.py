"""One upload through ``cyclegan serve``: the peak memory it adds, by image size.

Each case runs in a fresh process (so its peak resident memory, ``ru_maxrss``, is its
own): the translation app as ``serve`` builds it (``apps/serve.create_app``: tiled at
``SERVE_TILE`` unless ``--tile`` says otherwise; a tile larger than the image is one
whole-image pass, as serve ran before 2026-12-06), a flat PNG of W x H pixels (a few
KB on the wire: the kind of
upload that once took 6 GB), posted once through the ASGI test client. Prints the
peak growth over the process's resident memory before the upload, in GiB and in
bytes per pixel, and the seconds it took.

The generator is ResNet-9 with ``--ngf`` filters and random weights (memory does not
depend on the weights): the image's own copies (decoded, float, accumulated output,
encoded) scale with its pixels, the network's activations with the tile (or, in one
pass, with the whole image) and with ``ngf``.

Usage:
    python benchmarks/serve_memory.py [--sizes 2000x2000 4096x4096] [--ngf 8 64]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time

from cyclegan.apps.bench import describe_machine


def one(width: int, height: int, tile: str, ngf: int) -> dict:
    import torch
    from fastapi.testclient import TestClient
    from PIL import Image

    from cyclegan.apps.serve import create_app
    from cyclegan.config import NetworkConfig
    from cyclegan.inference.translate import Translator
    from cyclegan.model.networks import build_generator
    from cyclegan.settings import Server, Tiling

    net = NetworkConfig(net_g="resnet_9blocks", ngf=ngf)
    gens = {d: build_generator(net, 3, 3).eval() for d in ("AtoB", "BtoA")}
    translator = Translator(net, gens, torch.device("cpu"), "benchmark", "auto")
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 60, 30)).save(buffer, format="PNG")
    tiling = Tiling(tile=int(tile) or None)  # None: serve's default
    client = TestClient(create_app(translator, tiling, Server(max_pixels=width * height)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    answer = client.post("/api/translate?direction=AtoB", content=buffer.getvalue())
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert answer.status_code == 200, answer.text
    return {
        "size": f"{width}x{height}",
        "tile": client.get("/api/model").json()["tile"],
        "ngf": ngf,
        "upload_kb": round(len(buffer.getvalue()) / 1e3, 1),
        "growth_gib": round((peak - before) / 2**30, 3),
        "bytes_per_pixel": round((peak - before) / (width * height)),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["2000x2000", "4096x4096"])
    parser.add_argument("--ngf", nargs="+", type=int, default=[8, 64])
    parser.add_argument("--tile", nargs="+", type=int, default=[0], help="0: serve's default")
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)  # one case, in a child
    args = parser.parse_args()
    if args.case:
        width, height, tile, ngf = args.case
        print(json.dumps(one(int(width), int(height), tile, int(ngf))))
        return
    import torch

    print(time.strftime("%Y-%m-%d"), describe_machine(torch.device("cpu")))
    print(f"{'upload':>10} {'tile':>5} {'ngf':>4} {'KB':>6} {'peak +GiB':>9} {'B/px':>5} {'s':>6}")
    for size in args.sizes:
        width, height = map(int, size.split("x"))
        for ngf in args.ngf:
            for tile in args.tile:
                case = [str(width), str(height), str(tile), str(ngf)]
                out = subprocess.run(
                    [sys.executable, __file__, "--case", *case],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{r['size']:>10} {r['tile']!s:>5} {r['ngf']:>4} {r['upload_kb']:>6} "
                    f"{r['growth_gib']:>9} {r['bytes_per_pixel']:>5} {r['seconds']:>6}"
                )


if __name__ == "__main__":
    main()
