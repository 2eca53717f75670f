"""``cyclegan bench``: time the training step and inference, fast path against fp32 eager.

Both forms run in the same process on the same weights and inputs, so the
speed-up is a ratio measured side by side, not against a number from another day:

- baseline: float32, the reference's sequence of network calls (``fused=False``);
- fast: what ``cyclegan train`` runs with on this device (``device_setup.py``: the
  precision asked for, ``auto`` by default; Adam's fused kernel; the fused calls).

With ``channels_last`` it also times the fast step on channels-last (NHWC) tensors,
what ``train --channels-last`` does: the measurement that option is there to take.

It also counts the step's floating-point operations (``torch.utils.flop_counter``),
and measures, in the same run, what this machine's convolutions can do at best:
a 3x3, 256-channel convolution (the ResNet blocks' shape) in the fast precision.
With ``profile`` it profiles the fast step (``step_profile.py``: the top operators;
on a GPU the kernels a step launches and the share of the step the device is busy).
With ``compile`` it also times the generator under ``torch.compile`` (what
``translate --compile`` does) and the step under it (what ``train --compile``
does), with how long each compile took; on a GPU also the step with CUDA graphs
(``mode="reduce-overhead"``), which training does not offer until this measures it.
"""

from __future__ import annotations

import copy
import json
import re
import resource
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from cyclegan.apps.step_profile import profile_step
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.inference import budget
from cyclegan.inference.budget import check_fits
from cyclegan.model import precision as precision_module
from cyclegan.model.device_setup import DeviceSetup, DeviceTraits, choose
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.precision import pick_device
from cyclegan.model.step import CycleGANStep
from cyclegan.settings import Bench, Hardware


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Median seconds per call, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_peak_tflops(prec: str, device: torch.device, repeats: int = 5) -> float:
    """Forward TFLOP/s of a 3x3, 256 -> 256 channel convolution on 64 x 64 maps."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(device)
    x = torch.randn(1, 256, 64, 64, device=device)
    flops = 2 * 256 * 256 * 9 * 64 * 64

    def run():
        with torch.no_grad(), precision_module.autocast(prec, device):
            conv(x)

    return flops / _time(run, device, repeats, warmup=2) / 1e12


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    # Linux reports the process's peak resident set in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(bench: Bench | None = None, hardware: Hardware | None = None) -> dict:
    """Measure and return the numbers ``cyclegan bench`` prints."""
    bench, hardware = bench or Bench(), hardware or Hardware()
    dev = pick_device(hardware.device)
    setup = choose(DeviceTraits.probe(dev), hardware.precision)
    setup.apply()
    prec = setup.precision
    network = NetworkConfig(net_g=bench.net_g)
    _check_sizes(bench, network, dev)
    torch.manual_seed(0)
    nets = CycleGANNetworks(network)
    nets.init_weights(network)
    nets.to(dev).train()
    result = {
        "size": bench.size,
        "net_g": bench.net_g,
        "batch_size": bench.batch_size,
        "infer_batch": bench.infer_batch,
        "precision": prec,
        "setup": setup.summary(),
        "device": str(dev),
        "machine": describe_machine(dev),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    result.update(_time_training(nets, bench, setup, dev))
    gen = nets.g_ab.eval()
    result.update(_time_inference(gen, bench, prec, dev))
    if bench.compile:
        result.update(_time_compiled(gen, bench, prec, dev))
        result["compiled_speedup"] = result["infer_s"] / result["infer_compiled_s"]
    result["conv_peak_tflops"] = conv_peak_tflops(prec, dev)
    result["share_of_conv_peak"] = result["train_tflops"] / result["conv_peak_tflops"]
    result["peak_memory_mb"] = _peak_memory_mb(dev)
    return result


def _check_sizes(bench: Bench, network: NetworkConfig, dev: torch.device) -> None:
    """Sizes no memory holds are refused now, not as an allocation traceback later."""
    free = torch.cuda.mem_get_info(dev)[0] if dev.type == "cuda" else None
    check_fits(
        budget.network_bytes(bench.batch_size, network.ngf, bench.size),
        f"bench --size {bench.size} (batch {bench.batch_size})",
        "give a smaller --size or --batch-size",
        free,
    )
    for px in bench.infer_sizes or ():
        check_fits(budget.network_bytes(bench.infer_batch, network.ngf, px),
                   f"bench --infer-sizes {px} (--infer-batch {bench.infer_batch})",
                   "give smaller --infer-sizes or --infer-batch", free)  # fmt: skip


def _time_training(
    nets: CycleGANNetworks, bench: Bench, setup: DeviceSetup, dev: torch.device
) -> dict:
    """The step as training runs it against the reference's fp32 sequence, on copies
    of the same networks and the same images."""
    cfg = TrainConfig(network=NetworkConfig(net_g=bench.net_g), batch_size=bench.batch_size)
    pristine = copy.deepcopy(nets) if bench.compile else None  # before ``fast`` trains them
    base_nets, nhwc_nets = copy.deepcopy(nets), copy.deepcopy(nets)
    shape = (bench.batch_size, 3, bench.size, bench.size)
    real_a = torch.rand(shape, device=dev) * 2 - 1
    real_b = torch.rand(shape, device=dev) * 2 - 1
    prec = setup.precision
    fast = CycleGANStep(nets, cfg, prec, fused=True, adam=setup.adam)
    flops = FlopCounterMode(display=False)
    with flops:
        fast(real_a, real_b)
    out = {"train_step_flops": flops.get_total_flops()}
    out["train_step_s"] = _time(lambda: fast(real_a, real_b), dev, bench.steps, bench.warmup)
    if bench.baseline:
        base = CycleGANStep(base_nets, cfg, "fp32", fused=False)
        out["baseline_train_step_s"] = _time(
            lambda: base(real_a, real_b), dev, bench.steps, bench.warmup
        )
        out["train_speedup"] = out["baseline_train_step_s"] / out["train_step_s"]
    if bench.channels_last:
        layout = torch.channels_last
        nhwc = CycleGANStep(nhwc_nets.to(memory_format=layout), cfg, prec, True, adam=setup.adam)
        a, b = (x.contiguous(memory_format=layout) for x in (real_a, real_b))
        out["channels_last_train_step_s"] = _time(
            lambda: nhwc(a, b), dev, bench.steps, bench.warmup
        )
        out["channels_last_speedup"] = out["train_step_s"] / out["channels_last_train_step_s"]
    if bench.compile:
        modes = {"compiled": None}
        if dev.type == "cuda":
            modes["cudagraph"] = "reduce-overhead"
        for name, mode in modes.items():
            step = CycleGANStep(copy.deepcopy(pristine), cfg, prec, True, adam=setup.adam)
            step.compile(mode=mode)
            out.update(_time_compiled_step(name, step, real_a, real_b, bench, dev))
            if f"{name}_train_step_s" in out:
                out[f"{name}_train_speedup"] = out["train_step_s"] / out[f"{name}_train_step_s"]
    if bench.profile:  # where the fast step's time goes (step_profile.py)
        out.update(profile_step(lambda: fast(real_a, real_b), dev, out["train_step_s"]))
    out["images_per_s"] = bench.batch_size / out["train_step_s"]
    out["train_tflops"] = out["train_step_flops"] / out["train_step_s"] / 1e12
    return out


def _time_compiled_step(name, step, real_a, real_b, bench: Bench, dev: torch.device) -> dict:
    """A compiled step's compile (its first two steps: the pools start returning
    copies at the second) and speed; a failure is reported, not raised, so that the
    other numbers of a device session still come back."""
    try:
        start = time.perf_counter()
        for _ in range(2):
            step(real_a, real_b)
        _sync(dev)
        seconds = time.perf_counter() - start
        timed = _time(lambda: step(real_a, real_b), dev, bench.steps, bench.warmup)
    except Exception as exc:  # noqa: BLE001 - a measurement, reported as such
        return {f"{name}_train_error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    return {f"{name}_train_compile_s": seconds, f"{name}_train_step_s": timed}


def _time_inference(gen: torch.nn.Module, bench: Bench, prec: str, dev: torch.device) -> dict:
    out = {}
    for px in bench.infer_sizes or (bench.size,):
        x = torch.rand(bench.infer_batch, 3, px, px, device=dev) * 2 - 1
        suffix = "" if px == bench.size else f"_{px}"

        def infer(p=prec, x=x):
            with torch.inference_mode(), precision_module.autocast(p, dev):
                gen(x)

        out[f"infer_s{suffix}"] = _time(infer, dev, bench.steps, bench.warmup)
        out[f"infer_images_per_s{suffix}"] = bench.infer_batch / out[f"infer_s{suffix}"]
        if bench.baseline:
            base = _time(lambda: infer("fp32"), dev, bench.steps, bench.warmup)
            out[f"baseline_infer_s{suffix}"] = base
            out[f"infer_speedup{suffix}"] = base / out[f"infer_s{suffix}"]
    return out


def _time_compiled(gen: torch.nn.Module, bench: Bench, prec: str, dev: torch.device) -> dict:
    """What ``translate --compile`` buys at the main size: the compile, then the speed."""
    compiled = torch.compile(gen)
    x = torch.rand(bench.infer_batch, 3, bench.size, bench.size, device=dev) * 2 - 1

    def infer_compiled():
        with torch.inference_mode(), precision_module.autocast(prec, dev):
            compiled(x)

    start = time.perf_counter()
    infer_compiled()
    _sync(dev)
    return {
        "compile_s": time.perf_counter() - start,
        "infer_compiled_s": _time(infer_compiled, dev, bench.steps, bench.warmup),
    }


def describe_machine(device: torch.device) -> str:
    """The GPU's name and compute capability, or the CPU's model and torch's threads."""
    traits = DeviceTraits.probe(device)
    if device.type == "cuda":
        return traits.describe()
    return f"{traits.name}, {torch.get_num_threads()} threads"


def format_report(r: dict) -> str:
    lines = [
        f"cyclegan bench  {r['date']}  torch {r['torch']}  {r['device']}: {r['machine']}",
        f"{r['net_g']}, {r['size']} px, batch {r['batch_size']}, fast path: {r['setup']}"
        " + fused calls; baseline: fp32, reference calls",
        f"  train step   {r['train_step_s']:8.3f} s   {r['images_per_s']:.2f} img/s   "
        f"{r['train_tflops']:.3f} TFLOP/s ({r['train_step_flops'] / 1e12:.2f} TFLOP/step)",
    ]
    if "baseline_train_step_s" in r:
        lines.append(
            f"  baseline     {r['baseline_train_step_s']:8.3f} s   "
            f"speed-up {r['train_speedup']:.2f}x"
        )
    if "channels_last_train_step_s" in r:
        lines.append(
            f"  channels-last {r['channels_last_train_step_s']:7.3f} s   "
            f"{r['channels_last_speedup']:.2f}x the fast path"
        )
    for key in sorted(k for k in r if re.fullmatch(r"infer_s(_\d+)?", k)):
        suffix = key[len("infer_s") :]
        px = suffix.lstrip("_") or r["size"]
        line = f"  infer {px} px {r[key]:8.3f} s"
        if f"infer_images_per_s{suffix}" in r:  # not in reports before 2026-12-07
            line += f"   {r[f'infer_images_per_s{suffix}']:.1f} img/s (batch {r['infer_batch']})"
        if f"baseline_{key}" in r:
            line += (
                f"   baseline {r[f'baseline_{key}']:.3f} s   "
                f"speed-up {r[f'infer_speedup{suffix}']:.2f}x"
            )
        lines.append(line)
    for name in ("compiled", "cudagraph"):
        if f"{name}_train_step_s" in r:
            lines.append(
                f"  {name + ' step':<14}{r[f'{name}_train_step_s']:6.3f} s   "
                f"{r[f'{name}_train_speedup']:.2f}x the fast path "
                f"(compile {r[f'{name}_train_compile_s']:.1f} s)"
            )
        elif f"{name}_train_error" in r:
            lines.append(f"  {name + ' step':<14} failed: {r[f'{name}_train_error']}")
    if "infer_compiled_s" in r:
        lines.append(
            f"  compiled     {r['infer_compiled_s']:8.3f} s   (infer {r['size']} px, "
            f"{r['compiled_speedup']:.2f}x the fast path; compile {r['compile_s']:.1f} s)"
        )
    lines.append(
        f"  conv peak    {r['conv_peak_tflops']:.3f} TFLOP/s ({r['precision']}, 3x3 "
        f"256ch); the step reaches {100 * r['share_of_conv_peak']:.0f}% of it"
    )
    if "device_busy_share" in r:
        lines.append(
            f"  profile      the device is busy {100 * r['device_busy_share']:.0f}% of the "
            f"step, {r['kernels_per_step']:.0f} kernels a step"
        )
    if "profile_top" in r:
        lines.append(r["profile_top"])
    lines.append(
        f"  peak memory  {r['peak_memory_mb']:.0f} MiB "
        + ("(CUDA allocated)" if r["device"].startswith("cuda") else "(process peak RSS)")
    )
    return "\n".join(lines)


def main_json(result: dict) -> str:
    return json.dumps(result, sort_keys=True)
