"""Export: the curated images as training folders, with every label and a summary.

    DATA/trainA/, testA/     images whose final label is A (domain A)
    DATA/trainB/, testB/     images whose final label is B
    DATA/labels.json         per labeled image: source path, sha256, every label (labeler,
                             choice, time), the final label, where it went
    DATA/summary.json        counts per class, rejects by reason, duplicate groups,
                             agreement, review queue, audit error rate with its 95% interval

Files are named ``<image id>_<original name>`` (unique, traceable to labels.json);
``link=True`` makes symbolic links instead of copies. ``accept_suggestions=P``
also exports unlabeled images whose suggestion (``suggest.py``) has probability
P or more, marked ``"final_from": "suggestion"`` in labels.json. The test split is a
seeded random fraction of each domain. Images without a final label (not yet
labeled, or waiting in the review queue) are not exported; the summary counts
them. Then ``cyclegan train --data DATA`` works as is.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from cyclegan.curate.store import CurationError, Project
from cyclegan.fields import write_json


def export(
    project: Project,
    out: Path,
    test_fraction: float = 0.1,
    seed: int = 0,
    link: bool = False,
    accept_suggestions: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the training folders, ``labels.json`` and ``summary.json``; returns the summary."""
    if not 0 <= test_fraction < 1:
        raise CurationError(f"test fraction {test_fraction} must be in [0, 1)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CurationError(f"{out} exists and is not empty; export into a new folder")
    final, suggested = _final_choices(project, accept_suggestions)
    images = project.image_rows()
    files = _place_files(project, images, final, out, test_fraction, seed, link, progress)
    labels = project.all_labels()
    records = [
        {
            "id": i,
            "source": images[i]["path"],
            "sha256": images[i]["sha256"],
            "labels": labels.get(i, []),
            "final": final.get(i),
            "final_from": "suggestion" if i in suggested else "people" if i in final else None,
            "exported_to": files.get(i),
        }
        for i in sorted(set(labels) | set(final))
    ]
    write_json(out / "labels.json", {"images": records})
    summary = _summary(project, images, final, files)
    summary.update(
        accepted_suggestions=len(suggested),
        accept_suggestions_threshold=accept_suggestions,
        test_fraction=test_fraction,
        seed=seed,
        links=link,
    )
    write_json(out / "summary.json", summary)
    return summary


def _final_choices(project: Project, accept: float | None) -> tuple[dict[int, str], set[int]]:
    """Every image's final label, and which of them came from a suggestion: images nobody
    labeled (and none waiting for review) take a suggestion of probability ``accept``."""
    final, suggested = project.final_labels(), set()
    if accept is not None:
        waiting = set(project.review_queue())
        for i, (choice, confidence) in project.suggestions().items():
            if i not in final and i not in waiting and confidence >= accept:
                final[i] = choice
                suggested.add(i)
    return final, suggested


def _place_files(project, images, final, out, test_fraction, seed, link, progress):
    """Copy (or link) each A and B image into its split folder; returns id -> its path
    below ``out``. The test images are a seeded random fraction of each domain."""
    source = Path(project.meta("source"))
    rng = random.Random(seed)
    placed: dict[int, str] = {}
    to_place = sum(c in ("A", "B") for c in final.values())
    for domain in ("A", "B"):
        ids = sorted(i for i, c in final.items() if c == domain)
        rng.shuffle(ids)
        n_test = round(len(ids) * test_fraction)
        for k, image_id in enumerate(ids):
            split = "test" if k < n_test else "train"
            src = source / images[image_id]["path"]
            dst = out / f"{split}{domain}" / f"{image_id}_{src.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if link:
                dst.symlink_to(src.resolve())
            else:
                shutil.copy2(src, dst)
            placed[image_id] = str(dst.relative_to(out))
            if progress:
                progress(len(placed), to_place)
    for folder in ("trainA", "trainB"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    return placed


def _summary(project: Project, images: dict, final: dict, placed: dict) -> dict:
    groups = defaultdict(list)
    for i, img in images.items():
        if img["status"] == "duplicate":
            groups[img["duplicate_of"]].append(images[i]["path"])
    rejected = (img["reason"] for img in images.values() if img["status"] == "rejected")
    state = project.progress()
    return {
        "exported": {
            f"{s}{d}": sum(1 for p in placed.values() if p.startswith(f"{s}{d}/"))
            for s in ("train", "test")
            for d in ("A", "B")
        },
        "final_labels": dict(Counter(final.values())),
        "usable_images": state.images_ok,
        "not_exported": {
            "unlabeled": state.images_ok - len(final) - state.in_review,
            "in_review": state.in_review,
        },
        "rejected": dict(Counter(_reason_kind(r) for r in rejected)),
        "duplicate_groups": [
            {"kept": images[k]["path"], "duplicates": sorted(v)} for k, v in sorted(groups.items())
        ],
        "agreement": project.agreement(),
        "audit": project.audit_result(),
    }


# (words in a rejection message, the kind it is counted under)
REASON_KINDS = (
    ("empty file", "empty file"),
    ("not an image", "not an image"),
    ("not an accepted image file type", "not an accepted format"),
    ("; accepted:", "not an accepted format"),  # decoded, but a format train refuses (GIF)
    ("truncated", "truncated"),
    ("decompression bomb", "decompression bomb"),
    ("below the minimum size", "below the minimum size"),
    ("cannot read", "cannot read"),
)


def _reason_kind(reason: str | None) -> str:
    """Group rejection messages by kind (the sizes in them differ from file to file)."""
    reason = reason or "unknown"
    return next((kind for words, kind in REASON_KINDS if words in reason), reason)
