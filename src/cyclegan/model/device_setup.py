"""What the training step runs with on a device, decided from what the device is.

``DeviceTraits`` is what the decision needs to know of a device: its kind, its name,
its CUDA compute capability and whether it does bfloat16 arithmetic natively.
``DeviceTraits.probe`` reads them from the hardware; a test describes a GPU the
machine does not have. ``choose`` turns traits and the run's options into a
``DeviceSetup``, ``apply`` sets the process-wide backend flags it needs, and
``summary`` is the line ``cyclegan train`` prints, so a run says what it picked.

The choices, and why:

- precision ``auto``: bf16 mixed precision where the device does bfloat16 natively
  (CUDA compute capability 8.0 and later; CPUs with AVX-512 BF16 or AMX); fp16 with
  loss scaling on GPUs with tensor cores but no bfloat16 (7.x: V100, T4); plain fp32
  below that (Pascal and older, whose half-precision arithmetic is no faster). The
  capability decides, not ``torch.cuda.is_bf16_supported()``: by default that also
  answers yes where bfloat16 is only emulated, which is slower than fp16.
- TF32 for what stays float32 (capability 8.0 and later). PyTorch already runs
  float32 convolutions in TF32 there by default; the setup says so and sets matrix
  products the same way. ``tests/test_cuda.py`` turns it off to compare with the CPU.
- cuDNN autotuning when kernels need not be deterministic: training crops have
  one size, so the per-shape search pays once.
- Adam's fused kernel: one kernel updates every weight, where ``foreach`` needs
  several per group. Same arithmetic; on a 2-core CPU the update of the four
  ResNet-9 networks' weights took 10-15 ms fused against 50-70 ms foreach
  (``benchmarks/adam_kernels.py``, AMD EPYC Zen 4), about 5% of a 64 px step.
- channels-last (NHWC) tensors only when asked for (``--channels-last``): measured
  slower on the CPU (1.10-1.15x per step, same run and machine), and on a GPU
  only a measurement (``cyclegan bench --channels-last``) can say.
- data loader workers, unless ``--num-workers`` says: on a GPU one per core this
  process has (its share of the machine under torchrun), less one for the process
  itself, up to 8, so that decoding keeps up; on a CPU 2, which leave the
  convolutions the cores (each sample's randomness is its own, so the count
  changes nothing but speed).
- ``torch.compile`` only when asked for (``--compile``): its first steps compile
  for about two minutes on the CPU, for 0.86x-1.16x the eager speed there, and its
  speed on a GPU is not measured yet (``cyclegan bench --compile``); the same for
  CUDA graphs (``--cuda-graphs``), which replay a step's kernels without launching
  each, the overhead a batch-1 step at 256 px is thought to be bound by on a GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from cyclegan.errors import ConfigError
from cyclegan.model.precision import cpu_has_bf16

MAX_GPU_WORKERS = 8  # past this, more processes mostly add memory and start-up time
CPU_WORKERS = 2

# Compute capabilities: tensor cores from Volta (7.0), bfloat16 and TF32 from Ampere (8.0).
TENSOR_CORES = (7, 0)
AMPERE = (8, 0)


@dataclass(frozen=True)
class DeviceTraits:
    """What the choice of a setup reads of a device."""

    type: str  # "cuda" or "cpu"
    name: str
    capability: tuple[int, int] = (0, 0)  # CUDA compute capability; (0, 0) elsewhere
    native_bf16: bool = False

    @classmethod
    def probe(cls, device: torch.device) -> DeviceTraits:
        if device.type == "cuda":
            capability = torch.cuda.get_device_capability(device)
            name = torch.cuda.get_device_name(device)
            return cls("cuda", name, capability, capability >= AMPERE)
        return cls(device.type, _cpu_name(), native_bf16=cpu_has_bf16())

    def describe(self) -> str:
        if self.type == "cuda":
            return f"{self.name}, compute capability {self.capability[0]}.{self.capability[1]}"
        return self.name


@dataclass(frozen=True)
class DeviceSetup:
    """How the step runs: its precision and the backend choices that go with it."""

    traits: DeviceTraits
    precision: str  # fp32, bf16 or fp16
    tf32: bool
    cudnn_benchmark: bool
    adam: str  # "fused" or "foreach"
    channels_last: bool
    compile: bool = False  # the step's networks under torch.compile (step.py)
    cuda_graphs: bool = False  # ... in CUDA graphs: torch.compile's "reduce-overhead"

    @property
    def compile_mode(self) -> str | None:
        """``torch.compile``'s mode for the step (None: its default)."""
        return "reduce-overhead" if self.cuda_graphs else None

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def apply(self) -> None:
        """Set the process-wide flags this setup needs (CUDA backends only)."""
        if self.traits.type != "cuda":
            return
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        if not self.tf32:
            return
        matmul = torch.backends.cuda.matmul
        if hasattr(matmul, "fp32_precision"):  # torch 2.9 and later
            matmul.fp32_precision = "tf32"
            torch.backends.cudnn.conv.fp32_precision = "tf32"
        else:  # the flags it replaced, which the package's oldest torch (2.4) has
            matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def summary(self) -> str:
        """``cuda (NVIDIA H100, compute capability 9.0): bf16 mixed precision, ...``"""
        parts = [PRECISION_WORDS[self.precision]]
        if self.tf32:
            parts.append("TF32 for float32 operations")
        if self.cudnn_benchmark:
            parts.append("cuDNN autotuning")
        parts.append(f"{self.adam} Adam")
        if self.channels_last:
            parts.append("channels-last tensors")
        if self.compile:
            parts.append("torch.compile" + (" with CUDA graphs" if self.cuda_graphs else ""))
        return f"{self.traits.type} ({self.traits.describe()}): {', '.join(parts)}"


PRECISION_WORDS = {
    "fp32": "float32",
    "bf16": "bf16 mixed precision",
    "fp16": "fp16 mixed precision with loss scaling",
}


def choose(
    traits: DeviceTraits,
    precision: str = "auto",
    deterministic: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    cuda_graphs: bool = False,
) -> DeviceSetup:
    """The setup for a run with these options on a device with these traits;
    ``cuda_graphs`` implies ``compile``, and needs a CUDA device."""
    cuda = traits.type == "cuda"
    if cuda_graphs and not cuda:
        raise ConfigError(f"option 'cuda_graphs' needs a CUDA GPU; this run is on {traits.type}")
    return DeviceSetup(
        traits=traits,
        precision=resolve_precision(precision, traits),
        tf32=cuda and traits.capability >= AMPERE,
        cudnn_benchmark=cuda and not deterministic,
        adam="fused" if traits.type in ("cuda", "cpu") else "foreach",
        channels_last=channels_last,
        compile=compile or cuda_graphs,
        cuda_graphs=cuda_graphs,
    )


def resolve_precision(precision: str, traits: DeviceTraits) -> str:
    """The concrete precision ``auto`` stands for on a device with ``traits``."""
    if precision != "auto":
        return precision
    if traits.native_bf16:
        return "bf16"
    if traits.type == "cuda" and traits.capability >= TENSOR_CORES:
        return "fp16"
    return "fp32"


def resolve(precision: str, device: torch.device) -> str:
    """The concrete precision ``auto`` stands for on ``device`` (probed)."""
    return resolve_precision(precision, DeviceTraits.probe(device))


def data_workers(asked: int | None, device_type: str, cores: int | None = None) -> int:
    """The data loader's worker processes: ``asked`` where given, else sized to the
    machine: on a GPU the cores of this process's share, less its own, up to 8."""
    if asked is not None:
        return asked
    if device_type != "cuda":
        return CPU_WORKERS
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        cores //= int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun: processes here
    return max(1, min(MAX_GPU_WORKERS, (cores or 1) - 1))


def _cpu_name() -> str:
    """The CPU's model name (Linux), else its architecture."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"
