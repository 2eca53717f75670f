"""The images of a curation project: what the scan adds, the calibration batch, the
features and suggestions of ``suggest.py``, and the rows ``export.py`` reads."""

from __future__ import annotations

import random
import sqlite3
import time

import numpy as np

from cyclegan.curate.database import NotFound


class ImageRecords:
    """The ``images`` and ``suggestions`` tables (a part of ``store.Project``)."""

    def known_paths(self) -> set[str]:
        with self.connect() as db:
            return {r["path"] for r in db.execute("SELECT path FROM images")}

    def add_image(self, record: dict) -> int:
        """Add a scanned file (rejected, duplicate or ok); returns its id."""
        with self.connect() as db:
            return self._insert_image(db, record)

    def _insert_image(self, db: sqlite3.Connection, record: dict) -> int:
        cur = db.execute(
            "INSERT INTO images (path, bytes, sha256, phash, width, height, format, mode, "
            "status, reason, duplicate_of, rank, added_at) VALUES (:path, :bytes, :sha256, "
            ":phash, :width, :height, :format, :mode, :status, :reason, :duplicate_of, :rank, "
            ":added_at)",
            {
                "phash": None,
                "width": None,
                "height": None,
                "format": None,
                "mode": None,
                "reason": None,
                "duplicate_of": None,
                "sha256": None,
                "rank": random.random(),
                "added_at": time.time(),
                **record,
            },
        )
        return cur.lastrowid

    def choose_calibration(self) -> None:
        """Mark a seeded random batch of usable images as the calibration batch (once)."""
        size, seed = int(self.meta("calibration_size")), int(self.meta("seed"))
        with self.connect() as db:
            if db.execute("SELECT 1 FROM images WHERE calibration = 1").fetchone():
                return
            ids = [
                r["id"] for r in db.execute("SELECT id FROM images WHERE status = 'ok' ORDER BY id")
            ]
            chosen = random.Random(seed).sample(ids, min(size, len(ids)))
            db.executemany("UPDATE images SET calibration = 1 WHERE id = ?", [(i,) for i in chosen])

    def image(self, image_id: int) -> sqlite3.Row:
        with self.connect() as db:
            row = db.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise NotFound(f"no image with id {image_id}")
        return row

    def usable_hashes(self) -> tuple[dict[str, int], list[tuple[int, int]]]:
        """What a scan compares new files with: sha256 -> id of the usable images, and
        (id, perceptual hash) of those that have one."""
        with self.connect() as db:
            by_sha = {
                r["sha256"]: r["id"]
                for r in db.execute("SELECT id, sha256 FROM images WHERE status = 'ok'")
            }
            kept = [
                (r["id"], int(r["phash"], 16))
                for r in db.execute(
                    "SELECT id, phash FROM images WHERE status = 'ok' AND phash IS NOT NULL"
                )
            ]
        return by_sha, kept

    def image_rows(self) -> dict[int, dict]:
        """Every scanned file: id -> path, sha256, status, reason, duplicate_of."""
        with self.connect() as db:
            return {
                r["id"]: dict(r)
                for r in db.execute(
                    "SELECT id, path, sha256, status, reason, duplicate_of FROM images"
                )
            }

    # --- features and suggestions (suggest.py) ---------------------------------------
    def ids_without_features(self) -> list[int]:
        with self.connect() as db:
            return [
                r["id"]
                for r in db.execute(
                    "SELECT id FROM images WHERE status = 'ok' AND features IS NULL ORDER BY id"
                )
            ]

    def set_features(self, ids: list[int], features: np.ndarray) -> None:
        rows = [(f.astype(np.float32).tobytes(), i) for f, i in zip(features, ids, strict=True)]
        with self.connect() as db:
            db.executemany("UPDATE images SET features = ? WHERE id = ?", rows)

    def features(self) -> dict[int, np.ndarray]:
        """The usable images' features, by id."""
        with self.connect() as db:
            return {
                r["id"]: np.frombuffer(r["features"], dtype=np.float32)
                for r in db.execute(
                    "SELECT id, features FROM images WHERE status = 'ok' AND features IS NOT NULL"
                )
            }

    def replace_suggestions(self, predictions: dict[int, tuple[str, float]]) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM suggestions")
            db.executemany(
                "INSERT INTO suggestions VALUES (?, ?, ?)",
                [(i, c, p) for i, (c, p) in predictions.items()],
            )

    def suggestions(self) -> dict[int, tuple[str, float]]:
        """image id -> (suggested choice, its probability)."""
        with self.connect() as db:
            return {
                r["image_id"]: (r["choice"], r["confidence"])
                for r in db.execute("SELECT image_id, choice, confidence FROM suggestions")
            }

    def suggestion(self, image_id: int) -> dict | None:
        with self.connect() as db:
            row = db.execute(
                "SELECT choice, confidence FROM suggestions WHERE image_id = ?", (image_id,)
            ).fetchone()
        return {"choice": row["choice"], "confidence": row["confidence"]} if row else None
