"""``bench compare A B``: what changed between two result sets.

A side is a store (its current cells, as the leaderboard shows them) or one run of a store (the
cells that run planned). Cells are matched by slot: detector label, dataset, protocol, seed and
``max_samples``. For each side the metric is averaged over the seeds both sides finished, per
(protocol, detector, dataset); the differences B - A give wins, ties (within
:data:`bench.leaderboard.TIE_TOLERANCE`) and losses per detector, and a paired Wilcoxon
signed-rank test over its datasets (scipy; no test when every difference is zero). Matched cells
whose key differs are listed with what changed: parameters, plugin version, the code that
implements the detector (``code_hash``) or dataset file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import leaderboard as lb
from bench.errors import BenchError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SLOT = ["protocol", "detector", "dataset", "seed", "max_samples"]
#: what a cell's key is made of, besides its slot: a difference here is a changed cell
KEY_PARTS = ["params", "plugin_version", "code_hash", "dataset_sha256"]


@dataclass
class Side:
    """One side of a comparison: a name for the tables and its cells (current, ok or not)."""

    name: str
    cells: pd.DataFrame


@dataclass
class Comparison:
    per_dataset: pd.DataFrame  # protocol, detector, dataset, a, b, diff, n_seeds
    summary: pd.DataFrame  # protocol, detector, datasets, wins, ties, losses, mean_diff, p
    changed: pd.DataFrame  # slot + what changed, old and new
    only_a: int
    only_b: int
    a: str
    b: str
    metric: str


def side(spec: str, store: str | None = None) -> Side:
    """``spec`` is a store path, or a run id of ``store`` (``--store``)."""
    if store is not None and spec.isdigit():
        return Side(f"run {spec}", run_cells(store, int(spec)))
    if not Path(spec).is_file():
        hint = "" if store else " (to compare two runs of one store: --store PATH RUN_A RUN_B)"
        raise BenchError(f"{spec}: no such store{hint}")
    cells, _planned = lb.load(spec)
    return Side(spec, cells)


def run_cells(store: str, run_id: int) -> pd.DataFrame:
    """The cells that run ``run_id`` of ``store`` planned, as stored now (labels as in tables)."""
    import pandas as pd

    from bench.store import Store

    with Store(store, create=False) as db:
        if not db.conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
            raise BenchError(f"store {store} has no run {run_id}")
        cells = pd.read_sql_query(
            "SELECT * FROM cells WHERE key IN (SELECT key FROM planned WHERE run_id = ?)",
            db.conn, params=[run_id])
    cells, _ = lb.subsample_labels(cells, cells.iloc[0:0][["key", "max_samples", "detector"]])
    return cells


def _slots(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells keyed by slot: the detector's name without ``max_samples=``, and max_samples as a
    number (-1: every row)."""
    frame = cells.copy()
    frame["max_samples"] = frame["max_samples"].astype("float").fillna(-1).astype(int)
    frame["detector"] = [lb.split_label(d)[0] for d in frame["detector"]]
    return frame


def compare(a: Side, b: Side, metric: str = "auroc",
            tolerance: float = lb.TIE_TOLERANCE) -> Comparison:
    import pandas as pd

    left, right = _slots(a.cells), _slots(b.cells)
    merged = left.merge(right, on=SLOT, how="outer", suffixes=("_a", "_b"), indicator=True)
    only_a = int((merged["_merge"] == "left_only").sum())
    only_b = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"]
    changed = _changed(both)
    ok = both[(both["status_a"] == "ok") & (both["status_b"] == "ok")]
    per = ok.groupby(["protocol", "detector", "max_samples", "dataset"], sort=True).agg(
        a=(f"{metric}_a", "mean"), b=(f"{metric}_b", "mean"), n_seeds=("seed", "nunique"),
    ).reset_index()
    per["diff"] = per["b"] - per["a"]
    rows = []
    for (protocol, detector, rows_), group in per.groupby(["protocol", "detector", "max_samples"],
                                                          sort=True):
        diff = group["diff"]
        rows.append({
            "protocol": protocol, "detector": detector, "max_samples": rows_,
            "datasets": len(group),
            "wins": int((diff > tolerance).sum()), "ties": int((diff.abs() <= tolerance).sum()),
            "losses": int((diff < -tolerance).sum()), "mean_diff": float(diff.mean()),
            "p_wilcoxon": wilcoxon(diff.to_numpy()),
        })
    summary = pd.DataFrame(rows, columns=["protocol", "detector", "max_samples", "datasets", "wins",
                                          "ties", "losses", "mean_diff", "p_wilcoxon"])
    for frame in (summary, per):
        frame["max_samples"] = _rows(frame["max_samples"])
    return Comparison(per_dataset=per, summary=summary, changed=changed, only_a=only_a,
                      only_b=only_b, a=a.name, b=b.name, metric=metric)


def wilcoxon(diff: Any) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; NaN when all are zero
    (nothing to test) or there are none."""
    import numpy as np
    from scipy.stats import wilcoxon as test

    diff = np.asarray(diff, dtype=float)
    if len(diff) == 0 or np.allclose(diff, 0, atol=1e-12):
        return math.nan
    return float(test(diff, zero_method="zsplit").pvalue)


def _changed(both: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for row in both[both["key_a"] != both["key_b"]].itertuples(index=False):
        row = row._asdict()
        what = [part for part in KEY_PARTS
                if _norm(row.get(f"{part}_a")) != _norm(row.get(f"{part}_b"))]
        rows.append({
            **{k: row[k] for k in SLOT},
            "changed": ", ".join(what) or "code",
            "a": "; ".join(f"{p}={row[f'{p}_a']}" for p in what),
            "b": "; ".join(f"{p}={row[f'{p}_b']}" for p in what),
        })
    frame = pd.DataFrame(rows, columns=[*SLOT, "changed", "a", "b"])
    frame["max_samples"] = _rows(frame["max_samples"])
    return frame


def _rows(column: pd.Series) -> pd.Series:
    """max_samples back to a number or None (every row), as an object column for JSON."""
    import pandas as pd

    return pd.Series([None if m == -1 else int(m) for m in column], index=column.index,
                     dtype=object)


def _norm(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return None if value is None or value != value else value


# ---------------------------------------------------------------------------------------------
# output


def to_text(result: Comparison) -> str:
    """Markdown: the per-detector summary, the changed cells, the per-dataset differences."""
    from bench import render

    m = result.metric.upper()
    lines = [f"Comparing A = {result.a} with B = {result.b} on {m} (B - A; a tie: within "
             f"{lb.TIE_TOLERANCE}).",
             f"Cells matched by slot (detector, dataset, protocol, seed, max rows); only in A: "
             f"{result.only_a}, only in B: {result.only_b}.", ""]
    summary = result.summary.assign(
        mean_diff=result.summary["mean_diff"].map(lambda v: f"{v:+.3f}"),
        p_wilcoxon=result.summary["p_wilcoxon"].map(
            lambda p: "— (all equal)" if p != p else "< 0.001" if p < 0.001 else f"{p:.3f}"))
    summary["max_samples"] = summary["max_samples"].map(lambda r: render.format_value(r, "rows"))
    summary.columns = ["Protocol", "Detector", "Max rows", "Datasets", "Wins (B)", "Ties",
                       "Losses (B)", f"Mean {m} diff", "Wilcoxon p"]
    lines += ["## Wins, ties and losses of B against A per detector", "",
              render.markdown(render.Table(summary, [False, False] + [True] * 7)), ""]
    lines += [f"## Cells whose parameters or versions changed ({len(result.changed)})", ""]
    if len(result.changed):
        changed = result.changed.astype(object).where(result.changed.notna(), "all")
        changed.columns = ["Protocol", "Detector", "Dataset", "Seed", "Max rows", "Changed",
                           "A", "B"]
        lines += [render.markdown(render.Table(changed, [False] * 3 + [True, True] + [False] * 3)),
                  ""]
    else:
        lines += ["None: every matched cell has the same key (parameters, plugin version, "
                  "dataset file).", ""]
    per = result.per_dataset[result.per_dataset["diff"].abs() > lb.TIE_TOLERANCE]
    lines += [f"## Datasets where {m} differs ({len(per)} of {len(result.per_dataset)})", ""]
    if len(per):
        shown = per.assign(**{c: per[c].map(lambda v: f"{v:.3f}") for c in ("a", "b")},
                           diff=per["diff"].map(lambda v: f"{v:+.3f}"))
        shown["max_samples"] = shown["max_samples"].map(lambda r: render.format_value(r, "rows"))
        shown = shown[["protocol", "detector", "max_samples", "dataset", "a", "b", "diff",
                       "n_seeds"]]
        shown.columns = ["Protocol", "Detector", "Max rows", "Dataset", f"{m} A", f"{m} B",
                         "B - A", "Seeds"]
        lines.append(render.markdown(render.Table(shown, [False, False, True, False]
                                                  + [True] * 4)))
    return "\n".join(lines).rstrip() + "\n"


def to_json(result: Comparison) -> str:
    from bench import render

    payload = {
        "a": result.a, "b": result.b, "metric": result.metric,
        "only_a": result.only_a, "only_b": result.only_b,
        "summary": render.records(result.summary),
        "changed": render.records(result.changed),
        "per_dataset": render.records(result.per_dataset),
    }
    return json.dumps(payload, indent=2, default=render.json_default, allow_nan=False) + "\n"
