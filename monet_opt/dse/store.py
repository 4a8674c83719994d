"""The sweep's SQLite database ``dse.sqlite``: one row per finished point.

One writer, the parent process: every finished point is inserted and committed at once
(``synchronous=FULL``, rollback journal), so a ``kill -9`` at any moment leaves every
committed point and no half-written one. The point id is the primary key and the
canonical parameter text is unique, so a resumed sweep can neither lose nor duplicate a
point. A lock file (``dse.lock``, ``flock``) keeps a second sweep out of the folder.

Tables
------
``meta(key, value)``
    The run's identity (``fingerprint`` of the space, ``sampler``, ``seed``,
    ``inner_mode``, ``space_file``, ``budget``), JSON values.
``points(id, idx, key, sampler, status, reason, params, objectives, metrics,
accelerator, seconds)``
    The records (JSON columns; ``accelerator`` is zlib-compressed JSON, a mesh of 64
    cores is some 80 kB of text).
``polish(id, objectives, metrics, status, reason)``
    Exact re-evaluations of front points (``fast+exact``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from monet_opt.errors import InputError

__all__ = ["DB_NAME", "LOCK_NAME", "Store", "open_store"]

DB_NAME = "dse.sqlite"
LOCK_NAME = "dse.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL UNIQUE,
    key TEXT NOT NULL UNIQUE,
    sampler TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    params TEXT NOT NULL,
    objectives TEXT NOT NULL,
    metrics TEXT NOT NULL,
    accelerator BLOB,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS polish (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    reason TEXT,
    objectives TEXT NOT NULL,
    metrics TEXT NOT NULL
);
"""


def _dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True, allow_nan=True)


def _pack(doc: Any) -> bytes | None:
    """zlib-compressed JSON of an accelerator document (``None`` stays ``None``)."""
    return None if doc is None else zlib.compress(json.dumps(doc).encode(), 6)


def _unpack(blob: bytes | None) -> Any:
    return None if blob is None else json.loads(zlib.decompress(blob).decode())


class Store:
    """An open ``dse.sqlite`` (use :func:`open_store`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)

    # -- identity ------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The ``meta`` table as a dict."""
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: Mapping[str, Any]) -> None:
        with self._tx():
            for k, v in values.items():
                self.conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, _dumps(v))
                )

    # -- points --------------------------------------------------------------------------
    def add(self, rec: Mapping[str, Any], key: str) -> bool:
        """Insert a finished point and commit; ``False`` if it was already there."""
        with self._tx():
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO points(id, idx, key, sampler, status, reason, params, "
                "objectives, metrics, accelerator, seconds) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec["id"],
                    int(rec["index"]),
                    key,
                    rec["sampler"],
                    rec["status"],
                    rec.get("reason"),
                    _dumps(rec["params"]),
                    _dumps(rec.get("objectives") or {}),
                    _dumps(rec.get("metrics") or {}),
                    _pack(rec.get("accelerator")),
                    float((rec.get("metrics") or {}).get("seconds", 0.0)),
                ),
            )
        return cur.rowcount == 1

    def add_polish(self, rec: Mapping[str, Any]) -> None:
        """Insert the exact re-evaluation of a front point and commit."""
        with self._tx():
            self.conn.execute(
                "INSERT OR REPLACE INTO polish(id, status, reason, objectives, metrics) "
                "VALUES (?,?,?,?,?)",
                (
                    rec["id"],
                    rec["status"],
                    rec.get("reason"),
                    _dumps(rec.get("objectives") or {}),
                    _dumps(rec.get("metrics") or {}),
                ),
            )

    def records(self) -> list[dict[str, Any]]:
        """Every point, in sampling order, as the report's record dicts."""
        rows = self.conn.execute(
            "SELECT id, idx, sampler, status, reason, params, objectives, metrics, accelerator "
            "FROM points ORDER BY idx"
        )
        return [
            {
                "id": r[0],
                "index": r[1],
                "sampler": r[2],
                "status": r[3],
                "reason": r[4],
                "params": json.loads(r[5]),
                "objectives": json.loads(r[6]),
                "metrics": json.loads(r[7]),
                "accelerator": _unpack(r[8]),
            }
            for r in rows
        ]

    def by_key(self) -> dict[str, dict[str, Any]]:
        """``{canonical parameter text: record}`` of the finished points."""
        keys = dict(self.conn.execute("SELECT id, key FROM points"))
        return {keys[r["id"]]: r for r in self.records()}

    def polished(self) -> dict[str, dict[str, Any]]:
        """``{id: {status, reason, objectives, metrics}}`` of the exact re-evaluations."""
        rows = self.conn.execute("SELECT id, status, reason, objectives, metrics FROM polish")
        return {
            r[0]: {
                "status": r[1],
                "reason": r[2],
                "objectives": json.loads(r[3]),
                "metrics": json.loads(r[4]),
            }
            for r in rows
        }

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def open_store(out_dir: Path, *, resume: bool) -> Iterator[Store]:
    """Open (or create) ``out_dir/dse.sqlite`` under an exclusive lock.

    Raises
    ------
    InputError
        Field ``--out``: the folder cannot be created, is locked by another sweep,
        already holds a sweep and ``resume`` is false, or holds a ``dse.sqlite`` that is
        not a sweep database.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(None, "--out", f"{out_dir}: cannot create the folder ({exc})") from None
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise InputError(None, "--out", f"{out_dir}: not a writable folder")
    lock = open(out_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held for the whole sweep
    try:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(
                None, "--out", f"{out_dir}: another sweep is running in this folder"
            ) from None
        db = out_dir / DB_NAME
        existed = db.exists()
        try:
            store = Store(db)
            count = store.count() if existed else 0
        except sqlite3.DatabaseError as exc:
            raise InputError(
                None,
                "--out",
                f"{db}: not a monet-opt sweep database ({exc}); choose another folder",
            ) from None
        if existed and not resume:
            if count > 0:
                store.close()
                raise InputError(
                    None,
                    "--out",
                    f"{out_dir} already holds a sweep ({DB_NAME}); pass --resume to continue "
                    "it or choose another folder",
                )
            with store._tx():  # a sweep that stopped before its first point: start over
                store.conn.execute("DELETE FROM meta")
                store.conn.execute("DELETE FROM polish")
        try:
            yield store
        finally:
            store.close()
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        lock.close()
