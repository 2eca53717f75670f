"""What training runs with on a device: decided for described GPUs, applied on this CPU."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from cyclegan.cli.main import main
from cyclegan.config import TrainConfig
from cyclegan.errors import ConfigError
from cyclegan.inference.translate import load_translator
from cyclegan.model.device_setup import (
    DeviceTraits,
    choose,
    data_workers,
    resolve,
    resolve_precision,
)
from cyclegan.model.layout import RunFiles
from cyclegan.model.losses import LOSS_NAMES
from cyclegan.model.precision import cpu_has_bf16
from cyclegan.model.run_checkpoints import latest_checkpoint
from cyclegan.model.step import CycleGANStep
from cyclegan.training.build import build_run
from cyclegan.training.resume import resumed_config
from cyclegan.training.trainer import TrainingEvents, train

H100 = DeviceTraits("cuda", "NVIDIA H100 80GB HBM3", (9, 0), native_bf16=True)
A100 = DeviceTraits("cuda", "NVIDIA A100-SXM4-40GB", (8, 0), native_bf16=True)
V100 = DeviceTraits("cuda", "Tesla V100-SXM2-16GB", (7, 0))
T4 = DeviceTraits("cuda", "Tesla T4", (7, 5))
GTX_1080 = DeviceTraits("cuda", "NVIDIA GeForce GTX 1080", (6, 1))
CPU_BF16 = DeviceTraits("cpu", "AMD EPYC", native_bf16=True)
CPU_AVX2 = DeviceTraits("cpu", "AMD EPYC")


@pytest.mark.parametrize(
    "traits, expected",
    [
        (H100, "bf16"),
        (A100, "bf16"),
        (V100, "fp16"),  # tensor cores, no bfloat16: fp16 with loss scaling
        (T4, "fp16"),
        (GTX_1080, "fp32"),  # no tensor cores: half precision is no faster
        (CPU_BF16, "bf16"),
        (CPU_AVX2, "fp32"),
    ],
    ids=lambda v: v.name if isinstance(v, DeviceTraits) else v,
)
def test_auto_precision_for_described_devices(traits, expected):
    assert resolve_precision("auto", traits) == expected


def test_an_explicit_precision_is_kept():
    for precision in ("fp32", "bf16", "fp16"):
        assert resolve_precision(precision, H100) == precision
        assert resolve_precision(precision, CPU_AVX2) == precision


def test_the_setup_of_an_h100():
    setup = choose(H100)
    assert (setup.precision, setup.tf32, setup.cudnn_benchmark, setup.adam) == (
        "bf16", True, True, "fused"
    )  # fmt: skip
    assert not setup.channels_last and setup.memory_format == torch.contiguous_format
    assert setup.summary() == (
        "cuda (NVIDIA H100 80GB HBM3, compute capability 9.0): bf16 mixed precision, "
        "TF32 for float32 operations, cuDNN autotuning, fused Adam"
    )


def test_older_gpus_and_options_change_the_setup():
    v100 = choose(V100, deterministic=True, channels_last=True)
    assert (v100.precision, v100.tf32, v100.cudnn_benchmark) == ("fp16", False, False)
    assert v100.memory_format == torch.channels_last
    assert v100.summary() == (
        "cuda (Tesla V100-SXM2-16GB, compute capability 7.0): fp16 mixed precision with "
        "loss scaling, fused Adam, channels-last tensors"
    )
    assert choose(CPU_AVX2).summary() == "cpu (AMD EPYC): float32, fused Adam"


def test_this_cpu_is_probed():
    traits = DeviceTraits.probe(torch.device("cpu"))
    assert traits.type == "cpu" and traits.name and traits.native_bf16 == cpu_has_bf16()
    assert resolve("auto", torch.device("cpu")) == ("bf16" if cpu_has_bf16() else "fp32")
    # Applying a CPU setup leaves the process's CUDA flags alone.
    before = torch.backends.cudnn.benchmark
    choose(traits).apply()
    assert torch.backends.cudnn.benchmark == before


def test_fused_adam_gives_foreach_adams_step():
    """Same arithmetic in one kernel: the weights after a few updates agree to float32
    rounding (Adam's first updates are about lr * sign(gradient), and the gradients
    here are far from zero, so no sign flips)."""
    torch.manual_seed(0)
    weights = [torch.randn(64, 32), torch.randn(32)]
    grads = [torch.randn_like(w) for w in weights]
    results = []
    for kernel in ("foreach", "fused"):
        params = [torch.nn.Parameter(w.clone()) for w in weights]
        opt = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), **{kernel: True})
        for _ in range(5):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
        results.append([p.detach() for p in params])
    for foreach, fused, before in zip(*results, weights, strict=True):
        torch.testing.assert_close(fused, foreach, rtol=0, atol=1e-6)
        assert (foreach - before).abs().min() > 5e-4  # five steps of about lr each


class _Started(TrainingEvents):
    def __init__(self):
        self.info = None

    def started(self, info):
        self.info = info


def test_training_says_what_it_runs_with_and_trains_channels_last(tiny_data, tmp_path):
    """The run reports its setup; channels-last tensors give the contiguous run's
    losses within float32 rounding (another kernel order), and save loadable weights."""
    logs = {}
    for layout in (False, True):
        run = tmp_path / f"run_{layout}"
        events = _Started()
        cfg = tiny_config(tiny_data, run, n_epochs_decay=0, precision="fp32",
                          channels_last=layout)  # fmt: skip
        train(cfg, events=events)
        assert (
            events.info["setup"]
            == choose(DeviceTraits.probe(torch.device("cpu")), "fp32", True, layout).summary()
        )
        rows = RunFiles(run).loss_log.read_text().splitlines()
        logs[layout] = [json.loads(row) for row in rows]
        assert load_translator(run).translate(torch.zeros(1, 3, 32, 32), "AtoB").isfinite().all()
    plain, nhwc = logs[False], logs[True]
    assert len(plain) == len(nhwc) > 1
    for k in LOSS_NAMES:  # before any update the two layouts compute the same sums
        assert nhwc[0][k] == pytest.approx(plain[0][k], rel=1e-4, abs=1e-6), k


def test_channels_last_reaches_the_weights(tiny_data, tmp_path):
    run = build_run(tiny_config(tiny_data, tmp_path / "run", channels_last=True))
    try:
        convs = [m.weight for m in run.nets.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        assert not all(w.is_contiguous() for w in convs)
    finally:
        run.close()


def test_a_compiled_step_trains_as_the_eager_one(tiny_data, tmp_path, monkeypatch):
    """``--compile`` wraps what the step calls, not the networks: the same losses and
    weights as eager (``aot_eager``, torch.compile's graph capture without inductor's
    code generation, keeps the arithmetic: bit-equal here), checkpoints with the same
    names that translate, and a resume that compiles again."""
    compile_step, graphs = CycleGANStep.compile, torch._dynamo.utils.counters["stats"]
    monkeypatch.setattr(CycleGANStep, "compile",
                        lambda self, mode=None: compile_step(self, "aot_eager", mode))  # fmt: skip
    graphs_before = graphs["unique_graphs"]
    runs = {}
    for compiled in (False, True):
        runs[compiled] = tmp_path / f"run_{compiled}"
        cfg = tiny_config(tiny_data, runs[compiled], precision="fp32", compile=compiled,
                          max_iters=3 if compiled else 0)  # fmt: skip
        events = _Started()
        train(cfg, events=events)
        assert events.info["setup"].endswith("torch.compile") == compiled
    train(tiny_config(tiny_data, runs[True], compile=True), resume=True)
    assert graphs["unique_graphs"] > graphs_before  # the step did run compiled code
    logs = {}
    for compiled, run in runs.items():
        rows = [json.loads(row) for row in RunFiles(run).loss_log.read_text().splitlines()]
        logs[compiled] = [{k: row[k] for k in ("step", *LOSS_NAMES)} for row in rows]
    assert logs[True] == logs[False]  # every loss of every step, the resume's included
    final = {c: latest_checkpoint(run) for c, run in runs.items()}
    for name in ("g_ab", "g_ba", "d_a", "d_b"):
        eager, compiled = (load_file(final[c] / f"{name}.safetensors") for c in (False, True))
        assert eager.keys() == compiled.keys()
        for key in eager:
            assert torch.equal(eager[key], compiled[key]), f"{name}.{key}"
    assert load_translator(runs[True]).translate(torch.zeros(1, 3, 32, 32), "AtoB").isfinite().all()


def test_a_resumed_run_may_change_how_fast_it_runs_but_not_what():
    saved = TrainConfig(data="d", run="r").to_dict()
    caller = TrainConfig(run="r")
    faster = resumed_config(saved, caller, {"compile": True, "channels_last": True})
    assert faster.compile and faster.channels_last and faster.data == "d"
    with pytest.raises(ConfigError, match="options lr cannot change when resuming"):
        resumed_config(saved, caller, {"lr": 1.0})


def test_data_workers_are_sized_to_the_machine_unless_asked(monkeypatch):
    assert data_workers(None, "cpu", cores=64) == 2  # the cores are the convolutions'
    assert data_workers(None, "cuda", cores=16) == 8  # up to 8
    assert data_workers(None, "cuda", cores=4) == 3  # one core for the training process
    assert data_workers(None, "cuda", cores=1) == 1
    assert data_workers(0, "cuda", cores=16) == 0 and data_workers(5, "cpu") == 5
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun, four GPUs sharing the cores
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert data_workers(None, "cuda") == 3


SAID = [(0, "data read in this process"), (1, "1 data worker"), (8, "8 data workers")]


@pytest.mark.parametrize("workers, said", SAID)
def test_the_run_says_how_it_reads_its_data(capsys, workers, said):
    from cyclegan.cli.progress import TrainingProgress

    info = dict(setup="cpu (X): fp32", images_a=3, images_b=4, steps_per_epoch=4, epochs=2,
                total_steps=8, start_step=0, data_workers=workers)  # fmt: skip
    progress = TrainingProgress()
    progress.tty = False
    progress.started(info)
    line = capsys.readouterr().err.splitlines()[-1]
    assert line == f"3 A / 4 B images, 4 steps per epoch, 2 epochs, {said}"


def test_cuda_graphs_compile_on_a_gpu_and_are_refused_elsewhere(tiny_data, tmp_path, capsys):
    h100 = DeviceTraits("cuda", "NVIDIA H100 80GB HBM3", (9, 0), native_bf16=True)
    graphs = choose(h100, cuda_graphs=True)
    assert graphs.compile and graphs.compile_mode == "reduce-overhead"
    assert graphs.summary().endswith("fused Adam, torch.compile with CUDA graphs")
    assert choose(h100, compile=True).compile_mode is None
    args = ["train", "--data", str(tiny_data), "--run", str(tmp_path / "run"), "--cuda-graphs"]
    assert main([*args, "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: option 'cuda_graphs' needs a CUDA GPU; this run is on cpu"
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_tf32_is_set_through_the_api_this_torch_has(monkeypatch):
    """torch 2.9 replaced allow_tf32 by fp32_precision; the package allows torch 2.4."""
    from types import SimpleNamespace

    a100 = DeviceTraits("cuda", "NVIDIA A100-SXM4-40GB", (8, 0), native_bf16=True)
    for new_api in (True, False):
        matmul = SimpleNamespace(**({"fp32_precision": "ieee"} if new_api else {}))
        cudnn = SimpleNamespace(conv=SimpleNamespace(fp32_precision="ieee"), benchmark=False)
        monkeypatch.setattr(torch.backends.cuda, "matmul", matmul)
        monkeypatch.setattr(torch.backends, "cudnn", cudnn)
        choose(a100).apply()
        assert cudnn.benchmark
        if new_api:
            assert matmul.fp32_precision == cudnn.conv.fp32_precision == "tf32"
        else:
            assert matmul.allow_tf32 and cudnn.allow_tf32
