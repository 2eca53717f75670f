"""Labeling: who labels which image next, the labels themselves and their undo, and
each image's final label.

A label is one row, unique per (image, labeler); it is committed before the
request answers, so a restart loses nothing. An image's **final label** is, in
order of precedence: an audit correction, a reviewer's decision on a
disagreement, or the labels themselves when the image has its
``labels_per_image`` labels and they all agree. Images whose labels disagree
wait in the review queue (``review.py``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time

from cyclegan.curate.database import Conflict, CurationError, Forbidden

LEASE_SECONDS = 120  # an image shown to one labeler is not offered to another meanwhile


def key_hash(key: str | None) -> str | None:
    return hashlib.sha256(key.encode()).hexdigest() if key else None


class Labeling:
    """The ``labels`` and ``leases`` tables (a part of ``store.Project``)."""

    def next_image(self, labeler: str, key: str | None = None) -> int | None:
        """The next image this labeler should label, leased to them for a while; None when
        there is nothing left in the current phase. A browser ``key`` holds one lease at
        a time: asking again moves its lease to the image it gets now."""
        k, now, owner = self.labels_per_image, time.time(), key_hash(key)
        phase_filter = "AND i.calibration = 1" if self.meta("phase") == "calibration" else ""
        with self.connect() as db:
            row = db.execute(
                f"""SELECT i.id FROM images i
                    LEFT JOIN suggestions s ON s.image_id = i.id
                    WHERE i.status = 'ok' {phase_filter}
                      AND (SELECT COUNT(*) FROM labels l WHERE l.image_id = i.id) < ?
                      AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.image_id = i.id
                                      AND l.labeler = ?)
                      AND NOT EXISTS (SELECT 1 FROM leases e WHERE e.image_id = i.id
                                      AND NOT (e.labeler = ? AND e.key_hash IS ?)
                                      AND e.until > ?)
                    ORDER BY i.calibration DESC, COALESCE(s.confidence, 2.0) ASC, i.rank
                    LIMIT 1""",
                (k, labeler, labeler, owner, now),
            ).fetchone()
            if owner is not None:
                db.execute("DELETE FROM leases WHERE key_hash = ?", (owner,))
            if row is None:
                return None
            self._lease(db, row["id"], labeler, owner, now)
            return row["id"]

    @staticmethod
    def _lease(db, image_id: int, labeler: str, owner: str | None, now: float) -> None:
        db.execute(
            "INSERT OR REPLACE INTO leases (image_id, labeler, until, key_hash) "
            "VALUES (?, ?, ?, ?)",
            (image_id, labeler, now + LEASE_SECONDS, owner),
        )

    def add_label(self, image_id: int, labeler: str, choice: str, key: str | None = None) -> None:
        """One label; ``key`` is the labeling browser's secret (only its hash is kept)."""
        if choice not in self.choice_keys:
            raise CurationError(f"choice {choice!r} is not one of {', '.join(self.choice_keys)}")
        if not labeler.strip():
            raise CurationError("a labeler name is required")
        status = self.image(image_id)["status"]  # NotFound for an unknown id
        if status != "ok":
            raise Conflict(f"image {image_id} is {status}: it is not in the pile to label")
        k = self.labels_per_image
        with self.connect() as db:
            mine = db.execute(
                "SELECT 1 FROM labels WHERE image_id = ? AND labeler = ?", (image_id, labeler)
            ).fetchone()
            if mine:
                raise Conflict(
                    f"{labeler} already labeled image {image_id}; undo first to change it"
                )
            try:
                # One statement: two labelers at the same moment cannot both take the last place.
                added = db.execute(
                    "INSERT INTO labels (image_id, labeler, choice, created_at, key_hash) "
                    "SELECT ?, ?, ?, ?, ? "
                    "WHERE (SELECT COUNT(*) FROM labels WHERE image_id = ?) < ?",
                    (image_id, labeler, choice, time.time(), key_hash(key), image_id, k),
                ).rowcount
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"{labeler} already labeled image {image_id}; undo first to change it"
                ) from None
            if not added:
                raise Conflict(f"image {image_id} already has the {k} label(s) it needs")
            db.execute("DELETE FROM leases WHERE image_id = ? AND labeler = ?", (image_id, labeler))

    def undo(self, labeler: str, key: str | None = None) -> int | None:
        """Remove this labeler's newest label; returns its image id (to show it again).
        A label is undone only with the key it was made with (one made without a key,
        from Python, only without one: the server always passes its browser's key)."""
        with self.connect() as db:
            row = db.execute(
                "SELECT id, image_id, key_hash FROM labels WHERE labeler = ? "
                "ORDER BY created_at DESC, id DESC LIMIT 1",
                (labeler,),
            ).fetchone()
            if row is None:
                return None
            if row["key_hash"] != key_hash(key):  # a keyless label: only without a key
                raise Forbidden(
                    f"the newest label of {labeler} was made in another browser; only that "
                    "browser can undo it"
                )
            db.execute("DELETE FROM labels WHERE id = ?", (row["id"],))
            owner = key_hash(key)
            if owner is not None:
                db.execute("DELETE FROM leases WHERE key_hash = ?", (owner,))
            self._lease(db, row["image_id"], labeler, owner, time.time())
            return row["image_id"]

    def labels_of(self, image_id: int) -> list[dict]:
        with self.connect() as db:
            return [
                dict(r)
                for r in db.execute(
                    "SELECT labeler, choice, created_at FROM labels WHERE image_id = ? ORDER BY id",
                    (image_id,),
                )
            ]

    def all_labels(self) -> dict[int, list[dict]]:
        """image id -> its labels in order: labeler, choice, time."""
        table: dict[int, list[dict]] = {}
        with self.connect() as db:
            for r in db.execute(
                "SELECT image_id, labeler, choice, created_at FROM labels ORDER BY id"
            ):
                table.setdefault(r["image_id"], []).append(
                    {"labeler": r["labeler"], "choice": r["choice"], "time": r["created_at"]}
                )
        return table

    def open_production(self) -> None:
        self.set_meta("phase", "production")
