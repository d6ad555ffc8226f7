"""Leaderboard tables for people (bench/render.py): units, precision, best marks, max rows, the
terminal table; on frames whose answers are known, and on a store made by `bench run`."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from bench import leaderboard as lb
from bench import render
from bench.cli import cli


@pytest.mark.parametrize(("value", "text"), [
    (0.00042, "0.4 ms"), (0.0123, "12 ms"), (0.999, "999 ms"), (1.234, "1.23 s"),
    (45.67, "45.7 s"), (312.4, "312 s"),
])
def test_times_are_ms_under_a_second_and_s_above(value, text):
    assert render.format_value(value, "seconds") == text


def test_each_quantity_has_its_precision():
    assert render.format_value(0.87654, "metric") == "0.877"
    assert render.format_value(7.5833, "rank") == "7.58"
    assert render.format_value(481.73, "mb") == "482"
    assert render.format_value(10000, "rows") == "10,000"
    assert render.format_value(None, "rows") == "all"
    assert render.format_value(math.nan, "metric") == "—"
    assert render.format_value(96, "count") == "96"


@pytest.mark.parametrize(("ok", "planned", "text"), [
    (3453, 3456, "99.9%"), (9999, 10000, "99.9%"), (19999, 20000, "99.9%"), (96, 96, "100.0%"),
    (0, 4, "0.0%"), (1, 3, "33.3%"), (2, 3, "66.6%"),
])
def test_completeness_is_never_rounded_up(ok, planned, text):
    assert render.format_value(ok / planned, "ratio") == text


def test_one_seed_has_no_spread_and_failed_seeds_are_counted():
    assert render.mean_std(0.91234, 0.0, 1) == "0.912"
    assert render.mean_std(0.91234, 0.0, 3) == "0.912 ± 0.000"
    assert render.mean_std(0.5, 0.01, 2, n_failed=1, n_planned=3) == "0.500 ± 0.010 (1/3 failed)"
    assert render.mean_std(math.nan, math.nan, 0, n_failed=3, n_planned=3) == "failed"
    assert render.mean_std(math.nan, math.nan, 0) == "not run"


@pytest.mark.parametrize(("label", "split"), [
    ("knn", ("knn", None)),
    ("knn[max_samples=10000]", ("knn", 10000)),
    ("vae[score=iwae,max_samples=500]", ("vae[score=iwae]", 500)),
    ("knn[n_neighbors=5]", ("knn[n_neighbors=5]", None)),
])
def test_max_samples_leaves_the_label_for_its_own_column(label, split):
    assert lb.split_label(label) == split


def cells(rows: list[tuple[str, str, int, float, str]]) -> pd.DataFrame:
    """Cells of one protocol: (detector label, dataset, seed, auroc, status)."""
    out = []
    for i, (det, ds, seed, auroc, status) in enumerate(rows):
        out.append({"key": f"k{i}", "detector": det, "family": "f", "dataset": ds,
                    "protocol": "unsupervised", "seed": seed, "status": status,
                    "auroc": auroc if status == "ok" else None,
                    "auprc": auroc / 2 if status == "ok" else None, "fit_s": 0.02, "score_s": 1.5,
                    "peak_mem_mb": 12.4, "max_samples": 300 if "max_samples" in det else None,
                    "error": None if status == "ok" else "boom", "finished_at": f"t{i}"})
    return pd.DataFrame(out)


GRID = cells([
    ("a", "d1", 1, 0.90, "ok"), ("a", "d1", 2, 0.92, "ok"), ("a", "d2", 1, 0.70, "ok"),
    ("a", "d2", 2, 0.70, "ok"),
    ("b[max_samples=300]", "d1", 1, 0.95, "ok"), ("b[max_samples=300]", "d1", 2, 0.95, "ok"),
    ("b[max_samples=300]", "d2", 1, 0.60, "ok"), ("b[max_samples=300]", "d2", 2, 0.0, "failed"),
    ("c", "d1", 1, 0.91, "ok"), ("c", "d1", 2, 0.91, "ok"), ("c", "d2", 1, 0.70, "ok"),
    ("c", "d2", 2, 0.70, "ok"),
])


def test_the_best_mean_per_dataset_is_marked_ties_included():
    table = render.matrix_table(GRID, "auroc", "unsupervised")
    frame = table.frame.set_index("Dataset")
    best = table.best.drop(columns="Dataset").set_axis(frame.index)
    assert set(frame.columns) == {"a", "c", "b ≤300"}
    assert best.loc["d1"].to_dict() == {c: c == "b ≤300" for c in frame.columns}
    # a and c tie on d2 at 0.700; b has one seed there (the other failed)
    assert best.loc["d2"].to_dict() == {c: c in ("a", "c") for c in frame.columns}
    assert frame.loc["d2", "b ≤300"] == "0.600 (1/2 failed)"
    assert frame.loc["d1", "a"] == "0.910 ± 0.010"
    markdown = render.markdown(table)
    assert "**0.950 ± 0.000**" in markdown and "**0.700 ± 0.000**" in markdown
    html = render.html_table(table)
    assert html.count("best") >= 3 and "num" in html
    latex = render.latex(table)
    assert latex.count(r"\textbf{") == 3 and r"\le" in latex and r"\toprule" in latex


def test_summary_has_human_headers_and_max_rows_as_a_column():
    summary = lb.summary(GRID)
    table = render.summary_table(summary)
    assert list(table.frame.columns[:3]) == ["Detector", "Max rows", "Avg rank"]
    rows = table.frame.set_index("Detector")
    assert rows.loc["b", "Max rows"] == "300" and rows.loc["a", "Max rows"] == "all"
    assert rows.loc["b", "Complete"] == "75.0%" and rows.loc["a", "Complete"] == "100.0%"
    assert rows.loc["a", "Fit time"] == "20 ms" and rows.loc["a", "Score time"] == "1.50 s"
    assert rows.loc["a", "Cell's own peak MB"] == "12"
    assert table.numeric[:3] == [False, True, True]


def test_json_and_csv_keep_numbers_and_split_max_samples():
    payload = json.loads(render.render(GRID, fmt="json"))
    rows = {r["detector"]: r for r in payload["summary"]}
    assert rows["b"]["max_samples"] == 300 and rows["a"]["max_samples"] is None
    assert isinstance(rows["a"]["cells_ok"], int) and isinstance(rows["a"]["avg_auroc"], float)
    csv = render.render(GRID, fmt="csv").splitlines()
    assert csv[0].startswith("detector,max_samples,dataset,protocol,")
    assert any(line.startswith("b,300,d1,unsupervised,0.95,") for line in csv)


def test_terminal_table_is_a_rich_table_with_right_aligned_numbers():
    for width in (80, 160):  # a narrow terminal leaves columns out, never cuts a value
        text = render.render(GRID, fmt="table", width=width)
        assert "┃ Detector" in text and "…" not in text
        assert max(len(line) for line in text.splitlines()) <= width
        assert ("Left out for the terminal's width" in text) == (width == 80)
        line = next(line for line in text.splitlines() if line.startswith("│ b "))
        cells = [c.strip() for c in line.split("│")[1:-1]]
        assert cells[:3] == ["b", "300", "2.00"] and cells[-1] == "75.0%"
        raw = line.split("│")[3]  # Avg rank: padded on the left, so right-aligned
        assert raw.endswith("2.00 ") and raw.startswith("  ")


def test_leaderboard_command_prints_markdown_when_not_a_terminal(tmp_path):
    """Through the CLI on a real store: Markdown in a pipe, the rich table with --format table."""
    store = tmp_path / "s.sqlite"
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--detectors", "iforest,hbos", "--datasets",
                                 "synthetic:global", "--seeds", "1", "--store", str(store), "-q",
                                 "--executor", "serial", "--no-leaderboard"])
    assert result.exit_code == 0, result.output
    out = runner.invoke(cli, ["leaderboard", "--store", str(store)]).output
    assert out.startswith("Completeness: 2 of 2") and "| Detector" in out
    table = runner.invoke(cli, ["leaderboard", "--store", str(store), "--format", "table"]).output
    assert "┃ Detector" in table and "| Detector" not in table


def test_the_readme_headline_is_what_bench_leaderboard_prints():
    """The README's headline rows are the published store's leaderboard rows, as printed."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    store = root / "results" / "published.sqlite"
    if not store.is_file():
        pytest.skip("no published store")
    readme = (root / "README.md").read_text(encoding="utf-8")
    head = readme[readme.index("Headline, protocol `unsupervised`"):]
    lines = [line for line in head.split("\n\n")[1].splitlines() if line.startswith("| ")]
    header, *rows = ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    out = CliRunner().invoke(cli, ["leaderboard", "--store", str(store), "--protocol",
                                   "unsupervised"]).output
    board = [[c.strip() for c in line.strip().strip("|").split("|")]
             for line in out.split("### ")[0].splitlines() if line.startswith("| ")]
    columns = board[0]
    printed = [dict(zip(columns, r, strict=True)) for r in board[1:]]
    assert len(rows) == 10
    for got, want in zip(rows, printed, strict=False):
        assert got == [want[c] for c in header], (got, want)
