"""A curation project's SQLite file: its schema, its connections, its settings, and the
errors every curation operation raises.

The database runs in WAL mode with a busy timeout, and every operation opens its
own short connection, so the web server's threads and the command line can all
use it at the same time. Each concern's queries live in their own module:
``images.py``, ``labels.py``, ``review.py``; ``store.Project`` joins them.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
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
    image_id INTEGER PRIMARY KEY, labeler TEXT NOT NULL, until REAL NOT NULL,
    key_hash TEXT                       -- the leasing browser's key: one lease a key
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


class ProjectDatabase:
    """A curation project folder: ``curation.sqlite`` and ``cache/`` (views, thumbnails)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.db_path = self.folder / "curation.sqlite"
        self.cache = self.folder / "cache"

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
    ) -> ProjectDatabase:
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
    def open(cls, folder: Path) -> ProjectDatabase:
        project = cls(folder)
        if not project.db_path.is_file():
            raise CurationError(f"{folder} is not a curation project (run cyclegan curate init)")
        with project.connect() as db:  # projects from before labels and leases had a key
            for table in ("labels", "leases"):
                columns = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                if "key_hash" not in columns:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN key_hash TEXT")
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
