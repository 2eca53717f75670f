"""Adam's update for the four CycleGAN networks: the fused kernel against foreach.

Training picks ``fused`` (``model/device_setup.py``); this times what that choice
is about, one ``optimizer.step()`` over the parameters of the paper's networks
(ResNet-9 generators, ngf 64; basic discriminators, ndf 64: 28.3 M parameters)
with gradients in place, alternating the two kernels (``--repeats`` rounds of
``--steps`` updates, median), and checks that both move the weights alike.

Usage: python benchmarks/adam_kernels.py [--device cpu] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from cyclegan.apps.bench import describe_machine
from cyclegan.config import NetworkConfig
from cyclegan.model.networks import CycleGANNetworks


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20, help="updates per timing")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    device = torch.device(args.device)

    torch.manual_seed(0)
    cfg = NetworkConfig()
    nets = CycleGANNetworks(cfg)
    nets.init_weights(cfg)
    nets = nets.to(device)
    count = sum(p.numel() for p in nets.parameters())
    optimizers, copies = {}, {}
    for kernel in ("foreach", "fused"):
        copies[kernel] = copy.deepcopy(nets)
        params = list(copies[kernel].parameters())
        for p in params:  # the same gradients for both: Adam's work does not depend on them
            p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(1)).to(device)
        optimizers[kernel] = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), **{kernel: True})

    times: dict[str, list[float]] = {k: [] for k in optimizers}
    for _ in range(args.repeats):
        for kernel, optimizer in optimizers.items():
            optimizer.step()  # warm-up: the first step allocates the moments
            _sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                optimizer.step()
            _sync(device)
            times[kernel].append((time.perf_counter() - start) / args.steps)

    print(f"Adam update, {count / 1e6:.1f} M parameters, {describe_machine(device)}, "
          f"torch {torch.__version__}")  # fmt: skip
    medians = {k: statistics.median(v) for k, v in times.items()}
    for kernel, seconds in medians.items():
        print(f"  {kernel:<8}{1000 * seconds:8.1f} ms per update")
    print(f"  fused is {medians['foreach'] / medians['fused']:.2f}x foreach")
    # Both took the same number of steps from the same start: the same weights but rounding.
    pairs = zip(copies["foreach"].parameters(), copies["fused"].parameters(), strict=True)
    worst = max((a - b).abs().max().item() for a, b in pairs)
    print(f"  largest weight difference between the two: {worst:.1e}")


if __name__ == "__main__":
    main()
