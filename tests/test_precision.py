"""Mixed precision and the fused step: fast paths that keep the float32 numbers."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import pytest
import torch

from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.inference.translate import Translator
from cyclegan.model import precision
from cyclegan.model.losses import LOSS_NAMES
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.step import CycleGANStep

needs_bf16 = pytest.mark.skipif(
    not precision.cpu_has_bf16(), reason="this CPU has no native bfloat16 (AVX-512 BF16 or AMX)"
)


def _nets(seed=0, **kw):
    cfg = NetworkConfig(net_g="resnet_6blocks", ngf=8, ndf=8, **kw)
    torch.manual_seed(seed)
    nets = CycleGANNetworks(cfg)
    nets.init_weights(cfg)
    return nets, TrainConfig(network=cfg)


def _batch(seed=1, size=32):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(1, 3, size, size, generator=g) * 2 - 1,
        torch.rand(1, 3, size, size, generator=g) * 2 - 1,
    )


@pytest.mark.parametrize("prec", ["fp32", pytest.param("bf16", marks=needs_bf16)])
def test_fused_first_step_equals_reference_calls(prec):
    """Before any update the fused and unfused orders compute the same losses."""
    nets, cfg = _nets()
    other = copy.deepcopy(nets)
    a, b = _batch()
    fused = CycleGANStep(nets, cfg, prec, fused=True)(a, b)
    plain = CycleGANStep(other, cfg, prec, fused=False)(a, b)
    tol = 1e-5 if prec == "fp32" else 2e-2  # bf16 rounds differently in batched kernels
    for k in LOSS_NAMES:
        assert fused[k].item() == pytest.approx(plain[k].item(), rel=tol), k


def test_batch_norm_is_never_fused():
    nets, cfg = _nets(norm="batch")
    assert CycleGANStep(nets, cfg, "fp32", fused=True).fused is False


@needs_bf16
def test_bf16_step_tracks_fp32():
    """One step in bf16: every loss within 2% of the float32 step from the same state."""
    nets, cfg = _nets()
    other = copy.deepcopy(nets)
    a, b = _batch()
    low = CycleGANStep(nets, cfg, "bf16", fused=True)(a, b)
    full = CycleGANStep(other, cfg, "fp32", fused=False)(a, b)
    for k in LOSS_NAMES:
        assert low[k].dtype == torch.float32  # losses stay float32
        assert low[k].item() == pytest.approx(full[k].item(), rel=2e-2), k
    for p in nets.parameters():
        assert p.dtype == torch.float32  # and so do the weights


@needs_bf16
def test_bf16_translation_is_close_to_fp32():
    nets, _ = _nets()
    x = _batch(size=40)[0]
    gens = {"AtoB": nets.g_ab}
    cpu, net_cfg = torch.device("cpu"), NetworkConfig(net_g="resnet_6blocks", ngf=8)
    full = Translator(net_cfg, gens, cpu, "t", "fp32").translate_tensor(x)
    low = Translator(net_cfg, gens, cpu, "t", "bf16").translate_tensor(x)
    assert low.dtype == torch.float32 and low.shape == full.shape
    assert (low - full).abs().mean() < 0.01  # [-1, 1] scale: about 1 level in 255


@pytest.fixture(scope="module")
def bench_result():
    """One small bench run, in JSON, for the tests that read its result."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        args = "bench --size 32 --net-g resnet_6blocks --steps 1 --warmup 0 --channels-last"
        args += " --infer-batch 2 --profile --json"
        code = main(args.split())
    assert code == 0
    return json.loads(out.getvalue())


def test_bench_json_has_the_promised_fields(bench_result):
    result = bench_result  # the fixture's name, shorter
    for key in (
        "train_step_s",
        "baseline_train_step_s",
        "train_speedup",
        "infer_s",
        "baseline_infer_s",
        "infer_speedup",
        "conv_peak_tflops",
        "train_tflops",
        "peak_memory_mb",
        "machine",
        "setup",
        "channels_last_train_step_s",
        "channels_last_speedup",
        "torch",
    ):
        assert key in result, key
    assert result["train_speedup"] == pytest.approx(
        result["baseline_train_step_s"] / result["train_step_s"]
    )
    assert result["train_step_flops"] > 0
    assert result["infer_images_per_s"] == pytest.approx(2 / result["infer_s"])
    assert "aten::convolution_backward" in result["profile_top"]  # the step's own operators


def test_bench_reports_a_failed_compiled_step_and_goes_on(bench_result):
    """On a device session a compile error must not cost the other numbers."""
    from cyclegan.apps.bench import _time_compiled_step, format_report
    from cyclegan.settings import Bench

    def broken(a, b):
        raise RuntimeError("inductor could not lower an op")

    x, cpu = torch.zeros(1), torch.device("cpu")
    out = _time_compiled_step("cudagraph", broken, x, x, Bench(steps=1, warmup=0), cpu)
    assert out == {"cudagraph_train_error": "RuntimeError: inductor could not lower an op"}
    report = format_report({**bench_result, **out})
    assert "cudagraph step failed: RuntimeError: inductor could not lower an op" in report
