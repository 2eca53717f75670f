"""The training loop: the files a run writes, exact resume, atomic saves and clean stops."""

from __future__ import annotations

import json
import math
import os
import re
import signal

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from cyclegan.errors import CheckpointError, ConfigError, TrainingDiverged
from cyclegan.inference.translate import load_translator
from cyclegan.model import checkpoint as checkpoint_module
from cyclegan.model import step as step_module
from cyclegan.model.checkpoint import read_meta
from cyclegan.model.losses import LOSS_NAMES
from cyclegan.model.run_checkpoints import latest_checkpoint, list_checkpoints
from cyclegan.model.step import CycleGANStep
from cyclegan.training import losslog
from cyclegan.training.trainer import TrainingEvents, TrainingInterrupted, train


def _weights(folder):
    return {
        name: load_file(folder / f"{name}.safetensors") for name in ("g_ab", "g_ba", "d_a", "d_b")
    }


def _assert_bitwise_equal(w1, w2):
    for name in w1:
        for key in w1[name]:
            assert torch.equal(w1[name][key], w2[name][key]), f"{name}.{key} differs"


def test_run_writes_exactly_these_files(tiny_data, tmp_path):
    run = tmp_path / "run"
    final = train(tiny_config(tiny_data, run, report=True))
    assert final == run / "checkpoints" / "epoch_0002"
    files = {str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()}
    bundle = {
        "config.json",  # the networks' arguments: with the generators, all translating needs
        "training.json",  # options and position
        "g_ab.safetensors",
        "g_ba.safetensors",
        "d_a.safetensors",
        "d_b.safetensors",
        "training_state.json",  # no pickle: JSON and tensors
        "training_state.safetensors",
    }
    assert files == {
        ".lock",  # the one-writer lock (runfolder.py); free once the run ended
        "options.json",
        "losses.jsonl",
        "losses.png",
        "index.html",
        "checkpoints/latest",
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
    } | {f"checkpoints/epoch_000{e}/{f}" for e in (1, 2) for f in bundle}
    rows = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 11))  # 2 epochs of max(4, 5) steps
    assert {"g_ab", "cycle_a", "idt_ba", "d_b", "lr", "images_per_s", "data_wait_share"} <= set(
        rows[0]
    )
    # the last epoch decays: n_epochs=1, n_epochs_decay=1 -> epoch 2 at lr/2
    assert rows[0]["lr"] == pytest.approx(2e-4) and rows[-1]["lr"] == pytest.approx(1e-4)


@pytest.mark.parametrize("stop_at", [3, 5])  # mid-epoch, and exactly at an epoch's end
def test_resume_is_bitwise_equal_to_an_unbroken_run(tiny_data, tmp_path, stop_at):
    unbroken = train(tiny_config(tiny_data, tmp_path / "a", pool_size=2))
    stopped = train(tiny_config(tiny_data, tmp_path / "b", pool_size=2, max_iters=stop_at))
    assert read_meta(stopped)["global_step"] == stop_at
    resumed = train(tiny_config(tiny_data, tmp_path / "b"), resume=True)
    assert resumed.name == unbroken.name
    _assert_bitwise_equal(_weights(unbroken), _weights(resumed))
    log_a = (tmp_path / "a" / "losses.jsonl").read_text().splitlines()
    log_b = (tmp_path / "b" / "losses.jsonl").read_text().splitlines()

    def strip(rows):
        return [
            {k: v for k, v in json.loads(r).items() if k not in ("images_per_s", "data_wait_share")}
            for r in rows
        ]

    assert strip(log_a) == strip(log_b)


def _as_format_1(run):
    """Rewrite a run as versions before 2026-12-01 wrote it: one config.json holding the
    networks, the options (networks repeated) and the position; the schedules beside
    the step in the training state; the run's options in RUN/config.json."""
    from cyclegan.model.statefile import load_state, save_state

    (run / "options.json").rename(run / "config.json")
    for folder in list_checkpoints(run):
        meta = read_meta(folder)
        (folder / "training.json").unlink()
        (folder / "config.json").write_text(json.dumps({**meta, "version": 1}))
        state = load_state(folder)
        state["sched_g"], state["sched_d"] = (
            state["step"].pop("sched_g"),
            state["step"].pop("sched_d"),
        )
        save_state(folder, state)


def test_runs_in_the_format_before_2026_12_01_load_and_resume_exactly(tiny_data, tmp_path):
    unbroken = train(tiny_config(tiny_data, tmp_path / "a", pool_size=2))
    stopped = train(tiny_config(tiny_data, tmp_path / "b", pool_size=2, max_iters=3))
    _as_format_1(tmp_path / "b")
    assert list_checkpoints(tmp_path / "b") == [stopped]
    assert read_meta(stopped)["train"]["network"]["ngf"] == 4
    assert load_translator(tmp_path / "b").network.ngf == 4
    resumed = train(tiny_config(tiny_data, tmp_path / "b"), resume=True)
    _assert_bitwise_equal(_weights(unbroken), _weights(resumed))
    assert json.loads((resumed / "config.json").read_text())["version"] == 2


def test_a_loss_window_cut_by_a_signal_continues_after_the_resume(tiny_data, tmp_path):
    """Stopped by Ctrl-C at step 3 with a row every 2 steps: the row at step 4 after the
    resume averages steps 3 and 4, as the unbroken run's does (the window's sums travel
    with the checkpoint), not step 4 alone."""

    class InterruptAtStep3(TrainingEvents):
        def stepped(self, info):
            if info["step"] == 3:
                os.kill(os.getpid(), signal.SIGINT)

    train(tiny_config(tiny_data, tmp_path / "a", log_every=2))
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(tiny_data, tmp_path / "b", log_every=2), events=InterruptAtStep3())
    train(tiny_config(tiny_data, tmp_path / "b"), resume=True)

    def losses(run):
        return [
            {k: v for k, v in row.items() if k not in ("images_per_s", "data_wait_share")}
            for row in losslog.read(run)
        ]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_new_run_refuses_a_used_folder(tiny_data, tmp_path):
    train(tiny_config(tiny_data, tmp_path / "r", max_iters=1))
    with pytest.raises(ConfigError, match="--resume"):
        train(tiny_config(tiny_data, tmp_path / "r"))


def test_crash_while_saving_keeps_the_previous_checkpoint(tiny_data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=2))
    good = latest_checkpoint(run)
    real_save = checkpoint_module.save_state

    def dying_save(folder, state):
        real_save(folder, state)
        with open(folder / "training_state.safetensors", "r+b") as f:  # half-written,
            f.truncate(10)  # then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module, "save_state", dying_save)
    with pytest.raises(CheckpointError, match="could not save checkpoint .*disk full.*unchanged"):
        train(tiny_config(tiny_data, run, max_iters=4), resume=True)
    monkeypatch.undo()
    assert not list(run.glob("checkpoints/.tmp-*"))  # removed at once: the disk is freed
    assert latest_checkpoint(run) == good  # the pointer still names the complete one
    assert list_checkpoints(run) == [good]  # the temporary folder is not a checkpoint
    load_translator(run, device="cpu")  # and the run still loads
    final = train(tiny_config(tiny_data, run), resume=True)  # and resumes
    assert not list(run.glob("checkpoints/.tmp-*"))
    assert final.name == "epoch_0002"


def test_broken_latest_pointer_falls_back_to_newest_complete(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run))
    (run / "checkpoints" / "latest").write_text("epoch_9999\n")
    assert latest_checkpoint(run).name == "epoch_0002"


def test_ctrl_c_finishes_the_step_saves_and_resumes(tiny_data, tmp_path):
    class InterruptAtStep2(TrainingEvents):
        def stepped(self, info):
            if info["step"] == 2:
                os.kill(os.getpid(), signal.SIGINT)

    run = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
    with pytest.raises(TrainingInterrupted) as stop:
        train(tiny_config(tiny_data, run), events=InterruptAtStep2())
    assert stop.value.signum == signal.SIGINT
    assert read_meta(stop.value.checkpoint)["global_step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    final = train(tiny_config(tiny_data, run), resume=True)
    unbroken = train(tiny_config(tiny_data, tmp_path / "unbroken"))
    _assert_bitwise_equal(_weights(unbroken), _weights(final))


def test_nan_loss_stops_with_step_and_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    real_call = CycleGANStep.__call__
    calls = {"n": 0}

    def poisoned(self, real_a, real_b):
        calls["n"] += 1
        losses = real_call(self, real_a, real_b)
        if calls["n"] == 3:
            losses["cycle_a"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(CycleGANStep, "__call__", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as err:
        train(tiny_config(tiny_data, run, save_iter_freq=2))
    message = str(err.value)
    assert "cycle_a" in message and "step 3" in message
    assert "epoch_0001_step_00000002" in message
    assert [c.name for c in list_checkpoints(run)] == ["epoch_0001_step_00000002"]


def _overflowing(monkeypatch, at_calls):
    """Make the GAN losses of the steps numbered in ``at_calls`` overflow, as an fp16
    forward pass beyond 65504 does: loss and gradients inf or NaN. Returns what the
    poisoned steps saw: the step object, and whether they changed any weight."""
    real_call, real_loss = CycleGANStep.__call__, step_module.gan_loss
    seen = {"calls": 0, "changed": [], "step": None}

    def poisoned_loss(pred, target_is_real, mode):
        return real_loss(pred * float("inf") if seen["on"] else pred, target_is_real, mode)

    def counted(self, real_a, real_b):
        seen["calls"] += 1
        seen["on"], seen["step"] = seen["calls"] in at_calls, self
        before = [p.detach().clone() for p in self.nets.parameters()]
        losses = real_call(self, real_a, real_b)
        if seen["on"]:
            after = self.nets.parameters()
            changed = any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
            seen["changed"].append(changed)
        return losses

    monkeypatch.setattr(step_module, "gan_loss", poisoned_loss)
    monkeypatch.setattr(CycleGANStep, "__call__", counted)
    return seen


class _Notes(TrainingEvents):
    def __init__(self):
        self.notes = []

    def note(self, message):
        self.notes.append(message)


def test_an_fp16_overflow_skips_the_step_and_training_goes_on(tiny_data, tmp_path, monkeypatch):
    """Issue 20: under fp16 the loss scaler has the first word. The overflowing step
    changes no weight, leaves no fake in the pools and no row in the log."""
    seen = _overflowing(monkeypatch, at_calls={3})
    run, events = tmp_path / "run", _Notes()
    train(tiny_config(tiny_data, run, precision="fp16"), events=events)
    assert seen["changed"] == [False]
    assert [n for n in events.notes if "overflowed float16" in n] == [
        "step 3: a loss overflowed float16; the loss scaler skipped the update and "
        "training goes on (1 such step(s) in a row; the run stops at 11)"
    ]
    rows = losslog.read(run)
    assert 3 not in [r["step"] for r in rows] and len(rows) == seen["calls"] - 1
    assert all(math.isfinite(r[k]) for r in rows for k in LOSS_NAMES)
    step = seen["step"]
    assert len(step.pool_a.images) == len(step.pool_b.images) == seen["calls"] - 1


def test_fp16_overflows_in_a_row_stop_the_run(tiny_data, tmp_path, monkeypatch):
    seen = _overflowing(monkeypatch, at_calls=set(range(2, 100)))
    with pytest.raises(TrainingDiverged) as err:
        train(tiny_config(tiny_data, tmp_path / "run", precision="fp16", n_epochs=3))
    assert seen["calls"] == 12 and seen["changed"] == [False] * 11
    message = str(err.value)
    assert "at step 12 (epoch 3) after 10 skipped fp16 steps in a row" in message
    assert "--precision bf16 or fp32" in message


def test_a_deterministic_run_does_not_leave_the_process_deterministic(tiny_data, tmp_path):
    """``--deterministic`` is a process-wide switch in torch: a later run of the same
    process (a notebook's next fit) gets the kernels its own options ask for."""
    from cyclegan.training.build import build_run

    build_run(tiny_config(tiny_data, tmp_path / "a", deterministic=True)).close()
    assert torch.are_deterministic_algorithms_enabled()
    build_run(tiny_config(tiny_data, tmp_path / "b", deterministic=False)).close()
    assert not torch.are_deterministic_algorithms_enabled()


def test_the_progress_line_shows_the_share_of_time_spent_waiting_for_data(
    tiny_data, tmp_path, capsys
):
    """A GPU starved by decoding shows it in the progress line, not only in the log."""
    from cyclegan.cli.progress import TrainingProgress

    shares = []

    class Recorder(TrainingProgress):
        def stepped(self, info):
            shares.append(info["data_wait_share"])
            super().stepped(info)

    train(tiny_config(tiny_data, tmp_path / "r", max_iters=3), events=Recorder())
    assert len(shares) == 3 and all(0 <= s < 1 for s in shares)
    assert re.search(r"img/s, data wait \d+%", capsys.readouterr().err)
