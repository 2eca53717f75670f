"""The keeper of a run's checkpoints (``model/layout.py``, ``run_checkpoints.py``):
names, order, ``latest``, ``best``, copying, pruning, resolving, refusals. No training:
checkpoints of small untrained networks, saved as a run saves them."""

from __future__ import annotations

import json
import os

import pytest
import torch

from cyclegan.config import NetworkConfig, TrainConfig
from cyclegan.errors import CheckpointError
from cyclegan.model import layout
from cyclegan.model.checkpoint import Position, can_resume, is_checkpoint, read_meta
from cyclegan.model.layout import RunFiles
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.run_checkpoints import (
    adopt_checkpoint,
    best_checkpoint,
    copy_checkpoint,
    is_run_folder,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    read_run_options,
    resolve_checkpoint,
    save_best,
    save_checkpoint,
    write_run_options,
)
from cyclegan.training.runfolder import RunLock

NET = NetworkConfig(net_g="resnet_6blocks", ngf=4, ndf=4, n_layers_d=1)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return CycleGANNetworks(NET)


def _run(tmp_path, nets, *positions: Position):
    """A run folder with a checkpoint saved at each position, in that order."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    cfg = TrainConfig(data="data", run=str(run), network=NET)
    write_run_options(run, cfg)
    for position in positions:
        save_checkpoint(run, cfg, nets, {"step": torch.tensor(position.global_step)}, position)
    return run, cfg


def _at(epochs: int, step: int, batches: int = 0) -> Position:
    return Position(epochs, batches, step)


def test_a_checkpoint_holds_the_files_the_layout_names_and_nothing_else(tmp_path, nets):
    run, _ = _run(tmp_path, nets, _at(1, 10))
    folder = RunFiles(run).checkpoints / "epoch_0001"
    names = {layout.NETWORK_FILE, layout.RECORD_FILE, layout.STATE_TREE, layout.STATE_TENSORS}
    names |= {layout.weights_file(folder, n).name for n in ("g_ab", "g_ba", "d_a", "d_b")}
    assert {p.name for p in folder.iterdir()} == names
    assert (RunFiles(run).latest.read_text(), is_checkpoint(folder), can_resume(folder)) == (
        "epoch_0001\n",
        True,
        True,
    )
    files = RunFiles(run)
    assert {p.name for p in run.iterdir()} == {files.options.name, files.checkpoints.name}
    assert is_run_folder(run) and read_run_options(run)["network"]["ngf"] == 4


def test_folder_names_say_the_epoch_or_the_step_inside_one():
    assert _at(5, 500).folder_name() == "epoch_0005"
    assert _at(5, 512, batches=12).folder_name() == "epoch_0006_step_00000512"


def test_checkpoints_are_ordered_by_save_not_by_name_or_step(tmp_path, nets):
    run, _ = _run(tmp_path, nets, _at(1, 10), _at(2, 20), _at(2, 25, batches=5))
    other, _ = _run(tmp_path / "other", nets, _at(1, 3))  # a fit whose steps start again
    assert [f.name for f in list_checkpoints(run)] == [
        "epoch_0001", "epoch_0002", "epoch_0003_step_00000025"
    ]  # fmt: skip
    adopted = adopt_checkpoint(run, other / "checkpoints" / "epoch_0001", "fit_2")
    assert list_checkpoints(run)[-1] == adopted == latest_checkpoint(run)
    assert read_meta(adopted)["global_step"] == 3  # newest although its step is the lowest


def test_latest_is_the_pointer_unless_it_lags_or_is_broken(tmp_path, nets):
    run, cfg = _run(tmp_path, nets, _at(1, 10), _at(2, 20))
    files = RunFiles(run)
    newest = files.checkpoints / "epoch_0002"
    files.latest.write_text("epoch_0001\n")  # a crash between the folder's rename and the pointer's
    assert latest_checkpoint(run) == newest
    for broken in ("", "../elsewhere\n", "epoch_0001\nepoch_0002\n", ".tmp-x\n", "gone\n"):
        files.latest.write_text(broken)
        assert latest_checkpoint(run) == newest, broken
    files.latest.unlink()
    assert latest_checkpoint(run) == newest
    # A folder left half-written by a crash is neither listed nor taken as the latest.
    (files.checkpoints / "epoch_0003").mkdir()
    (files.checkpoints / "epoch_0003" / layout.NETWORK_FILE).write_text("{}")
    assert latest_checkpoint(run) == newest and len(list_checkpoints(run)) == 2


def test_saving_a_position_again_replaces_it_and_leaves_no_temporary_folder(tmp_path, nets):
    run, cfg = _run(tmp_path, nets, _at(1, 10))
    root = RunFiles(run).checkpoints
    (root / f"{layout.TEMPORARY_PREFIX}epoch_0009-1").mkdir()  # left by a killed save
    save_checkpoint(run, cfg, nets, {"step": torch.tensor(11)}, _at(1, 10))
    assert [p.name for p in root.iterdir() if p.is_dir()] == ["epoch_0001"]


def test_non_finite_weights_are_never_saved_and_the_last_good_one_stays(tmp_path, nets):
    run, cfg = _run(tmp_path, nets, _at(1, 10))
    broken = CycleGANNetworks(NET)
    with torch.no_grad():
        next(broken.g_ab.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match=r"g_ab.*NaN or infinite.*epoch_0001"):
        save_checkpoint(run, cfg, broken, {}, _at(2, 20))
    assert [f.name for f in list_checkpoints(run)] == ["epoch_0001"]


def test_best_is_a_copy_kept_apart_replaced_whole_and_never_pruned(tmp_path, nets):
    run, _ = _run(tmp_path, nets, _at(1, 10), _at(2, 20), _at(3, 30))
    root = RunFiles(run).checkpoints
    assert best_checkpoint(run) is None
    save_best(run, root / "epoch_0001")
    save_best(run, root / "epoch_0002")
    assert read_meta(best_checkpoint(run))["global_step"] == 20
    assert RunFiles(run).best not in list_checkpoints(run)
    prune_checkpoints(run, keep=1)
    assert [f.name for f in list_checkpoints(run)] == ["epoch_0003"]
    assert best_checkpoint(run) == RunFiles(run).best
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_pruning_never_deletes_through_a_symbolic_link(tmp_path, nets):
    run, _ = _run(tmp_path, nets, _at(1, 10), _at(2, 20))
    outside, _ = _run(tmp_path / "outside", nets, _at(1, 5))
    kept = outside / "checkpoints" / "epoch_0001"
    (RunFiles(run).checkpoints / "linked").symlink_to(kept)
    adopt_checkpoint(run, kept, "fit")  # newest, so the link is among the old ones
    prune_checkpoints(run, keep=1)
    assert [f.name for f in list_checkpoints(run)] == ["linked", "fit"]  # the run's own: gone
    assert is_checkpoint(kept)  # the link's target is untouched
    assert (RunFiles(run).checkpoints / "linked").is_symlink()


def test_a_copy_is_complete_or_absent_and_never_lands_on_a_folder(tmp_path, nets):
    run, _ = _run(tmp_path, nets, _at(1, 10))
    source = RunFiles(run).checkpoints / "epoch_0001"
    dest = copy_checkpoint(source, tmp_path / "copy")
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in source.iterdir())
    with pytest.raises(CheckpointError, match="exists already"):
        copy_checkpoint(source, dest)


def test_a_model_path_resolves_to_one_checkpoint_or_says_why_not(tmp_path, nets):
    run, _ = _run(tmp_path, nets, _at(1, 10), _at(2, 20))
    root = RunFiles(run).checkpoints
    assert resolve_checkpoint(run) == root / "epoch_0002"
    assert resolve_checkpoint(run / "latest") == root / "epoch_0002"
    assert resolve_checkpoint(root / "epoch_0001") == root / "epoch_0001"
    with pytest.raises(CheckpointError, match="no best checkpoint yet"):
        resolve_checkpoint(run / "best")
    save_best(run, root / "epoch_0001")
    assert resolve_checkpoint(run / "best") == root / "best"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="neither a checkpoint folder nor a run"):
        resolve_checkpoint(empty)


def test_run_options_of_the_older_name_and_unreadable_ones(tmp_path):
    files = RunFiles(tmp_path)
    assert (is_run_folder(tmp_path), read_run_options(tmp_path)) == (False, {})
    files.legacy_options.write_text(json.dumps({"lr": 0.001}))  # before 2026-12-01
    assert is_run_folder(tmp_path) and read_run_options(tmp_path) == {"lr": 0.001}
    files.options.write_text("[" * 100_000)  # nested too deep for the parser
    assert read_run_options(tmp_path) == {"lr": 0.001}


def test_the_lock_file_is_where_the_layout_says_and_names_its_holder(tmp_path):
    lock = RunLock(tmp_path).acquire()
    try:
        assert lock.path == RunFiles(tmp_path).lock
        assert str(os.getpid()) in lock.path.read_text()
    finally:
        lock.release()
