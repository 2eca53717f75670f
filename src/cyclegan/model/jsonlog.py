"""JSON-lines logs (a run's ``losses.jsonl`` and ``validation.jsonl``, a translation's
manifest records): appended a whole line at a time, read without trusting what a
crash may have left.

Writing: each row is one ``write`` of a complete line to a file opened for
appending, so a reader sees whole rows, and a process killed between rows leaves
none half written. A power cut can still tear the last line (the data of one
write need not reach the disk whole), so before every checkpoint the logs are
flushed to disk (``sync``): whatever the disk holds of a log up to a checkpoint
is complete.

Reading: a last line that is not valid JSON, or that lacks its newline, is what a
crash in the middle of an append leaves; it is dropped with a note. Any other line
that is not a valid row (binary garbage, NaN, a row without ``step``, a field of the
wrong type) is skipped with a note naming its line number and what is wrong. A
reader never raises on a log's content. On resume the log is rewritten (atomically)
with the valid rows up to the checkpoint's step, so the resumed log equals an
unbroken one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from cyclegan.model.checkpoint_schema import is_int, is_number  # noqa: F401 (re-used)

Check = Callable[[dict], "str | None"]  # what is wrong with a row, or None


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number this log writes")


def append(path: Path, row: dict) -> None:
    """Append ``row`` as one line, in one write."""
    line = (json.dumps(row, allow_nan=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        while written < len(line):  # a regular file takes it whole; this is belt and braces
            written += os.write(fd, line[written:])
    finally:
        os.close(fd)


def sync(path: Path) -> None:
    """Flush a log to the disk (before a checkpoint is written)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path, check: Check, note: Callable[[str], None] | None = None) -> list[dict]:
    """The valid rows of the log at ``path`` ([] when it does not exist); what was
    skipped, and why, goes to ``note``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    torn_tail = not data.endswith(b"\n")  # the last piece never got its newline
    if not torn_tail:
        lines.pop()  # the empty piece after the final newline
    rows = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        row, why = _parse(raw, check)
        last = number == len(lines)
        if why is None and not (last and torn_tail):
            rows.append(row)
        elif last:
            if note:
                note(f"{path}: dropped its last line {number}, torn by a crash while written")
        elif note:
            note(f"{path}: line {number} skipped: {why}")
    return rows


def _parse(raw: bytes, check: Check) -> tuple[dict | None, str | None]:
    try:
        row = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        return None, "not text"
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return None, f"not JSON ({str(exc)[:80]})"
    if not isinstance(row, dict):
        return None, f"a JSON {type(row).__name__}, not an object"
    return row, check(row)


def rewrite(path: Path, rows: list[dict]) -> None:
    """Replace the log with ``rows`` atomically (a crash leaves the old log or the new)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "w") as f:
        f.writelines(json.dumps(r, allow_nan=False) + "\n" for r in rows)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def trim(path: Path, last_step: int, check: Check, note: Callable[[str], None] | None) -> None:
    """Keep the valid rows up to ``last_step`` (a resumed run redoes the later steps and
    logs them again)."""
    if Path(path).exists():
        rows = read(path, check, note)
        rewrite(path, [r for r in rows if r["step"] <= last_step])


# Field checks shared by the logs' row checks (is_int, is_number: the checkpoint files').


def need(row: dict, fields: dict[str, Callable[[object], bool]]) -> str | None:
    """The first field of ``row`` that is missing or fails its test, in words."""
    for name, test in fields.items():
        if name not in row:
            return f"no '{name}'"
        if not test(row[name]):
            return f"'{name}' is {json.dumps(row[name])[:40]}, which does not fit"
    return None


def step_field(value) -> bool:
    return is_int(value) and value >= 0
