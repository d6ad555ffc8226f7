"""Leaderboards: pure functions from the store's DataFrame to ranked tables.

``per_dataset`` gives one row per (protocol, detector, dataset): the metric's mean and standard
deviation over seeds, with the count of cells that finished and failed. ``summary`` gives one row
per (protocol, detector): average metric over datasets, average rank (rank 1 = best on a dataset,
ties averaged; a detector with no result on a dataset takes the last rank there, so failures are
never averaged away), median fit and score seconds, median peak memory, and completeness.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1
METRICS = ("auroc", "auprc")
FORMATS = ("markdown", "csv", "html", "latex", "json")


def per_dataset(cells: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Mean and std over seeds for each protocol, detector and dataset."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    keys = ["protocol", "detector", "dataset"]
    if cells.empty:
        return pd.DataFrame(columns=[*keys, f"{metric}_mean", f"{metric}_std", "n_ok", "n_failed"])
    ok = cells["status"] == "ok"
    grouped = cells.assign(_ok=ok, _bad=~ok).groupby(keys, sort=True)
    out = grouped.agg(
        n_ok=("_ok", "sum"),
        n_failed=("_bad", "sum"),
    )
    good = cells[ok].groupby(keys)
    stats = pd.DataFrame(
        {
            f"{metric}_mean": good[metric].mean(),
            f"{metric}_std": good[metric].std(ddof=0),
            "auprc_mean" if metric == "auroc" else "auroc_mean": good[
                "auprc" if metric == "auroc" else "auroc"
            ].mean(),
            "fit_s": good["fit_s"].median(),
            "score_s": good["score_s"].median(),
            "peak_mem_mb": good["peak_mem_mb"].median(),
        }
    )
    out = out.join(stats, how="left").reset_index()
    out["n_ok"] = out["n_ok"].astype(int)
    out["n_failed"] = out["n_failed"].astype(int)
    return out


def ranks(table: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Rank detectors within each (protocol, dataset); missing results take the last rank."""
    column = f"{metric}_mean"
    frames = []
    for (_protocol, _dataset), group in table.groupby(["protocol", "dataset"], sort=True):
        values = group[column]
        rank = values.rank(ascending=False, method="average")
        rank = rank.fillna(len(group))
        frames.append(group.assign(rank=rank))
    if not frames:
        return table.assign(rank=pd.Series(dtype=float))
    return pd.concat(frames)


def summary(cells: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """One row per protocol and detector, sorted by average rank."""
    table = ranks(per_dataset(cells, metric), metric)
    columns = ["protocol", "detector", "avg_rank", f"avg_{metric}", "n_datasets",
               "fit_s_median", "score_s_median", "peak_mem_mb_median", "cells_ok", "cells_total",
               "completeness"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    ok_cells = cells[cells["status"] == "ok"]
    rows = []
    for (protocol, detector), group in table.groupby(["protocol", "detector"], sort=True):
        mine = ok_cells[(ok_cells["protocol"] == protocol) & (ok_cells["detector"] == detector)]
        total = int(group["n_ok"].sum() + group["n_failed"].sum())
        rows.append(
            {
                "protocol": protocol,
                "detector": detector,
                "avg_rank": float(group["rank"].mean()),
                f"avg_{metric}": float(group[f"{metric}_mean"].mean()),
                "n_datasets": int(group[f"{metric}_mean"].notna().sum()),
                "fit_s_median": float(mine["fit_s"].median()) if len(mine) else math.nan,
                "score_s_median": float(mine["score_s"].median()) if len(mine) else math.nan,
                "peak_mem_mb_median": float(mine["peak_mem_mb"].median()) if len(mine) else math.nan,
                "cells_ok": int(group["n_ok"].sum()),
                "cells_total": total,
                "completeness": int(group["n_ok"].sum()) / total if total else math.nan,
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["protocol", "avg_rank", "detector"]).reset_index(drop=True)


def matrix(cells: pd.DataFrame, metric: str = "auroc", protocol: str | None = None) -> pd.DataFrame:
    """Datasets x detectors of "mean ± std" strings (``failed`` where no seed finished)."""
    table = per_dataset(cells, metric)
    if protocol is not None:
        table = table[table["protocol"] == protocol]
    order = summary(cells[cells["protocol"] == protocol] if protocol else cells, metric)
    detectors = list(dict.fromkeys(order["detector"]))

    def cell(row: pd.Series) -> str:
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        text = "failed" if pd.isna(mean) else f"{mean:.3f} ± {0.0 if pd.isna(std) else std:.3f}"
        if row["n_failed"] and not pd.isna(mean):
            text += f" ({int(row['n_failed'])} failed)"
        return text

    if table.empty:
        return pd.DataFrame()
    table = table.assign(text=table.apply(cell, axis=1))
    wide = table.pivot_table(index="dataset", columns="detector", values="text", aggfunc="first")
    return wide.reindex(columns=detectors).fillna("—")


def failures(cells: pd.DataFrame) -> pd.DataFrame:
    bad = cells[cells["status"] != "ok"]
    return bad[["protocol", "detector", "dataset", "seed", "status", "error"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# rendering


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "—"
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def to_markdown(frame: pd.DataFrame, index: bool = False) -> str:
    if index:
        frame = frame.reset_index()
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def to_latex(frame: pd.DataFrame, index: bool = False, caption: str = "") -> str:
    if index:
        frame = frame.reset_index()

    def esc(text: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                     ("#", r"\#"), ("±", r"$\pm$"), ("—", "--")):
            text = text.replace(a, b)
        return text

    cols = "l" * len(frame.columns)
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & ".join(esc(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(esc(_fmt(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{esc(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def render(cells: pd.DataFrame, metric: str = "auroc", fmt: str = "markdown") -> str:
    """The whole leaderboard (summary, per-dataset matrix, failures) in one format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    summ = summary(cells, metric)
    long = per_dataset(cells, metric)
    fails = failures(cells)
    if fmt == "csv":
        return long.assign(schema_version=SCHEMA_VERSION).to_csv(index=False, float_format="%.6g")
    if fmt == "json":
        payload = {
            "schema_version": SCHEMA_VERSION,
            "metric": metric,
            "summary": _records(summ),
            "per_dataset": _records(long),
            "failures": _records(fails),
        }
        return json.dumps(payload, indent=2, default=_json_default, allow_nan=False)
    parts = []
    for protocol in sorted(cells["protocol"].unique()) if not cells.empty else []:
        s = summ[summ["protocol"] == protocol].drop(columns="protocol")
        m = matrix(cells, metric, protocol)
        title = f"Leaderboard: {metric.upper()}, protocol {protocol}"
        if fmt == "markdown":
            parts += [f"## {title}", "", to_markdown(s), "", f"### {metric.upper()} per dataset "
                      "(mean ± std over seeds)", "", to_markdown(m, index=True), ""]
        elif fmt == "latex":
            parts += [to_latex(s, caption=title), "", to_latex(m, index=True,
                      caption=f"{metric.upper()} per dataset, protocol {protocol}"), ""]
        elif fmt == "html":
            parts += [f"<h2>{title}</h2>", s.to_html(index=False, float_format="%.3f", na_rep="—"),
                      f"<h3>{metric.upper()} per dataset</h3>", m.to_html()]
    if not fails.empty:
        if fmt == "markdown":
            parts += [f"### Cells that did not finish ({len(fails)})", "", to_markdown(fails), ""]
        elif fmt == "latex":
            parts += [to_latex(fails, caption="Cells that did not finish")]
        elif fmt == "html":
            parts += [f"<h3>Cells that did not finish ({len(fails)})</h3>", fails.to_html(index=False)]
    if not parts:
        return "(no results in the store)\n"
    if fmt == "html":
        body = "\n".join(parts)
        return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>anomaly-bench "
                f"leaderboard</title></head><body>\n{body}\n</body></html>\n")
    return "\n".join(parts).rstrip() + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN turned into None (JSON has no NaN)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(value) else float(value)
    return str(value)
