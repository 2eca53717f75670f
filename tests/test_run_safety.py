"""A run is never lost or corrupted: one writer per run folder, foreign folders left
alone, no deletion through symbolic links, logs that survive a torn last line
(issue "A run is never lost"). Each case here failed before its fix."""

from __future__ import annotations

import json
import shutil
import signal
import sys

import pytest

from conftest import TINY_CLI, inception_left_out, start_training, tiny_config, write_images
from cyclegan.cli.main import main
from cyclegan.errors import ConfigError
from cyclegan.model import jsonlog
from cyclegan.model.checkpoint import read_meta
from cyclegan.model.run_checkpoints import latest_checkpoint, list_checkpoints
from cyclegan.training import health_report, losslog
from cyclegan.training.runfolder import RunLock
from cyclegan.training.trainer import train


def _strip(rows):
    """Log rows without the wall-clock fields, which differ between any two runs."""
    return [{k: v for k, v in r.items() if k not in ("images_per_s", "data_wait_share")}
            for r in rows]  # fmt: skip


@pytest.mark.slow
def test_a_second_training_process_is_refused_and_the_first_is_unharmed(
    tiny_data, tmp_path, capsys
):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "cyclegan", "train", "--data", str(tiny_data), "--run",
           str(run), *TINY_CLI, "--max-iters", "30", "--log-every", "1",
           "--save-iter-freq", "5", "--n-epochs", "10"]  # fmt: skip
    first = start_training(cmd, run, threads=1, rows=2)
    try:
        for args in (
            ["train", "--run", str(run), "--resume", "--max-iters", "40"],
            ["train", "--data", str(tiny_data), "--run", str(run), *TINY_CLI],
        ):
            assert main(args) == 1
            err = capsys.readouterr().err.strip().splitlines()[-1]
            assert "in use by another training process" in err, err
            assert f"pid {first.pid}" in err, err
        _, stderr = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    rows = losslog.read(run)
    assert [r["step"] for r in rows] == list(range(1, 31))  # no repeated or interleaved row
    assert read_meta(latest_checkpoint(run))["global_step"] == 30


@pytest.mark.slow
def test_a_killed_process_leaves_no_stale_lock(tiny_data, tmp_path):
    """SIGKILL gives no chance to clean up: the OS drops the lock, the lock file stays,
    and the run resumes at once."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "cyclegan", "train", "--data", str(tiny_data), "--run",
           str(run), *TINY_CLI, "--save-iter-freq", "1", "--n-epochs", "50"]  # fmt: skip
    proc = start_training(cmd, run, threads=1, rows=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / ".lock").exists()
    step = read_meta(latest_checkpoint(run))["global_step"]
    train(tiny_config(tiny_data, run, max_iters=step + 1), resume=True)
    assert read_meta(latest_checkpoint(run))["global_step"] == step + 1


def test_the_lock_is_held_for_the_life_of_a_run_in_one_process(tiny_data, tmp_path):
    from cyclegan.training.build import build_run

    run = build_run(tiny_config(tiny_data, tmp_path / "run"))
    with pytest.raises(ConfigError, match="in use by another training process"):
        RunLock(tmp_path / "run").acquire()
    run.close()
    RunLock(tmp_path / "run").acquire().release()


@pytest.mark.parametrize("foreign", ["losses.jsonl", "index.html", "notes.txt", ".lock"])
def test_a_fresh_run_refuses_a_foreign_folder_and_leaves_it_unchanged(
    tiny_data, tmp_path, capsys, foreign
):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / foreign).write_text("my own file\n")
    (folder / "sub").mkdir()
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert main(["train", "--data", str(tiny_data), "--run", str(folder), *TINY_CLI]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "not empty and not a cyclegan run" in err and foreign in err, err
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert (folder / foreign).read_text() == "my own file\n"


def test_a_fresh_run_may_start_in_an_empty_folder_or_its_own(tiny_data, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    train(tiny_config(tiny_data, empty, max_iters=1, save_epoch_freq=100))
    # a run of ours that never saved a checkpoint starts again in place
    shutil.rmtree(empty / "checkpoints")
    train(tiny_config(tiny_data, empty, max_iters=1))
    assert read_meta(latest_checkpoint(empty))["global_step"] == 1


def test_pruning_never_deletes_through_a_symbolic_link(tiny_data, tmp_path):
    """Checkpoint folders linked in from elsewhere, and a ``checkpoints/`` folder that
    is itself a link: resuming with --keep-checkpoints 1 deletes nothing outside."""
    run = tmp_path / "run"
    train(tiny_config(tiny_data, run, max_iters=2, save_iter_freq=1))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    oldest = list_checkpoints(run)[0]
    shutil.move(oldest, outside / oldest.name)
    (run / "checkpoints" / oldest.name).symlink_to(outside / oldest.name)
    train(tiny_config(tiny_data, run, max_iters=4), resume=True,
          overrides={"keep_checkpoints": 1, "save_iter_freq": 1})  # fmt: skip
    assert (outside / oldest.name / "g_ab.safetensors").is_file()
    assert (run / "checkpoints" / oldest.name).is_symlink()
    real = [p for p in (run / "checkpoints").iterdir() if p.is_dir() and not p.is_symlink()]
    assert [p.name for p in real] == [latest_checkpoint(run).name]

    # checkpoints/ itself a link into a folder that holds someone else's checkpoints
    shared = tmp_path / "shared_disk"
    shutil.move(run / "checkpoints", shared)
    (run / "checkpoints").symlink_to(shared)
    theirs = sorted(p.name for p in shared.iterdir())
    train(tiny_config(tiny_data, run, max_iters=6), resume=True,
          overrides={"keep_checkpoints": 1, "save_iter_freq": 1})  # fmt: skip
    assert set(theirs) <= {p.name for p in shared.iterdir()}


def _torn(path, fragment=b'{"step": 99, "epoch": 1, "lr": 0.0002, "g_a'):
    with open(path, "ab") as f:
        f.write(fragment)


@pytest.fixture
def val_data(tmp_path):
    """Ten images a domain and no test folders: two of each are held out to validate."""
    root = tmp_path / "vdata"
    write_images(root / "trainA", 10, seed=1)
    write_images(root / "trainB", 10, seed=2)
    return root


def _validating(data, run, **overrides):
    values = dict(val_images=2, val_every=1, n_epochs=1, n_epochs_decay=0)
    return tiny_config(data, run, **{**values, **overrides})


def test_a_torn_last_log_line_resumes_to_the_log_of_an_unbroken_run(val_data, tmp_path, capsys):
    unbroken = tmp_path / "a"
    train(_validating(val_data, unbroken))
    run = tmp_path / "b"
    train(_validating(val_data, run, max_iters=3))
    _torn(run / "losses.jsonl")
    _torn(run / "validation.jsonl", b'{"step": 3, "metric": "ki')
    assert main(["report", str(run)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "dropped its last line" in err
    assert main(["train", "--run", str(run), "--resume"]) == 0
    assert "dropped its last line" in capsys.readouterr().err
    assert _strip(losslog.read(run)) == _strip(losslog.read(unbroken))
    assert [r["step"] for r in health_report.read(unbroken)] == [8]
    assert [r["step"] for r in health_report.read(run)] == [3, 8]  # 3: where it stopped
    for name in ("losses.jsonl", "validation.jsonl"):
        assert (run / name).read_bytes().endswith(b"}\n")


BAD_LINES = [
    b"\x00\xff\xfe garbage \x81",
    b'{"epoch": 1, "lr": 0.1}',  # no step
    b'{"step": NaN, "epoch": 1}',
    b'{"step": 2, "epoch": 1, "lr": NaN, "g_ab": 1}',
    b'{"step": "2", "epoch": 1}',
    b"[1, 2, 3]",
    b'"a string"',
    b'{"step": 2, "epoch": 1, "lr": 0.1, "g_ab": {"deep": [1]}}',
]


@pytest.fixture(scope="module")
def validated_run(tmp_path_factory):
    """Three steps with a validation at the end, a checkpoint at every step."""
    root = tmp_path_factory.mktemp("validated")
    write_images(root / "data" / "trainA", 10, seed=1)
    write_images(root / "data" / "trainB", 10, seed=2)
    with inception_left_out():
        train(_validating(root / "data", root / "run", max_iters=3, val_every=0, save_iter_freq=1))
    assert len(health_report.read(root / "run")) == 1
    return root / "run"


def _insert_at_line_2(path, bad: bytes):
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + bad + b"\n" + b"".join(lines[1:]))


@pytest.mark.parametrize("bad", BAD_LINES, ids=range(len(BAD_LINES)))
def test_a_bad_line_inside_a_log_is_skipped_with_its_number(validated_run, tmp_path, capsys, bad):
    run = tmp_path / "run"
    shutil.copytree(validated_run, run, ignore=shutil.ignore_patterns("checkpoints", "cache"))
    for name in ("losses.jsonl", "validation.jsonl"):
        _insert_at_line_2(run / name, bad)
    notes = []
    assert len(losslog.read(run, notes.append)) == 3
    assert len(notes) == 1 and notes[0].startswith(f"{run / 'losses.jsonl'}: line 2 skipped: ")
    assert main(["report", str(run)]) == 0
    err = capsys.readouterr().err
    assert "line 2 skipped" in err and "Traceback" not in err


def test_resume_after_bad_log_lines_keeps_only_the_valid_rows(validated_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(validated_run, run)
    for bad in BAD_LINES:
        _insert_at_line_2(run / "losses.jsonl", bad)
    assert main(["train", "--run", str(run), "--resume", "--max-iters", "4"]) == 0
    assert capsys.readouterr().err.count("skipped") == len(BAD_LINES)
    assert [r["step"] for r in losslog.read(run)] == [1, 2, 3, 4]
    assert len((run / "losses.jsonl").read_text().splitlines()) == 4


def test_a_copied_run_resumes_in_the_copy_and_never_writes_into_the_original(
    validated_run, tmp_path
):
    """The saved options name the original folder; resuming the copy used to write its
    checkpoints and logs there, beside another process's lock."""
    before = {p: p.stat().st_mtime_ns for p in validated_run.rglob("*") if p.is_file()}
    copy = tmp_path / "copy"
    shutil.copytree(validated_run, copy)
    train(tiny_config(copy, copy, max_iters=4), resume=True)
    assert read_meta(latest_checkpoint(copy))["global_step"] == 4
    after = {p: p.stat().st_mtime_ns for p in validated_run.rglob("*") if p.is_file()}
    assert after == before


def test_log_rows_are_whole_lines_and_reads_never_raise(tmp_path):
    path = tmp_path / "log.jsonl"
    jsonlog.append(path, {"step": 1})
    jsonlog.append(path, {"step": 2})
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    with pytest.raises(ValueError):
        jsonlog.append(path, {"step": float("nan")})  # never written, so never read back
    assert path.read_text().count("\n") == 2
    deep = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    for content in (b"", b"\n\n", b"\xff" * 100, b"{" * 100000, b'{"step": 1}', deep * 2):
        path.write_bytes(content)
        jsonlog.read(path, losslog.check_row)


def test_a_log_written_by_someone_else_never_breaks_results(tiny_run, tmp_path, capsys):
    """``results`` and ``report`` on a run whose logs hold garbage: one page, no trace."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "losses.jsonl").write_bytes(b'{"step": 1}\n\x00\x01\n[]\n{"step": -3}\n')
    (run / "validation.jsonl").write_text(json.dumps({"step": 1, "AtoB": "x"}) + "\n")
    assert main(["report", str(run)]) == 0
    options = json.loads((run / "options.json").read_text())
    options.update(network=5, preprocess=["x"], crop_size={"a": 1})
    (run / "options.json").write_text(json.dumps(options))
    assert main(["report", str(run)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (run / "index.html").is_file()


def test_resuming_a_folder_that_is_not_a_run_creates_nothing_there(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert main(["train", "--run", str(folder), "--resume"]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
