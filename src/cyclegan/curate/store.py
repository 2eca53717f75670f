"""A curation project's state: one SQLite file, safe for several labelers at once.

The database runs in WAL mode with a busy timeout, and every operation opens
its own short connection, so the web server's threads and the command line
can all use it at the same time. A label is one row, unique per (image,
labeler); it is committed before the request answers, so a restart loses
nothing.

An image's **final label** is, in order of precedence: an audit correction, a
reviewer's decision on a disagreement, or the labels themselves when the
image has its ``labels_per_image`` labels and they all agree. Images whose
labels disagree wait in the review queue.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cyclegan.errors import CycleGANError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,          -- relative to the source folder
    bytes INTEGER, sha256 TEXT, phash TEXT,
    width INTEGER, height INTEGER, format TEXT, mode TEXT,
    status TEXT NOT NULL,               -- ok | rejected | duplicate
    reason TEXT,                        -- why rejected, or which image it duplicates
    duplicate_of INTEGER,
    calibration INTEGER NOT NULL DEFAULT 0,
    rank REAL NOT NULL,                 -- random labeling order
    features BLOB,                      -- suggestion features (optional)
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id),
    labeler TEXT NOT NULL, choice TEXT NOT NULL, created_at REAL NOT NULL,
    key_hash TEXT,                      -- sha256 of the labeling browser's key
    UNIQUE (image_id, labeler)
);
CREATE TABLE IF NOT EXISTS leases (
    image_id INTEGER PRIMARY KEY, labeler TEXT NOT NULL, until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    image_id INTEGER PRIMARY KEY, choice TEXT NOT NULL, reviewer TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL, label_before TEXT NOT NULL,
    verdict TEXT, corrected TEXT, reviewer TEXT, created_at REAL
);
CREATE TABLE IF NOT EXISTS suggestions (
    image_id INTEGER PRIMARY KEY, choice TEXT NOT NULL, confidence REAL NOT NULL
);
"""
LEASE_SECONDS = 120  # an image shown to one labeler is not offered to another meanwhile

DEFAULT_TAXONOMY = {
    "question": "Which kind of image is this?",
    "choices": [
        {"key": "A", "name": "domain A", "hint": "Clearly an example of domain A."},
        {"key": "B", "name": "domain B", "hint": "Clearly an example of domain B."},
        {
            "key": "neither",
            "name": "neither",
            "hint": "Neither, both, unclear, or not a usable image.",
        },
    ],
}


class CurationError(CycleGANError):
    """A curation command or request that cannot be carried out as asked."""


class NotFound(CurationError):
    """An unknown image or audit item."""


class Conflict(CurationError):
    """A label the image cannot take: a second by the same labeler, one more than wanted,
    or one for an image that is not in the pile to label."""


class Forbidden(CurationError):
    """An undo from another browser than the one that made the label."""


def key_hash(key: str | None) -> str | None:
    return hashlib.sha256(key.encode()).hexdigest() if key else None


def validate_taxonomy(taxonomy: dict) -> dict:
    choices = taxonomy.get("choices")
    if not isinstance(taxonomy.get("question"), str) or not isinstance(choices, list):
        raise CurationError("taxonomy needs a 'question' string and a 'choices' list")
    keys = [c.get("key") for c in choices if isinstance(c, dict)]
    if len(keys) != len(choices) or len(set(keys)) != len(keys) or not 2 <= len(keys) <= 9:
        raise CurationError("taxonomy choices need 2 to 9 distinct 'key' values")
    if "A" not in keys or "B" not in keys:
        raise CurationError("taxonomy needs choices with keys 'A' and 'B' (the two domains)")
    for c in choices:
        c.setdefault("name", c["key"])
        c.setdefault("hint", "")
    return taxonomy


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


class Project:
    """A curation project folder: ``curation.sqlite`` and ``cache/`` (views, thumbnails)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.db_path = self.folder / "curation.sqlite"
        self.cache = self.folder / "cache"

    # --- lifecycle -------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        folder: Path,
        source: Path,
        taxonomy: dict | None = None,
        calibration_size: int = 20,
        labels_per_image: int = 1,
        min_size: int = 64,
        seed: int = 0,
    ) -> Project:
        folder = Path(folder)
        if (folder / "curation.sqlite").exists():
            raise CurationError(f"{folder} is already a curation project")
        if not Path(source).is_dir():
            raise CurationError(f"source folder {source} does not exist")
        if labels_per_image < 1 or calibration_size < 0 or min_size < 1:
            raise CurationError(
                "labels per image and the minimum size must be >= 1, and the calibration size >= 0"
            )
        folder.mkdir(parents=True, exist_ok=True)
        project = cls(folder)
        db = sqlite3.connect(project.db_path)
        db.executescript(SCHEMA)  # executescript commits by itself: outside a transaction
        db.close()
        with project.connect() as db:
            values = {
                "source": str(Path(source).resolve()),
                "taxonomy": json.dumps(validate_taxonomy(taxonomy or DEFAULT_TAXONOMY)),
                "phase": "calibration",
                "calibration_size": str(calibration_size),
                "labels_per_image": str(labels_per_image),
                "min_size": str(min_size),
                "seed": str(seed),
            }
            db.executemany("INSERT INTO meta VALUES (?, ?)", values.items())
        return project

    @classmethod
    def open(cls, folder: Path) -> Project:
        project = cls(folder)
        if not project.db_path.is_file():
            raise CurationError(f"{folder} is not a curation project (run cyclegan curate init)")
        with project.connect() as db:  # projects from before labels carried a key
            columns = {r["name"] for r in db.execute("PRAGMA table_info(labels)")}
            if "key_hash" not in columns:
                db.execute("ALTER TABLE labels ADD COLUMN key_hash TEXT")
        return project

    @contextmanager
    def connect(self):
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA foreign_keys=ON")
        try:
            # One writer at a time, decided at the start: no deadlock between two upgrades.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def meta(self, key: str) -> str:
        with self.connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"]

    def set_meta(self, key: str, value: str) -> None:
        with self.connect() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def taxonomy(self) -> dict:
        return json.loads(self.meta("taxonomy"))

    @property
    def choice_keys(self) -> list[str]:
        return [c["key"] for c in self.taxonomy["choices"]]

    @property
    def labels_per_image(self) -> int:
        return int(self.meta("labels_per_image"))

    # --- images ----------------------------------------------------------------------
    def known_paths(self) -> set[str]:
        with self.connect() as db:
            return {r["path"] for r in db.execute("SELECT path FROM images")}

    def add_image(self, db: sqlite3.Connection, record: dict) -> int:
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

    # --- labeling --------------------------------------------------------------------
    def next_image(self, labeler: str) -> int | None:
        """The next image this labeler should label, leased to them for a while; None when
        there is nothing left in the current phase."""
        k, now = self.labels_per_image, time.time()
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
                                      AND e.labeler != ? AND e.until > ?)
                    ORDER BY i.calibration DESC, COALESCE(s.confidence, 2.0) ASC, i.rank
                    LIMIT 1""",
                (k, labeler, labeler, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                (row["id"], labeler, now + LEASE_SECONDS),
            )
            return row["id"]

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
        A label made with a key is undone only with that key."""
        with self.connect() as db:
            row = db.execute(
                "SELECT id, image_id, key_hash FROM labels WHERE labeler = ? "
                "ORDER BY created_at DESC, id DESC LIMIT 1",
                (labeler,),
            ).fetchone()
            if row is None:
                return None
            if row["key_hash"] is not None and row["key_hash"] != key_hash(key):
                raise Forbidden(
                    f"the newest label of {labeler} was made in another browser; only that "
                    "browser can undo it"
                )
            db.execute("DELETE FROM labels WHERE id = ?", (row["id"],))
            db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                (row["image_id"], labeler, time.time() + LEASE_SECONDS),
            )
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

    def open_production(self) -> None:
        self.set_meta("phase", "production")

    # --- review and audit ----------------------------------------------------------------
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

    # --- overview --------------------------------------------------------------------
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
