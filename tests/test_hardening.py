"""Bad input from the command line and on disk: one clear line, never a traceback,
never lost data (issue "Hardened"). Each case here failed before its fix."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import TINY_CLI, run_main, subprocess_env, tiny_config, write_images
from cyclegan.cli.main import main
from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.errors import CheckpointError, ConfigError, CycleGANError
from cyclegan.inference.translate import load_translator
from cyclegan.model.run_checkpoints import latest_checkpoint, list_checkpoints, save_checkpoint
from cyclegan.training.trainer import train

NUMERIC = [
    (cls, f.name)
    for cls in (TrainConfig, NetworkConfig)
    for f in dataclasses.fields(cls)
    if isinstance(f.default, int | float) and not isinstance(f.default, bool)
]


_cli = run_main  # in this process: what is tested is the message, not the process


def _translate(model, src, dst, *extra: str):
    return run_main("translate", "--model", str(model), "--input", str(src), "--output", str(dst),
                   *extra)  # fmt: skip


def _one_clear_line(result, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after any progress lines
    assert last.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in last, result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(("option", "name"), [("--lr", "'lr'"), ("--init-gain", "'init_gain'")])
def test_non_finite_option_names_itself_on_the_command_line(
    tiny_data, tmp_path, value, option, name
):
    run = tmp_path / "r"
    result = _cli("train", "--data", str(tiny_data), "--run", str(run), *TINY_CLI,
                  f"{option}={value}")  # fmt: skip
    _one_clear_line(result, name, "finite")
    assert not run.exists()


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(NUMERIC),
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, -1, 1e308, 2**63]),
    ),
)
def test_every_numeric_option_takes_a_value_or_refuses_it_clearly(field, value):
    """Any number for any numeric option: a configuration, or a ConfigError that names
    the option. Never another exception, never a non-finite value accepted."""
    cls, name = field
    default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
    if isinstance(default, int) and isinstance(value, float):
        value = value if not math.isfinite(value) else int(value)
    try:
        built = cls(**{name: value})
    except ConfigError as exc:
        assert repr(name) in str(exc) or name in str(exc)
        return
    got = getattr(built, name)
    assert math.isfinite(got)


def test_lr_above_one_is_refused():
    with pytest.raises(ConfigError, match="'lr'"):
        TrainConfig(lr=1e30)


def _poison(module: torch.nn.Module) -> None:
    with torch.no_grad():
        next(module.parameters()).view(-1)[0] = float("nan")


def test_non_finite_weights_are_never_saved(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=1))
    good = latest_checkpoint(run)
    from cyclegan.model.checkpoint import Position
    from cyclegan.model.networks import CycleGANNetworks

    cfg = tiny_config(tiny_data, run)
    nets = CycleGANNetworks(cfg.network)
    _poison(nets.g_ba)
    with pytest.raises(CheckpointError, match=r"g_ba\..* NaN or infinite.*Last good.*epoch"):
        save_checkpoint(run, cfg, nets, {}, Position(1, 0, 99))
    assert list_checkpoints(run) == [good] and latest_checkpoint(run) == good
    state = {"opt": {"exp_avg": [torch.tensor([1.0, float("inf")])]}}
    with pytest.raises(CheckpointError, match=r"opt\.exp_avg\.0 is NaN or infinite"):
        save_checkpoint(run, cfg, CycleGANNetworks(cfg.network), state, Position(1, 0, 99))


def test_a_model_with_non_finite_weights_is_refused_naming_the_tensor(tiny_run, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "ckpt"
    import shutil

    shutil.copytree(latest_checkpoint(tiny_run), folder)
    weights = load_file(folder / "g_ab.safetensors")
    key = next(iter(weights))
    weights[key][0] = float("nan")
    save_file(weights, folder / "g_ab.safetensors")
    with pytest.raises(CheckpointError, match=f"weight {key} is NaN"):
        load_translator(folder, device="cpu")
    pth = tmp_path / "broken_net_G_A.pth"
    torch.save(weights, pth)
    with pytest.raises(CheckpointError, match=f"weight {key} is NaN"):
        load_translator(pth, NetworkConfig(net_g="resnet_6blocks", ngf=4), device="cpu")


@pytest.mark.parametrize(
    "content", [b"[1, 2]", b'"text"', b"null", b'{"format": "cyclegan-checkpoint", "network": 3}']
)
def test_wrong_shaped_checkpoint_json_is_one_line(tiny_run, tmp_path, content):
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(latest_checkpoint(tiny_run), folder)
    (folder / "config.json").write_bytes(content)
    result = _cli(
        "translate",
        "--model",
        str(folder),
        "--input",
        str(tmp_path / "none.png"),
        "--output",
        str(tmp_path / "out"),
    )
    _one_clear_line(result, "config.json")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/cyclegan-pwned",))


CORRUPTIONS = {
    # file -> what is written over it
    "training_state.json": [
        b"",
        b"[1, 2]",
        b'{"__dict__": [["step", {"__tensor__": "gone"}]]}',
        b"{not json",
    ],
    "training_state.safetensors": [b"", b"\x00" * 64],
}


@pytest.mark.parametrize(
    ("name", "payload"), [(n, p) for n, ps in CORRUPTIONS.items() for p in ps]
)  # fmt: skip
def test_corrupt_training_state_on_resume_is_one_line(tiny_data, tmp_path, name, payload):
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=1))
    (latest_checkpoint(run) / name).write_bytes(payload)
    result = _cli("train", "--run", str(run), "--resume")
    _one_clear_line(result, "training_state", "training state")


def test_training_state_is_stored_without_pickle_and_round_trips(tiny_data, tmp_path):
    from cyclegan.model.checkpoint import load_training_state
    from cyclegan.model.statefile import load_state, save_state

    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=3, pool_size=2))
    folder = latest_checkpoint(run)
    assert not list(folder.glob("*.pt")) and not list(folder.glob("*.pkl"))
    state = load_training_state(folder)
    assert state["step"]["opt_g"]["state"][0]["exp_avg"].dtype == torch.float32  # int keys kept
    assert isinstance(state["step"]["pool_a"]["rng"], tuple)  # tuples kept
    save_state(tmp_path, state)
    again = load_state(tmp_path)

    def same(a, b):
        if isinstance(a, torch.Tensor):
            return torch.equal(a, b) and a.dtype == b.dtype
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list | tuple):
            return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
        return a == b or (a != a and b != b)  # NaN equals NaN here

    assert same(state, again)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/cyclegan-pwned",))


@pytest.mark.parametrize("kind", ["random", "empty", "pickle", "good"])
def test_old_checkpoints_with_training_state_pt_resume_safely(tiny_data, tmp_path, kind):
    """Checkpoints from before the format change hold ``training_state.pt``: read with
    torch's restricted loader (never running pickled code), or refused in one line."""
    from cyclegan.model.checkpoint import load_training_state

    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=1))
    folder = latest_checkpoint(run)
    state = load_training_state(folder)
    for name in ("training_state.json", "training_state.safetensors"):
        (folder / name).unlink()
    payload = {
        "random": np.random.default_rng(0).bytes(5000),
        "empty": b"",
        "pickle": pickle.dumps(_Evil()),
    }.get(kind)
    if payload is None:
        torch.save(state, folder / "training_state.pt")
    else:
        (folder / "training_state.pt").write_bytes(payload)
    result = _cli("train", "--run", str(run), "--resume", "--max-iters", "2")
    if kind == "good":
        assert result.returncode == 0, result.stderr
        return
    _one_clear_line(result, "training_state.pt", "unreadable training state")
    assert "weights_only" not in result.stderr
    assert not os.path.exists("/tmp/cyclegan-pwned")


def test_random_bytes_as_pth_never_advise_unsafe_loading(tmp_path):
    junk = tmp_path / "model.pth"
    junk.write_bytes(np.random.default_rng(1).bytes(4096))
    result = _cli(
        "translate", "--model", str(junk), "--input", str(junk), "--output", str(tmp_path / "out")
    )
    _one_clear_line(result, "model.pth", "not a readable PyTorch state dict")
    assert "weights_only" not in result.stderr


def test_a_file_that_is_not_a_model_is_not_called_missing(tmp_path):
    other = tmp_path / "random.bin"
    other.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a model this tool reads"):
        load_translator(other, device="cpu")


def test_unwritable_run_folder_fails_before_training(tiny_data, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = _cli("train", "--data", str(tiny_data), "--run", str(blocker / "run"), *TINY_CLI)
    _one_clear_line(result, "not writable", str(blocker / "run"))


def test_disk_full_during_save_cleans_up_and_keeps_the_last_checkpoint(
    tiny_data, tmp_path, monkeypatch
):
    import cyclegan.model.checkpoint as checkpoint_module

    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=2))
    good = latest_checkpoint(run)

    def full_disk(folder, state):
        (folder / "training_state.safetensors").write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64")

    monkeypatch.setattr(checkpoint_module, "save_state", full_disk)
    with pytest.raises(CheckpointError) as info:
        train(tiny_config(tiny_data, run, max_iters=4), resume=True)
    monkeypatch.undo()
    message = str(info.value)
    assert "could not save checkpoint" in message and str(good) in message
    assert "\n" not in message
    assert not list(run.glob("checkpoints/.tmp-*"))
    assert latest_checkpoint(run) == good and list_checkpoints(run) == [good]
    train(tiny_config(tiny_data, run), resume=True)  # and the run goes on


def test_a_safetensors_write_failure_is_one_line_too(tiny_data, tmp_path, monkeypatch):
    """safetensors reports a full disk as its own SafetensorError (not OSError): the
    weights' write failing must clean up and keep the last checkpoint all the same."""
    from safetensors import SafetensorError

    import cyclegan.model.checkpoint as checkpoint_module

    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=2))
    good = latest_checkpoint(run)

    def full_disk(tensors, path, *args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device")

    monkeypatch.setattr(checkpoint_module, "save_file", full_disk)
    with pytest.raises(CheckpointError, match="could not save checkpoint .*unchanged"):
        train(tiny_config(tiny_data, run, max_iters=4), resume=True)
    assert not list(run.glob("checkpoints/.tmp-*"))
    assert latest_checkpoint(run) == good and list_checkpoints(run) == [good]


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_translate_never_writes_among_or_over_its_inputs(tiny_run, tmp_path, where):
    images = tmp_path / "photos"
    originals = {p: p.read_bytes() for p in write_images(images, 2)}
    output = {"same": images, "inside": images / "out", "around": tmp_path}[where]
    result = _translate(tiny_run, images, output)
    _one_clear_line(result, "overlaps --input", "--allow-overlap")
    assert {p: p.read_bytes() for p in originals} == originals
    assert sorted(images.rglob("*")) == sorted(originals)
    # asked for explicitly: still never over an input file
    _one_clear_line(_translate(tiny_run, images, images, "--allow-overlap"), "is an input file")
    assert {p: p.read_bytes() for p in originals} == originals
    # one file into its own folder: its translation would replace it
    _one_clear_line(_translate(tiny_run, sorted(originals)[0], images), "is an input file")
    assert {p: p.read_bytes() for p in originals} == originals
    # another format beside the originals is what --allow-overlap is for
    result = _translate(tiny_run, images, images, "--allow-overlap", "--format", "jpg")
    assert result.returncode == 0, result.stderr
    assert {p: p.read_bytes() for p in originals} == originals


def test_an_image_format_train_refuses_is_refused_everywhere(tmp_path):
    from cyclegan.data.imageio import load_image

    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    disguised = tmp_path / "looks_like.png"
    frames[0].save(disguised, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(CycleGANError, match="a GIF image; accepted: PNG, JPEG"):
        load_image(disguised, 3)


def test_evaluate_names_every_unreadable_image(tmp_path):
    from cyclegan.apps.evaluate import load_folder

    write_images(tmp_path / "set", 2)
    (tmp_path / "set" / "bad_1.png").write_bytes(b"not a png")
    (tmp_path / "set" / "bad_2.jpg").write_bytes(b"")
    with pytest.raises(CycleGANError) as info:
        load_folder(tmp_path / "set")
    assert "2 file(s) cannot be read" in str(info.value)
    assert "bad_1.png" in str(info.value) and "bad_2.jpg" in str(info.value)


def test_json_of_the_wrong_shape_as_saved_options_is_a_config_error():
    with pytest.raises(ConfigError, match="JSON object"):
        TrainConfig.from_dict([1, 2])
    with pytest.raises(ConfigError, match="JSON object"):
        from cyclegan.config import network_from_dict

        network_from_dict("resnet")


@pytest.mark.slow
def test_kill_9_at_random_moments_never_loses_a_saved_step(tiny_data, tmp_path):
    """A real training process saving every step, killed with SIGKILL at three random
    moments (seeded): each time the run still loads, resumes from its newest complete
    checkpoint (never an older one), and finally ends where an unbroken run ends."""
    import random
    import signal
    import time

    from cyclegan.model.checkpoint import read_meta

    run = tmp_path / "run"
    rng = random.Random(7)
    base = ["train", "--data", str(tiny_data), "--run", str(run), *TINY_CLI,
            "--n-epochs", "2", "--n-epochs-decay", "2", "--save-iter-freq", "1",
            "--log-every", "1"]  # fmt: skip
    last_step = 0
    for attempt in range(3):
        args = base if attempt == 0 else ["train", "--run", str(run), "--resume"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "cyclegan", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=subprocess_env(),
        )
        deadline = time.monotonic() + 120
        while latest_checkpoint(run) is None or (
            read_meta(latest_checkpoint(run))["global_step"] <= last_step
        ):  # wait until this process has saved something new
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))  # then kill it at a random moment
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        newest = latest_checkpoint(run)
        step = read_meta(newest)["global_step"]
        assert step > last_step  # nothing saved before the kill was lost
        assert list_checkpoints(run)[-1] == newest
        load_translator(run, device="cpu")  # what was saved still loads
        last_step = step
    result = _cli("train", "--run", str(run), "--resume")
    assert result.returncode == 0, result.stderr
    assert read_meta(latest_checkpoint(run))["global_step"] == 20  # 4 epochs of 5 steps
    assert not list(run.glob("checkpoints/.tmp-*"))


@pytest.mark.parametrize("damage", ["truncated", "emptied", "random bytes"])
def test_every_file_of_a_damaged_checkpoint_gets_one_line(tiny_data, tmp_path, capsys, damage):
    """Each file of a checkpoint folder in turn truncated, emptied or overwritten with
    random bytes: resuming it and translating with it each end in one line naming the
    folder or the file, never a traceback."""
    import shutil

    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=1))
    pristine = tmp_path / "pristine"
    shutil.copytree(run, pristine)
    folder_name = latest_checkpoint(run).name
    for victim in sorted(p.name for p in latest_checkpoint(run).iterdir()):
        shutil.rmtree(run)
        shutil.copytree(pristine, run)
        path = run / "checkpoints" / folder_name / victim
        data = path.read_bytes()
        path.write_bytes(
            {
                "truncated": data[: len(data) // 2],
                "emptied": b"",
                "random bytes": np.random.default_rng(len(data)).bytes(max(len(data), 16)),
            }[damage]
        )
        for args in (
            ["train", "--run", str(run), "--resume", "--max-iters", "2"],
            [
                "translate",
                "--model",
                str(run),
                "--input",
                str(tiny_data / "testA"),
                "--output",
                str(tmp_path / "out"),
            ],  # fmt: skip
        ):
            try:
                code = main(args)
            except SystemExit as stop:
                code = stop.code
            assert code in (0, 1), (victim, damage, args)
            err = capsys.readouterr().err
            if code == 1:
                assert err.strip().splitlines()[-1].startswith("error: "), (victim, err)
