"""Review and audit: deciding disagreements, measuring agreement and the error rate of
final labels on an audited sample, and the project's overview."""

from __future__ import annotations

import math
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass

from cyclegan.curate.database import CurationError, NotFound


@dataclass(frozen=True)
class Progress:
    phase: str
    images_ok: int
    rejected: int
    duplicates: int
    labeled_complete: int  # images with all their labels
    labels: int
    in_review: int
    final: dict


def wilson_interval(errors: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible at 0 errors, unlike the Wald one)."""
    if n == 0:
        return 0.0, 1.0
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class ReviewAndAudit:
    """The ``reviews`` and ``audits`` tables, and the overview (a part of ``store.Project``)."""

    def _label_table(self, db) -> dict[int, list[str]]:
        table: dict[int, list[str]] = {}
        for r in db.execute("SELECT image_id, choice FROM labels ORDER BY id"):
            table.setdefault(r["image_id"], []).append(r["choice"])
        return table

    def final_labels(self) -> dict[int, str]:
        """image id -> final choice, for every image that has one (see the module doc)."""
        k = self.labels_per_image
        with self.connect() as db:
            final = {
                i: c[0]
                for i, c in self._label_table(db).items()
                if len(c) >= k and len(set(c)) == 1
            }
            final.update(
                {
                    r["image_id"]: r["choice"]
                    for r in db.execute("SELECT image_id, choice FROM reviews")
                }
            )
            final.update(
                {
                    r["image_id"]: r["corrected"]
                    for r in db.execute(
                        "SELECT image_id, corrected FROM audits WHERE verdict = 'corrected'"
                    )
                }
            )
            ok = {r["id"] for r in db.execute("SELECT id FROM images WHERE status = 'ok'")}
        return {i: c for i, c in final.items() if i in ok}

    def review_queue(self) -> list[int]:
        """Images whose labels disagree and that no reviewer has decided yet."""
        with self.connect() as db:
            decided = {r["image_id"] for r in db.execute("SELECT image_id FROM reviews")}
            return sorted(
                i for i, c in self._label_table(db).items() if len(set(c)) > 1 and i not in decided
            )

    def review(self, image_id: int, reviewer: str, choice: str) -> None:
        if choice not in self.choice_keys:
            raise CurationError(f"choice {choice!r} is not one of {', '.join(self.choice_keys)}")
        self.image(image_id)
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?)",
                (image_id, choice, reviewer, time.time()),
            )

    def agreement(self) -> dict:
        """Among images with two or more labels: how many have all labels equal."""
        with self.connect() as db:
            multi = [c for c in self._label_table(db).values() if len(c) >= 2]
        agree = sum(len(set(c)) == 1 for c in multi)
        return {
            "images_with_several_labels": len(multi),
            "all_agree": agree,
            "rate": agree / len(multi) if multi else None,
        }

    def start_audit(self, sample: int, seed: int = 0) -> int:
        """Add a random sample of finally-labeled, not yet audited images to the audit."""
        final = self.final_labels()
        with self.connect() as db:
            done = {r["image_id"] for r in db.execute("SELECT image_id FROM audits")}
            pool = sorted(i for i in final if i not in done)
            chosen = random.Random(seed).sample(pool, min(sample, len(pool)))
            db.executemany(
                "INSERT INTO audits (image_id, label_before) VALUES (?, ?)",
                [(i, final[i]) for i in chosen],
            )
        return len(chosen)

    def next_audit(self) -> sqlite3.Row | None:
        with self.connect() as db:
            return db.execute(
                "SELECT * FROM audits WHERE verdict IS NULL ORDER BY id LIMIT 1"
            ).fetchone()

    def record_audit(self, audit_id: int, reviewer: str, choice: str) -> str:
        """The reviewer's answer: the same label confirms it, another corrects it."""
        if choice not in self.choice_keys:
            raise CurationError(f"choice {choice!r} is not one of {', '.join(self.choice_keys)}")
        with self.connect() as db:
            row = db.execute("SELECT * FROM audits WHERE id = ?", (audit_id,)).fetchone()
            if row is None:
                raise NotFound(f"no audit item with id {audit_id}")
            verdict = "confirmed" if choice == row["label_before"] else "corrected"
            db.execute(
                "UPDATE audits SET verdict = ?, corrected = ?, reviewer = ?, "
                "created_at = ? WHERE id = ?",
                (
                    verdict,
                    choice if verdict == "corrected" else None,
                    reviewer,
                    time.time(),
                    audit_id,
                ),
            )
        return verdict

    def audit_result(self) -> dict:
        with self.connect() as db:
            rows = db.execute("SELECT verdict FROM audits").fetchall()
        done = [r["verdict"] for r in rows if r["verdict"]]
        errors = done.count("corrected")
        low, high = wilson_interval(errors, len(done))
        return {
            "sampled": len(rows),
            "reviewed": len(done),
            "errors": errors,
            "error_rate": errors / len(done) if done else None,
            "ci95": [low, high] if done else None,
        }

    # --- overview
    def progress(self) -> Progress:
        k = self.labels_per_image
        with self.connect() as db:
            status = Counter(r["status"] for r in db.execute("SELECT status FROM images"))
            table = self._label_table(db)
        final = Counter(self.final_labels().values())
        return Progress(
            phase=self.meta("phase"),
            images_ok=status["ok"],
            rejected=status["rejected"],
            duplicates=status["duplicate"],
            labeled_complete=sum(len(c) >= k for c in table.values()),
            labels=sum(len(c) for c in table.values()),
            in_review=len(self.review_queue()),
            final=dict(final),
        )

    def calibration_summary(self) -> dict:
        with self.connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM images WHERE calibration = 1")]
            table = self._label_table(db)
        labeled = [i for i in ids if i in table]
        return {
            "size": len(ids),
            "labeled": len(labeled),
            "choices": dict(Counter(table[i][0] for i in labeled)),
        }
