"""``bench report``: a static report of a result store.

``html`` writes ``index.html`` plus PNG figures beside it: no script, no stylesheet or font from
the network, so the folder opens offline and can be published as it is. It holds the completeness
of the grid, the leaderboard, the Friedman test with its post-hoc test and critical difference
diagram, per-dataset AUROC box plots, AUROC against fit time (the Pareto view), the training
curves of the detectors that record a ``history`` (deep detectors), the failed cells with their
reasons, and the provenance of every run. ``latex`` writes ``tables.tex`` with booktabs tables
ready for a paper.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import leaderboard as lb
from bench import stats
from bench.errors import BenchError

FORMATS = ("html", "latex")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1280px;padding:1rem 2rem;color:#222;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}
th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top;
font-variant-numeric:tabular-nums}
th{background:#f4f4f4}
img{max-width:100%;height:auto;border:1px solid #eee}
.note{color:#555;font-size:.9rem}
nav a{margin-right:1rem}
"""


def build(store: str | Path, out: str | Path, *, fmt: str = "html", metric: str = "auroc",
          posthoc: str = "nemenyi", alpha: float = 0.05, missing: str = "last") -> Path:
    """Write the report of ``store`` into folder ``out``; return the main file's path.

    ``missing`` is the statistics' policy for a detector without a result on a dataset:
    ``"last"`` ranks it last there (as the leaderboard does), ``"drop"`` leaves that dataset out
    of the tests (for a partial grid, so unfinished detectors are not ranked by what is missing).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    cells, planned = lb.load(store)
    if cells.empty and planned.empty:
        raise BenchError(f"store {store} holds no results yet")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from bench.store import Store

    with Store(store, create=False) as db:
        runs = db.runs()
    if fmt == "latex":
        return _latex(cells, planned, out, metric, posthoc, alpha, missing)
    return _html(cells, planned, runs, out, metric, posthoc, alpha, missing)


def protocols_of(cells: pd.DataFrame, planned: pd.DataFrame) -> list[str]:
    return sorted(set(cells["protocol"]) | set(planned["protocol"]))


def comparisons(cells: pd.DataFrame, planned: pd.DataFrame, metric: str, posthoc: str,
                alpha: float, missing: str = "last") -> dict[str, stats.Comparison | str]:
    """Per protocol: the statistics, or the reason they could not be computed."""
    table = lb.per_dataset(cells, metric, planned=planned)
    out: dict[str, stats.Comparison | str] = {}
    for protocol in protocols_of(cells, planned):
        scores = stats.score_matrix(table, metric, protocol=protocol)
        try:
            out[protocol] = stats.compare(scores, method=posthoc, alpha=alpha, missing=missing)
        except BenchError as exc:
            out[protocol] = str(exc)
    return out


# ---------------------------------------------------------------------------------------------
# figures


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path.name


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower() or "x"


def box_plots(ok: pd.DataFrame, order: list[str], path: Path, metric: str = "auroc") -> str:
    """One panel per dataset: a box of the metric over seeds for each detector."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator
    datasets = sorted(ok["dataset"].unique())
    ncols = min(3, len(datasets))
    nrows = math.ceil(len(datasets) / ncols)
    height = max(1.8, 0.28 * len(order) + 0.8)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, height * nrows), squeeze=False,
                             sharey=True)
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        mine = ok[ok["dataset"] == dataset]
        data = [mine.loc[mine["detector"] == d, metric].to_numpy() for d in order]
        ax.boxplot([d if len(d) else [np.nan] for d in data], orientation="horizontal", widths=0.6)
        ax.set_yticks(range(1, len(order) + 1), order, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel(metric.upper(), fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.grid(axis="x", alpha=0.3)
    for ax in axes.flat[len(datasets):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def pareto(summary: pd.DataFrame, path: Path, metric: str = "auroc") -> str:
    """Average metric against median fit seconds; the Pareto front (faster and better) marked."""
    plt = _plt()
    frame = summary.dropna(subset=["fit_s_median", f"avg_{metric}"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = frame["fit_s_median"].clip(lower=1e-4).to_numpy()
    y = frame[f"avg_{metric}"].to_numpy()
    front = [i for i in range(len(frame))
             if not any((x[j] <= x[i] and y[j] >= y[i]) and (x[j] < x[i] or y[j] > y[i])
                        for j in range(len(frame)))]
    ax.scatter(x, y, color="#888")
    for i, name in enumerate(frame["detector"]):
        ax.annotate(name, (x[i], y[i]), fontsize=8, xytext=(4, 3), textcoords="offset points")
    if front:
        idx = sorted(front, key=lambda i: x[i])
        ax.plot(x[idx], y[idx], "-o", color="#c33", label="Pareto front")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel("median fit time per cell (s, log scale)")
    ax.set_ylabel(f"average {metric.upper()} over datasets")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def histories(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per epoch of every ok cell that recorded a training history."""
    rows = []
    for cell in cells[cells["status"] == "ok"].itertuples(index=False):
        if not isinstance(cell.extra, str) or not cell.extra:
            continue
        try:
            history = json.loads(cell.extra).get("history")
        except (ValueError, AttributeError):
            continue
        if not isinstance(history, list):
            continue
        for i, epoch in enumerate(history, 1):
            if isinstance(epoch, dict):
                rows.append({"protocol": cell.protocol, "detector": cell.detector,
                             "dataset": cell.dataset, "seed": cell.seed,
                             "epoch": epoch.get("epoch", i), "train_loss": epoch.get("train_loss"),
                             "val_loss": epoch.get("val_loss")})
    return pd.DataFrame(rows, columns=["protocol", "detector", "dataset", "seed", "epoch",
                                       "train_loss", "val_loss"])


def curves(hist: pd.DataFrame, path: Path) -> str:
    """One panel per detector: training loss (solid) and validation loss (dashed) per epoch."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator
    detectors = sorted(hist["detector"].unique())
    ncols = min(2, len(detectors))
    nrows = math.ceil(len(detectors) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 3.6 * nrows), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, detector in zip(axes.flat, detectors, strict=False):
        mine = hist[hist["detector"] == detector]
        datasets = sorted(mine["dataset"].unique())
        for c, dataset in enumerate(datasets):
            color = colors(c % 10)
            for n, ((_p, _s), run) in enumerate(mine[mine["dataset"] == dataset].groupby(
                    ["protocol", "seed"])):
                label = dataset if n == 0 and len(datasets) <= 10 else None
                ax.plot(run["epoch"], run["train_loss"], color=color, alpha=0.8, lw=1, label=label)
                if run["val_loss"].notna().any():
                    ax.plot(run["epoch"], run["val_loss"], color=color, alpha=0.6, lw=1, ls="--")
        ax.set_title(f"{detector} (solid: train, dashed: validation)", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss", fontsize=8)
        ax.grid(alpha=0.3)
        if len(datasets) <= 10:
            ax.legend(fontsize=7)
    for ax in axes.flat[len(detectors):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# html


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    if frame.empty:
        return "<p class='note'>(none)</p>"
    if index:  # one header row: the index becomes the first column
        frame = frame.rename_axis(index=frame.index.name or "", columns=None).reset_index()
    return f"<div class='scroll'>{lb.to_html(frame)}</div>"


def _img(name: str, alt: str) -> str:
    return f"<p><img src='{html.escape(name)}' alt='{html.escape(alt)}'></p>"


def _figure(out: Path, name: str, alt: str, draw: Callable[[Path], str]) -> str:
    return _img(draw(out / name), alt)


def _provenance(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "<p class='note'>(no runs recorded)</p>"
    parts = []
    for run in runs:
        try:
            versions = json.loads(run.get("versions") or "{}")
        except ValueError:
            versions = {}
        fields = {
            "command": run.get("command"),
            "started": run.get("started_at"),
            "finished": run.get("finished_at") or "(interrupted)",
            "git commit": run.get("git_commit") or "(unknown)",
            "machine": run.get("platform"),
            "cells planned": run.get("n_planned"),
            "options": run.get("options"),
            "versions": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        }
        frame = pd.DataFrame({"": list(fields), "value": [str(v) for v in fields.values()]})
        parts += [f"<h3>Run {run['run_id']}</h3>", _table(frame)]
    return "\n".join(parts)


def _html(cells: pd.DataFrame, planned: pd.DataFrame, runs: list[dict[str, Any]], out: Path,
          metric: str, posthoc: str, alpha: float, missing: str = "last") -> Path:
    info = lb.completeness(cells, planned)
    ok = cells[cells["status"] == "ok"]
    hist = histories(cells)
    results = comparisons(cells, planned, metric, posthoc, alpha, missing)
    body: list[str] = [
        "<h1>anomaly-bench report</h1>",
        f"<p class='note'>{html.escape(lb.completeness_line(info))} Metric: {metric.upper()}, "
        "mean over seeds per dataset.</p>",
        "<nav><a href='#leaderboard'>Leaderboard</a><a href='#statistics'>Statistics</a>"
        "<a href='#figures'>Figures</a><a href='#training'>Training curves</a>"
        "<a href='#failures'>Failures</a><a href='#provenance'>Provenance</a></nav>",
        "<h2 id='leaderboard'>Leaderboard</h2>",
    ]
    summaries = {}
    for protocol in protocols_of(cells, planned):
        mine_c = cells[cells["protocol"] == protocol]
        mine_p = planned[planned["protocol"] == protocol]
        summ = lb.summary(mine_c, metric, planned=mine_p)
        summaries[protocol] = summ
        body += [f"<h3>Protocol {html.escape(protocol)}</h3>",
                 "<p class='note'>Average rank over datasets (1 = best, ties averaged, a missing "
                 "result ranks last); times in seconds, memory in MB (medians over ok cells); "
                 "completeness = cells ok / cells planned.</p>",
                 _table(summ.drop(columns="protocol")),
                 f"<h4>{metric.upper()} per dataset (mean ± std over seeds)</h4>",
                 _table(lb.matrix(mine_c, metric, protocol, planned=mine_p), index=True)]
    body.append("<h2 id='statistics'>Statistics</h2>")
    for protocol, result in results.items():
        body.append(f"<h3>Protocol {html.escape(protocol)}</h3>")
        if isinstance(result, str):
            body.append(f"<p class='note'>Not computed: {html.escape(result)}.</p>")
            continue
        body.append(f"<p>{html.escape(result.text())}</p>")
        if result.excluded:
            body.append("<p class='note'>Left out of the tests (no result on any dataset): "
                        f"{html.escape(', '.join(result.excluded))}.</p>")
        if result.imputed:
            body.append(f"<p class='note'>{result.imputed} missing result(s) (failed, timed out "
                        "or not run) rank last on their dataset, as in the leaderboard.</p>")
        if result.dropped:
            body.append("<p class='note'>Datasets left out of the tests (missing results): "
                        f"{html.escape(', '.join(result.dropped))}.</p>")
        body.append(_figure(out, f"cd-{_slug(protocol)}.png",
                            f"critical difference diagram, protocol {protocol}",
                            lambda p, r=result, t=protocol: stats.cd_diagram(r, p, t).name))
        method = ("Nemenyi" if result.posthoc_method == "nemenyi"
                  else "Wilcoxon signed-rank, Holm-corrected")
        body += [f"<h4>Post-hoc p-values ({method})</h4>", _table(result.posthoc, index=True)]
    body.append("<h2 id='figures'>Figures</h2>")
    for protocol, summ in summaries.items():
        mine = ok[ok["protocol"] == protocol]
        if mine.empty:
            continue
        order = list(summ["detector"])
        slug = _slug(protocol)
        body += [
            f"<h3>{metric.upper()} per dataset over seeds, protocol {html.escape(protocol)}</h3>",
            _figure(out, f"box-{slug}.png", f"{metric} box plots, protocol {protocol}",
                    lambda p, m=mine, o=order: box_plots(m, o, p, metric)),
            f"<h3>{metric.upper()} against fit time, protocol {html.escape(protocol)}</h3>",
            _figure(out, f"pareto-{slug}.png", f"{metric} against fit time, protocol {protocol}",
                    lambda p, s=summ: pareto(s, p, metric)),
        ]
    body.append("<h2 id='training'>Training curves</h2>")
    if hist.empty:
        body.append("<p class='note'>No cell recorded a training history.</p>")
    else:
        body.append(_figure(out, "training-curves.png", "training curves",
                            lambda p: curves(hist, p)))
    fails = lb.failures(cells)
    body += [f"<h2 id='failures'>Failures ({len(fails)})</h2>", _table(fails)]
    missing = lb.grid(cells, planned)
    missing = missing[missing["status"] == "missing"]
    if len(missing):
        body += [f"<h3>Planned but never run ({len(missing)})</h3>",
                 _table(missing[["protocol", "detector", "dataset", "seed"]])]
    body += ["<h2 id='provenance'>Provenance</h2>", _provenance(runs)]
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>anomaly-bench report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# latex


def _latex(cells: pd.DataFrame, planned: pd.DataFrame, out: Path, metric: str, posthoc: str,
           alpha: float, missing: str = "last") -> Path:
    info = lb.completeness(cells, planned)
    parts = ["% anomaly-bench tables; needs \\usepackage{booktabs}",
             f"% {lb.completeness_line(info)}", ""]
    results = comparisons(cells, planned, metric, posthoc, alpha, missing)
    for protocol in protocols_of(cells, planned):
        mine_c = cells[cells["protocol"] == protocol]
        mine_p = planned[planned["protocol"] == protocol]
        summ = lb.summary(mine_c, metric, planned=mine_p)
        keep = ["detector", "avg_rank", "avg_auroc", "avg_auprc", "fit_s_median",
                "peak_mem_mb_median", "completeness"]
        slug = _slug(protocol)
        parts += [lb.to_latex(summ[keep], caption=f"Average rank and {metric.upper()} over "
                              f"datasets, protocol {protocol}", label=f"tab:summary-{slug}"), "",
                  lb.to_latex(lb.matrix(mine_c, metric, protocol, planned=mine_p), index=True,
                              caption=f"{metric.upper()} per dataset (mean ± std over seeds), "
                                      f"protocol {protocol}", label=f"tab:{metric}-{slug}"), ""]
        result = results[protocol]
        if isinstance(result, stats.Comparison):
            ranks = result.avg_ranks.rename("avg_rank").to_frame()
            parts += [lb.to_latex(ranks, index=True, caption=result.text(),
                                  label=f"tab:ranks-{slug}"), ""]
    path = out / "tables.tex"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
