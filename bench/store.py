"""The result store: one SQLite file, one row per cell, committed as each cell finishes.

WAL mode and a commit per cell make an interrupted run lose nothing: rerunning the same command
skips the cells already ``ok`` and retries the others. A cell's row holds its latest attempt and
an attempt count; an ``ok`` row is never replaced by a failed or timed-out retry (``--force``
included), and every attempt is also kept in the ``attempts`` table.

Schema changes are numbered migrations written as the literal SQL of their day
(``PRAGMA user_version`` counts those applied), so adding a column never changes an old one.
They run inside one ``BEGIN IMMEDIATE`` transaction that re-reads the version, so several runs
starting on a new store at once migrate it once.

Reading never needs write access: :class:`Store` with ``create=False`` opens the file read-only
(and an older schema is migrated in a copy in memory, never in the file). A SQLite file that is
not a result store (another application's tables) is refused.

The view ``current_cells`` gives what the leaderboard shows: for each slot (detector label,
dataset, protocol, seed, max_samples) the cell that the most recent run planned (or, where no run
planned one, the last finished), so ``sqlite3`` and datasette users see the same cells.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench.errors import BenchError
from bench.provenance import now
from bench.record import COLUMNS, CellRecord

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DEFAULT_STORE = "bench-results.sqlite"

#: the tables every result store has (a file without them is not one)
STORE_TABLES = {"runs", "cells", "planned"}

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT,
        finished_at TEXT, command TEXT, git_commit TEXT, versions TEXT, platform TEXT,
        n_planned INTEGER, options TEXT);
    CREATE TABLE cells (
        key TEXT PRIMARY KEY,
        run_id INTEGER,
        detector TEXT NOT NULL,
        detector_name TEXT NOT NULL,
        family TEXT,
        plugin TEXT,
        plugin_version TEXT,
        params TEXT,
        params_hash TEXT,
        dataset TEXT NOT NULL,
        dataset_sha256 TEXT,
        protocol TEXT NOT NULL,
        seed INTEGER NOT NULL,
        max_samples INTEGER,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout')),
        auroc REAL,
        auprc REAL,
        fit_s REAL,
        score_s REAL,
        warmup_s REAL,
        wall_s REAL,
        peak_mem_mb REAL,
        rss_peak_mb REAL,
        n_train INTEGER,
        n_test INTEGER,
        n_features INTEGER,
        n_dropped_features INTEGER,
        error TEXT,
        extra TEXT,
        attempts INTEGER NOT NULL DEFAULT 1,
        host TEXT,
        pid INTEGER,
        started_at TEXT,
        finished_at TEXT);
    CREATE INDEX cells_grid ON cells (detector, dataset, protocol, seed);
    CREATE TABLE planned (run_id INTEGER, key TEXT, detector TEXT, dataset TEXT,
        protocol TEXT, seed INTEGER, PRIMARY KEY (run_id, key));
    """,
    # 2: a planned cell records its --max-samples, so a subsampled run is told apart before it ran
    "ALTER TABLE planned ADD COLUMN max_samples INTEGER;",
    # 3: peak_mem_mb is the peak resident memory of the process that ran the cell; older cells
    # held the increase over the cell's start there (~0 in a reused worker)
    "UPDATE cells SET peak_mem_mb = rss_peak_mb WHERE rss_peak_mb IS NOT NULL;",
    # 4: peak_mem_mb becomes the cell's own peak above the worker's memory at the cell's start,
    # and worker_mem_mb that baseline. The values stored so far were the whole worker's resident
    # memory (interpreter, libraries and earlier cells included): they move to rss_peak_mb
    # (where schema 3 already kept a copy) and peak_mem_mb is emptied, so that no old number
    # pretends to be the new quantity. A cell's key now also covers what implements the detector
    # (code_hash), the detector sees x_shape, and every attempt is kept in `attempts`.
    """
    ALTER TABLE cells ADD COLUMN worker_mem_mb REAL;
    ALTER TABLE cells ADD COLUMN x_shape TEXT;
    ALTER TABLE cells ADD COLUMN code_hash TEXT;
    UPDATE cells SET rss_peak_mb = COALESCE(rss_peak_mb, peak_mem_mb), peak_mem_mb = NULL;
    CREATE TABLE attempts (run_id INTEGER, key TEXT NOT NULL, status TEXT NOT NULL,
        error TEXT, auroc REAL, auprc REAL, fit_s REAL, score_s REAL, wall_s REAL,
        peak_mem_mb REAL, host TEXT, pid INTEGER, started_at TEXT, finished_at TEXT,
        kept INTEGER NOT NULL);
    CREATE INDEX attempts_key ON attempts (key);
    CREATE INDEX planned_slot ON planned (detector, dataset, protocol, seed);
    """,
    # 5: what the leaderboard shows, as a view (see the module docstring)
    """
    CREATE VIEW current_cells AS
    WITH latest_plan AS (
        SELECT key, detector, dataset, protocol, seed, max_samples FROM (
            SELECT key, detector, dataset, protocol, seed, max_samples,
                ROW_NUMBER() OVER (PARTITION BY detector, dataset, protocol, seed, max_samples
                                   ORDER BY run_id DESC, rowid DESC) AS n
            FROM planned)
        WHERE n = 1),
    latest_cell AS (
        SELECT key, detector, dataset, protocol, seed, max_samples FROM (
            SELECT key, detector, dataset, protocol, seed, max_samples,
                ROW_NUMBER() OVER (PARTITION BY detector, dataset, protocol, seed, max_samples
                                   ORDER BY finished_at DESC NULLS LAST, rowid DESC) AS n
            FROM cells)
        WHERE n = 1)
    SELECT c.* FROM cells AS c
    WHERE c.key IN (
        SELECT p.key FROM latest_plan AS p
        WHERE p.detector = c.detector AND p.dataset = c.dataset AND p.protocol = c.protocol
            AND p.seed = c.seed AND p.max_samples IS c.max_samples)
    OR (c.key IN (SELECT key FROM latest_cell)
        AND NOT EXISTS (
            SELECT 1 FROM latest_plan AS p
            WHERE p.detector = c.detector AND p.dataset = c.dataset AND p.protocol = c.protocol
                AND p.seed = c.seed AND p.max_samples IS c.max_samples));
    """,
    # 6: a cell on image data keeps its most and least anomalous test rows and the detector's
    # reconstructions of them (JSON, see bench.examples); current_cells' c.* shows it too
    "ALTER TABLE cells ADD COLUMN examples TEXT;",
]
SCHEMA_VERSION = len(MIGRATIONS)

#: the columns a record writes (rss_peak_mb is kept in old stores only)
_WRITTEN = [c for c in COLUMNS if c != "attempts"]
_ATTEMPT = ["run_id", "key", "status", "error", "auroc", "auprc", "fit_s", "score_s", "wall_s",
            "peak_mem_mb", "host", "pid", "started_at", "finished_at"]


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit the transaction)."""
    out, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


def _os_message(exc: BaseException) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"cannot write to it ({text}): check the file's and its folder's permissions"
    if "disk is full" in text or "disk I/O" in text:
        return f"cannot write to it ({text}): is the disk full?"
    if "unable to open" in text:
        return f"cannot open it ({text}): does its folder exist, and may you write there?"
    return text


class Store:
    """A SQLite result store at ``path``.

    ``create=True`` (writing: ``bench run``) creates it if missing and migrates it;
    ``create=False`` (reading: leaderboard, export, report) needs it to exist and opens it
    read-only. ``":memory:"`` is a store that lives as long as the object.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        self.readonly = not create
        memory = str(path) == ":memory:"
        if not create and not self.path.is_file():
            raise BenchError(f"store {self.path} does not exist (run 'bench run --store {self.path}' first)")
        if self.path.is_dir():
            raise BenchError(f"store {self.path} is a folder, not a SQLite file")
        try:
            if self.readonly:
                self.conn = self._open_readonly()
            else:
                if not memory:
                    try:
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise BenchError(f"store {self.path}: cannot create its folder "
                                         f"{self.path.parent} ({exc.strerror or exc})") from exc
                self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                self.conn.execute("PRAGMA busy_timeout = 60000")
                self._check_foreign()
                if not memory:
                    self.conn.execute("PRAGMA journal_mode=WAL")
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise BenchError(f"store {self.path}: {self._describe(exc)}") from exc

    @staticmethod
    def _describe(exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "not a database" in text or "malformed" in text or "encrypted" in text:
            return f"not a valid result store ({text})"
        return _os_message(exc)

    # -- opening --------------------------------------------------------------------------------

    def _open_readonly(self) -> sqlite3.Connection:
        """Read-only: ``mode=ro``; where the folder is read-only too (no WAL index can be made
        there), ``immutable=1``. An old schema is migrated in a copy in memory."""
        uri = "file:" + quote(str(self.path.resolve()))
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        self.conn = conn
        self._check_foreign()
        if self._version() < SCHEMA_VERSION:
            copy = sqlite3.connect(":memory:", isolation_level=None)
            conn.backup(copy)
            conn.close()
            self.conn = copy
            self._migrate()
        elif self._version() > SCHEMA_VERSION:
            self._too_new(self._version())
        return self.conn

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _tables(self) -> set[str]:
        return {name for (name,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%'")}

    def _check_foreign(self) -> None:
        tables = self._tables()
        if tables and not STORE_TABLES <= tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise BenchError(f"store {self.path} is a SQLite file of another application "
                             f"(tables: {shown}), not an anomaly-bench result store; refusing "
                             "to use it (choose another --store)")

    def _too_new(self, version: int) -> None:
        raise BenchError(f"store {self.path} has schema version {version}, newer than this "
                         f"anomaly-bench understands ({SCHEMA_VERSION}); upgrade anomaly-bench")

    def _migrate(self) -> None:
        if self._version() == SCHEMA_VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            current = self._version()  # again, inside the write lock: another run may have migrated
            if current > SCHEMA_VERSION:
                self._too_new(current)
            self._check_foreign()
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it does on a full disk)."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise BenchError(f"store {self.path}: {_os_message(exc)}") from exc

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, *, command: str, git_commit: str | None, versions: dict[str, str],
                  platform: str, n_planned: int, options: dict[str, Any]) -> int:
        """Record the start of a run and its provenance; return its ``run_id``."""
        import json

        cur = self._write(
            "INSERT INTO runs (started_at, command, git_commit, versions, platform, n_planned, options) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now(), command, git_commit, json.dumps(versions), platform, n_planned,
             json.dumps(options, default=str)),
        )
        return int(cur.lastrowid or 0)

    def plan_run(self, run_id: int, cells: Iterable[Any]) -> None:
        """Record every cell the run sets out to compute (the tables count the ones never run)."""
        rows = [(run_id, c.key, c.detector, c.dataset, c.protocol, c.seed, c.max_samples)
                for c in cells]
        try:
            with self.conn:
                self.conn.execute("BEGIN")
                self.conn.executemany(
                    "INSERT OR IGNORE INTO planned (run_id, key, detector, dataset, protocol, seed, "
                    "max_samples) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.OperationalError as exc:
            raise BenchError(f"store {self.path}: {_os_message(exc)}") from exc

    def finish_run(self, run_id: int) -> None:
        self._write("UPDATE runs SET finished_at = ? WHERE run_id = ?", (now(), run_id))

    def runs(self) -> list[dict[str, Any]]:
        """Every run: its command, provenance and options, oldest first."""
        cur = self.conn.execute("SELECT * FROM runs ORDER BY run_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- cells ----------------------------------------------------------------------------------

    def status_of(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored status of each of ``keys`` that has a row."""
        keys = list(keys)
        out: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, status in self.conn.execute(
                f"SELECT key, status FROM cells WHERE key IN ({marks})", chunk
            ):
                out[key] = status
        return out

    def append(self, record: CellRecord, run_id: int | None = None) -> bool:
        """Save one finished cell, committed at once; return whether its row now holds it.

        The attempt always goes to ``attempts``. The ``cells`` row takes it unless the row is
        ``ok`` and the attempt is not: an ok result is never replaced by a failure (its attempt
        count still grows).
        """
        row = record.as_row()
        row["run_id"] = run_id
        names = _WRITTEN
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                found = self.conn.execute("SELECT status FROM cells WHERE key = ?",
                                          (record.key,)).fetchone()
                keep_old = found is not None and found[0] == "ok" and record.status != "ok"
                if keep_old:
                    self.conn.execute("UPDATE cells SET attempts = attempts + 1 WHERE key = ?",
                                      (record.key,))
                else:
                    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "key")
                    self.conn.execute(
                        f"INSERT INTO cells ({', '.join(names)}, attempts) VALUES "
                        f"({', '.join('?' * len(names))}, 1) "
                        f"ON CONFLICT(key) DO UPDATE SET {updates}, attempts = cells.attempts + 1",
                        [row[n] for n in names])
                self.conn.execute(
                    f"INSERT INTO attempts ({', '.join(_ATTEMPT)}, kept) "
                    f"VALUES ({', '.join('?' * len(_ATTEMPT))}, ?)",
                    [row[n] for n in _ATTEMPT] + [int(not keep_old)])
                self.conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.OperationalError as exc:
            raise BenchError(f"store {self.path}: {_os_message(exc)}") from exc
        return not keep_old

    def query(self, *, keys: Iterable[str] | None = None, **filters: Any) -> pd.DataFrame:
        """Cells as a DataFrame (every stored cell, superseded ones included), optionally only
        ``keys`` and filtered by column equality."""
        return self._select("cells", keys, filters)

    def current(self, **filters: Any) -> pd.DataFrame:
        """The cells the leaderboard shows (the ``current_cells`` view), filtered by equality."""
        return self._select("current_cells", None, filters)

    def _select(self, table: str, keys: Iterable[str] | None, filters: dict[str, Any]) -> pd.DataFrame:
        import pandas as pd

        where, values = [], []
        for column, value in filters.items():
            if value is None:
                continue
            if column not in COLUMNS:
                raise BenchError(f"unknown column {column!r}")
            where.append(f"{column} = ?")
            values.append(value)
        frames = []
        chunks: list[list[str] | None] = [None]
        if keys is not None:
            keys = list(keys)
            chunks = [keys[i:i + 500] for i in range(0, len(keys), 500)] or [[]]
        for chunk in chunks:
            clause = list(where)
            params = list(values)
            if chunk is not None:
                clause.append(f"key IN ({','.join('?' * len(chunk))})")
                params += chunk
            sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(clause) if clause else "")
            frames.append(pd.read_sql_query(sql + " ORDER BY detector, dataset, protocol, seed",
                                            self.conn, params=params))
        if len(frames) == 1:
            return frames[0]
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values(["detector", "dataset", "protocol", "seed"], kind="stable",
                                 ignore_index=True)

    def planned(self, protocol: str | None = None) -> pd.DataFrame:
        """Every cell any run planned: run_id, key, detector, dataset, protocol, seed, max_samples."""
        import pandas as pd

        sql = "SELECT run_id, key, detector, dataset, protocol, seed, max_samples FROM planned"
        params: list[Any] = []
        if protocol is not None:
            sql += " WHERE protocol = ?"
            params.append(protocol)
        return pd.read_sql_query(sql, self.conn, params=params)

    def attempts(self, key: str | None = None) -> pd.DataFrame:
        """Every attempt of every cell (or of ``key``), oldest first, with whether its row kept it."""
        import pandas as pd

        sql = "SELECT * FROM attempts" + (" WHERE key = ?" if key else "") + " ORDER BY rowid"
        return pd.read_sql_query(sql, self.conn, params=[key] if key else [])

    def delete(self, keys: Iterable[str]) -> int:
        """Remove the cells ``keys``, their attempts and their planned rows, in one transaction
        (``bench prune``; the runs that computed them stay in ``runs``). Returns cells removed."""
        keys = list(dict.fromkeys(keys))
        removed = 0
        self._write("BEGIN IMMEDIATE")
        try:
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (key TEXT PRIMARY KEY)")
            self.conn.execute("DELETE FROM doomed")
            self.conn.executemany("INSERT INTO doomed (key) VALUES (?)", [(k,) for k in keys])
            removed = self.conn.execute(
                "DELETE FROM cells WHERE key IN (SELECT key FROM doomed)").rowcount
            self.conn.execute("DELETE FROM attempts WHERE key IN (SELECT key FROM doomed)")
            self.conn.execute("DELETE FROM planned WHERE key IN (SELECT key FROM doomed)")
            self.conn.execute("DELETE FROM doomed")
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise BenchError(f"store {self.path}: {_os_message(exc)}; nothing was removed") from exc
        except BaseException:
            self._rollback()
            raise
        return int(removed)

    def compact(self) -> None:
        """Give the space of removed rows back to the file system (``VACUUM``, after the WAL is
        checkpointed into the file)."""
        self._write("PRAGMA wal_checkpoint(TRUNCATE)")
        self._write("VACUUM")
        self._write("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
