"""How many steps, and which learning rate, does the demo need to learn its translation?

Trains the demo's network on the demo's generated scenes (``cyclegan.apps.demo``) with
one setting changed, then scores the held-out scenes against their known true
translation (MAE on a 0-255 scale, both ways), and prints one JSON line with the
speed and the machine. The demo's rule: both MAEs 15 or less means the shapes and
colours come out right.

To stand in for a slow AVX2-only CPU on a faster one, run it with
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1``: only the
AVX2 kernels, no bfloat16, one thread.

Usage: python benchmarks/demo_budget.py [--steps 1000] [--lr 1e-3] [--identity 0]
       [--ngf 16] [--seed 0] [--precision auto] [--out bench_out/demo_budget]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.apps.demo import DEMO_STEPS, N_TRAIN, demo_config, score
from cyclegan.apps.demo_scenes import make_dataset
from cyclegan.config import NetworkConfig
from cyclegan.inference.translate import load_translator
from cyclegan.training.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=DEMO_STEPS)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--identity", type=float, default=0.0, help="lambda_identity")
    parser.add_argument("--ngf", type=int, default=16, help="filters of both networks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench_out/demo_budget"))
    args = parser.parse_args()

    name = f"steps{args.steps}_lr{args.lr:g}_idt{args.identity:g}_ngf{args.ngf}_seed{args.seed}"
    out = args.out / name
    shutil.rmtree(out, ignore_errors=True)
    make_dataset(out / "data", n_train=N_TRAIN, seed=args.seed)
    cfg = dataclasses.replace(
        demo_config(out / "data", out / "run", args.steps, 1e9, args.seed),
        lr=args.lr,
        lambda_identity=args.identity,
        precision=args.precision,
        report=False,
        network=NetworkConfig(net_g="resnet_6blocks", ngf=args.ngf, ndf=args.ngf),
    )
    started = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - started
    scores = score(
        load_translator(out / "run", device="cpu", precision=args.precision), out / "data"
    )
    print(
        json.dumps(
            {
                "setting": name,
                "train_s": round(seconds, 1),
                "steps_per_s": round(args.steps / seconds, 2),
                **{k: round(v, 2) for k, v in scores.items()},
                "machine": describe_machine(torch.device("cpu")),
                "kernels": torch.backends.cpu.get_cpu_capability(),
            }
        )
    )


if __name__ == "__main__":
    main()
