"""`bench compare`: a store against a copy rerun with one changed default shows exactly the
changed cells; per-dataset differences, wins/ties/losses and the paired test."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import compare, plugins
from bench.cli import cli

# two plugins (a plugin's version is part of its detectors' cell keys): only shift's changes
SHIFT = (Path(__file__).parent / "plugin_sources" / "shift.py").read_text()

SPREAD = '''
__version__ = "1.0"
import numpy as np
from bench import hookimpl

class Spread:
    def __init__(self, random_state=None):
        self.random_state = random_state
    def fit(self, X, y=None):
        self.sd_ = X.std(0) + 1e-9; return self
    def decision_function(self, X):
        return np.abs(X / self.sd_).max(1)

@hookimpl
def register_detectors(registry):
    registry.add("spread", Spread, family="test")
'''


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store, and a copy rerun after the plugin changed shift's default (and its version)."""
    root = tmp_path_factory.mktemp("compare")
    snapshot = plugins.state.snapshot()
    plugin = root / "plugs" / "cmp_shift.py"
    plugin.parent.mkdir()
    plugin.write_text(SHIFT)
    (plugin.parent / "cmp_spread.py").write_text(SPREAD)
    a, b = root / "a.sqlite", root / "b.sqlite"
    args = ["--plugins-dir", str(plugin.parent), "run", "--detectors", "shift,spread",
            "--datasets", "synthetic:global,synthetic:local,synthetic:clustered", "--seeds", "1,2",
            "--executor", "serial", "-q", "--no-leaderboard"]
    result = CliRunner().invoke(cli, [*args, "--store", str(a)])
    assert result.exit_code == 0, result.output
    shutil.copy(a, b)
    plugin.write_text(SHIFT.replace("power=1", "power=3").replace('"1.0"', '"1.1"'))
    # a new process: it imports the changed plugin
    rerun = subprocess.run([sys.executable, "-m", "bench", *args, "--store", str(b)],
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    yield a, b
    # a module-scoped fixture outlives the per-test plugin isolation: unload its plugins here
    plugins.state.restore(snapshot)
    plugins.reset_registries()


def test_compare_two_stores_shows_exactly_the_changed_cells(stores):
    a, b = stores
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    changed = payload["changed"]
    assert len(changed) == 6  # shift on 3 datasets x 2 seeds; spread untouched
    assert {c["detector"] for c in changed} == {"shift"}
    assert {(c["dataset"], c["seed"]) for c in changed} == {
        (d, s) for d in ("synthetic:global", "synthetic:local", "synthetic:clustered")
        for s in (1, 2)}
    # the default and the version changed, and so did the file that implements the detector
    assert all(c["changed"] == "params, plugin_version, code_hash" and '"power": 1' in c["a"]
               and '"power": 3' in c["b"] and "plugin_version=1.0" in c["a"]
               and "plugin_version=1.1" in c["b"] for c in changed), changed[0]
    summary = {r["detector"]: r for r in payload["summary"]}
    spread = summary["spread"]
    assert (spread["wins"], spread["ties"], spread["losses"]) == (0, 3, 0)
    assert spread["mean_diff"] == 0 and spread["p_wilcoxon"] is None  # nothing to test
    shift = summary["shift"]
    assert shift["wins"] + shift["ties"] + shift["losses"] == 3 and shift["ties"] < 3
    assert 0 < shift["p_wilcoxon"] <= 1
    per = [r for r in payload["per_dataset"] if r["detector"] == "shift"]
    with sqlite3.connect(a) as ca, sqlite3.connect(b) as cb:
        for row in per:  # the differences are those of the stored cells' means
            q = ("SELECT AVG(auroc) FROM cells WHERE detector = 'shift' AND dataset = ? "
                 "AND plugin_version = ?")
            old = ca.execute(q, (row["dataset"], "1.0")).fetchone()[0]
            new = cb.execute(q, (row["dataset"], "1.1")).fetchone()[0]
            assert row["a"] == pytest.approx(old) and row["b"] == pytest.approx(new)
            assert row["diff"] == pytest.approx(new - old)
    text = CliRunner().invoke(cli, ["compare", str(a), str(b)]).output
    assert "Cells whose parameters or versions changed (6)" in text
    assert "| spread" in text and "— (all equal)" in text


def test_compare_two_runs_of_one_store(stores):
    _, b = stores
    result = CliRunner().invoke(cli, ["compare", "--store", str(b), "1", "2", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["a"] == "run 1" and payload["b"] == "run 2"
    # run 2 planned both detectors; only shift's cells are new, spread's were resumed
    assert {c["detector"] for c in payload["changed"]} == {"shift"} and len(payload["changed"]) == 6
    bad = CliRunner().invoke(cli, ["compare", "--store", str(b), "1", "9"])
    assert bad.exit_code == 1 and "has no run 9" in bad.output
    missing = CliRunner().invoke(cli, ["compare", str(b), "nope.sqlite"])
    assert missing.exit_code == 1 and "nope.sqlite: no such store" in missing.output


def test_wilcoxon_is_scipy_on_the_paired_differences():
    from scipy.stats import wilcoxon

    diff = np.array([0.02, 0.03, -0.01, 0.04, 0.05, 0.01, 0.02])
    assert compare.wilcoxon(diff) == pytest.approx(wilcoxon(diff, zero_method="zsplit").pvalue)
    assert np.isnan(compare.wilcoxon(np.zeros(5))) and np.isnan(compare.wilcoxon([]))


def test_export_parquet_holds_the_same_cells_as_csv(stores, tmp_path):
    import io

    import pandas as pd

    a, _ = stores
    out = tmp_path / "cells.parquet"
    runner = CliRunner()
    result = runner.invoke(cli, ["export", "--store", str(a), "--format", "parquet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    parquet = pd.read_parquet(out)
    csv = pd.read_csv(io.StringIO(runner.invoke(cli, ["export", "--store", str(a)]).output))
    assert len(parquet) == len(csv) == 12 and list(parquet.columns) == list(csv.columns)
    assert parquet["auroc"].tolist() == pytest.approx(csv["auroc"].tolist())
    assert parquet["seed"].dtype.kind == "i"  # types kept, not text
    no_file = runner.invoke(cli, ["export", "--store", str(a), "--format", "parquet"])
    assert no_file.exit_code == 2 and "-o FILE.parquet" in no_file.output
