"""File names of a 1.2 installation, compared on disk rather than in memory.

The folder walk, the names the 1.2 rows give and the outcome of each row are written into a
private, temporary SQLite file (a folder of its own, 0700, removed afterwards), and the set
questions (which files no row names, which were placed) are asked there in SQL. So the
memory the analysis, the orphan scan and the reconciliation use stays flat however many
files the clinic has: only a batch of names is held at a time. Names are compared in lower
case, as the 1.2 client found its files on Windows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ibdesk import safefiles

BATCH = 5000

_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -16384;
PRAGMA temp_store = FILE;
CREATE TABLE disk (shown TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER) WITHOUT ROWID;
CREATE TABLE named (key TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE outcome (key TEXT PRIMARY KEY, outcome TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE orphan (name TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# The files on disk (lower case, once each) that a row with the given outcome names.
_NAMED_BY = (
    "SELECT DISTINCT disk.name FROM disk JOIN named ON named.name = disk.name "
    "JOIN outcome ON outcome.key = named.key WHERE outcome.outcome = ?"
)


def _readable(found: tuple[str, int]) -> tuple[str, int]:
    name, size = found
    if name.isascii():
        return found
    raw = name.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace"), size


def walk_files(root: Path) -> Iterator[tuple[str, int]]:
    """Yield every regular file under ``root`` relative to it, with its size, folder by
    folder in a fixed order (links are not followed).

    One ``scandir`` per folder and plain strings: this runs once per file of the clinic. A
    folder that cannot be read, or a file gone meanwhile, is passed over, as ``os.walk``
    does.
    """
    # An explicit stack, not recursion: a folder nested a thousand levels deep is walked too.
    # Subfolders are pushed last-first, so they come out in order, each one's files before
    # its own subfolders (the order a recursive walk gives).
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        folder, prefix = stack.pop()
        subfolders: list[tuple[str, str]] = []
        for entry in _entries(folder):
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append((entry.path, f"{prefix}{entry.name}/"))
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield prefix + entry.name, info.st_size
        stack.extend(reversed(subfolders))


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError:
        return []


def row_name(filnamn: object) -> str:
    """Return the name a 1.2 row gives its file, as it is compared with the folder.

    The same components as placement resolves (``safefiles.parts``: ``.\\`` and doubled
    separators dropped), in lower case; a name that could leave the folder is kept as
    written (no file matches it).
    """
    try:
        return "/".join(safefiles.parts(str(filnamn))).lower()
    except safefiles.FileProblem:
        return str(filnamn).replace("\\", "/").strip().lower()


class NameIndex:
    """The names on disk and the names rows give, in a temporary database of their own."""

    def __init__(self) -> None:
        """Create the private temporary database (use as a context manager to remove it)."""
        self._folder = Path(tempfile.mkdtemp(prefix="ibdesk-names-"))  # 0700: patient names
        self.db = sqlite3.connect(self._folder / "names.sqlite3", isolation_level=None)
        self.db.executescript(_SCHEMA)
        self._indexed = False

    def __enter__(self) -> NameIndex:
        """Return the index."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the temporary database."""
        self.close()

    def close(self) -> None:
        """Remove the temporary database and its folder."""
        self.db.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _fill(self, statement: str, rows: Iterable[tuple[Any, ...]]) -> None:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                self.db.executemany(statement, batch)
                batch.clear()
        self.db.executemany(statement, batch)

    def add_disk(self, root: Path) -> None:
        """Walk the folder: every regular file, its lower-case name and its size.

        A name that is not UTF-8 (bytes of another code page) is kept with those bytes
        written as ``\\xNN``: no 1.2 row names it so, and it is reported as a file no row
        names, where before it stopped the step.
        """
        self._fill(
            "INSERT INTO disk VALUES (?, ?, ?)",
            ((shown, shown.lower(), size) for shown, size in map(_readable, walk_files(root))),
        )
        self.db.execute("CREATE INDEX disk_name ON disk (name)")

    def add_named(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record the name each 1.2 item row gives, with the row's key (``BildId``)."""
        self._fill(
            "INSERT INTO named VALUES (?, ?)",
            ((str(row["BildId"]), row_name(row["Filnamn"])) for row in rows),
        )

    def add_outcomes(self, outcomes: Iterable[tuple[Any, Any]]) -> None:
        """Record each item row's outcome (its key in the conversion map and the outcome)."""
        self._fill(
            "INSERT OR REPLACE INTO outcome VALUES (?, ?)",
            ((str(key), str(outcome)) for key, outcome in outcomes),
        )

    def add_orphans(self, names: Iterable[str]) -> None:
        """Record the files an earlier scan found no row naming."""
        self._fill("INSERT OR IGNORE INTO orphan VALUES (?)", ((n.lower(),) for n in names))

    def _count(self, query: str, *params: Any) -> int:
        self._index_named()
        return int(self.db.execute(query, params).fetchone()[0])

    def _index_named(self) -> None:
        if not self._indexed:
            self.db.execute("CREATE INDEX named_name ON named (name)")
            self._indexed = True

    def files(self) -> tuple[int, int]:
        """Return how many files the folder holds and their bytes."""
        found = self.db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM disk").fetchone()
        return int(found[0]), int(found[1])

    def distinct_files(self) -> int:
        """Return how many files the folder holds, names differing only in case counted once."""
        return self._count("SELECT COUNT(DISTINCT name) FROM disk")

    def orphans(self) -> int:
        """Return how many orphans ``add_orphans`` recorded (lower-case names, once each)."""
        return self._count("SELECT COUNT(*) FROM orphan")

    def unnamed(self) -> Iterator[str]:
        """Yield the files no row names, as they are spelled on disk, in order."""
        self._index_named()
        cursor = self.db.execute(
            "SELECT shown FROM disk WHERE NOT EXISTS "
            "(SELECT 1 FROM named WHERE named.name = disk.name) ORDER BY shown"
        )
        try:
            while batch := cursor.fetchmany(BATCH):
                yield from (shown for (shown,) in batch)
        finally:
            cursor.close()

    def reconcile(self, converted: str, rejected: str) -> tuple[int, bool]:
        """Return how many files on disk only rejected rows name, and whether the folder
        balances: every file is placed (named by a converted row), named only by rejected
        rows, or an orphan; every orphan is on disk and named by no converted or rejected
        row."""
        self._index_named()
        self.db.execute("CREATE TEMP TABLE placed (name TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.execute("CREATE TEMP TABLE refused (name TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.execute(f"INSERT INTO placed {_NAMED_BY}", (converted,))
        self.db.execute(
            f"INSERT INTO refused {_NAMED_BY} AND disk.name NOT IN (SELECT name FROM placed)",
            (rejected,),
        )
        unaccounted = self._count(
            "SELECT COUNT(DISTINCT name) FROM disk WHERE name NOT IN (SELECT name FROM placed) "
            "AND name NOT IN (SELECT name FROM refused) AND name NOT IN (SELECT name FROM orphan)"
        )
        stray = self._count("SELECT COUNT(*) FROM orphan WHERE name NOT IN (SELECT name FROM disk)")
        named_orphans = self._count(
            "SELECT COUNT(*) FROM orphan JOIN named ON named.name = orphan.name "
            "JOIN outcome ON outcome.key = named.key WHERE outcome.outcome IN (?, ?)",
            converted,
            rejected,
        )
        refused = self._count("SELECT COUNT(*) FROM refused")
        return refused, unaccounted == 0 and stray == 0 and named_orphans == 0
