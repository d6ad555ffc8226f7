"""The Python API (bench.run / bench.leaderboard), run keys and a cell's memory, with real
processes, real plugins and real SQLite."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import bench
from bench.cli import cli
from bench.errors import BenchError
from bench.execution.process import run_serial
from bench.planner import arrays_spec, describe, plan
from bench.protocols import shape_for
from bench.record import EXPORT_COLUMNS
from bench.store import Store


def _npz(path):
    with np.load(path, allow_pickle=False) as f:
        return f["X"], f["y"]


@pytest.fixture
def mine(adbench_file):
    X, y = _npz(adbench_file())
    return ("mine", X, y)


def test_run_takes_names_objects_and_in_memory_data_with_process_and_dask(tmp_path, mine):
    from pyod.models.iforest import IForest

    detectors = ["hbos", IForest(n_estimators=30)]
    datasets = ["synthetic:global", mine]
    frame = bench.run(detectors, datasets, seeds=[1, 2], executor="process", jobs=2)
    assert list(frame.columns[:len(EXPORT_COLUMNS)]) == EXPORT_COLUMNS
    assert len(frame) == 2 * 2 * 2 and (frame["status"] == "ok").all(), frame["error"].tolist()
    assert set(frame["detector"]) == {"hbos", "IForest[n_estimators=30]"}
    assert set(frame["dataset"]) == {"synthetic:global", "mine"}
    assert frame.attrs["counts"]["ok"] == 8 and frame.attrs["store"] is None
    dask = bench.run(detectors, datasets, seeds=[1, 2], executor="dask", jobs=2)
    a = frame.set_index("key")["auroc"].to_dict()
    assert a == dask.set_index("key").loc[list(a), "auroc"].to_dict()  # exactly the same numbers

    # a store resumes like the CLI, and its leaderboard is the frame's and the CLI's
    store = tmp_path / "r.sqlite"
    first = bench.run(detectors, datasets, seeds=[1, 2], store=store, executor="serial")
    again = bench.run(detectors, datasets, seeds=[1, 2], store=store, executor="serial")
    assert again.attrs["counts"]["skipped"] == 8 and again.attrs["counts"]["ok"] == 0
    assert first.set_index("key")["auroc"].to_dict() == a
    from_store = bench.leaderboard(str(store))
    pd.testing.assert_frame_equal(bench.leaderboard(first), from_store)
    quality = ["detector", "avg_rank", "avg_auroc", "avg_auprc", "cells_ok", "completeness"]
    pd.testing.assert_frame_equal(bench.leaderboard(frame)[quality], from_store[quality])
    out = CliRunner().invoke(cli, ["leaderboard", "--store", str(store), "--format", "json"])
    summary = json.loads(out.output)["summary"]
    assert [r["detector"] for r in summary] == list(from_store["detector"])
    assert [r["avg_auroc"] for r in summary] == pytest.approx(list(from_store["avg_auroc"]))


def test_a_class_defined_in_a_script_reaches_process_and_dask_workers(tmp_path):
    """Objects made in a notebook or a script's __main__ travel cloudpickled."""
    script = tmp_path / "nb.py"
    script.write_text(textwrap.dedent("""
        import json, bench

        class Dist:
            def __init__(self, power=2):
                self.power = power
            def fit(self, X, y=None):
                self.mu_ = X.mean(0)
                return self
            def decision_function(self, X):
                return (abs(X - self.mu_) ** self.power).sum(1)

        if __name__ == "__main__":
            out = {}
            for executor in ("process", "dask"):
                f = bench.run([Dist(), ("dist3", Dist(3))], ["synthetic:global"], seeds=[1],
                              executor=executor, jobs=1)
                out[executor] = f[["detector", "status", "auroc", "error"]].to_dict("records")
            print(json.dumps(out))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for rows in out.values():
        assert {r["detector"]: r["status"] for r in rows} == {"Dist": "ok", "dist3": "ok"}, rows
    assert out["process"] == out["dask"]


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": math.inf}, "finite number of seconds"),
    ({"timeout": math.nan}, "finite number of seconds"),
    ({"timeout": -1}, "finite number of seconds"),
    ({"seeds": [-1]}, "out of range"),
    ({"seeds": [2**32]}, "out of range"),
    ({"seeds": range(1, 100_000_001)}, "more than 10000 seeds"),
    ({"protocols": ["nope"]}, "protocol 'nope' is not one of"),
    ({"max_samples": 1}, "max_samples 1"),
])
def test_run_options_are_refused_before_anything_runs(tmp_path, kwargs, message):
    store = tmp_path / "r.sqlite"
    start = time.monotonic()
    with pytest.raises(BenchError, match=message):
        bench.run("hbos", "synthetic:global", store=store, **kwargs)
    assert time.monotonic() - start < 5 and not store.exists()


def test_cli_refuses_bad_timeouts_and_seed_ranges_in_one_line(tmp_path):
    base = ["run", "-d", "hbos", "-D", "synthetic:global", "--store", str(tmp_path / "r.sqlite")]
    for extra, message in ((["--timeout", "inf"], "finite number of seconds"),
                           (["--timeout", "nan"], "finite number of seconds"),
                           (["-s", "1-100000000"], "at most 10000"),
                           (["-s", "-3"], "out of range")):
        result = CliRunner().invoke(cli, [*base, *extra])
        assert result.exit_code in (1, 2) and message in result.output, result.output
        assert "Traceback" not in result.output


def test_the_table_after_bench_run_is_bench_leaderboard(tmp_path):
    store = str(tmp_path / "r.sqlite")
    runner = CliRunner()
    runner.invoke(cli, ["run", "-d", "hbos", "-D", "synthetic:local", "-s", "1", "--store", store,
                        "-q", "--max-samples", "300"])
    ran = runner.invoke(cli, ["run", "-d", "hbos,iforest", "-D", "synthetic:global", "-s", "1,2",
                              "--store", store, "--executor", "serial"])
    assert ran.exit_code == 0, ran.output
    board = runner.invoke(cli, ["leaderboard", "--store", store]).output
    assert board in ran.output
    # the subsampled cell is its own row, its max_samples in the "Max rows" column
    assert "Max rows" in board and re.search(r"\| hbos +\| +300 \|", board)


# -- keys ----------------------------------------------------------------------------------------

#: the shared test plugin; its version stays "1.0" while its default changes
PLUGIN = (Path(__file__).parent / "plugin_sources" / "shift.py").read_text()


def _bench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def make_superseded_store(tmp_path):
    """A store where a plugin's default changed between two runs (no version bump)."""
    plugin = tmp_path / "plugs" / "shiftplug.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    store = tmp_path / "r.sqlite"
    args = ["--plugins-dir", str(plugin.parent), "run", "-d", "shift,hbos", "-D", "synthetic:global",
            "-s", "1,2", "--store", str(store), "-q", "--executor", "serial", "--no-leaderboard"]
    first = _bench(*args)
    assert first.returncode == 0, first.stderr
    same = _bench(*args)
    assert "4 skipped (already ok)" in same.stderr  # stable keys across processes
    plugin.write_text(PLUGIN.replace("power=1", "power=3"))  # a new default, same version
    changed = _bench(*args)
    assert changed.returncode == 0, changed.stderr
    return store, first, changed


def test_a_changed_default_in_a_plugin_reruns_its_cells_without_a_version_bump(tmp_path):
    store, first, changed = make_superseded_store(tmp_path)
    assert "2 skipped (already ok)" in changed.stderr  # hbos resumed, shift ran again
    with Store(store, create=False) as db:
        cells = db.query()
        current = db.current()
    shift = cells[cells["detector"] == "shift"]
    assert len(shift) == 4 and shift["key"].nunique() == 4  # old cells stay
    assert {json.loads(p)["power"] for p in shift["params"]} == {1, 3}
    assert len(current) == 4 and {json.loads(p).get("power") for p in
                                  current[current["detector"] == "shift"]["params"]} == {3}
    text = _bench("leaderboard", "--store", str(store)).stdout
    assert "2 older cells" in text


DETECTOR = '''
import numpy as np
from bench import BaseDetector

class Mean(BaseDetector):
    def fit(self, X, y=None):
        self.mu_ = np.asarray(X).mean(0)
        return self

    def decision_function(self, X):
        return np.abs(np.asarray(X) - self.mu_).sum(1)
'''


def test_a_change_to_the_core_outside_the_base_class_keeps_a_detectors_key(tmp_path):
    """A detector subclassing bench.BaseDetector is keyed by its own package and by the module
    of the core's base class; an edit to the CLI or the store must not make every such cell
    run again (and classes that do not subclass it were never keyed by the core)."""
    core = Path(bench.__file__).parent
    copy = tmp_path / "src" / "bench"
    shutil.copytree(core, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "src" / "meandet").mkdir()
    (tmp_path / "src" / "meandet" / "__init__.py").write_text(DETECTOR)
    src = str(tmp_path / "src")
    probe = textwrap.dedent(f"""
        import sys
        # the copy, not the checkout an editable install points at
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not type(f).__module__.startswith("__editable__")]
        sys.path.insert(0, {src!r})
        import bench, meandet
        from bench.planner import implementation_hash
        assert bench.__file__.startswith({src!r}), bench.__file__
        print(implementation_hash(meandet.Mean))
    """)

    def key():
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             env={"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"},
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    first = key()
    with open(copy / "cli.py", "a") as handle:
        handle.write("\n# an edit to the command line\n")
    assert key() == first
    with open(copy / "detector.py", "a") as handle:
        handle.write("\n# an edit to the base class\n")
    second = key()
    assert second != first
    with open(tmp_path / "src" / "meandet" / "__init__.py", "a") as handle:
        handle.write("\n# an edit to the detector\n")
    assert key() not in (first, second)


def test_objects_key_every_parameter_and_their_implementation():
    from pyod.models.hbos import HBOS

    a, b = describe(bench.api.resolve_detectors(HBOS())[0]), describe(
        bench.api.resolve_detectors(HBOS(n_bins=5))[0])
    assert a.params["n_bins"] == 10 and a.params_hash != b.params_hash
    assert a.code_hash == b.code_hash
    # what implements a detector: the same class, the same hash
    from bench.planner import implementation_hash

    assert implementation_hash(HBOS) == a.code_hash


# -- the cell ------------------------------------------------------------------------------------


def test_worker_dataset_cache_is_keyed_by_content_not_name():
    rng = np.random.default_rng(0)
    X1 = rng.normal(size=(300, 4))
    y1 = (np.arange(300) < 30).astype(int)
    X1[:30] += 4  # anomalies far away
    X2 = rng.normal(size=(300, 4))
    y2 = y1.copy()  # no signal: another dataset under the same name
    from bench import data, plugins

    specs = bench.api.resolve_detectors("hbos")
    one, two = arrays_spec("same", X1, y1), arrays_spec("same", X2, y2)
    cells = plan(specs, [(one, data.fingerprint(one)), (two, data.fingerprint(two))],
                 ["unsupervised"], [1])
    plugins.load_plugins()
    together = list(run_serial(cells))
    alone = list(run_serial(cells[1:]))
    assert together[0].auroc > 0.9 and together[1].auroc == alone[0].auroc < 0.8
    assert together[0].x_shape == "[4]" and together[0].n_features == 4


def test_shapes_for_image_detectors_and_the_others():
    images = np.zeros((5, 8, 8))
    assert shape_for(images, ("images",)).shape == (5, 1, 8, 8)
    assert shape_for(np.zeros((5, 3, 8, 8)), ("images",)).shape == (5, 3, 8, 8)
    assert shape_for(images, ("torch",)).shape == (5, 64)
    assert shape_for(np.zeros((5, 7)), ("images",)).shape == (5, 7)


def test_peak_memory_is_the_cells_own_whatever_ran_before_in_the_worker(plugs):
    """hbos after a 320 MB cell and after torch was loaded in the same worker: a few MB."""
    frame = bench.run(["spike", "ae[epochs=1]", "hbos"], ["synthetic:local"], seeds=[1],
                      executor="process", jobs=1, plugins_dirs=[str(plugs)])
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame["pid"].nunique() == 1
    rows = frame.set_index("detector")
    assert rows.loc["spike", "peak_mem_mb"] > 300
    assert rows.loc["hbos", "peak_mem_mb"] < 10  # MB above the worker's memory at its start
    assert rows.loc["hbos", "worker_mem_mb"] > 150  # torch, pyod, numpy: the baseline, apart


def test_docs_python_api_runs_as_written(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "python-api.md").read_text()
    section = re.search(r"<!-- doc-test: api -->(.*?)<!-- /doc-test -->", text, re.S).group(1)
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    for lang, body in blocks:
        if lang == "python":
            first, _, rest = body.partition("\n")
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(rest)
    script = "set -e\n" + "".join(body for lang, body in blocks if lang == "sh")
    bin_dir = str(Path(sys.executable).parent)
    env = {**__import__("os").environ, "PATH": bin_dir + ":" + __import__("os").environ["PATH"]}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "'ok': 16" in out and "'failed': 0" in out
    assert "IForest[n_estimators=50]" in out and "dist1" in out
    assert "already ok: 4" in out
    assert "Leaderboard: AUROC, protocol unsupervised" in out
