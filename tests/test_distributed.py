"""Several processes with torchrun (gloo on CPU): sharding, equivalence, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_CLI, run_main, start_training, subprocess_env, write_images
from cyclegan.model.checkpoint import read_meta

TINY = [
    *TINY_CLI,
    "--n-epochs",
    "2",
    "--n-epochs-decay",
    "0",
    "--precision",
    "fp32",
    "--log-every",
    "1",
    "--deterministic",
]


def _launch(nproc: int, *args: str):
    """``cyclegan ARGS`` under torchrun with ``nproc`` processes; with 1, in this process
    (what is compared is the arithmetic, not the start of a process)."""
    if nproc == 1:
        result = run_main(*args)
        assert result.returncode == 0, result.stderr[-3000:]
        return result
    # One thread each: two processes share the two cores of the test machine.
    env = subprocess_env(threads=1)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "cyclegan", *args]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def square_data(tmp_path):
    """4 + 4 images: each epoch is a permutation of A, so two ranks never share an image."""
    write_images(tmp_path / "data" / "trainA", 4, seed=1)
    write_images(tmp_path / "data" / "trainB", 4, seed=2)
    return tmp_path / "data"


def _rows(run):
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def _weights(folder):
    return {n: load_file(folder / f"{n}.safetensors") for n in ("g_ab", "g_ba", "d_a", "d_b")}


@pytest.mark.slow
def test_two_processes_train_checkpoint_and_resume_with_one(square_data, tmp_path):
    run = tmp_path / "run"
    result = _launch(
        2, "train", "--data", str(square_data), "--run-dir", str(run), *TINY, "--max-iters", "3"
    )
    assert result.stdout.count("done: ") == 1  # only rank 0 speaks
    rows = _rows(run)
    assert [r["step"] for r in rows] == [1, 2, 3]  # one log, written once
    for r in rows:  # every step, the two ranks trained on different A images
        (a0,), (a1,) = r["a_index_by_rank"]
        assert a0 != a1
    seen = {a for r in rows[:2] for (a,) in r["a_index_by_rank"]}
    assert seen == {0, 1, 2, 3}  # epoch 1 (2 steps x 2 ranks) covers all of A once
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    assert read_meta(latest)["global_step"] == 3

    _launch(1, "train", "--run-dir", str(run), "--resume")  # one process takes over
    rows = _rows(run)
    assert rows[-1]["step"] == 5 and rows[-1]["epoch"] == 2
    # the second epoch: 2 steps of 2 samples with 2 processes, 1 step left for 1 process of
    # batch 1 after the 2 samples already seen: the position converts by samples
    assert (run / "checkpoints" / "epoch_0002").is_dir()


@pytest.mark.slow
def test_two_processes_batch_one_equal_one_process_batch_two(square_data, tmp_path):
    """DDP averages gradients; each rank's losses are means over its batch; instance norm is
    per image; the pools return the current fakes while filling. So one step of 2 processes
    x batch 1 is one step of 1 process x batch 2 on the same two samples, up to float
    rounding: the losses to 1e-5. Adam's first update is about lr * sign(gradient), so a
    weight whose gradient is below rounding may step +lr in one and -lr in the other: the
    weights agree to 2 lr at most, and almost all of them to 1e-6."""
    one, two = tmp_path / "one", tmp_path / "two"
    _launch(
        1,
        "train",
        "--data",
        str(square_data),
        "--run-dir",
        str(one),
        *TINY,
        "--batch-size",
        "2",
        "--max-iters",
        "1",
    )
    _launch(
        2,
        "train",
        "--data",
        str(square_data),
        "--run-dir",
        str(two),
        *TINY,
        "--batch-size",
        "1",
        "--max-iters",
        "1",
    )
    row_one, row_two = _rows(one)[0], _rows(two)[0]
    for key in ("g_ab", "g_ba", "cycle_a", "cycle_b", "idt_ab", "idt_ba", "d_a", "d_b"):
        assert row_two[key] == pytest.approx(row_one[key], rel=1e-5), key
    w1 = _weights(one / "checkpoints" / "epoch_0001_step_00000001")
    w2 = _weights(two / "checkpoints" / "epoch_0001_step_00000001")
    diffs = torch.cat([(w1[n][k] - w2[n][k]).abs().flatten() for n in w1 for k in w1[n]])
    assert diffs.max() <= 2 * 2e-4 + 1e-6
    assert (diffs <= 1e-6).float().mean() > 0.95


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_all_with_one_checkpoint(square_data, tmp_path):
    import signal

    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "cyclegan",
        "train",
        "--data",
        str(square_data),
        "--run-dir",
        str(run),
        *TINY,
        "--n-epochs",
        "1000",
    ]
    launcher = start_training(cmd, run, threads=1)
    workers = subprocess.run(
        ["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(workers) == 2
    os.kill(int(workers[1]), signal.SIGTERM)  # one rank only
    _, err = launcher.communicate(timeout=120)
    assert "stopped by SIGTERM" in err and "--resume" in err
    checkpoints = [p.name for p in (run / "checkpoints").iterdir() if p.name != "latest"]
    assert len(checkpoints) == 1  # written once, by rank 0
    assert not any(p.name.startswith(".tmp") for p in (run / "checkpoints").iterdir())
