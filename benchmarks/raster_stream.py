"""Streaming a raster larger than memory: peak resident memory and throughput.

Writes a synthetic 4-band uint16 GeoTIFF of ``--size`` x ``--size`` pixels
(default 16000: its pixels alone take 2 GiB, a float32 copy 4 GiB), tiled and
deflate-compressed, window by window. Then, each in a fresh process so that its
peak resident memory (``ru_maxrss``) is its own:

- **streamed**: ``translate_raster`` over the whole file (``cyclegan translate``'s
  path for rasters), the output a compressed GeoTIFF;
- **in memory**: the plain tiled translation (``Translator.translate_tensor`` with
  ``tile``) of a ``--plain-size`` square read from the same file into memory, the
  same tiles and network, no file written: the throughput to compare with.

Both use the same small generator (ResNet-6, ``--ngf`` 8, random weights: time
and memory do not depend on the weights) mapping 4 bands to 4, in fp32. Prints
megapixels per second of each, their ratio, and the streamed run's peak RSS.

Usage:
    python benchmarks/raster_stream.py [--size 16000] [--plain-size 4096] [--tile 512]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.config import NetworkConfig
from cyclegan.data.bands import BandStats
from cyclegan.data.domain import Domain
from cyclegan.data.imageio import array_to_tensor
from cyclegan.data.rasters import read_raster
from cyclegan.inference.stream import translate_raster
from cyclegan.inference.translate import Translator
from cyclegan.model.networks import build_generator
from cyclegan.settings import Tiling

STATS = BandStats((0.0,) * 4, (10000.0,) * 4, "uint16", 0.0)


def write_scene(path: Path, size: int) -> None:
    """Smooth fields plus a little noise, written 512 rows at a time."""
    import rasterio
    from rasterio.transform import Affine

    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint16",
        nodata=0,
        crs="EPSG:32633",
        transform=Affine(10, 0, 500000, 0, -10, 4000000),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        bigtiff="YES",
    )
    rng = np.random.default_rng(0)
    x = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            y = np.arange(row, min(row + 512, size), dtype=np.float32)[:, None]
            base = 3000 + 1500 * np.sin(x / 700.0) * np.cos(y / 900.0)
            bands = [base * (0.6 + 0.2 * b) + rng.normal(0, 40, base.shape) for b in range(4)]
            data = np.clip(np.stack(bands), 1, 65535).astype("uint16")
            dst.write(data, window=((row, row + data.shape[1]), (0, size)))


def translator(ngf: int) -> Translator:
    torch.manual_seed(0)
    net = NetworkConfig(input_nc=4, output_nc=4, ngf=ngf, net_g="resnet_6blocks")
    gens = {"AtoB": build_generator(net, 4, 4)}
    domains = {"A": Domain(4, STATS), "B": Domain(4, STATS)}
    return Translator(net, gens, torch.device("cpu"), "bench", domains=domains)


def child(mode: str, scene: Path, out: Path, tile: int, ngf: int, plain: int) -> dict:
    tr = translator(ngf)
    tiling = Tiling(tile=tile)
    if mode == "streamed":
        start = time.perf_counter()
        translate_raster(tr, scene, out, "AtoB", tiling)
        seconds, pixels = time.perf_counter() - start, None
        import rasterio

        with rasterio.open(scene) as src:
            pixels = src.width * src.height
    else:
        arr, _ = STATS.normalize(read_raster(scene, window=(0, 0, plain, plain)))
        x = array_to_tensor(arr)[None]
        del arr
        start = time.perf_counter()
        tr.translate_tensor(x, "AtoB", **tiling.arguments)
        seconds, pixels = time.perf_counter() - start, plain * plain
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    return {"mode": mode, "seconds": seconds, "mpx_per_s": pixels / seconds / 1e6, "peak_gib": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=16000)
    p.add_argument("--plain-size", type=int, default=4096)
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--ngf", type=int, default=8)
    p.add_argument("--work", type=Path, default=Path("bench_out/raster_stream"))
    p.add_argument("--child", nargs=2, metavar=("MODE", "SCENE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        mode, scene = args.child
        result = child(
            mode, Path(scene), args.work / "out.tif", args.tile, args.ngf, args.plain_size
        )
        print(json.dumps(result))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    scene = args.work / f"scene_{args.size}.tif"
    if not scene.exists():
        start = time.perf_counter()
        write_scene(scene, args.size)
        print(
            f"wrote {scene} ({scene.stat().st_size / 2**30:.2f} GiB) in "
            f"{time.perf_counter() - start:.0f} s"
        )
    print(
        f"{time.strftime('%Y-%m-%d')}  {describe_machine(torch.device('cpu'))}, torch "
        f"{torch.__version__}, kernels {torch.backends.cpu.get_cpu_capability()}"
    )
    results = {}
    for mode in ("in memory", "streamed"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            str(scene),
            "--tile",
            str(args.tile),
            "--ngf",
            str(args.ngf),
            "--plain-size",
            str(args.plain_size),
            "--work",
            str(args.work),
        ]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
        results[mode] = json.loads(line.splitlines()[-1])
        r = results[mode]
        print(
            f"{mode:>10}: {r['seconds']:7.1f} s, {r['mpx_per_s']:.2f} Mpx/s, "
            f"peak RSS {r['peak_gib']:.2f} GiB"
        )
    ratio = results["streamed"]["mpx_per_s"] / results["in memory"]["mpx_per_s"]
    print(f"streamed / in-memory throughput: {ratio:.2f}")


if __name__ == "__main__":
    main()
