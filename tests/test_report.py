"""Leaderboard options and `bench report` on a store made by really running `bench run`."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import cli

GRID = ["--datasets", "synthetic:global,synthetic:local", "--seeds", "1,2", "-q"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """3 classical detectors that finish, one that fails everywhere, one deep detector."""
    path = tmp_path_factory.mktemp("report") / "r.sqlite"
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--detectors", "iforest,hbos,ecod,knn[n_neighbors=5000]",
                                 *GRID, "--store", str(path)])
    assert result.exit_code == 1, result.output  # knn asks for more neighbours than rows
    result = runner.invoke(cli, ["run", "--detectors", "ae[epochs=2]", "--datasets",
                                 "synthetic:global", "--seeds", "1", "-q", "--store", str(path)])
    assert result.exit_code == 0, result.output
    return path


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def row(markdown: str, first: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{markdown}")


def test_leaderboard_shows_completeness_and_failures(store):
    out = invoke("leaderboard", "--store", str(store))
    assert "Completeness: 13 of 17 planned cells ok (76.5%); 4 failed, 0 timed out, 0 not run." in out
    assert "### Cells that did not finish (4)" in out and "n_neighbors" in out
    header = row(out, "Detector")
    assert header[:4] == ["Detector", "Avg rank", "AUROC", "AUPRC"]
    assert "Cell's own peak MB" in header and "Max rows" not in header  # nothing subsampled
    knn = dict(zip(header, row(out, "knn[n_neighbors=5000]"), strict=True))
    # last on both datasets, tied with ae's gap; no result, so no time; nothing finished: 0%
    assert knn["Avg rank"] == "4.50" and knn["AUROC"] == "—" and knn["Fit time"] == "—"
    assert knn["Complete"] == "0.0%" and knn["Failed"] == "4"
    iforest = dict(zip(header, row(out, "iforest"), strict=True))
    assert re.fullmatch(r"\d+(\.\d)? ms|\d\.\d\d s", iforest["Fit time"]), iforest
    assert re.fullmatch(r"\d+", iforest["Cell's own peak MB"]), iforest  # whole MB
    assert iforest["Complete"] == "100.0%"
    # per dataset: mean ± std over 2 seeds; ae ran one seed, so no "± 0.000"
    matrix_header = row(out, "Dataset")
    local = dict(zip(matrix_header, row(out, "synthetic:local"), strict=True))
    glob = dict(zip(matrix_header, row(out, "synthetic:global"), strict=True))
    assert re.fullmatch(r"(\*\*)?0\.\d{3} ± 0\.\d{3}(\*\*)?", local["iforest"])
    assert re.fullmatch(r"(\*\*)?[01]\.\d{3}(\*\*)?", glob["ae[epochs=2]"]), glob
    assert local["ae[epochs=2]"] == "not run" or local["ae[epochs=2]"] == "—"
    # the best mean on each dataset is bold (ties all bold), numbers are right-aligned
    for line in (local, glob):
        scores = {k: float(v.strip("*").split()[0]) for k, v in line.items()
                  if k != "Dataset" and v[:1] in "*01"}
        best = max(scores.values())
        assert {k for k, v in line.items() if v.startswith("**")} == \
            {k for k, v in scores.items() if v == best}
    align = next(line for line in out.splitlines() if line.startswith("|:") or line.startswith("|-"))
    assert align.split("|")[1].startswith(":-") and align.split("|")[2].endswith("-:")
    payload = json.loads(invoke("leaderboard", "--store", str(store), "--format", "json"))
    assert payload["completeness"] == {"cells_planned": 17, "cells_ok": 13, "cells_failed": 4,
                                       "cells_timeout": 0, "cells_missing": 0,
                                       "completeness": 13 / 17, "cells_superseded": 0}
    rows = {r["detector"]: r for r in payload["summary"]}
    assert rows["knn[n_neighbors=5000]"]["cells_failed"] == 4
    assert rows["knn[n_neighbors=5000]"]["completeness"] == 0
    assert rows["iforest"]["completeness"] == 1 and rows["iforest"]["n_datasets"] == 2
    for key in ("avg_rank", "avg_auroc", "avg_auprc", "fit_s_median", "score_s_median",
                "peak_mem_mb_median"):
        assert rows["iforest"][key] is not None


def test_leaderboard_counts_planned_cells_that_never_ran(store, tmp_path):
    interrupted = tmp_path / "interrupted.sqlite"
    shutil.copy(store, interrupted)
    with sqlite3.connect(interrupted) as conn:  # as if the run stopped before this cell
        conn.execute("DELETE FROM cells WHERE detector = 'iforest' AND seed = 2 "
                     "AND dataset = 'synthetic:local'")
    payload = json.loads(invoke("leaderboard", "--store", str(interrupted), "--format", "json"))
    assert payload["completeness"]["cells_missing"] == 1
    assert payload["completeness"]["cells_planned"] == 17
    row = next(r for r in payload["summary"] if r["detector"] == "iforest")
    assert row["cells_ok"] == 3 and row["cells_planned"] == 4 and row["completeness"] == 0.75


def test_leaderboard_reference_by_family_and_formats(store):
    out = invoke("leaderboard", "--store", str(store), "--reference", "iforest", "--format", "json")
    rows = {r["detector"]: r for r in json.loads(out)["summary"]}
    assert (rows["iforest"]["wins"], rows["iforest"]["ties"], rows["iforest"]["losses"]) == (0, 2, 0)
    assert rows["hbos"]["wins"] + rows["hbos"]["ties"] + rows["hbos"]["losses"] == 2
    assert rows["ae[epochs=2]"]["wins"] + rows["ae[epochs=2]"]["ties"] + rows["ae[epochs=2]"][
        "losses"] == 1
    assert rows["knn[n_neighbors=5000]"]["wins"] == 0  # nothing to pair
    out = invoke("leaderboard", "--store", str(store), "--by", "family")
    assert "by family" in out
    assert row(out, "classical")[1] == "4" and row(out, "reconstruction")[1] == "1"
    csv = invoke("leaderboard", "--store", str(store), "--format", "csv")
    assert csv.splitlines()[0].startswith(
        "detector,max_samples,dataset,protocol,auroc_mean,auroc_std,auprc_mean")
    for fmt in ("markdown", "html", "latex"):
        assert "iforest" in invoke("leaderboard", "--store", str(store), "--format", fmt,
                                   "--reference", "iforest")
    bad = CliRunner().invoke(cli, ["leaderboard", "--store", str(store), "--reference", "nope"])
    assert bad.exit_code == 2 and "reference 'nope'" in bad.output


def test_html_report_images_exist_and_are_referenced(store, tmp_path):
    out = tmp_path / "report"
    invoke("report", "--store", str(store), "--out", str(out))
    page = (out / "index.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert {"cd-unsupervised.png", "box-unsupervised.png", "pareto-unsupervised.png",
            "training-curves.png"} <= set(sources)
    for name in sources:
        assert "/" not in name and (out / name).read_bytes()[:4] == b"\x89PNG"
    assert {p.name for p in out.glob("*.png")} == set(sources)
    # offline: nothing from the network, the sorting script inline
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    # one box plot per protocol, not a panel per dataset
    assert [s for s in sources if s.startswith("box-")] == ["box-unsupervised.png"]
    # the data beside the page, linked from it
    for name in ("leaderboard.csv", "leaderboard.json"):
        assert f'href="{name}"' in page and (out / name).stat().st_size > 100
    payload = json.loads((out / "leaderboard.json").read_text())
    assert {r["detector"] for r in payload["summary"]} >= {"iforest", "knn[n_neighbors=5000]"}
    assert page.count("class='board'") >= 4  # summary, matrix, p-values, failures: sortable
    for text in ("Completeness: 13 of 17", "Friedman chi²", "Left out of the tests",
                 "Post-hoc p-values (Nemenyi)", "Failures (4)", "Expected n_neighbors",
                 "bench run --detectors", "Git commit", "numpy"):
        assert text in page, text


def test_latex_report_and_wilcoxon(store, tmp_path):
    invoke("report", "--store", str(store), "--out", str(tmp_path), "--format", "latex",
           "--posthoc", "wilcoxon")
    tex = (tmp_path / "tables.tex").read_text(encoding="utf-8")
    assert tex.count(r"\begin{tabular}") == 3 and r"\toprule" in tex
    assert re.search(r"0\.\d{3} \$\\pm\$ 0\.\d{3}", tex)
    assert r"\textbf{" in tex  # the best per dataset
    assert "knn[n\\_neighbors=5000]" in tex
    assert "±" not in tex and "≤" not in tex  # pdflatex-safe


def test_report_missing_drop_leaves_incomplete_datasets_out_of_the_tests(store, tmp_path):
    """A partial grid: with --missing drop, unfinished datasets leave the tests, and say so."""
    last = (tmp_path / "last")
    drop = (tmp_path / "drop")
    invoke("report", "--store", str(store), "--out", str(last))
    invoke("report", "--store", str(store), "--out", str(drop), "--missing", "drop")
    last_html = (last / "index.html").read_text()
    drop_html = (drop / "index.html").read_text()
    assert "rank last on their dataset" in last_html
    # ae ran on one of the two datasets only: dropping the other leaves too few for Friedman
    assert "rank last on their dataset" not in drop_html
    assert "Not computed" in drop_html and "and 1 datasets" in drop_html
    assert "Not computed" not in last_html


def test_a_rerun_with_changed_defaults_supersedes_the_old_cells(tmp_path):
    """A plugin changes a default: the rerun's cells replace the old ones in the tables (the store
    keeps both), and the leaderboard says how many it left out."""
    plugin = tmp_path / "plugs" / "shiftplug.py"
    plugin.parent.mkdir()
    source = (Path(__file__).parent / "plugin_sources" / "shift.py").read_text()
    plugin.write_text(source)
    store = tmp_path / "r.sqlite"
    args = ["--plugins-dir", str(plugin.parent), "run", "--detectors", "shift", "--datasets",
            "synthetic:global", "--seeds", "1,2", "--store", str(store), "-q",
            "--executor", "serial", "--no-leaderboard"]
    runner = CliRunner()
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    before = json.loads(runner.invoke(cli, ["leaderboard", "--store", str(store), "--format",
                                            "json"]).output)
    # a new default, and so a new version (part of the cell key)
    plugin.write_text(source.replace("power=1", "power=4").replace('"1.0"', '"1.1"'))
    rerun = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr  # a new process: it imports the changed plugin
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 4  # both kept
    after = json.loads(runner.invoke(cli, ["leaderboard", "--store", str(store), "--format",
                                           "json"]).output)
    assert after["completeness"]["cells_planned"] == 2 and after["completeness"]["cells_ok"] == 2
    assert after["completeness"]["cells_superseded"] == 2
    (row,) = after["summary"]
    assert row["avg_auroc"] != before["summary"][0]["avg_auroc"]
    text = runner.invoke(cli, ["leaderboard", "--store", str(store)]).output
    assert "2 older cells (other parameters or plugin version, superseded by a later run)" in text
