"""A translation's manifest: what was translated from what, so that a rerun of the same
command does only what is left, and another shell can see how far it has come.

``OUT/cyclegan-manifest/`` (``layout.ManifestFiles``) holds:

- ``job.json``: the job's identity, everything that decides an output's pixels
  (the generator's weights and architecture, both domains, the direction, the
  output format, bit depth and data type, tiling, scale, precision), its hash,
  and the plan of the latest start (items, pixels, processes). A rerun whose
  identity differs is refused, naming what differs, unless ``--overwrite``, which
  starts the job afresh. How it runs (device, batch size, processes) is not
  part of it.
- records, one JSON line per event: ``started`` before an item is read, ``done``
  after its output is renamed into place (input size and modification time,
  output size and modification time), ``failed`` with the reason. Each process
  appends to a file of its own, so a shared file system needs no locking; the
  first process merges them into ``records.jsonl`` at each start, while it holds
  the folder's lock and before any other process writes.

An item is **done** when its last ``done`` record has the input's current size and
modification time and its output is there with the recorded size and modification
time: it is skipped and its output untouched. An output that a record claims but
that is not done (its process was killed, the input changed, the output was deleted
or replaced) is translated again. An output that no record claims is someone else's
file: refused unless ``--overwrite`` (``files.check_new_outputs``). The size and
time of a file stand for its content, as they do for rsync and make: hashing every
input would read a million photos twice.

Records are flushed to the operating system, not synced: a killed process loses
none; a power cut can tear the last line, which the reader drops (``jsonlog``),
costing one item's redo.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cyclegan.errors import ConfigError
from cyclegan.fields import write_json
from cyclegan.inference.files import check_new_outputs
from cyclegan.inference.translate import Translator
from cyclegan.model import jsonlog
from cyclegan.model.layout import ManifestFiles
from cyclegan.model.locks import FolderLock
from cyclegan.settings import ImageOutput, Tiling, VideoOutput

VERSION = 1
EVENTS = ("started", "done", "failed")
# The command-line option of each part of a job's identity, to say what differs.
IDENTITY_OPTIONS = {
    "model": "--model", "direction": "--direction", "precision": "--precision",
    "scale": "--scale", "output_size": "--output-size", "format": "--format",
    "bit_depth": "--bit-depth", "output_dtype": "--output-dtype",
    "output_nodata": "--output-nodata", "cog": "--cog", "tile": "--tile",
    "tile_overlap": "--tile-overlap", "tile_stats_size": "--tile-stats-size",
    "video_format": "--video-format", "video_codec": "--video-codec",
    "video_crf": "--video-crf", "temporal_smoothing": "--temporal-smoothing",
}  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One input file of a job and the output it becomes."""

    src: Path
    dst: Path
    key: str  # the input's path below the job's input folder: what records name
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, src: Path, dst: Path, key: str) -> Item:
        stat = Path(src).stat()
        return cls(Path(src), Path(dst), key, stat.st_size, stat.st_mtime_ns)


def model_fingerprint(translator: Translator, direction: str) -> str:
    """A hash of what the model computes in ``direction``: the generator's weights
    (every tensor's bytes, in name order), its architecture and both domains."""
    h = hashlib.sha256()
    h.update(json.dumps(dataclasses.asdict(translator.network), sort_keys=True).encode())
    domains = {k: d.to_dict() for k, d in translator.domains.items()}
    h.update(json.dumps(domains, sort_keys=True).encode())
    for name, tensor in sorted(translator.generator(direction).state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def job_identity(
    translator: Translator,
    direction: str,
    output: ImageOutput,
    tiling: Tiling,
    video: VideoOutput | None = None,
) -> dict:
    """Everything that decides the pixels of a job's outputs (``IDENTITY_OPTIONS``);
    the video options where the job has videos (``video``)."""
    scale = translator.scale
    videos = {} if video is None else {
        name: getattr(video, name)
        for name in ("video_format", "video_codec", "video_crf", "temporal_smoothing")
    }  # fmt: skip
    return {
        **videos,
        "model": model_fingerprint(translator, direction),
        "direction": direction,
        "precision": translator.precision,
        "scale": scale.scale,
        "output_size": scale.output_size,
        "format": output.format,
        "bit_depth": output.bit_depth,
        "output_dtype": output.output_dtype,
        "output_nodata": output.output_nodata,
        "cog": output.cog,
        "tile": tiling.tile,
        "tile_overlap": tiling.tile_overlap,
        "tile_stats_size": tiling.tile_stats_size,
    }


def job_id(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def output_lock(output_dir: Path) -> FolderLock:
    """The lock the first process of a job holds for its whole life."""
    return FolderLock(
        ManifestFiles(output_dir).lock,
        f"--output {output_dir} is being written by another translation ({{holder}}); "
        "wait for it to end, or choose another --output",
    )


def remove_if_unused(output_dir: Path, keep_folder: bool) -> None:
    """After a refused start: the lock, and the manifest folder (and the output folder
    unless ``keep_folder``) where they hold nothing else, so a refusal writes nothing."""
    files = ManifestFiles(output_dir)
    if files.job.exists():
        return
    files.lock.unlink(missing_ok=True)
    for folder in (files.folder, None if keep_folder else files.output):
        try:
            if folder is not None:
                folder.rmdir()  # only when empty
        except OSError:
            return


def read_job(output_dir: Path) -> dict | None:
    """The job recorded in ``output_dir``, or None where there is none (or it is torn)."""
    try:
        job = json.loads(ManifestFiles(output_dir).job.read_text())
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return None
    return job if isinstance(job, dict) and isinstance(job.get("identity"), dict) else None


def read_records(output_dir: Path, job: str) -> list[dict]:
    """The valid records of job ``job``, in the order they were written."""
    rows = []
    for path in ManifestFiles(output_dir).all_records():
        rows += jsonlog.read(path, _check_record)
    return sorted((r for r in rows if r["job"] == job), key=lambda r: r["time"])


def _check_record(row: dict) -> str | None:
    why = jsonlog.need(row, {"event": EVENTS.__contains__, "key": _is_text, "job": _is_text,
                             "output": _is_text, "time": jsonlog.is_number})  # fmt: skip
    if why is None and row["event"] == "done":
        return jsonlog.need(row, dict.fromkeys(("size", "mtime_ns", "out_size", "out_mtime_ns"),
                                               jsonlog.is_int))  # fmt: skip
    return why


def _is_text(value) -> bool:
    return isinstance(value, str)


def is_done(item: Item, record: dict | None) -> bool:
    """Whether ``record`` (the item's last ``done``) still describes the input and output."""
    if record is None or (record["size"], record["mtime_ns"]) != (item.size, item.mtime_ns):
        return False
    return _output_is(item, record)


def _output_is(item: Item, record: dict | None) -> bool:
    """Whether the item's output is the one ``record`` (a ``done``) wrote."""
    if record is None:
        return False
    try:
        stat = item.dst.stat()
    except OSError:
        return False
    return (record["out_size"], record["out_mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)


def open_job(
    output_dir: Path, identity: dict, items: list[Item], described: dict, overwrite: bool
) -> list[Item]:
    """Start (or continue) the job ``identity`` over ``items`` in ``output_dir``; the
    first process calls it, holding ``output_lock``. Returns the items left to do.
    An output that exists but is no record's is refused without ``overwrite``
    (``check_new_outputs``); with it, another job's manifest is replaced too."""
    files, this = ManifestFiles(output_dir), job_id(identity)
    old = read_job(output_dir)
    if old is not None and old.get("id") != this:
        if not overwrite:
            raise ConfigError(_differs(output_dir, old["identity"], identity))
        shutil.rmtree(files.parts, ignore_errors=True)
        for path in files.all_records():
            path.unlink(missing_ok=True)
    records = read_records(output_dir, this)
    last, last_done = {}, {}
    for row in records:
        last[row["key"]] = row
        if row["event"] == "done":
            last_done[row["key"]] = row
    pending, foreign = [], []
    for item in items:
        done = last_done.get(item.key)
        if is_done(item, done):
            continue
        pending.append(item)
        if not (item.dst.exists() or item.dst.is_symlink()):
            continue
        # Ours to replace: one an unfinished try may have written (killed between its
        # rename and its record), or our translation of an input that changed since.
        # Anything else (a user's file, or ours edited since) is refused.
        unfinished = item.key in last and last[item.key]["event"] == "started"
        if not (unfinished or _output_is(item, done)):
            foreign.append(item.dst)
    check_new_outputs(foreign, overwrite)
    _merge(files, records)
    files.folder.mkdir(parents=True, exist_ok=True)
    write_json(files.job, {"version": VERSION, "id": this, "identity": identity,
                            **described, "items": len(items), "pending": len(pending),
                            "started": time.time()})  # fmt: skip
    return pending


def _differs(output_dir: Path, old: dict, new: dict) -> str:
    names = [
        IDENTITY_OPTIONS.get(k, k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    ]
    return (
        f"--output {output_dir} holds a translation made with other settings "
        f"({', '.join(names)} differ{'s' if len(names) == 1 else ''}); pass --overwrite to "
        "translate everything again with these, or choose another --output"
    )


def _merge(files: ManifestFiles, records: list[dict]) -> None:
    """Every process's records into ``records.jsonl``: per item its last record of each
    event, in time order (what ``open_job`` reads back), and the processes' files gone."""
    keep: dict[tuple[str, str], dict] = {}
    for row in records:
        keep[(row["key"], row["event"])] = row
    merged = sorted(keep.values(), key=lambda r: r["time"])
    old = files.all_records()
    if not old:
        return
    jsonlog.rewrite(files.records, merged)
    for path in old:
        if path != files.records:
            path.unlink(missing_ok=True)


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path, folder)).as_posix()


class Records:
    """One process's record file: appends ``started``, ``done`` and ``failed``."""

    def __init__(self, output_dir: Path, job: str, rank: int):
        self.output_dir, self.job, self.rank = Path(output_dir), job, rank
        self.path = ManifestFiles(output_dir).process_records(socket.gethostname(), os.getpid())

    def started(self, item: Item) -> None:
        self._append(item, "started")

    def done(self, item: Item, pixels: int, seconds: float) -> None:
        stat = item.dst.stat()
        out = {"out_size": stat.st_size, "out_mtime_ns": stat.st_mtime_ns}
        self._append(item, "done", size=item.size, mtime_ns=item.mtime_ns, **out,
                     pixels=pixels, seconds=round(seconds, 4))  # fmt: skip

    def failed(self, item: Item, reason: str) -> None:
        self._append(item, "failed", reason=reason)

    def _append(self, item: Item, event: str, **fields) -> None:
        row = {"event": event, "key": item.key, "output": _relative(item.dst, self.output_dir),
               "job": self.job, "rank": self.rank, "time": time.time(), **fields}  # fmt: skip
        jsonlog.append(self.path, row)


def progress(output_dir: Path) -> dict:
    """How far the job in ``output_dir`` has come, from its manifest alone (another
    shell may read it while the job runs): items of the latest start, done, failed,
    the rate over the latest minute of records and the last record's age."""
    job = read_job(output_dir)
    if job is None:
        raise ConfigError(
            f"{output_dir}: no translation manifest here (no {ManifestFiles(output_dir).job})"
        )
    records = read_records(output_dir, job["id"])
    last: dict[str, dict] = {}
    for row in records:
        last[row["key"]] = row
    done = [r for r in last.values() if r["event"] == "done"]
    now = time.time()
    recent = [r for r in done if r["time"] >= now - 60]
    span = now - min((r["time"] for r in recent), default=now)
    return {
        "job": job,
        "items": job["items"],
        "done": len(done),
        "failed": sorted(
            (r["key"], r.get("reason", "")) for r in last.values() if r["event"] == "failed"
        ),
        "per_second": len(recent) / span if recent and span > 0 else None,
        "last_record_age": now - records[-1]["time"] if records else None,
    }
