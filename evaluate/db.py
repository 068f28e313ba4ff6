"""Accuracy records in the results database (the SQLite file of ``exmy sweep``/``exmy synth``).

exmy.evaluate owns one table, ``evaluate_results``, beside synth's tables in the same file, so
that a report can join accuracy to cost. Its schema version is stored in
``evaluate_schema(version)``; a file written by another version is refused with a clear error
instead of being misread. One row per (configuration, sentence count, model): a configuration
run twice costs nothing the second time, and a killed ``exmy evaluate FILE.toml`` resumes
where it stopped (each configuration is committed when it finishes).
"""

from __future__ import annotations

import json
import sqlite3
import time

# the file's tables, ours and synth's, are named once, by the file's owner
from exmy.synth.db import (
    EVALUATE_TABLES,
    SYNTH_TABLES,
    check_db_path,
    connect_read_only,
    damaged_error,
    is_locked,
    remove_if_empty,
)

__all__ = ["LOCK_WAIT_SECONDS", "SCHEMA_VERSION", "EvaluateDB"]

#: How long a writer waits for another process's lock on the file before giving up.
LOCK_WAIT_SECONDS = 60.0

SCHEMA_VERSION = 1
_COLUMNS = (
    "key", "config", "sentences", "model", "cosine_mean", "cosine_min", "nn_agreement",
    "spearman", "seconds", "record", "created",
)
#: what every stored record holds (the readers, exmy evaluate's row and the reports, use them)
_RECORD_TEXT = ("key", "weights", "acts", "scaling", "product", "acc")
_RECORD_NUMBERS = ("cosine_mean", "cosine_min", "nn_agreement", "spearman", "seconds")


def _record_problem(rec) -> str | None:
    """Why ``rec`` is not a record exmy writes (and reads back), or None."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    missing = [k for k in (*_RECORD_TEXT, "sentences", *_RECORD_NUMBERS) if k not in rec]
    if missing:
        return f"no {', '.join(missing)}"
    for k in _RECORD_TEXT:
        if not isinstance(rec[k], str):
            return f"its {k} {rec[k]!r} is not a string"
    if isinstance(rec["sentences"], bool) or not isinstance(rec["sentences"], int):
        return f"its sentences {rec['sentences']!r} is not an integer"
    for k in _RECORD_NUMBERS:
        v = rec[k]  # (NaN, an overflowed configuration's, is stored as JSON's NaN)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"its {k} {v!r} is not a number"
    return None


def _check_text(value, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty string, not {value!r}")


class EvaluateDB:
    """The ``evaluate_results`` table of a results database file."""

    def __init__(self, path, *, read_only: bool = False):
        """``read_only``: a reader (a report), which changes nothing and works on a read-only
        disk; the table must exist."""
        self.path = check_db_path(path)  # synth's checks and messages: one file, one voice
        if not isinstance(read_only, bool):
            raise TypeError(f"read_only must be True or False, not {read_only!r}")
        self.read_only = read_only
        existed = self.path.exists()
        self.con = None
        try:
            self.con = (connect_read_only(self.path) if read_only else
                        sqlite3.connect(str(self.path), timeout=LOCK_WAIT_SECONDS))
            self._init()
        except sqlite3.DatabaseError as exc:
            if self.con is not None:
                self.con.close()
            if not existed and not is_locked(exc):  # (a full disk left an empty file)
                remove_if_empty(self.path)
            raise damaged_error(self.path, exc) or ValueError(
                f"Results database {self.path} is not usable: {exc}") from None

    def _init(self) -> None:
        cur = self.con.cursor()
        # someone else's SQLite file is refused before anything is written to it
        tables = {r[0] for r in cur.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = tables - set(EVALUATE_TABLES) - set(SYNTH_TABLES)
        if foreign:
            raise ValueError(
                f"{self.path} is an SQLite database but not an exmy results database (its "
                f"tables are {', '.join(sorted(tables))}); give another --db")
        if self.read_only and not {"evaluate_schema", "evaluate_results"} <= tables:
            raise ValueError(f"Results database {self.path} holds no `exmy evaluate` records")
        if "evaluate_results" in tables:
            have = {r[1] for r in cur.execute("PRAGMA table_info(evaluate_results)")}
            if not set(_COLUMNS) <= have:
                raise ValueError(
                    f"Results database {self.path}: its evaluate_results table is not the one "
                    f"exmy writes (no column {', '.join(sorted(set(_COLUMNS) - have))}); the "
                    f"file was changed by something else or damaged: give another --db")
        if not self.read_only:
            cur.execute("CREATE TABLE IF NOT EXISTS evaluate_schema (version INTEGER NOT NULL)")
        rows = cur.execute("SELECT version FROM evaluate_schema").fetchall()
        if rows and rows[0][0] != SCHEMA_VERSION:
            raise ValueError(
                f"Results database {self.path} has evaluate schema version {rows[0][0]}, not "
                f"{SCHEMA_VERSION}; use another --db file"
            )
        if self.read_only:
            return
        if not rows:
            cur.execute("INSERT INTO evaluate_schema VALUES (?)", (SCHEMA_VERSION,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS evaluate_results ("
            " key TEXT NOT NULL, config TEXT NOT NULL, sentences INTEGER NOT NULL,"
            " model TEXT NOT NULL, cosine_mean REAL, cosine_min REAL, nn_agreement REAL,"
            " spearman REAL, seconds REAL, record TEXT NOT NULL, created REAL NOT NULL,"
            " PRIMARY KEY (key, sentences, model))"
        )
        self.con.commit()

    def get(self, key: str, sentences: int, model: str) -> dict | None:
        _check_text(key, "key")
        _check_text(model, "model")
        if isinstance(sentences, bool) or not isinstance(sentences, int):
            raise TypeError(f"sentences must be an integer, not {sentences!r}")
        row = self.con.execute(
            "SELECT record FROM evaluate_results WHERE key = ? AND sentences = ? AND model = ?",
            (key, sentences, model),
        ).fetchone()
        return self._decode(row[0]) if row else None

    def put(self, key: str, config: dict, model: str, record: dict) -> None:
        """Store one configuration's record; a file that cannot take it (locked by another
        process past :data:`LOCK_WAIT_SECONDS`, a full or read-only disk) is a ``ValueError``
        saying that this record was not stored and the ones before it are. A record that
        could not be read back (what :meth:`rows` checks: its key, formats, sentence count and
        metrics; JSON data throughout) is refused before anything is written."""
        _check_text(key, "key")
        _check_text(model, "model")
        if not isinstance(config, dict):
            raise TypeError(f"config must be a dict (Config.as_dict()), not {config!r}")
        why = _record_problem(record)
        if why is None and record["key"] != key:
            why = f"its key {record['key']!r} is not the key {key!r} it is stored under"
        if why is None:
            try:
                json.dumps([config, record], sort_keys=True)
            except (TypeError, ValueError) as exc:
                why = f"not JSON data: {exc}"
        if why is not None:
            raise ValueError(f"Evaluate record for {key} is not what exmy writes ({why}); "
                             f"nothing was stored")
        try:
            self._put(key, config, model, record)
        except sqlite3.Error as exc:
            raise ValueError(
                f"Results database {self.path} did not take the record of {key} ({exc}); the "
                f"configurations stored before it are kept, so a rerun resumes there") from None

    def _put(self, key: str, config: dict, model: str, record: dict) -> None:
        with self.con:
            self.con.execute(
                f"INSERT OR REPLACE INTO evaluate_results ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                (
                    key, json.dumps(config, sort_keys=True), int(record["sentences"]), model,
                    record.get("cosine_mean"), record.get("cosine_min"),
                    record.get("nn_agreement"), record.get("spearman"), record.get("seconds"),
                    json.dumps(record, sort_keys=True), time.time(),
                ),
            )

    def rows(self) -> list[dict]:
        cur = self.con.execute("SELECT record FROM evaluate_results ORDER BY created")
        return [self._decode(r[0]) for r in cur.fetchall()]

    def _decode(self, text) -> dict:
        """A stored record, checked: a row some other program changed (or a damaged file) is
        a ``ValueError`` naming the file, never a KeyError further on."""

        def bad(why: str) -> ValueError:
            return ValueError(
                f"Results database {self.path}: an evaluate record is not what exmy writes "
                f"({why}); the file was changed by something else or damaged: give another "
                f"--db")

        try:
            rec = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise bad(f"not JSON: {exc}") from None
        why = _record_problem(rec)
        if why is not None:
            raise bad(why)
        return rec

    def close(self) -> None:
        self.con.close()
