"""Bulk translation: one process against several (torchrun), on the same files.

The full-size generator (resnet_9blocks, ngf 64; random weights: speed does not
depend on them) translates N photos of ``cat2dog_afhq`` (512 x 512) into a fresh
folder, first as one process with every core, then under torchrun with
``--procs`` processes sharing the cores (threads = cores / processes each). It
prints each run's wall time (process start included), the job's own pixel rate
(from its summary: plan to end), the rate per process, and whether the two output
folders are byte-equal.

Usage: python benchmarks/bulk_translate.py [--data ../shared/datasets/cat2dog_afhq]
       [--count 24] [--procs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.config import NetworkConfig
from cyclegan.model.networks import build_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/cat2dog_afhq"))
    parser.add_argument("--count", type=int, default=24, help="photos to translate")
    parser.add_argument("--procs", type=int, default=2, help="processes of the torchrun job")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    photos = sorted((args.data / "trainA").glob("*.jpg"))[: args.count]
    if len(photos) < args.count:
        sys.exit(f"{args.data}/trainA: fewer than {args.count} photos")
    cores = os.cpu_count() or 1
    print(describe_machine(torch.device(args.device)))
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        model = tmp / "latest_net_G_A.pth"  # the reference's file format and default network
        torch.save(build_generator(NetworkConfig(), 3, 3).state_dict(), model)
        inputs = tmp / "in"
        inputs.mkdir()
        for p in photos:
            (inputs / p.name).symlink_to(p.resolve())
        command = [
            "translate",
            "--model",
            str(model),
            "--input",
            str(inputs),
            "--device",
            args.device,
            "--quiet",
        ]
        one = _run(
            [sys.executable, "-m", "cyclegan", *command, "--output", str(tmp / "one")],
            threads=cores,
        )
        many = _run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={args.procs}",
                "-m",
                "cyclegan",
                *command,
                "--output",
                str(tmp / "many"),
            ],
            threads=max(1, cores // args.procs),
        )
        same = _files(tmp / "one") == _files(tmp / "many")
    print(f"{args.count} photos of 512 x 512, resnet_9blocks ngf 64, {args.device}")
    for name, (wall, out) in (("1 process", one), (f"{args.procs} processes", many)):
        rate = re.search(r"\(([\d.]+) Mpixel/s\)", out).group(1)
        print(
            f"{name:>12}: {wall:6.1f} s wall, {args.count / wall:5.2f} images/s; job {rate} "
            f"Mpixel/s"
        )
        for line in out.splitlines()[1:]:
            print(f"{'':>14}{line.strip()}")
    print(f"speed-up (wall): {one[0] / many[0]:.2f}x; outputs byte-equal: {same}")


def _run(cmd: list[str], threads: int) -> tuple[float, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(result.stderr[-3000:])
    return wall, result.stdout


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.jpg")}


if __name__ == "__main__":
    main()
