"""The runner and the store through the CLI: results, failures, isolation, resume, export."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.store import Store


def _statuses(store):
    with Store(store, create=False) as db:
        frame = db.query()
    return frame, dict(zip(frame["detector"] + "@" + frame["dataset"], frame["status"], strict=True))


def test_failures_are_cells_not_crashes_with_process_workers(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    start = time.monotonic()
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(plugs), "run",
        "--detectors", "good,raises,returns_nan,wrong_length,sleeps,exits",
        "--datasets", "synthetic:global", "--seeds", "1", "--store", str(store),
        "--jobs", "2", "--timeout", "5"])
    elapsed = time.monotonic() - start
    assert result.exit_code == 1, result.output
    frame, status = _statuses(store)
    assert status == {
        "good@synthetic:global": "ok", "raises@synthetic:global": "failed",
        "returns_nan@synthetic:global": "failed", "wrong_length@synthetic:global": "failed",
        "sleeps@synthetic:global": "timeout", "exits@synthetic:global": "failed"}
    errors = dict(zip(frame["detector"], frame["error"], strict=True))
    assert "deliberate failure in fit" in errors["raises"]
    assert "NaN/inf" in errors["returns_nan"]
    assert "scores for" in errors["wrong_length"]
    assert "worker process died (exit code 7)" in errors["exits"]
    assert "1 ok, 4 failed, 1 timed out" in result.output
    assert elapsed < 50
    good = frame[frame["detector"] == "good"].iloc[0]
    assert 0.5 < good["auroc"] <= 1 and good["fit_s"] >= 0
    assert 0 <= good["peak_mem_mb"] < 50 < good["worker_mem_mb"]  # own peak; the worker's apart


def test_serial_executor_timeout_and_failures(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(plugs), "run", "--detectors", "good,raises,sleeps",
        "--datasets", "synthetic:local", "--seeds", "1", "--store", str(store), "--timeout", "2"])
    assert result.exit_code == 1
    _, status = _statuses(store)
    assert set(status.values()) == {"ok", "failed", "timeout"}


def test_resume_skips_ok_retries_failed_and_force(tmp_path, plugs):
    store = tmp_path / "r.sqlite"
    args = ["--plugins-dir", str(plugs), "run", "--detectors", "good,raises",
            "--datasets", "synthetic:global,synthetic:local", "--seeds", "1,2", "--store", str(store)]
    runner = CliRunner()
    first = runner.invoke(cli, args)
    assert first.exit_code == 1
    frame1, _ = _statuses(store)
    assert len(frame1) == 8 and (frame1["attempts"] == 1).all()
    second = runner.invoke(cli, args)
    assert "4 skipped (already ok)" in second.output
    frame2, _ = _statuses(store)
    assert len(frame2) == 8  # one row per cell
    ok2 = frame2[frame2["status"] == "ok"].set_index("key")
    ok1 = frame1[frame1["status"] == "ok"].set_index("key")
    assert (ok2["attempts"] == 1).all() and (ok2["finished_at"] == ok1["finished_at"]).all()
    assert (frame2[frame2["status"] == "failed"]["attempts"] == 2).all()
    third = runner.invoke(cli, [*args, "--force"])
    frame3, _ = _statuses(store)
    assert "skipped" not in third.output and len(frame3) == 8
    assert (frame3[frame3["status"] == "ok"]["attempts"] == 2).all()
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_seed_same_numbers_and_params_are_part_of_the_key(tmp_path):
    store = tmp_path / "r.sqlite"
    runner = CliRunner()
    args = ["run", "--detectors", "iforest,iforest[n_estimators=50]", "--datasets", "synthetic:local",
            "--seeds", "1", "--quiet"]
    assert runner.invoke(cli, [*args, "--store", str(store)]).exit_code == 0
    assert runner.invoke(cli, [*args, "--store", str(tmp_path / "again.sqlite")]).exit_code == 0
    a, _ = _statuses(store)
    b, _ = _statuses(tmp_path / "again.sqlite")
    assert list(a["detector"]) == ["iforest", "iforest[n_estimators=50]"]
    assert list(a["auroc"]) == list(b["auroc"])
    assert a["key"].nunique() == 2


def test_real_adbench_run_export_and_leaderboard(tmp_path, adbench_file):
    path = adbench_file()
    store = tmp_path / "r.sqlite"
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--detectors", "iforest,hbos,ecod", "--dataset-file", str(path),
                                 "--datasets", "synthetic:global", "--seeds", "1,2", "--store", str(store),
                                 "--protocol", "unsupervised,novelty"])
    assert result.exit_code == 0, result.output
    assert "Leaderboard: AUROC, protocol novelty" in result.output
    out = runner.invoke(cli, ["export", "--store", str(store), "--format", "csv"])
    frame = pd.read_csv(__import__("io").StringIO(out.output))
    assert list(frame.columns[:11]) == ["detector", "dataset", "protocol", "seed", "status", "auroc",
                                        "auprc", "fit_s", "score_s", "peak_mem_mb", "error"]
    assert len(frame) == 3 * 2 * 2 * 2 and (frame["status"] == "ok").all()
    out = runner.invoke(cli, ["export", "--store", str(store), "--format", "jsonl"])
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert len(rows) == 24 and rows[0]["versions"] if "versions" in rows[0] else True
    for fmt in ("markdown", "csv", "html", "latex", "json"):
        out = runner.invoke(cli, ["leaderboard", "--store", str(store), "--format", fmt, "--metric", "auprc"])
        assert out.exit_code == 0, out.output
        assert "iforest" in out.output
    payload = json.loads(runner.invoke(cli, ["leaderboard", "--store", str(store), "--format", "json"]).output)
    assert {r["detector"] for r in payload["summary"]} == {"iforest", "hbos", "ecod"}
    with Store(store) as db:
        (run,) = db.runs()
        assert "iforest" in run["command"] and "numpy" in json.loads(run["versions"])


def test_leaderboard_on_missing_store_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["leaderboard", "--store", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_datasets_info_and_fetch_from_cache(adbench_dir):
    runner = CliRunner()
    listing = json.loads(runner.invoke(cli, ["list", "datasets", "--json"]).output)
    cached = [r["name"] for r in listing if r["cached"] is True and not r["embedded"]]
    assert cached, "the shared ADBench folder should serve as the cache"
    info = json.loads(runner.invoke(cli, ["datasets", "info", cached[0], "--json"]).output)
    assert info["sha256"] and info["license"] and info["citation"] and info["cached"] is True
    result = runner.invoke(cli, ["datasets", "fetch", cached[0]])
    assert result.exit_code == 0 and info["filename"] in result.output
    result = runner.invoke(cli, ["datasets", "info", "adbench:nonexistent"])
    assert result.exit_code == 1 and "unknown dataset" in result.output


def test_subsampled_runs_are_separate_rows_in_the_leaderboard(tmp_path):
    """iforest on all rows and iforest with --max-samples are two experiments, never averaged."""
    store = tmp_path / "s.sqlite"
    base = ["run", "--detectors", "iforest", "--datasets", "synthetic:global", "--seeds", "1,2",
            "--store", str(store), "--executor", "serial", "-q", "--no-leaderboard"]
    runner = CliRunner()
    assert runner.invoke(cli, base).exit_code == 0
    assert runner.invoke(cli, [*base, "--max-samples", "400"]).exit_code == 0
    out = runner.invoke(cli, ["leaderboard", "--store", str(store), "--format", "json"])
    payload = json.loads(out.output)
    summary = {(r["detector"], r["max_samples"]): r for r in payload["summary"]}
    assert set(summary) == {("iforest", None), ("iforest", 400)}
    with Store(store) as db:
        cells = db.query()
    full = cells[cells["max_samples"].isna()]["auroc"].mean()
    sub = cells[cells["max_samples"] == 400]["auroc"].mean()
    assert full != sub
    assert summary["iforest", None]["avg_auroc"] == pytest.approx(full)
    assert summary["iforest", 400]["avg_auroc"] == pytest.approx(sub)
    assert "4 of 4 planned cells ok" in runner.invoke(
        cli, ["leaderboard", "--store", str(store)]).output


SLOW_PLUGIN = '''
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "lib"))

from bench import hookimpl


@hookimpl
def register_detectors(registry):
    registry.add("slowimport", "slowlib:Det", family="test")
'''

SLOW_LIB = '''
import time

import numpy as np

time.sleep(2.0)  # a heavy first import, as torch's on a busy machine


class Det:
    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        import slowlib.kernels  # imported on first use, as pyod imports matplotlib

        self.mu_ = X.mean(0)
        return self

    def decision_function(self, X):
        return ((X - self.mu_) ** 2).sum(1)
'''


def _slow_plugins(tmp_path, kernels: str):
    """A --plugins-dir with the slow-importing plugin; ``kernels`` is the lazily imported module."""
    plugins = tmp_path / "plugs"
    (plugins / "lib" / "slowlib").mkdir(parents=True)
    (plugins / "slow.py").write_text(SLOW_PLUGIN)
    (plugins / "lib" / "slowlib" / "__init__.py").write_text(SLOW_LIB)
    (plugins / "lib" / "slowlib" / "kernels.py").write_text(kernels)
    return plugins


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_imports_and_warm_up_are_outside_the_cells_timeout(tmp_path, executor):
    """A 2 s import and a 1.5 s lazy import in fit, with --timeout 1: every cell is ok, in a
    process that never holds a half-imported module, and the run exits cleanly."""
    plugins = _slow_plugins(tmp_path, kernels="import time\ntime.sleep(1.5)\n")
    store = tmp_path / "r.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--plugins-dir", str(plugins), "run", "-d", "slowimport",
         "-D", "synthetic:global", "-s", "1,2,3", "--timeout", "1", "--jobs", "1",
         "--executor", executor, "--store", str(store), "--no-leaderboard"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frame, status = _statuses(store)
    assert set(status.values()) == {"ok"} and len(frame) == 3
    assert (frame["fit_s"] < 1).all() and frame["warmup_s"].max() > 1.5


def test_a_worker_that_imports_past_the_prepare_limit_is_replaced(tmp_path):
    """The driver gives imports and warm-up their own limit and kills (never interrupts) the
    worker that passes it: the cell fails with that reason and the run ends cleanly."""
    plugins = _slow_plugins(tmp_path, kernels="")
    store = tmp_path / "r.sqlite"
    env = {**os.environ, "BENCH_PREPARE_TIMEOUT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--plugins-dir", str(plugins), "run", "-d", "slowimport",
         "-D", "synthetic:global", "-s", "1", "--jobs", "1", "--executor", "process",
         "--store", str(store), "--no-leaderboard"],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr
    frame, status = _statuses(store)
    assert status == {"slowimport@synthetic:global": "failed"}
    (error,) = frame["error"]
    assert "preparing the cell (imports, dataset, warm-up) took more than 1 s" in error
