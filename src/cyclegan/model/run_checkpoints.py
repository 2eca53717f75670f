"""A run's checkpoints: where they are written, which there are and in what order,
which is ``latest`` and which ``best``, copying, adopting, pruning; and the run's
options file. The files inside each checkpoint folder are ``checkpoint.py``'s; every
name is ``layout.py``'s.

    RUN/options.json           every resolved training option (``config.json`` before
                               2026-12-01)
    RUN/checkpoints/epoch_0005/   a checkpoint (checkpoint.py)
    RUN/checkpoints/latest     the name of the newest complete checkpoint folder
    RUN/checkpoints/best/      a copy of the checkpoint that scored best in validation
                               (never pruned, never resumed from)

Saving is atomic: files go to a hidden temporary folder, are flushed to disk,
and the folder is renamed into place; only then is ``latest`` replaced (itself
by an atomic rename). A crash at any moment leaves the previous checkpoint and
pointer intact; leftover temporary folders are ignored and removed later, and a
complete checkpoint newer than the pointer (a crash between the two renames) is
taken as the latest. Only real folders of the run's own ``checkpoints/`` are ever
deleted: nothing is followed through a symbolic link.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError

from cyclegan.config import TrainConfig
from cyclegan.errors import CheckpointError
from cyclegan.fields import write_json
from cyclegan.model.checkpoint import (
    Position,
    can_resume,
    first_non_finite,
    gather_weights,
    is_checkpoint,
    write_files,
)
from cyclegan.model.layout import (
    BEST,
    LATEST,
    NETWORK_FILE,
    RECORD_FILE,
    TEMPORARY_PREFIX,
    RunFiles,
)


def save_checkpoint(
    run: Path,
    cfg: TrainConfig,
    nets: torch.nn.Module,
    training_state: dict,
    position: Position,
    domains: dict | None = None,
    extra: dict | None = None,
    averages: dict | None = None,
) -> Path:
    """Write a checkpoint folder atomically and point ``latest`` at it (with the
    generators' weight ``averages``, ``model/ema.py``, where training keeps them).

    Weights or optimizer state holding NaN or infinity are never written (a diverged
    run must not overwrite what it had learned); a write that fails (a full disk, a
    folder made read-only) removes its temporary folder and leaves the previous
    checkpoint and ``latest`` as they were. Both raise a ``CheckpointError``.
    """
    root = RunFiles(run).checkpoints
    weights = gather_weights(nets, averages)
    bad = first_non_finite(weights) or first_non_finite(training_state)
    if bad is not None:
        last = latest_checkpoint(run)
        raise CheckpointError(
            f"not saving step {position.global_step}: {bad} is NaN or infinite (training "
            "diverged; a lower --lr may help). Last good checkpoint: "
            f"{last if last else 'none'}"
        )
    final = root / position.folder_name()
    tmp = root / f"{TEMPORARY_PREFIX}{final.name}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"{TEMPORARY_PREFIX}*"):
            _remove(stale)
        tmp.mkdir()
        state = (cfg, weights, training_state, position, domains, extra, _next_sequence(root))
        write_files(tmp, *state)
        if final.exists() or final.is_symlink():  # re-saving a position (after a resume)
            old = root / f"{TEMPORARY_PREFIX}old-{final.name}-{os.getpid()}"
            final.rename(old)
            _remove(old)
        tmp.rename(final)
        _point_latest(root, final.name)
    # safetensors reports a full disk as SafetensorError, torch (old .pt) as RuntimeError
    except (OSError, RuntimeError, SafetensorError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(
            f"could not save checkpoint {final}: {_write_failure(exc, root)}; the previous "
            f"checkpoint ({latest_checkpoint(run) or 'none'}) is unchanged"
        ) from None
    return final


def _write_failure(exc: BaseException, folder: Path) -> str:
    """A one-line reason for a failed write (torch's own text is a C++ assertion)."""
    try:
        if shutil.disk_usage(folder).free < 64 * 2**20:
            return "the disk is full"
    except OSError:
        pass
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0][:200]


def _point_latest(root: Path, name: str) -> None:
    """Replace the ``latest`` pointer atomically: a reader sees the old name or the new."""
    pointer = root / f"{TEMPORARY_PREFIX}{LATEST}"
    pointer.write_text(name + "\n")
    pointer.replace(root / LATEST)


def copy_checkpoint(folder: Path, dest: Path) -> Path:
    """Copy a checkpoint folder to ``dest`` (a new path): beside it under a temporary
    name first, then renamed, so ``dest`` is complete or absent."""
    dest = Path(dest)
    if dest.exists():
        raise CheckpointError(f"{dest} exists already; a checkpoint is never copied over it")
    tmp = dest.with_name(f"{TEMPORARY_PREFIX}{dest.name}-{os.getpid()}")
    try:
        shutil.copytree(folder, tmp)
        tmp.rename(dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def adopt_checkpoint(run: Path, folder: Path, name: str) -> Path:
    """Copy a complete checkpoint folder into ``run`` as ``checkpoints/NAME`` and point
    ``latest`` at it: how the notebook API keeps the newest model of several fits, or a
    loaded one, at the top of its run."""
    root = RunFiles(run).checkpoints
    root.mkdir(parents=True, exist_ok=True)
    sequence = _next_sequence(root)
    final = copy_checkpoint(folder, root / name)
    record = final / RECORD_FILE
    if record.is_file():  # the newest of this run now, whatever its own run's count
        write_json(record, {**json.loads(record.read_text()), "sequence": sequence})
    _point_latest(root, name)
    return final


def save_best(run: Path, folder: Path) -> Path:
    """Make ``checkpoints/best`` a copy of ``folder``, replacing the previous best only
    once the new copy is complete."""
    root = RunFiles(run).checkpoints
    best, old = root / BEST, root / f"{TEMPORARY_PREFIX}oldbest-{os.getpid()}"
    fresh = copy_checkpoint(folder, root / f"{TEMPORARY_PREFIX}newbest-{os.getpid()}")
    if best.exists() or best.is_symlink():
        best.rename(old)
    fresh.rename(best)
    if old.exists() or old.is_symlink():
        _remove(old)
    return best


def best_checkpoint(run: Path) -> Path | None:
    folder = RunFiles(run).best
    return folder if is_checkpoint(folder) else None


def _order(folder: Path) -> tuple[int, int] | None:
    """Where a complete checkpoint stands among its run's: (sequence, step); None for an
    incomplete folder. The sequence counts the saves and copies into the run, so a fit
    copied in (whose own steps start again from 0) is still the newest; folders from
    before it (version 1) count as sequence -1, ordered by their steps."""
    if not can_resume(folder):
        return None
    for name in (RECORD_FILE, NETWORK_FILE):  # version 1 kept the step in config.json
        try:
            record = json.loads((folder / name).read_text())
            return int(record.get("sequence", -1)), int(record["global_step"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
    return None


def _next_sequence(root: Path) -> int:
    found = [_order(f) for f in root.glob("*") if f.is_dir() and not f.name.startswith(".")]
    return max([o[0] for o in found if o is not None], default=-1) + 1


def list_checkpoints(run: Path) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first (by sequence, then step)."""
    root = RunFiles(run).checkpoints
    found = []
    # Any complete folder counts, whatever its name (fits copied in by the notebook API
    # too); temporary folders start with a dot and hold no finished checkpoint.
    for folder in (p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")):
        if folder.name == BEST:  # a copy of one of the others, kept apart
            continue
        order = _order(folder)
        if order is not None:
            found.append((order, folder))
    return [f for _, f in sorted(found)]


def _pointed(pointer: Path) -> str | None:
    """The folder name ``latest`` holds: one line, a plain name of this folder (never a
    path that leads elsewhere); None when the pointer is absent or holds anything else."""
    try:
        text = pointer.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    name = text.strip()
    plain = name and "\n" not in name and "/" not in name and "\\" not in name
    if not plain or name.startswith(".") or "\x00" in name:
        return None
    return name


def latest_checkpoint(run: Path) -> Path | None:
    """The folder ``latest`` names; if that pointer is gone or broken, or a complete
    checkpoint newer than it exists (a process killed between renaming its folder
    into place and moving the pointer), the newest complete one."""
    files = RunFiles(run)
    root = files.checkpoints
    found = list_checkpoints(run)
    newest = found[-1] if found else None
    name = _pointed(files.latest)
    if name is None or not (root / name / NETWORK_FILE).is_file():
        return newest
    pointed = root / name
    order = _order(pointed)  # None: a bare bundle (no training state), named on purpose
    if newest is not None and order is not None and _order(newest) > order:
        return newest
    return pointed


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint folder itself, or a run folder's latest checkpoint; ``RUN/best`` and
    ``RUN/latest`` name a run's best and latest checkpoints."""
    path = Path(path)
    if not path.exists() and path.name in (BEST, LATEST) and is_run_folder(path.parent):
        named = (best_checkpoint if path.name == BEST else latest_checkpoint)(path.parent)
        if named is None:
            raise CheckpointError(f"{path.parent}: no {path.name} checkpoint yet")
        return named
    folder = path if is_checkpoint(path) else latest_checkpoint(path)
    if folder is None:
        raise CheckpointError(f"{path}: neither a checkpoint folder nor a run with checkpoints")
    return folder


def is_run_folder(run: Path) -> bool:
    files = RunFiles(run)
    return files.options.is_file() or files.legacy_options.is_file()


def write_run_options(run: Path, cfg: TrainConfig) -> None:
    write_json(RunFiles(run).options, cfg.to_dict())


def read_run_options(run: Path) -> dict:
    """A run folder's resolved options ({} when it has none, or they are unreadable)."""
    files = RunFiles(run)
    for path in (files.options, files.legacy_options):
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):  # RecursionError: nested too deep
            continue
        return values if isinstance(values, dict) else {}
    return {}


def _own_folder(run: Path, folder: Path) -> bool:
    """Whether ``folder`` is a real folder of the run's ``checkpoints/``, reached through
    no symbolic link: the only kind the run wrote, and so the only kind it deletes."""
    run, folder = Path(run), Path(folder)
    root = RunFiles(run).checkpoints
    if root.is_symlink() or folder.is_symlink() or not folder.is_dir():
        return False
    return folder.resolve().parent == root.resolve() and root.resolve().parent == run.resolve()


def _remove(path: Path) -> None:
    """Delete a folder of ours; a link is removed itself, never what it points to."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def prune_checkpoints(run: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints the run itself wrote; folders
    reached through a symbolic link (``checkpoints/`` or an entry of it) are left alone."""
    if keep <= 0:
        return
    for folder in list_checkpoints(run)[:-keep]:
        if _own_folder(run, folder):
            shutil.rmtree(folder, ignore_errors=True)
