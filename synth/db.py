"""The results database: one SQLite table of synthesis records keyed by ``flow_key``.

Every record is written in its own transaction (WAL journal), so a process killed at any moment
leaves the database with whole records only; ``INSERT OR REPLACE`` on the primary key means a
point run twice is stored once. A second, small table ``points`` maps a sweep point's key (a
hash of the unit, its parameters, the flow settings and the generator's code) to the
``flow_key`` of its record, so a rerun can skip a point without regenerating its Verilog.

Scalar record fields are columns; dicts and lists (tool versions, cell counts, utilisation,
parameters) are stored as JSON text and decoded on the way out.

A third table, ``claims``, lets several sweeps share one database: a sweep claims a point
(``point_key``, its owner id, host, pid and a heartbeat time) before it runs it, and a point
claimed by another live sweep is left to that sweep. A claim is stale, and may be taken over,
when its heartbeat is older than :data:`CLAIM_STALE_SECONDS` or its owner was a process on this
host that no longer exists (a killed sweep).

Opening checks the file: a directory, a path that cannot be opened, a file that is not SQLite,
or an SQLite database that is not exmy's raise ``ValueError`` naming the path; exmy's tables
are only ever created in a new or empty file.

Locks: a writer holds the database's write lock for one short transaction (milliseconds), so
parallel sweeps wait for each other briefly. A lock held longer (another process in a long
transaction, ``BEGIN EXCLUSIVE`` in an ``sqlite3`` shell) is waited for up to
:data:`LOCK_WAIT_SECONDS`, with a note to ``on_wait`` after :data:`LOCK_NOTE_SECONDS`, then
:class:`DatabaseLocked` (a ``ValueError``) names the file. A writer (``create=True``) takes the
write lock once when it opens, so a locked database is refused before any work starts.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import socket
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CLAIM_STALE_SECONDS", "COLUMNS", "LOCK_WAIT_SECONDS", "DatabaseLocked", "ResultsDB",
           "check_db_path", "connect_read_only", "damaged_error", "evaluate_only",
           "is_locked", "remove_if_empty"]

#: Columns of the ``records`` table, in order. Anything else in a record goes to ``extra``.
COLUMNS: tuple[str, ...] = (
    "flow_key", "status", "unit", "params", "point_key", "top", "target", "family", "device",
    "dsp_enabled", "widelut", "seed", "freq_mhz", "register_io", "io_mode", "io_bits",
    "in_bits", "out_bits",
    "lut", "carry", "widemux", "ff", "dsp", "bram", "lutram", "gates", "depth",
    "fmax_mhz", "crit_path_ns", "seconds", "synth_seconds", "pnr_seconds",
    "verilog_sha256", "flow_version", "tool_versions", "cells", "other_cells",
    "fmax_by_clock", "utilization", "yosys_flags", "error", "log", "created", "extra",
)
_JSON = {"params", "tool_versions", "cells", "other_cells", "fmax_by_clock", "utilization",
         "yosys_flags", "extra"}
_BOOL = {"dsp_enabled", "widelut", "register_io"}
#: the columns that hold numbers (or NULL)
_NUMBER = {"seed", "freq_mhz", "io_bits", "in_bits", "out_bits", "lut", "carry", "widemux", "ff",
           "dsp", "bram", "lutram", "gates", "depth", "fmax_mhz", "crit_path_ns", "seconds",
           "synth_seconds", "pnr_seconds"}
#: the columns that hold text (or NULL); flow_version, the one other, holds an integer
_TEXT = set(COLUMNS) - _JSON - _BOOL - _NUMBER - {"flow_version"}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _measure_problem(v) -> str | None:
    """Why the value ``v`` of a number column (a count, a clock, a time: never negative, never
    Inf or NaN) is not one exmy writes; None if it is."""
    if v != v or v in (math.inf, -math.inf):
        return f"{v!r} is not finite"
    if v < 0:
        return f"{v!r} is negative"
    return None


#: what a record's plain columns take besides None: (columns, test, what the messages say)
_COLUMN_KINDS = (
    (_NUMBER, _is_number, "a number"),
    (_TEXT, lambda v: isinstance(v, str), "a string"),
    (("flow_version",), lambda v: _is_number(v) or isinstance(v, str), "a number or a string"),
    (_BOOL, lambda v: isinstance(v, bool), "a bool"),
)


def _column_kind(column: str):
    """(test, what) of a plain column, from :data:`_COLUMN_KINDS`."""
    return next((ok, what) for cols, ok, what in _COLUMN_KINDS if column in cols)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "flow_key" else "") for c in COLUMNS)}
);
CREATE INDEX IF NOT EXISTS records_unit_target ON records (unit, target);
CREATE TABLE IF NOT EXISTS points (
    point_key TEXT PRIMARY KEY,
    flow_key TEXT NOT NULL
);
"""
_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    point_key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL
);
"""
#: A claim whose owner has not refreshed it for this long is abandoned (its sweep refreshes
#: every :data:`HEARTBEAT_SECONDS`).
CLAIM_STALE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0
#: How long an operation waits for a lock another process holds before
#: :class:`DatabaseLocked`; legitimate writers (parallel sweeps) hold it for milliseconds.
LOCK_WAIT_SECONDS = 30.0
#: After this long waiting for a lock, ``on_wait`` is told (once per wait).
LOCK_NOTE_SECONDS = 5.0


class DatabaseLocked(ValueError):
    """Another process has held the results database's lock for :data:`LOCK_WAIT_SECONDS`."""


def is_locked(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _stale(claim: tuple, now: float) -> bool:
    _, host, pid, heartbeat = claim
    if now - heartbeat > CLAIM_STALE_SECONDS:
        return True
    return host == socket.gethostname() and not _pid_alive(pid)


#: the tables of ``exmy.evaluate.db`` (accuracy records), which share the file with ours
EVALUATE_TABLES = ("evaluate_results", "evaluate_schema")
#: our tables (``exmy.evaluate.db`` accepts a file that holds them)
SYNTH_TABLES = ("records", "points", "claims")


def connect_read_only(path: str | os.PathLike) -> sqlite3.Connection:
    """A reader's connection to the SQLite file ``path``: it never writes, and where the user
    cannot write it is read-only, so a database on a read-only disk or in a folder the user
    cannot write still reads (a WAL database there cannot make its shared-memory file: it is
    then opened as immutable, which nobody can change on such a disk). Errors of the file
    itself (not a database, locked) surface at the first query, as with a plain
    connection."""
    path = check_db_path(path)  # (SQLite's read-only open of a FIFO blocks forever)
    try:
        uri = Path(path).resolve().as_uri()
    except (RuntimeError, OSError):  # a symbolic link loop (RuntimeError before Python 3.13)
        raise ValueError(f"Results database {path} is a symbolic link loop; give another --db "
                         f"or remove the link") from None
    # A read-only connection to a WAL database leaves the empty -wal and -shm files SQLite
    # makes for it; a read-write one removes them, the last to close, as a writer does. So a
    # reader opens read-write where the user could write, with every write refused
    # (query_only), and read-only elsewhere.
    folder = Path(path).resolve().parent
    mode = "rw" if os.access(path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK) else "ro"
    con = sqlite3.connect(f"{uri}?mode={mode}", uri=True, timeout=LOCK_NOTE_SECONDS,
                          isolation_level=None)
    con.execute("PRAGMA query_only = ON")
    try:
        con.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as e:
        if "unable to open" not in str(e):
            return con
        con.close()
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True,
                               timeout=LOCK_NOTE_SECONDS, isolation_level=None)
    except sqlite3.DatabaseError:
        pass
    return con


def evaluate_only(path) -> bool:
    """Whether the file at ``path`` is a results database only ``exmy evaluate`` wrote (its
    tables and no synthesis tables); False for anything else, unreadable files included."""
    try:
        con = connect_read_only(path)
        try:
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
    except (sqlite3.Error, ValueError, OSError):
        return False
    return tables == set(EVALUATE_TABLES)


def check_db_path(path) -> Path:
    """``path`` as a :class:`Path` if it can name a results database file (every opener's
    checks, the same one-line errors): ``TypeError`` for a non-path, ``ValueError`` for an
    empty name, a NUL character, a directory, a FIFO or device, or a non-empty file that does
    not start with SQLite's header. (SQLite itself refuses such a file only from 2 bytes on:
    it would turn a 1-byte file into a new database.)"""
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
        raise TypeError(f"Results database must be a file name (a str or a path), not "
                        f"{path!r}")
    if not os.fspath(path).strip():
        raise ValueError("Results database needs a file name (--db FILE), not an empty "
                         "string")
    if "\0" in os.fspath(path):
        raise ValueError(f"Results database name {os.fspath(path)!r} holds a NUL character")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Results database {path} is a directory; give a file such "
                         f"as {path / 'exmy-results.sqlite'}")
    if path.is_symlink() and not path.exists():
        # SQLite says only "unable to open database file" (and pathlib's resolve() raised
        # RuntimeError on a loop); a link to a missing file in an existing folder is fine: a
        # writer creates its target
        _check_dangling_link(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing, unreadable, ...: the opener's own errors say what
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"Results database {path} is not a regular file (a FIFO, socket or "
                         f"device); give a database file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError:
        head = b""
    if head and head != _SQLITE_MAGIC:
        raise damaged_error(path, sqlite3.DatabaseError("file is not a database"))
    return path


def _check_dangling_link(path: Path) -> None:
    """``ValueError`` for a symbolic link ``path`` that is a loop or points into a folder that
    does not exist (no database can be opened or created through it)."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"Results database {path} is a symbolic link loop; give another "
                             f"--db or remove the link") from None
    try:
        target = os.readlink(path)
    except OSError:
        return
    folder = os.path.dirname(os.path.join(os.path.dirname(path), target)) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"Results database {path} is a symbolic link to {target}, whose "
                         f"folder {folder} does not exist; give another --db or fix the link")


#: The first bytes of every SQLite 3 database file (sqlite.org/fileformat.html, 1.3).
_SQLITE_MAGIC = b"SQLite format 3\x00"


def damaged_error(path, exc: sqlite3.DatabaseError) -> ValueError | None:
    """The one-line error for SQLite's verdict ``exc`` on the file ``path`` when the file
    itself is bad (damaged, or not SQLite at all); None for any other error."""
    if "malformed" in str(exc):
        return ValueError(f"Results database {path} is a damaged SQLite database ({exc}); "
                          f"give another --db (the sqlite3 shell's `.recover` may rescue its "
                          f"records)")
    if "not a database" in str(exc):
        return ValueError(f"Results database {path} is not an SQLite database ({exc}); give "
                          f"another --db or delete the file")
    return None


def _check_key(value, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, not {value!r}")


def _check_record(record, point_key) -> None:
    """What :meth:`ResultsDB.put` stores must read back (``_decode``'s checks): a bad value
    would make every later read of the database fail."""
    if not isinstance(record, dict):
        raise TypeError(f"Record must be a dict of column -> value, not {type(record).__name__}")
    if not record.get("flow_key"):
        raise ValueError("Record has no flow_key")
    _check_key(record["flow_key"], "Record's flow_key")
    if point_key is not None:
        _check_key(point_key, "point_key")
    for columns, ok, what in _COLUMN_KINDS:
        for c in columns:
            v = record.get(c)
            if v is not None and not ok(v):
                what = "True, False" if what == "a bool" else what.replace(" or ", ", ")
                raise ValueError(f"Record {record['flow_key']!r}: {c} must be {what} or None, "
                                 f"not {v!r}")
    for c in _NUMBER:  # (SQLite would store a NaN as NULL; a negative count reads back bad)
        why = _measure_problem(record[c]) if record.get(c) is not None else None
        if why:
            raise ValueError(f"Record {record['flow_key']!r}: {c} must be a finite number >= 0, "
                             f"not {record[c]!r}")
    if not isinstance(record.get("params") or {}, dict):
        raise ValueError(f"Record {record['flow_key']!r}: params must be a dict, not "
                         f"{record['params']!r}")
    for k, v in record.items():
        if k in _JSON or k not in COLUMNS:
            try:
                json.dumps(v, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Record {record['flow_key']!r}: {k} is not JSON data "
                                 f"({exc})") from None


def remove_if_empty(path: Path) -> None:
    """Remove a database file that a failed start created (a full disk leaves a 0-byte file
    behind, a database the user never got) if it is still empty, with its
    journal files. Only for a file the caller created and only after an error of the file
    itself, not another process's lock (that one may have just created the same file)."""
    real = Path(os.path.realpath(path))  # a link the user made stays; the file it names goes
    with contextlib.suppress(OSError):
        if real.stat().st_size == 0:
            for suffix in ("-wal", "-shm", "-journal"):
                Path(f"{real}{suffix}").unlink(missing_ok=True)
            real.unlink()


class ResultsDB:
    """A connection to the results database at ``path``.

    Use as a context manager or call :meth:`close`. With ``create=True`` (the default) a
    missing or empty file becomes a new database; with ``create=False`` (readers such as
    ``exmy report``) it is an error and nothing is written. Any other file must already be an
    exmy results database: a directory, an unopenable path, a file that is not SQLite ("file is
    not a database") or someone else's SQLite database raise ``ValueError`` naming the path.

    A writer (``create=True``) takes the write lock once on opening, so a database another
    process keeps locked raises :class:`DatabaseLocked` here, after :data:`LOCK_WAIT_SECONDS`,
    rather than at the first write after minutes of synthesis. ``on_wait(message)``, if given,
    is called when an operation has waited :data:`LOCK_NOTE_SECONDS` for a lock (once per
    wait).
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True,
                 on_wait: Callable[[str], None] | None = None):
        self.path = check_db_path(path)
        if not isinstance(create, bool):
            raise TypeError(f"create must be True or False, not {create!r}")
        if on_wait is not None and not callable(on_wait):
            raise TypeError(f"on_wait must be a function taking a message, or None, not "
                            f"{on_wait!r}")
        self.on_wait = on_wait
        exists = self.path.exists()
        if not create and (not exists or self.path.stat().st_size == 0):
            raise ValueError(f"Results database {self.path} "
                             f"{'is empty' if exists else 'does not exist'}; run `exmy sweep` "
                             "or `exmy synth` first, or give another database")
        try:
            # The busy handler waits in short slices; _locked() adds them up to
            # LOCK_WAIT_SECONDS, with a note on the way.
            self._con = (connect_read_only(self.path) if not create else
                         sqlite3.connect(self.path, timeout=LOCK_NOTE_SECONDS,
                                         isolation_level=None))
        except sqlite3.Error as e:
            raise ValueError(f"Cannot open results database {self.path}: {e}; check that its "
                             "folder exists and is writable") from None
        try:
            self._locked(lambda: self._open(create))
            if create:  # a writer: the write lock is ours now, not after hours of synthesis
                with self._transaction():
                    pass
        except sqlite3.Error as e:
            self._con.close()
            if not exists and not is_locked(e):
                remove_if_empty(self.path)
            raise ValueError(f"Cannot use {self.path} as a results database ({e}); check that "
                             "the file and its folder are writable") from None
        except ValueError:  # (a foreign file, or another process's lock: not ours to remove)
            self._con.close()
            raise

    def _locked(self, fn):
        """``fn()``, run again while another process holds the lock, for at most
        :data:`LOCK_WAIT_SECONDS` in all; then :class:`DatabaseLocked`."""
        t0 = time.monotonic()
        noted = False
        while True:
            try:
                return fn()
            except sqlite3.Error as e:
                if not is_locked(e):
                    raise
                waited = time.monotonic() - t0
                if waited >= LOCK_WAIT_SECONDS:
                    raise DatabaseLocked(
                        f"Results database {self.path} is locked by another process (waited "
                        f"{waited:.0f} s); wait until it is done, stop it, or give another "
                        f"--db") from None
                if not noted and self.on_wait is not None:
                    noted = True
                    self.on_wait(f"waiting for results database {self.path}: another process "
                                 f"holds its lock (giving up after {LOCK_WAIT_SECONDS:g} s)")

    def _open(self, create: bool) -> None:
        # Read the schema before writing anything (even the WAL pragma rewrites the header).
        try:
            tables = {r[0] for r in self._con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            damaged = damaged_error(self.path, e)
            if damaged is not None:
                raise damaged from None
            raise
        if not tables - set(EVALUATE_TABLES):
            if not create:
                # (`exmy evaluate report` is no reader: it runs the 55-configuration table)
                what = ("holds only `exmy evaluate`'s accuracy records, no synthesis records "
                        f"(`exmy report --db {self.path} -o DIR` writes the accuracy tables)"
                        if tables else "is empty")
                raise ValueError(f"Results database {self.path} {what}; run `exmy sweep` or "
                                 "`exmy synth` first, or give another database")
        elif not {"records", "points"} <= tables:
            raise ValueError(f"{self.path} is an SQLite database but not an exmy results "
                             f"database (its tables are {', '.join(sorted(tables))}); give "
                             "another --db")
        else:
            cols = {r[1] for r in self._con.execute("PRAGMA table_info(records)")}
            missing = [c for c in COLUMNS if c not in cols]
            if missing:
                raise ValueError(f"{self.path} has a 'records' table that is not exmy's (no "
                                 f"column {missing[0]!r}); give another --db")
        if create:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(_SCHEMA + _CLAIMS)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------

    def put(self, record: dict, point_key: str | None = None) -> None:
        """Store ``record`` (replacing any record with its ``flow_key``) and, if given, map
        ``point_key`` to it, all in one transaction."""
        _check_record(record, point_key)
        row = {c: None for c in COLUMNS}
        extra = {}
        for k, v in record.items():
            if k in row:
                row[k] = v
            else:
                extra[k] = v
        row["extra"] = extra
        if row["created"] is None:
            row["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        if point_key is not None and row["point_key"] is None:
            row["point_key"] = point_key
        values = [json.dumps(row[c], sort_keys=True) if c in _JSON else
                  (int(row[c]) if c in _BOOL and row[c] is not None else row[c])
                  for c in COLUMNS]
        with self._transaction():
            self._con.execute(
                f"INSERT OR REPLACE INTO records ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})", values)
            if point_key is not None:
                self._con.execute("INSERT OR REPLACE INTO points VALUES (?, ?)",
                                  (point_key, record["flow_key"]))
                self._con.execute("DELETE FROM claims WHERE point_key = ?", (point_key,))

    def link(self, point_key: str, flow_key: str) -> None:
        """Map ``point_key`` to an existing record (and drop the point's claim); ValueError when
        no record has ``flow_key`` (the point would be answered by nothing)."""
        _check_key(point_key, "point_key")
        _check_key(flow_key, "flow_key")
        with self._transaction():
            if self._con.execute("SELECT 1 FROM records WHERE flow_key = ?",
                                 (flow_key,)).fetchone() is None:
                raise ValueError(f"No record has flow_key {flow_key!r} in {self.path}: store the "
                               f"record (put) before linking a point to it")
            self._con.execute("INSERT OR REPLACE INTO points VALUES (?, ?)",
                              (point_key, flow_key))
            self._con.execute("DELETE FROM claims WHERE point_key = ?", (point_key,))

    # -- claims: sweeps sharing the database ----------------------------------------------------

    def claim(self, point_key: str, owner: str, *,
              retry_failed: bool = False) -> tuple[str, dict | None]:
        """Claim a sweep point for ``owner`` (a sweep's unique id), atomically.

        Returns ``("done", record)`` when a record is already mapped to the point (a failed one
        counts unless ``retry_failed``), ``("busy", None)`` when another sweep holds a live
        claim on it, else ``("claimed", None)`` (a stale claim is taken over).
        """
        _check_key(point_key, "point_key")
        _check_key(owner, "owner")
        if not isinstance(retry_failed, bool):
            raise TypeError(f"retry_failed must be True or False, not {retry_failed!r}")
        now = time.time()
        with self._transaction():
            row = self._con.execute("SELECT flow_key FROM points WHERE point_key = ?",
                                    (point_key,)).fetchone()
            rec = None if row is None else self.get(row[0])
            if rec is not None and (rec["status"] == "ok" or not retry_failed):
                return "done", rec
            c = self._con.execute("SELECT owner, host, pid, heartbeat FROM claims "
                                  "WHERE point_key = ?", (point_key,)).fetchone()
            if c is not None and c[0] != owner and not _stale(c, now):
                return "busy", None
            self._con.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                              (point_key, owner, socket.gethostname(), os.getpid(), now))
        return "claimed", None

    def heartbeat(self, owner: str) -> None:
        """Refresh every claim of ``owner``."""
        _check_key(owner, "owner")
        with self._transaction():
            self._con.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?",
                              (time.time(), owner))

    def release(self, owner: str) -> None:
        """Drop every claim of ``owner`` (a sweep that ends)."""
        _check_key(owner, "owner")
        with self._transaction():
            self._con.execute("DELETE FROM claims WHERE owner = ?", (owner,))

    def _transaction(self):
        con, locked = self._con, self._locked

        class _Tx:
            def __enter__(self):
                locked(lambda: con.execute("BEGIN IMMEDIATE"))

            def __exit__(self, exc_type, *_):
                con.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()

    # -- reading ----------------------------------------------------------------------------

    def _decode(self, row: sqlite3.Row | tuple) -> dict:
        rec = dict(zip(COLUMNS, row, strict=True))

        def bad(column: str, why: str) -> ValueError:
            return ValueError(
                f"Results database {self.path}: the {column} of record "
                f"{str(rec['flow_key'])[:16]!r} is not what exmy writes ({why}); the file was "
                f"changed by something else or damaged: give another --db")

        for c in _JSON:
            if rec[c] is not None:
                try:
                    rec[c] = json.loads(rec[c])
                except (TypeError, ValueError) as exc:
                    raise bad(c, f"not JSON: {exc}") from None
        for c in _NUMBER:
            v = rec[c]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise bad(c, f"{v!r} is not a number")
            if v is not None and _measure_problem(v):
                raise bad(c, _measure_problem(v))
        if not isinstance(rec["extra"] or {}, dict) or not isinstance(rec["params"] or {}, dict):
            raise bad("params" if not isinstance(rec["params"] or {}, dict) else "extra",
                      "not a JSON object")
        for c in _BOOL:
            if rec[c] is not None:
                rec[c] = bool(rec[c])
        extra = rec.pop("extra") or {}
        rec.update(extra)
        return rec

    def get(self, flow_key: str) -> dict | None:
        """The record with ``flow_key``, or ``None``."""
        _check_key(flow_key, "flow_key")
        row = self._con.execute(f"SELECT {', '.join(COLUMNS)} FROM records WHERE flow_key = ?",
                                (flow_key,)).fetchone()
        return None if row is None else self._decode(row)

    def get_point(self, point_key: str) -> dict | None:
        """The record a sweep point was mapped to, or ``None``."""
        _check_key(point_key, "point_key")
        row = self._con.execute("SELECT flow_key FROM points WHERE point_key = ?",
                                (point_key,)).fetchone()
        return None if row is None else self.get(row[0])

    def flow_keys(self, status: str | None = None) -> set[str]:
        """The flow keys of every record, or of those whose status is ``status``."""
        if status is not None:
            _check_key(status, "status")
        q = "SELECT flow_key FROM records" + (" WHERE status = ?" if status else "")
        return {r[0] for r in self._con.execute(q, (status,) if status else ())}

    def records(self, **where) -> list[dict]:
        """All records, optionally filtered by equality on columns (``target="ecp5"``): a
        text column by a string, a number column by a number, ``dsp_enabled``, ``widelut``
        and ``register_io`` by a bool. ``None`` (SQL's NULL equals nothing) is refused: filter
        the records in Python (``[r for r in db.records() if r["lut"] is None]``)."""
        for k, v in where.items():
            if k not in COLUMNS:
                raise ValueError(f"Unknown column {k!r}; valid columns are {', '.join(COLUMNS)}")
            if k in _JSON or not (v is None or isinstance(v, (str, int, float))):
                raise ValueError(f"records({k}=...) filters by one value of a plain column (a "
                                 f"string or a number), not {v!r}")
            if v is None:
                raise ValueError(f"records({k}=None) would match no record (SQL's NULL equals "
                                 f"nothing); filter in Python: [r for r in db.records() if "
                                 f"r[{k!r}] is None]")
            ok, what = _column_kind(k)
            if not ok(v):
                raise TypeError(f"records({k}=...) takes {what}, the kind {k} holds, not "
                                f"{v!r}")
        q = f"SELECT {', '.join(COLUMNS)} FROM records"
        if where:
            q += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
        q += " ORDER BY unit, target, created"
        return [self._decode(r) for r in self._con.execute(q, tuple(where.values()))]

    def __len__(self) -> int:
        return self._con.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    # -- export -----------------------------------------------------------------------------

    def export_json(self, path: str | os.PathLike) -> None:
        """Write every record to ``path`` as a JSON list."""
        Path(path).write_text(json.dumps(self.records(), indent=1, sort_keys=True) + "\n")

    def export_csv(self, path: str | os.PathLike) -> None:
        """Write every record to ``path`` as CSV: one row per record, the scalar columns, with
        parameters and tool versions as JSON text; no logs."""
        cols = [c for c in COLUMNS if c not in ("log", "extra", "cells", "other_cells",
                                                "utilization", "fmax_by_clock")]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for rec in self.records():
                w.writerow([json.dumps(rec[c], sort_keys=True) if c in _JSON else rec[c]
                            for c in cols])
