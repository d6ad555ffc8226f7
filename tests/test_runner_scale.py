"""The runner at scale, with real processes: Dask, memory limits, kill -9 and resume, progress.

tests/test_runner_store.py already covers the process executor's failure isolation, the serial
timeout and resume of failed cells; these tests add what needs a cluster, a memory hog or a
killed driver.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.errors import BenchError
from bench.execution import parse_memory
from bench.progress import Progress
from bench.store import Store


def _cells(store):
    with Store(store, create=False) as db:
        return db.query()


def _status(frame):
    return dict(zip(frame["detector"], frame["status"], strict=True))


def _errors(frame):
    return dict(zip(frame["detector"], frame["error"], strict=True))


# -- dask ----------------------------------------------------------------------------------------


def test_dask_executor_isolates_failures(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    start = time.monotonic()
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(plugs), "run", "--executor", "dask", "--jobs", "2",
        "--detectors", "good,raises,returns_nan,sleeps,exits,hog", "--datasets", "synthetic:global",
        "--seeds", "1", "--store", str(store), "--timeout", "8", "--max-memory", "800MB"])
    elapsed = time.monotonic() - start
    assert result.exit_code == 1, result.output
    frame = _cells(store)
    assert _status(frame) == {"good": "ok", "raises": "failed", "returns_nan": "failed",
                              "sleeps": "timeout", "exits": "failed", "hog": "failed"}
    errors = _errors(frame)
    assert "deliberate failure in fit" in errors["raises"]
    assert "NaN/inf" in errors["returns_nan"]
    assert "timeout of 8 s" in errors["sleeps"]
    assert "worker process died (exit code 7)" in errors["exits"]
    assert "memory limit of 800 MB" in errors["hog"]
    assert "1 ok, 4 failed, 1 timed out" in result.output
    assert elapsed < 60
    (run,) = Store(store).runs()
    assert '"executor": "dask"' in run["options"]


def test_dask_gives_the_serial_numbers(tmp_path, plugs, adbench_file):
    args = ["--plugins-dir", str(plugs), "run", "--detectors", "iforest,good",
            "--datasets", "synthetic:global", "--dataset-file", str(adbench_file()),
            "--seeds", "1,2", "--quiet"]
    runner_ = CliRunner()
    serial = runner_.invoke(cli, [*args, "--store", str(tmp_path / "serial.sqlite")])
    dask = runner_.invoke(cli, [*args, "--store", str(tmp_path / "dask.sqlite"),
                                "--executor", "dask", "--jobs", "2"])
    assert serial.exit_code == 0 and dask.exit_code == 0, serial.output + dask.output
    a = _cells(tmp_path / "serial.sqlite").set_index("key")
    b = _cells(tmp_path / "dask.sqlite").set_index("key")
    assert len(a) == 8 and sorted(a.index) == sorted(b.index)
    assert (b["status"] == "ok").all()
    assert a["auroc"].to_dict() == b.loc[a.index, "auroc"].to_dict()  # exactly, not approximately
    assert a["auprc"].to_dict() == b.loc[a.index, "auprc"].to_dict()


def test_dask_scheduler_that_cannot_be_reached_is_one_clear_error(tmp_path):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(cli, [
            "run", "--detectors", "hbos", "--datasets", "synthetic:global", "--seeds", "1",
            "--store", str(tmp_path / "r.sqlite"), "--scheduler", "tcp://127.0.0.1:9", "--quiet"])
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output


# -- memory limit --------------------------------------------------------------------------------


def test_max_memory_stops_a_hog_and_replaces_its_worker(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    # one worker: `good` runs after `hog` in the worker that replaced it
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(plugs), "run", "--detectors", "hog,good",
        "--datasets", "synthetic:global", "--seeds", "1", "--store", str(store),
        "--max-memory", "800MB", "--no-leaderboard"])
    assert result.exit_code == 1, result.output
    frame = _cells(store)
    assert _status(frame) == {"hog": "failed", "good": "ok"}
    error = _errors(frame)["hog"]
    assert "exceeded the memory limit of 800 MB" in error and "worker replaced" in error
    (run,) = Store(store).runs()
    assert '"executor": "process"' in run["options"] and '"max_memory": 800000000' in run["options"]


def test_peak_memory_is_each_cells_own_peak_in_a_reused_worker(tmp_path, plugs):
    """A transient 320 MB allocation shows in its cell's peak, and not in the next cell's."""
    store = tmp_path / "r.sqlite"
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(plugs), "run", "--detectors", "spike,good",
        "--datasets", "synthetic:global", "--seeds", "1", "--store", str(store),
        "--executor", "process", "--jobs", "1", "--no-leaderboard", "-q"])
    assert result.exit_code == 0, result.output
    frame = _cells(store)
    peak = dict(zip(frame["detector"], frame["peak_mem_mb"], strict=True))
    pids = set(frame["pid"])
    assert len(pids) == 1  # the same worker ran both cells
    assert peak["spike"] > 300 and peak["good"] < 30  # MB above the worker's memory at the start
    worker = dict(zip(frame["detector"], frame["worker_mem_mb"], strict=True))
    assert worker["good"] > 20  # the interpreter and its libraries: the baseline, apart


def test_a_detector_that_changes_its_input_does_not_change_the_next_cells(tmp_path, plugs):
    """Consecutive cells of one (dataset, seed) share the worker's split; each gets a copy."""
    def run(detectors, store):
        result = CliRunner().invoke(cli, [
            "--plugins-dir", str(plugs), "run", "--detectors", detectors,
            "--datasets", "synthetic:global,synthetic:local", "--seeds", "1,2",
            "--store", str(store), "--executor", "serial", "--no-leaderboard", "-q"])
        assert result.exit_code == 0, result.output
        frame = _cells(store)
        return frame.set_index(["detector", "dataset", "seed"])["auroc"]

    alone = run("good", tmp_path / "alone.sqlite")
    after = run("mutates,good", tmp_path / "after.sqlite")
    for key, value in alone.items():
        assert after[key] == value


def test_memory_sizes_and_the_serial_executor_refuses_a_limit(tmp_path):
    assert parse_memory("4GB") == 4 * 10**9
    assert parse_memory("500MiB") == 500 * 2**20
    assert parse_memory("1.5g") == 1_500_000_000
    assert parse_memory(None) is None
    for bad in ("lots", "4XB", "0GB"):
        with pytest.raises(BenchError):
            parse_memory(bad)
    result = CliRunner().invoke(cli, [
        "run", "--detectors", "hbos", "--datasets", "synthetic:global", "--seeds", "1",
        "--store", str(tmp_path / "r.sqlite"), "--executor", "serial", "--max-memory", "1GB"])
    assert result.exit_code == 1 and "cannot enforce a memory limit" in result.output
    result = CliRunner().invoke(cli, ["run", "--max-memory", "lots"])
    assert result.exit_code == 2 and "'lots' is not a memory size" in result.output


# -- kill -9 and resume --------------------------------------------------------------------------


def test_driver_killed_mid_run_then_rerun_stores_every_cell_exactly_once(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "bench", "--plugins-dir", str(plugs), "run",
           "--detectors", "slowish,good", "--datasets", "synthetic:global,synthetic:local",
           "--seeds", "1-3", "--store", str(store), "--jobs", "2", "--no-leaderboard"]
    n_planned = 2 * 2 * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        done = 0
        while done < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if store.exists():
                try:
                    with sqlite3.connect(store) as conn:
                        done = conn.execute("SELECT count(*) FROM cells").fetchone()[0]
                except sqlite3.OperationalError:  # table not created yet
                    pass
        proc.kill()  # SIGKILL: no cleanup, no final commit
        assert proc.wait() == -signal.SIGKILL
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its orphaned worker processes
        except ProcessLookupError:
            pass
    before = _cells(store).set_index("key")
    assert 3 <= len(before) < n_planned, "the kill should land mid-run"
    with Store(store) as db:
        assert db.integrity() == "ok"

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} skipped (already ok)" in rerun.stderr
    after = _cells(store).set_index("key")
    with Store(store) as db:
        assert db.integrity() == "ok"
        planned = {k for (k,) in db.conn.execute("SELECT key FROM planned")}
    assert len(after) == n_planned and set(after.index) == planned
    assert (after["status"] == "ok").all()
    assert (after["attempts"] == 1).all()  # nothing computed twice, nothing stored twice
    assert (after.loc[before.index, "finished_at"] == before["finished_at"]).all()


# -- progress ------------------------------------------------------------------------------------


def _record(status, i):
    return {"status": status, "detector": "iforest", "dataset": "synthetic:local",
            "protocol": "unsupervised", "seed": i, "auroc": 0.9, "fit_s": 0.1, "score_s": 0.01,
            "error": None if status == "ok" else "boom"}


def test_progress_plain_lines_off_a_terminal_and_a_bar_on_one():
    out = io.StringIO()
    with Progress(3, stream=out, tty=False) as progress:
        for i, status in enumerate(["ok", "failed", "ok"], 1):
            progress.update(_record(status, i))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("[1/3] ok") and "0 failed, eta" in lines[0]
    assert lines[1].startswith("[2/3] failed") and "boom" in lines[1] and "1 failed" in lines[1]
    assert lines[2].endswith("[1 failed]")

    out = io.StringIO()
    with Progress(3, stream=out, tty=True) as progress:
        for i, status in enumerate(["ok", "failed", "ok"], 1):
            progress.update(_record(status, i))
    text = out.getvalue()
    assert "3/3" in text and "1 failed" in text and "\r" in text  # a redrawn bar
    assert "failed  iforest on synthetic:local" in text and "boom" in text

    out = io.StringIO()
    with Progress(3, stream=out, tty=True, quiet=True) as progress:
        progress.update(_record("failed", 1))
    assert out.getvalue() == ""
