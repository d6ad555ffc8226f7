"""The result store: one SQLite file, one row per cell, committed as each cell finishes.

WAL mode and a commit per cell make an interrupted run lose nothing: rerunning the same command
skips the cells already ``ok`` and retries the others. A cell's row holds its latest attempt and
an attempt count. Schema changes go through numbered migrations (``PRAGMA user_version``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

DEFAULT_STORE = "bench-results.sqlite"

CELL_COLUMNS = {
    "key": "TEXT PRIMARY KEY",
    "run_id": "INTEGER",
    "detector": "TEXT NOT NULL",
    "detector_name": "TEXT NOT NULL",
    "family": "TEXT",
    "plugin": "TEXT",
    "plugin_version": "TEXT",
    "params": "TEXT",
    "params_hash": "TEXT",
    "dataset": "TEXT NOT NULL",
    "dataset_sha256": "TEXT",
    "protocol": "TEXT NOT NULL",
    "seed": "INTEGER NOT NULL",
    "max_samples": "INTEGER",
    "status": "TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout'))",
    "auroc": "REAL",
    "auprc": "REAL",
    "fit_s": "REAL",
    "score_s": "REAL",
    "warmup_s": "REAL",
    "wall_s": "REAL",
    "peak_mem_mb": "REAL",
    "rss_peak_mb": "REAL",
    "n_train": "INTEGER",
    "n_test": "INTEGER",
    "n_features": "INTEGER",
    "n_dropped_features": "INTEGER",
    "error": "TEXT",
    "extra": "TEXT",
    "attempts": "INTEGER NOT NULL DEFAULT 1",
    "host": "TEXT",
    "pid": "INTEGER",
    "started_at": "TEXT",
    "finished_at": "TEXT",
}

MIGRATIONS: list[str] = [
    # 1: initial schema
    "CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT, "
    "finished_at TEXT, command TEXT, git_commit TEXT, versions TEXT, platform TEXT, "
    "n_planned INTEGER, options TEXT);\n"
    "CREATE TABLE cells ("
    + ", ".join(f"{name} {decl}" for name, decl in CELL_COLUMNS.items())
    + ");\n"
    "CREATE INDEX cells_grid ON cells (detector, dataset, protocol, seed);\n"
    "CREATE TABLE planned (run_id INTEGER, key TEXT, detector TEXT, dataset TEXT, "
    "protocol TEXT, seed INTEGER, PRIMARY KEY (run_id, key));",
    # 2: a planned cell records its --max-samples, so a subsampled run is told apart before it ran
    "ALTER TABLE planned ADD COLUMN max_samples INTEGER;",
    # 3: peak_mem_mb is the peak resident memory of the process that ran the cell; older cells
    # held the increase over the cell's start there (~0 in a reused worker)
    "UPDATE cells SET peak_mem_mb = rss_peak_mb WHERE rss_peak_mb IS NOT NULL;",
]
SCHEMA_VERSION = len(MIGRATIONS)


class Store:
    """A SQLite result store at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise BenchError(f"store {self.path} does not exist (run 'bench run --store {self.path}' first)")
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise BenchError(f"store {self.path}: not a valid result store ({exc})") from exc

    def _migrate(self) -> None:
        current = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise BenchError(
                f"store {self.path} has schema version {current}, newer than this "
                f"anomaly-bench understands ({SCHEMA_VERSION}); upgrade anomaly-bench"
            )
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, script.split(";\n")):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")
                self.conn.execute("COMMIT")
            except Exception:
                self.conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, *, command: str, git_commit: str | None, versions: dict[str, str],
                  platform: str, n_planned: int, options: dict[str, Any]) -> int:
        from bench.runner import now

        cur = self.conn.execute(
            "INSERT INTO runs (started_at, command, git_commit, versions, platform, n_planned, options) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now(), command, git_commit, json.dumps(versions), platform, n_planned,
             json.dumps(options, default=str)),
        )
        return int(cur.lastrowid or 0)

    def plan_run(self, run_id: int, cells: Iterable[Any]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT OR IGNORE INTO planned (run_id, key, detector, dataset, protocol, seed, "
                "max_samples) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, c.key, c.detector, c.dataset, c.protocol, c.seed, c.max_samples)
                 for c in cells],
            )

    def finish_run(self, run_id: int) -> None:
        from bench.runner import now

        self.conn.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (now(), run_id))

    def runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY run_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- cells ----------------------------------------------------------------------------------

    def status_of(self, keys: Iterable[str]) -> dict[str, str]:
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

    def append(self, record: dict[str, Any], run_id: int | None = None) -> None:
        """Save one finished cell (replacing an earlier attempt of it), committed at once."""
        row = {name: record.get(name) for name in CELL_COLUMNS if name != "attempts"}
        row["run_id"] = run_id
        names = list(row)
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "key")
        self.conn.execute(
            f"INSERT INTO cells ({', '.join(names)}, attempts) VALUES "
            f"({', '.join('?' * len(names))}, 1) "
            f"ON CONFLICT(key) DO UPDATE SET {updates}, attempts = cells.attempts + 1",
            [row[n] for n in names],
        )

    def query(self, **filters: Any) -> pd.DataFrame:
        """All cells as a DataFrame, optionally filtered by column equality."""
        import pandas as pd

        where, values = [], []
        for column, value in filters.items():
            if value is None:
                continue
            if column not in CELL_COLUMNS:
                raise BenchError(f"unknown column {column!r}")
            where.append(f"{column} = ?")
            values.append(value)
        sql = "SELECT * FROM cells" + (" WHERE " + " AND ".join(where) if where else "")
        return pd.read_sql_query(sql + " ORDER BY detector, dataset, protocol, seed", self.conn,
                                 params=values)

    def integrity(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
