"""`bench prune`: superseded cells (never shown) and, on request, stale ones (a rerun would
compute them again) leave the store; what the tables show stays; nothing unjudged is removed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from test_api import PLUGIN, make_superseded_store

from bench.store import Store


def _bench(*args, plugins_dir=None):
    pre = ["--plugins-dir", str(plugins_dir)] if plugins_dir else []
    return subprocess.run([sys.executable, "-m", "bench", *pre, *args], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def _counts(store):
    with sqlite3.connect(store) as conn:
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("cells", "attempts", "planned")}


def _board(store):
    return _bench("leaderboard", "--store", str(store), "--format", "csv").stdout


def test_prune_removes_superseded_cells_and_leaves_the_tables_as_they_were(tmp_path):
    store, _, _ = make_superseded_store(tmp_path)  # shift power=1 superseded by power=3; hbos
    plugins = tmp_path / "plugs"
    board = _board(store)
    before = _counts(store)
    assert before["cells"] == 6

    listed = _bench("prune", "--store", str(store), "--dry-run", plugins_dir=plugins)
    assert listed.returncode == 0, listed.stderr
    assert "6 cells; 2 to remove (superseded 2), 4 kept." in listed.stdout
    assert "shift" in listed.stdout and "hbos" not in listed.stdout
    assert "dry run: nothing removed." in listed.stdout and _counts(store) == before

    # off a terminal, removing needs --yes
    refused = _bench("prune", "--store", str(store), plugins_dir=plugins)
    assert refused.returncode == 2 and "give --yes" in refused.stderr
    assert _counts(store) == before

    done = _bench("prune", "--store", str(store), "--yes", plugins_dir=plugins)
    assert done.returncode == 0, done.stderr
    assert "removed 2 cells" in done.stdout and " MB -> " in done.stdout
    after = _counts(store)
    assert after["cells"] == 4 and after["attempts"] == before["attempts"] - 2
    with sqlite3.connect(store) as conn:  # no planned row or attempt names a removed cell
        cells = {k for (k,) in conn.execute("SELECT key FROM cells")}
        assert {k for (k,) in conn.execute("SELECT key FROM planned")} == cells
        assert {k for (k,) in conn.execute("SELECT key FROM attempts")} == cells
    assert after["planned"] == before["planned"] - 4  # the two were planned by two runs each
    assert _board(store) == board  # the tables show what they showed
    with Store(store, create=False) as db:
        shift = db.query(detector="shift")
        assert db.integrity() == "ok"
    assert len(shift) == 2 and all('"power": 3' in p for p in shift["params"])
    again = _bench("prune", "--store", str(store), "--yes", plugins_dir=plugins)
    assert "0 to remove" in again.stdout and _counts(store) == after


def test_prune_stale_removes_what_a_rerun_would_recompute_and_keeps_what_it_cannot_judge(tmp_path):
    store, _, _ = make_superseded_store(tmp_path)
    plugins = tmp_path / "plugs"
    (plugins / "shiftplug.py").write_text(PLUGIN.replace("power=1", "power=5"))  # not run yet

    # without the plugin, shift cannot be judged: its current cells stay
    blind = _bench("prune", "--store", str(store), "--stale", "--dry-run")
    assert blind.returncode == 0, blind.stderr
    assert "2 to remove (superseded 2)" in blind.stdout
    assert "kept, not judged: detector shift" in blind.stderr

    listed = _bench("prune", "--store", str(store), "--stale", "--dry-run", plugins_dir=plugins)
    assert "4 to remove (stale 2, superseded 2), 2 kept." in listed.stdout
    assert "effective parameters changed" in listed.stdout
    done = _bench("prune", "--store", str(store), "--stale", "--yes", plugins_dir=plugins)
    assert done.returncode == 0 and "removed 4 cells" in done.stdout
    with Store(store, create=False) as db:
        assert set(db.query()["detector"]) == {"hbos"}

    # the next run computes shift again and resumes hbos
    rerun = _bench("run", "-d", "shift,hbos", "-D", "synthetic:global", "-s", "1,2", "--store",
                   str(store), "-q", "--executor", "serial", "--no-leaderboard",
                   plugins_dir=plugins)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 skipped (already ok)" in rerun.stderr
    assert _counts(store)["cells"] == 4


def test_prune_of_a_missing_store_is_one_line():
    out = _bench("prune", "--store", "/nonexistent/r.sqlite", "--dry-run")
    assert out.returncode == 1 and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr
