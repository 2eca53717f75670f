"""Scanning a raw pile: what is usable, what is broken, what is a duplicate.

Every file below the source folder is looked at once (a re-scan adds only new
paths). Each is fully decoded with the same checks training uses
(``imageio.open_image``): empty files, non-images, truncated files and
decompression bombs are rejected with the reason kept, and so are images
below the minimum size. Usable images get:

- a SHA-256 of their bytes: the same hash as an earlier usable image makes an
  **exact duplicate**;
- a 64-bit perceptual hash (``imagehash.phash``, DCT-based): within
  ``near_threshold`` bits of an earlier usable image makes a **near duplicate**
  (re-encoded, resized or lightly edited copies);
- a JPEG view of at most 1024 px (what the labeling page shows, whatever the
  original format) and a 256 px thumbnail, in the project's ``cache/``.

The first file of a group, in path order, is kept; the others point to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclegan.curate.store import Project
from cyclegan.data.imageio import (
    IMAGE_EXTENSIONS,
    array_to_pil,
    is_image_file,
    open_image,
    to_array,
)
from cyclegan.errors import DataError

NEAR_THRESHOLD = 6  # bits of 64: tolerant to re-encoding and resizing, not to other photos
VIEW_SIZE, THUMB_SIZE = 1024, 256


@dataclass
class ScanResult:
    added: int = 0
    ok: int = 0
    rejected: int = 0
    duplicates: int = 0


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    x = x.copy()
    count = np.zeros(x.shape, dtype=np.int64)
    while np.any(x):
        count += (x & np.uint64(1)).astype(np.int64)
        x >>= np.uint64(1)
    return count


class _Kept:
    """The usable images so far: their content hashes and perceptual hashes."""

    def __init__(self, project: Project):
        self.by_sha, kept = project.usable_hashes()
        self.ids = [i for i, _ in kept]
        self.hashes = np.array([h for _, h in kept], dtype=np.uint64)

    def duplicate(self, sha256: str, phash: int, threshold: int) -> tuple[int | None, str]:
        """The image this one duplicates (exactly, or nearly by perceptual hash), if any."""
        if sha256 in self.by_sha:
            return self.by_sha[sha256], "exact"
        if len(self.hashes):
            distance = _popcount(self.hashes ^ np.uint64(phash))
            nearest = int(np.argmin(distance))
            if distance[nearest] <= threshold:
                return self.ids[nearest], "near"
        return None, ""

    def add(self, image_id: int, sha256: str, phash: int) -> None:
        self.by_sha[sha256] = image_id
        self.ids.append(image_id)
        self.hashes = np.append(self.hashes, np.uint64(phash))


def _open_checked(path: Path, record: dict, min_size: int):
    """Decode a file as train would, noting its size and format in ``record``; a
    ``DataError`` says why it is rejected."""
    if not is_image_file(path):  # what train would refuse, refused here too
        raise DataError(
            f"{path}: '{path.suffix or 'no extension'}' is not an accepted image "
            f"file type; accepted: {', '.join(IMAGE_EXTENSIONS)}"
        )
    img = open_image(path)
    record.update(
        width=img.width,
        height=img.height,
        format=img.format or path.suffix.lstrip(".").upper(),
        mode=img.mode,
    )
    if min(img.size) < min_size:
        raise DataError(f"{path}: {img.width}x{img.height} is below the minimum size {min_size}")
    return img


def _save_views(rgb, image_id: int, cache: Path) -> None:
    view = rgb.copy()
    view.thumbnail((VIEW_SIZE, VIEW_SIZE))
    view.save(cache / "views" / f"{image_id}.jpg", quality=90)
    view.thumbnail((THUMB_SIZE, THUMB_SIZE))
    view.save(cache / "thumbs" / f"{image_id}.jpg", quality=85)


def scan(
    project: Project,
    near_threshold: int = NEAR_THRESHOLD,
    progress: Callable[[int, int], None] | None = None,
) -> ScanResult:
    import imagehash

    source = Path(project.meta("source"))
    min_size = int(project.meta("min_size"))
    known = project.known_paths()
    files = sorted(
        p for p in source.rglob("*") if p.is_file() and str(p.relative_to(source)) not in known
    )
    for folder in ("views", "thumbs"):
        (project.cache / folder).mkdir(parents=True, exist_ok=True)
    result, kept = ScanResult(), _Kept(project)
    for n, path in enumerate(files, 1):
        record = {"path": str(path.relative_to(source)), "bytes": path.stat().st_size}
        result.added += 1
        try:
            img = _open_checked(path, record, min_size)
        except DataError as exc:
            record.update(status="rejected", reason=str(exc).removeprefix(f"{path}: "))
            project.add_image(record)
            result.rejected += 1
        else:
            record["sha256"] = _sha256(path)
            rgb = array_to_pil(to_array(img, 3))
            phash = int(str(imagehash.phash(rgb)), 16)
            record["phash"] = f"{phash:016x}"
            duplicate_of, kind = kept.duplicate(record["sha256"], phash, near_threshold)
            if duplicate_of is not None:
                reason = f"{kind} duplicate of image {duplicate_of}"
                record.update(status="duplicate", duplicate_of=duplicate_of, reason=reason)
                result.duplicates += 1
                project.add_image(record)
            else:
                record["status"] = "ok"
                result.ok += 1
                image_id = project.add_image(record)
                kept.add(image_id, record["sha256"], phash)
                _save_views(rgb, image_id, project.cache)
        if progress:
            progress(n, len(files))
    project.choose_calibration()
    return result
