"""The store: literal migrations, old stores, concurrent runs, read-only reading, foreign files,
OS errors, ok cells that failures never replace, the current_cells view, offline datasets."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.record import COLUMNS
from bench.store import MIGRATIONS, SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args, cwd=None, unprivileged=False, preexec=None, env=None):
    """``python -m bench ARGS`` in a new process; ``unprivileged``: without root's power to
    ignore file permissions (a read-only file or folder is then read-only to it)."""
    head = []
    if unprivileged and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot drop the permission override")
        head = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--ambient-caps", "-all"]
    return subprocess.run([*head, sys.executable, "-m", "bench", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, preexec_fn=preexec, env=env)


def _run(store, *extra, plugins=None):
    head = ["--plugins-dir", str(plugins)] if plugins else []
    return CliRunner().invoke(cli, [*head, "run", "-d", "hbos", "-D", "synthetic:global", "-s", "1",
                                    "--store", str(store), "-q", "--no-leaderboard",
                                    "--executor", "serial", *extra])


# -- schema --------------------------------------------------------------------------------------


def test_migrations_are_literal_and_a_new_store_has_the_record_columns(tmp_path):
    with Store(tmp_path / "r.sqlite") as db:
        columns = {row[1] for row in db.conn.execute("PRAGMA table_info(cells)")}
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert columns == set(COLUMNS) | {"rss_peak_mb"}  # rss_peak_mb: old stores' history
    assert "worker_mem_mb" not in MIGRATIONS[0]  # migration 1 is the SQL of its day


def test_an_old_store_keeps_its_worker_memory_apart_from_the_new_peak(tmp_path):
    """Schema 3 stored the worker's resident memory in peak_mem_mb: it moves to rss_peak_mb."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    from bench.store import _statements

    for number, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO cells (key, detector, detector_name, dataset, protocol, seed, status, "
                 "auroc, peak_mem_mb, rss_peak_mb) VALUES ('k', 'hbos', 'hbos', 'd', "
                 "'unsupervised', 1, 'ok', 0.9, 763.0, 763.0)")
    conn.close()
    with Store(path, create=False) as db:  # reading migrates a copy, never the file
        (row,) = db.query().to_dict("records")
    assert row["peak_mem_mb"] is None or row["peak_mem_mb"] != row["peak_mem_mb"]
    assert row["rss_peak_mb"] == 763.0 and row["auroc"] == 0.9
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3
    with Store(path) as db:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_published_stores_are_migrated():
    for name in ("published.sqlite", "generative_full.sqlite", "adbench_d4.sqlite"):
        path = ROOT / "results" / name
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION, name
        assert conn.execute("SELECT count(*) FROM cells WHERE peak_mem_mb IS NOT NULL "
                            "AND worker_mem_mb IS NULL").fetchone()[0] == 0, name


def test_concurrent_runs_on_a_new_store_all_succeed(tmp_path):
    store = tmp_path / "new.sqlite"
    cmd = [sys.executable, "-m", "bench", "run", "-d", "hbos", "-D", "synthetic:global", "-s", "1",
           "--store", str(store), "-q", "--no-leaderboard", "--executor", "serial"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    with Store(store, create=False) as db:
        assert len(db.runs()) == 4 and len(db.query()) == 1 and db.integrity() == "ok"


# -- reading, foreign files, OS errors -----------------------------------------------------------


def test_leaderboard_and_export_read_a_store_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    assert _run(folder / "r.sqlite").exit_code == 0
    before = sorted(p.name for p in folder.iterdir())
    folder.chmod(0o555)
    (folder / "r.sqlite").chmod(0o444)
    try:
        for args in (["leaderboard"], ["export"], ["leaderboard", "--format", "json"]):
            done = _bench(*args, "--store", str(folder / "r.sqlite"), unprivileged=True)
            assert done.returncode == 0, done.stderr
            assert "hbos" in done.stdout
    finally:
        folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_foreign_sqlite_file_is_refused_by_every_command(tmp_path):
    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    data = foreign.read_bytes()
    runner = CliRunner()
    for args in (["run", "-d", "hbos", "-D", "synthetic:global", "-s", "1", "-q"],
                 ["leaderboard"], ["export"], ["report", "--out", str(tmp_path / "rep")]):
        result = runner.invoke(cli, [*args, "--store", str(foreign)])
        assert result.exit_code == 1, result.output
        assert "another application (tables: users)" in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert foreign.read_bytes() == data


def test_os_errors_are_one_clear_line(tmp_path):
    runner = CliRunner()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _run(blocker / "sub" / "r.sqlite")
    assert result.exit_code == 1 and "cannot create its folder" in result.output
    store = tmp_path / "r.sqlite"
    assert _run(store).exit_code == 0
    result = runner.invoke(cli, ["export", "--store", str(store), "-o", "/nonexistent/x.csv"])
    assert result.exit_code == 1 and "cannot write /nonexistent/x.csv" in result.output
    result = runner.invoke(cli, ["report", "--store", str(store), "--out", str(blocker / "rep")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1

    # a read-only store file, and a report into a read-only folder
    readonly = tmp_path / "ro.sqlite"
    shutil.copy(store, readonly)
    readonly.chmod(0o444)
    (tmp_path / "out").mkdir()
    (tmp_path / "out").chmod(0o555)
    done = _bench("run", "-d", "hbos", "-D", "synthetic:local", "-s", "1", "-q",
                  "--store", str(readonly), "--executor", "serial", unprivileged=True,
                  cwd=tmp_path)
    assert done.returncode == 1 and "cannot write to it" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    done = _bench("report", "--store", str(readonly), "--out",
                  str(tmp_path / "out" / "rep"), unprivileged=True, cwd=tmp_path)
    assert done.returncode == 1 and "Permission denied" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_full_disk_is_one_clear_line(tmp_path):
    """RLIMIT_FSIZE makes writes past 300 kB fail as a full disk would (EFBIG)."""
    store = tmp_path / "r.sqlite"

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    done = _bench("run", "-d", "hbos,iforest,ecod,copod,knn,lof", "-D", "synthetic:*", "-s", "1-20",
                  "-q", "--no-leaderboard", "--store", str(store), "--executor", "serial",
                  preexec=small_disk, cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "is the disk full?" in done.stderr, done.stderr[-2000:]


# -- ok cells ------------------------------------------------------------------------------------


def test_an_ok_cell_is_never_replaced_by_a_failed_retry(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    args = ["-d", "slowish", "--executor", "process", "--jobs", "1"]
    base = ["--plugins-dir", str(plugs), "run", *args, "-D", "synthetic:global", "-s", "1",
            "--store", str(store), "-q", "--no-leaderboard"]
    assert CliRunner().invoke(cli, base).exit_code == 0
    with Store(store, create=False) as db:
        (before,) = db.query().to_dict("records")
    result = CliRunner().invoke(cli, [*base, "--force", "--timeout", "0.1"])
    assert result.exit_code == 1 and "1 timed out" in result.output
    with Store(store, create=False) as db:
        (after,) = db.query().to_dict("records")
        attempts = db.attempts(before["key"])
    assert after["status"] == "ok" and after["auroc"] == before["auroc"]
    assert after["finished_at"] == before["finished_at"] and after["attempts"] == 2
    assert list(attempts["status"]) == ["ok", "timeout"] and list(attempts["kept"]) == [1, 0]


# -- the view ------------------------------------------------------------------------------------


def test_the_current_cells_view_is_what_the_leaderboard_shows(tmp_path):
    from test_api import make_superseded_store

    from bench import leaderboard as lb

    store, _, _ = make_superseded_store(tmp_path)
    assert _run(store, "--max-samples", "300").exit_code == 0  # another slot, same detector
    cells, _ = lb.load_current(store)
    with sqlite3.connect(store) as conn:  # what a sqlite3 or datasette user sees
        view = {k for (k,) in conn.execute("SELECT key FROM current_cells")}
        total = conn.execute("SELECT count(*) FROM cells").fetchone()[0]
    assert view == set(cells["key"]) and len(view) == 5 and total == 7


# -- offline datasets ----------------------------------------------------------------------------

OFFLINE = '''
from bench import hookimpl

@hookimpl
def register_datasets(registry):
    registry.add("test:offline", url="http://127.0.0.1:9/offline.npz", n_samples=10)
'''


def test_uncached_datasets_offline_are_named_and_skipped_on_request(tmp_path):
    plugins = tmp_path / "plugs"
    plugins.mkdir()
    (plugins / "offline.py").write_text(OFFLINE)
    env = {**os.environ, "BENCH_DATA_DIR": str(tmp_path / "cache")}
    store = tmp_path / "r.sqlite"
    args = ["--plugins-dir", str(plugins), "run", "-d", "hbos", "-D", "synthetic:global,test:offline",
            "-s", "1,2", "--store", str(store), "--executor", "serial"]
    refused = _bench(*args, env=env)
    assert refused.returncode == 1 and "1 dataset(s) not available: test:offline" in refused.stderr
    assert "--skip-missing" in refused.stderr and "Traceback" not in refused.stderr
    done = _bench(*args, "--skip-missing", env=env)
    assert done.returncode == 0, done.stderr
    assert "not run: dataset test:offline is not available" in done.stderr
    assert "2 ok" in done.stderr and "2 not run (dataset not available)" in done.stderr
    board = json.loads(_bench("leaderboard", "--store", str(store), "--format", "json",
                              env=env).stdout)
    assert board["completeness"]["cells_missing"] == 2 and board["completeness"]["cells_ok"] == 2
