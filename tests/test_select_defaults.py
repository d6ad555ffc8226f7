"""benchmarks/select_defaults.py: the committed folds, the out-of-fold choice, and a tiny real
selection through the runner and the store."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench import plugins

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("select_defaults", ROOT / "benchmarks" / "select_defaults.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["select_defaults"] = module
    spec.loader.exec_module(module)
    return module


sd = _load_script()

# load the default plugins now, so that the per-test plugin isolation (conftest) keeps them
plugins.load_plugins()


# -- folds -------------------------------------------------------------------------------------


def test_committed_folds_cover_every_available_adbench_dataset(adbench_dir: Path) -> None:
    folds = sd.load_folds(sd.DEFAULT_FOLDS)
    available = sd.available_datasets("adbench:*")
    assert available, "no adbench dataset available"
    fold_of = sd.assign_folds(available, folds, sd.DEFAULT_FOLDS)  # raises if one is missing
    assert len(set(fold_of.values())) >= 5


def test_committed_folds_keep_related_datasets_together() -> None:
    folds = sd.load_folds(sd.DEFAULT_FOLDS)
    # the groups the folds file documents: same source, so never on both sides of a split
    groups = [["adbench:cardio", "adbench:cardiotocography"],
              ["adbench:wbc", "adbench:wdbc", "adbench:wpbc", "adbench:breastw"],
              ["adbench:mnist", "adbench:optdigits", "adbench:pendigits"],
              ["adbench:http", "adbench:smtp"]]
    for group in groups:
        assert len({folds[d] for d in group}) == 1, group


def test_folds_file_errors_name_the_problem(tmp_path: Path) -> None:
    dup = tmp_path / "dup.toml"
    dup.write_text('[folds]\n1 = ["a:x", "a:y"]\n2 = ["a:x"]\n')
    with pytest.raises(sd.SelectionError, match="'a:x' is in fold '1' and '2'"):
        sd.load_folds(dup)
    one = tmp_path / "one.toml"
    one.write_text('[folds]\n1 = ["a:x"]\n')
    with pytest.raises(sd.SelectionError, match="at least two folds"):
        sd.load_folds(one)
    folds = {"a:x": "1", "a:y": "2"}
    with pytest.raises(sd.SelectionError, match="no fold for dataset\\(s\\) a:z"):
        sd.assign_folds(["a:x", "a:z"], folds)


# -- the choice --------------------------------------------------------------------------------


def test_cross_validate_chooses_on_the_other_folds() -> None:
    # candidate "big" wins by a lot on fold A only, "steady" wins narrowly everywhere else:
    # in-sample "big" is chosen; held-out fold A is scored with "steady" (chosen on B and C)
    table = pd.DataFrame(
        {"steady": [0.80, 0.80, 0.80, 0.80, 0.80, 0.80],
         "big":    [0.99, 0.99, 0.78, 0.78, 0.78, 0.78]},
        index=["a1", "a2", "b1", "b2", "c1", "c2"])
    folds = {"a1": "A", "a2": "A", "b1": "B", "b2": "B", "c1": "C", "c2": "C"}
    out = sd.cross_validate(table, folds)
    assert out["chosen"] == "big"
    assert out["in_sample"] == pytest.approx((0.99 * 2 + 0.78 * 4) / 6)
    chosen = {f["fold"]: f["chosen"] for f in out["per_fold"]}
    # leaving out B: big = (0.99*2+0.78*2)/4 = 0.885 > 0.80; likewise C; leaving out A: steady
    assert chosen == {"A": "steady", "B": "big", "C": "big"}
    assert out["held_out"] == {"a1": 0.80, "a2": 0.80, "b1": 0.78, "b2": 0.78, "c1": 0.78, "c2": 0.78}
    assert out["out_of_fold"] == pytest.approx((0.80 * 2 + 0.78 * 4) / 6)
    assert out["gap"] == pytest.approx(out["in_sample"] - out["out_of_fold"])
    assert out["gap"] > 0.06


def test_cross_validate_ties_go_to_the_earlier_candidate_and_missing_cells_refused() -> None:
    table = pd.DataFrame({"default": [0.7, 0.9], "other": [0.9, 0.7]}, index=["x", "y"])
    out = sd.cross_validate(table, {"x": "1", "y": "2"})
    assert out["chosen"] == "default"
    # the default is kept unless beaten by more than min_gain
    close = pd.DataFrame({"default": [0.80, 0.80], "other": [0.81, 0.80]}, index=["x", "y"])
    assert sd.cross_validate(close, {"x": "1", "y": "2"})["chosen"] == "other"
    kept = sd.cross_validate(close, {"x": "1", "y": "2"}, min_gain=0.005)
    assert kept["chosen"] == "default"
    # leaving out y, the choice is made on x alone, where "other" wins by 0.01
    assert [f["chosen"] for f in kept["per_fold"]] == ["default", "other"]
    assert sd.cross_validate(close, {"x": "1", "y": "2"}, min_gain=0.004)["chosen"] == "other"
    table.loc["x", "other"] = float("nan")
    with pytest.raises(sd.SelectionError, match="complete table"):
        sd.cross_validate(table, {"x": "1", "y": "2"})


# -- a tiny real selection -----------------------------------------------------------------------


def test_selection_on_a_tiny_real_store_is_resumable(adbench_dir: Path, tmp_path: Path) -> None:
    from bench import data

    small = sorted(s.name for s in plugins.get_datasets().select(["adbench:*"])
                   if data.is_cached(s) and s.n_samples and s.n_samples <= 250)
    if len(small) < 4:
        pytest.skip("fewer than 4 small ADBench datasets available")
    small = small[:4]
    folds = tmp_path / "folds.toml"
    folds.write_text(f'[folds]\nf1 = ["{small[0]}", "{small[1]}"]\nf2 = ["{small[2]}", "{small[3]}"]\n')
    grid = tmp_path / "grid.toml"
    grid.write_text('[knn]\ncandidates = ["knn", "knn[n_neighbors=30]"]\ncounterpart = "lof"\n'
                    'aim = { novelty = "iforest" }\n')
    store, out = tmp_path / "sel.sqlite", tmp_path / "sel.md"
    out.write_text("# notes kept\n\nhand-written text\n")
    args = ["knn", "--grid", str(grid), "--folds", str(folds), "--datasets", ",".join(small),
            "--protocols", "novelty", "--seeds", "1", "--min-gain", "0.005", "--store", str(store),
            "--out", str(out),
            "--json", str(tmp_path / "sel.json")]
    assert sd.main(args) == 0

    # the figures follow from the stored cells
    with sqlite3.connect(store) as conn:
        cells = pd.read_sql_query("SELECT detector, dataset, auroc, status FROM cells", conn)
        n_runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert len(cells) == 4 * 4 and (cells["status"] == "ok").all()
    table = cells.pivot_table(index="dataset", columns="detector", values="auroc").loc[
        small, ["knn", "knn[n_neighbors=30]"]]
    fold_of = {small[0]: "f1", small[1]: "f1", small[2]: "f2", small[3]: "f2"}
    expected = sd.cross_validate(table, fold_of, min_gain=0.005)
    import json

    result = json.loads((tmp_path / "sel.json").read_text())["protocols"]["novelty"]
    assert result["chosen"] == expected["chosen"]
    assert result["out_of_fold"] == pytest.approx(expected["out_of_fold"])
    assert result["in_sample"] == pytest.approx(expected["in_sample"])
    assert result["references"]["lof"] == pytest.approx(cells[cells.detector == "lof"].auroc.mean())
    text = out.read_text()
    assert text.startswith("# notes kept\n\nhand-written text\n")
    assert "**out-of-fold** mean AUROC: " + f"{expected['out_of_fold']:.3f}" in text
    assert f"chosen setting: `{expected['chosen']}`" in text

    # a rerun resumes: nothing recomputed, the block replaced rather than appended
    assert sd.main(args) == 0
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 16
        assert conn.execute("SELECT SUM(attempts) FROM cells").fetchone()[0] == 16
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == n_runs + 1
    assert out.read_text().count("<!-- select_defaults:knn -->") == 1


def test_cells_are_reused_by_key_from_another_store(adbench_dir: Path, tmp_path: Path) -> None:
    from bench import data

    small = sorted(s.name for s in plugins.get_datasets().select(["adbench:*"])
                   if data.is_cached(s) and s.n_samples and s.n_samples <= 250)[:2]
    if len(small) < 2:
        pytest.skip("fewer than 2 small ADBench datasets available")
    ref, store = tmp_path / "ref.sqlite", tmp_path / "sel.sqlite"
    first = sd.run_cells(["knn"], small, ["novelty"], [1], ref, max_samples=None)
    assert len(first) == 2
    keys = sd.plan_keys(["knn", "knn[n_neighbors=30]"], small, ["novelty"], [1], None)
    assert sd.copy_cells(ref, store, keys) == 2  # only knn's cells exist there
    assert sd.copy_cells(ref, store, keys) == 0  # already copied
    cells = sd.run_cells(["knn"], small, ["novelty"], [1], store, max_samples=None, execute=False)
    assert sorted(cells["auroc"]) == sorted(first["auroc"])


def test_diagnose_reads_curves_and_scores_the_no_training_baseline(adbench_dir: Path, tmp_path: Path) -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from bench import data, protocols

    specs = sorted((s for s in plugins.get_datasets().select(["adbench:*"])
                    if data.is_cached(s) and s.n_samples and s.n_samples <= 250), key=lambda s: s.name)[:2]
    if len(specs) < 2:
        pytest.skip("fewer than 2 small ADBench datasets available")
    names = [s.name for s in specs]
    store = tmp_path / "d.sqlite"
    sd.run_cells(["ae[epochs=4]"], names, ["novelty"], [1], store, max_samples=None)
    text = sd.diagnose(store, ["ae[epochs=4]"], names, None)
    assert "| ae[epochs=4] | novelty | 2 | 4 |" in text
    expected = []
    for spec in specs:
        X, y = data.load(spec)
        part = protocols.split(X, y, "novelty", 1)
        mu, sd_ = part.X_train.mean(0), np.maximum(part.X_train.std(0), 1e-2)
        expected.append(roc_auc_score(part.y_test, (((part.X_test - mu) / sd_) ** 2).mean(1)))
    assert f"| novelty | {np.mean(expected):.3f} (2 datasets) | ae[epochs=4] |" in text


def test_every_committed_candidate_names_the_parameters_whose_default_is_auto() -> None:
    """A candidate's label must mean one computation for good: a parameter whose default is
    "auto" (resolved per input kind; what version bumps change) left out of a label means the
    old default before a bump and the new one after, under the same name (gan 0.3.0 turned
    ``gan[max_steps=200]`` from 5 discriminator snapshots into 10)."""
    import tomllib

    from bench.registry import parse_selector

    with open(sd.DEFAULT_GRID, "rb") as fh:
        grid = tomllib.load(fh)
    registry = plugins.get_detectors()
    for detector, entry in grid.items():
        factory = registry.get(detector).resolve()
        auto = set(getattr(factory, "auto_defaults", {}))
        for label in entry["candidates"]:
            name, params = parse_selector(label)
            assert name == detector, label
            missing = sorted(auto - set(params))
            assert not missing, f"{label} leaves out {missing}, whose default is 'auto'"
