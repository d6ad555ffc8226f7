"""Grid files: `bench run --config grid.toml`, its blocks, command-line overrides, the resolved
configuration stored with each run, and `--dry-run`; on real runs into a real store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench import config
from bench.cli import cli
from bench.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]

GRID = """
store = "{store}"
datasets = "synthetic:global,synthetic:local"
seeds = "1-2"
executor = "serial"
quiet = true
no-leaderboard = true

[[grid]]
detectors = ["iforest", "hbos"]

[[grid]]
detectors = ["knn"]
max-samples = 300
timeout = 60
"""


def test_a_grid_file_is_a_list_of_run_arguments_one_per_block():
    blocks = config.parse(GRID.format(store="s.sqlite"))
    assert blocks == [
        {"store": "s.sqlite", "datasets": ["synthetic:global", "synthetic:local"],
         "seeds": [1, 2], "executor": "serial", "quiet": True, "no_leaderboard": True,
         "detectors": ["iforest", "hbos"]},
        {"store": "s.sqlite", "datasets": ["synthetic:global", "synthetic:local"],
         "seeds": [1, 2], "executor": "serial", "quiet": True, "no_leaderboard": True,
         "detectors": ["knn"], "max_samples": 300, "timeout": 60.0},
    ]
    # the command line's spelling and the API's are the same keys
    (block,) = config.parse('protocol = "unsupervised,novelty"\nmax_samples = 50\n'
                            'dataset-file = ["a.csv"]\nseed = 3')
    assert block == {"protocols": ["unsupervised", "novelty"], "max_samples": 50,
                     "dataset_files": ["a.csv"], "seeds": [3]}


@pytest.mark.parametrize(("text", "message"), [
    ("detector = ['iforest']", "unknown key 'detector'"),
    ("[[grid]]\nmax-samples = 'many'", "block 1: max_samples = 'many' is not a positive integer"),
    ("seeds = '1,x'", "seeds are integers"),
    ("executor = 'gpu'", "executor = 'gpu' is not one of serial, process, dask"),
    ("timeout = -1", "timeout = -1 is not a positive number"),
    ("grid = 3", "must be [[grid]] blocks"),
    ("detectors = [", "not valid TOML"),
])
def test_a_bad_grid_file_is_one_clear_error(text, message):
    with pytest.raises(BenchError, match=None) as info:
        config.parse(text, "g.toml")
    assert message in str(info.value) and str(info.value).startswith("g.toml")


def test_run_config_runs_each_block_stores_its_configuration_and_resumes(tmp_path):
    store = tmp_path / "s.sqlite"
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(store=store))
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--config", str(grid)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT detector, max_samples, COUNT(*) FROM cells WHERE "
                            "status = 'ok' GROUP BY 1, 2 ORDER BY 1").fetchall()
        runs = conn.execute("SELECT options FROM runs ORDER BY run_id").fetchall()
    assert rows == [("hbos", None, 4), ("iforest", None, 4), ("knn", 300, 4)]
    first, second = (json.loads(r[0]) for r in runs)
    assert second["max_samples"] == 300 and second["timeout"] == 60.0
    assert second["config"]["file"] == str(grid) and second["config"]["block"] == 2
    assert second["config"]["detectors"] == ["knn"] and second["config"]["seeds"] == [1, 2]
    assert first["config"]["protocols"] == ["unsupervised"]  # the default, made explicit
    # the leaderboard shows knn's subsample as a column, not in its name
    board = runner.invoke(cli, ["leaderboard", "--store", str(store)]).output
    assert "Max rows" in board and "| knn " in board and "max_samples=" not in board
    # --dry-run afterwards: everything is done, nothing runs
    plan = runner.invoke(cli, ["run", "--config", str(grid), "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "Total: 12 cells in 2 block(s), 12 already ok, 0 to run." in plan.output
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_command_line_options_override_the_file_in_every_block(tmp_path):
    store = tmp_path / "s.sqlite"
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(store=store))
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--config", str(grid), "--seeds", "3",
                                 "--datasets", "synthetic:local", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 detectors x 1 datasets x 1 protocols x 1 seeds = 2 cells" in result.output
    assert "1 detectors x 1 datasets x 1 protocols x 1 seeds = 1 cells" in result.output
    assert "Total: 3 cells in 2 block(s), 0 already ok, 3 to run." in result.output
    assert not store.exists()  # a dry run creates nothing


def test_dry_run_names_the_datasets_not_cached(tmp_path, monkeypatch, adbench_dir):
    """Two registry datasets, one in the cache: the other is listed, nothing is downloaded."""
    import shutil

    cache = tmp_path / "cache"
    cache.mkdir()
    from bench import plugins

    specs = [s for s in plugins.get_datasets() if s.source == "adbench"
             and (adbench_dir / (s.filename or "")).is_file()][:2]
    assert len(specs) == 2
    shutil.copy(adbench_dir / specs[0].filename, cache / specs[0].filename)
    monkeypatch.setenv("BENCH_DATA_DIR", str(cache))
    result = CliRunner().invoke(cli, ["run", "--dry-run", "--detectors", "iforest",
                                      "--datasets", f"{specs[0].name},{specs[1].name}",
                                      "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 0, result.output
    assert f"datasets not cached (would be downloaded): {specs[1].name}\n" in result.output
    assert "1 detectors x 2 datasets x 1 protocols x 3 seeds = 6 cells" in result.output
    assert sorted(p.name for p in cache.iterdir()) == [specs[0].filename]


def test_the_published_grid_file_parses_and_plans_the_published_store():
    """The committed grid reproduces results/published.sqlite: its dry run plans the store's 3456
    slots. Cell keys hold the code that implements each detector, so the cells stored by an
    earlier version of the code count as done only where their key is still the same."""
    grid = ROOT / "benchmarks" / "published_grid.toml"
    blocks = config.load(grid)
    assert [b.get("max_samples") for b in blocks] == [None, 10000, 10000, 10000]
    assert all(len(b["datasets"]) == 32 for b in blocks)
    store = ROOT / "results" / "published.sqlite"
    if not store.is_file():
        pytest.skip("no published store")
    blocks = config.resolve(blocks, {"store": str(store)})
    plans = config.plan(blocks)
    text = config.plan_text(plans)
    assert "Total: 3456 cells in 4 block(s) (96 planned by more than one block, counted once)" \
        in text, text
    from bench.store import Store

    keys = {k.split("\0", 1)[1] for p in plans for k in p.keys}
    with Store(store, create=False) as db:
        ok = sum(1 for status in db.status_of(keys).values() if status == "ok")
    assert f"{ok} already ok, {3456 - ok} to run" in text


def test_block_runs_only_the_named_blocks_and_keeps_their_numbers(tmp_path):
    """`--block 2` reruns one block of a published grid (e.g. after one family's defaults
    changed): only its cells run, and the run records it as block 2 of 2."""
    store = tmp_path / "s.sqlite"
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(store=store))
    runner = CliRunner()
    plan = runner.invoke(cli, ["run", "--config", str(grid), "--block", "2", "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "block 2: knn" in plan.output and "block 1" not in plan.output
    result = runner.invoke(cli, ["run", "--config", str(grid), "--block", "2"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT DISTINCT detector FROM cells").fetchall() == [("knn",)]
        (options,), = conn.execute("SELECT options FROM runs").fetchall()
    assert json.loads(options)["config"]["block"] == 2
    assert json.loads(options)["config"]["of"] == 2
    bad = runner.invoke(cli, ["run", "--config", str(grid), "--block", "3", "--dry-run"])
    assert bad.exit_code != 0 and "has blocks 1 to 2, got '3'" in bad.output
    alone = runner.invoke(cli, ["run", "--block", "1"])
    assert alone.exit_code != 0 and "--block needs --config" in alone.output
