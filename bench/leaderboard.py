"""Leaderboards: pure functions from the store's DataFrames to ranked tables.

``per_dataset`` gives one row per (protocol, detector, dataset): AUROC and AUPRC mean and standard
deviation over seeds, median fit and score seconds and peak memory, and the count of cells that
finished ok, failed (or timed out), were planned but never ran, and were planned in all.

``summary`` gives one row per (protocol, detector): average rank over datasets (rank 1 = best on a
dataset, ties averaged; a detector without a result on a dataset shares the last ranks there, so a
failure is never averaged away), average AUROC and AUPRC over the datasets it finished, median fit
and score seconds and peak memory over its ok cells, and completeness (cells ok / cells planned).
With ``reference=NAME`` it adds wins, ties and losses against that detector, paired over the
datasets where both have a result (a tie: means within :data:`TIE_TOLERANCE`).

``by="family"`` ranks detector families instead: a family's score on a dataset is the mean over
all ok cells (every member detector and seed) on that dataset.

"Planned" comes from the store's ``planned`` table (every cell any run set out to compute), so a
grid that was interrupted shows as incomplete rather than as a smaller whole.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.options import BY, LEADERBOARD_FORMATS, METRICS

#: 3: ``detector`` without ``max_samples=``, which is its own column (CSV and JSON)
SCHEMA_VERSION = 3
FORMATS = LEADERBOARD_FORMATS
#: Two means closer than this count as a tie in win/tie/loss counts (the tables show 3 decimals).
TIE_TOLERANCE = 5e-4


def load(store: str | Path, protocol: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells and the planned cells of an existing store, optionally of one protocol, as the
    tables show them: each slot's latest cell, subsampled runs labelled ``name[max_samples=N]``."""
    return subsample_labels(*load_current(store, protocol))


def load_current(store: str | Path, protocol: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells and planned cells of each slot's most recent run (see :func:`current`)."""
    from bench.store import Store

    with Store(store, create=False) as db:
        cells = db.query(protocol=protocol)
        planned = db.planned(protocol)
    cells, planned = current(cells, planned)
    return cells, planned.drop(columns="run_id").drop_duplicates()


#: one place in a grid: a detector label on one dataset, protocol, seed and subsample size
SLOT = ["detector", "dataset", "protocol", "seed", "max_samples"]


def current(cells: pd.DataFrame, planned: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop cells and planned cells superseded by a later run of the same slot.

    A cell's key holds its parameters' hash and its plugin's version, so after a detector's
    defaults or code change a rerun stores new cells beside the old ones, under the same label.
    The tables show, for each slot (detector label, dataset, protocol, seed, max_samples), the
    key that the most recent run planned (or, for cells no run planned, the last finished). The
    number of superseded cells is kept in ``cells.attrs["superseded"]``; they stay in the store.
    """
    n_before = len(cells)
    slot_key: dict[tuple[Any, ...], str] = {}
    if len(planned):
        order = planned.sort_values("run_id", kind="stable")
        for row in order[[*SLOT, "key"]].itertuples(index=False):
            slot_key[_slot(row[:-1])] = row[-1]
    if len(cells):
        by_time = cells.sort_values("finished_at", kind="stable", na_position="first")
        latest: dict[tuple[Any, ...], str] = {}
        for row in by_time[[*SLOT, "key"]].itertuples(index=False):
            latest[_slot(row[:-1])] = row[-1]
        for slot, key in latest.items():
            slot_key.setdefault(slot, key)
        keep = [slot_key[_slot(row[:-1])] == row[-1]
                for row in cells[[*SLOT, "key"]].itertuples(index=False)]
        cells = cells[keep]
    if len(planned):
        keep = [slot_key[_slot(row[:-1])] == row[-1]
                for row in planned[[*SLOT, "key"]].itertuples(index=False)]
        planned = planned[keep]
    cells = cells.copy()
    cells.attrs["superseded"] = n_before - len(cells)
    return cells, planned


def _slot(values: tuple[Any, ...]) -> tuple[Any, ...]:
    *head, max_samples = values
    if max_samples is None or max_samples != max_samples:  # None or NaN: not subsampled
        max_samples = None
    else:
        max_samples = int(max_samples)
    return (*head, max_samples)


def subsample_labels(cells: pd.DataFrame, planned: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tell cells run with ``--max-samples N`` apart: their detector becomes ``name[max_samples=N]``.

    The same detector on the same dataset with and without subsampling are two different
    experiments (the key differs); averaging them together would mix two results.
    """
    known = dict(zip(cells["key"], cells["max_samples"], strict=True)) if len(cells) else {}
    if len(planned):
        planned = planned.copy()
        planned["max_samples"] = [
            m if m == m and m is not None else known.get(k)
            for k, m in zip(planned["key"], planned["max_samples"], strict=True)
        ]
        planned["detector"] = _labels(planned["detector"], planned["max_samples"])
    if len(cells):
        cells = cells.copy()
        cells["detector"] = _labels(cells["detector"], cells["max_samples"])
    return cells, planned


def _labels(detectors: pd.Series, max_samples: pd.Series) -> list[str]:
    out = []
    for det, m in zip(detectors, max_samples, strict=True):
        if m is None or m != m:
            out.append(det)
        elif det.endswith("]"):
            out.append(f"{det[:-1]},max_samples={int(m)}]")
        else:
            out.append(f"{det}[max_samples={int(m)}]")
    return out


class UnknownReferenceError(BenchError):
    """``reference=`` names a detector (or family) without results."""


def split_label(label: str) -> tuple[str, int | None]:
    """Undo :func:`subsample_labels`: ``knn[k=5,max_samples=10000]`` -> ``("knn[k=5]", 10000)``."""
    match = _MAX_SAMPLES.search(label)
    if match is None:
        return label, None
    name = label[:match.start()] + label[match.end():]
    return name.replace("[,", "[").replace("[]", ""), int(match.group(1))


_MAX_SAMPLES = re.compile(r",?max_samples=(\d+)(?=[,\]])")


def validate_options(metric: str, by: str) -> None:
    if metric not in METRICS:
        raise BenchError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    if by not in BY:
        raise BenchError(f"unknown grouping {by!r} (choose from {', '.join(BY)})")


def grid(cells: pd.DataFrame, planned: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every planned cell: the stored row, or a row with status ``missing`` if it never ran."""
    if planned is None or planned.empty:
        return cells
    missing = planned[~planned["key"].isin(cells["key"])].drop_duplicates("key")
    if missing.empty:
        return cells
    families = dict(zip(cells["detector"], cells["family"], strict=True)) if len(cells) else {}
    missing = missing.assign(
        status="missing",
        family=[families.get(d, "unknown") for d in missing["detector"]],
    )
    frames = [f for f in (cells, missing) if len(f)]
    return pd.concat(frames, ignore_index=True, sort=False)


def per_dataset(cells: pd.DataFrame, metric: str = "auroc", *, by: str = "detector",
                planned: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean and std over seeds (and, by family, over member detectors) per dataset."""
    validate_options(metric, by)
    keys = ["protocol", by, "dataset"]
    columns = [*keys, "auroc_mean", "auroc_std", "auprc_mean", "auprc_std", "fit_s", "score_s",
               "peak_mem_mb", "max_samples", "n_ok", "n_failed", "n_missing", "n_planned"]
    frame = grid(cells, planned)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    status = frame["status"]
    counts = frame.assign(
        _ok=status == "ok",
        _bad=status.isin(["failed", "timeout"]),
        _missing=status == "missing",
    ).groupby(keys, sort=True).agg(
        n_ok=("_ok", "sum"), n_failed=("_bad", "sum"), n_missing=("_missing", "sum"),
        n_planned=("status", "size"),
    )
    good = frame[status == "ok"].groupby(keys)
    stats = pd.DataFrame(
        {
            "auroc_mean": good["auroc"].mean(),
            "auroc_std": good["auroc"].std(ddof=0),
            "auprc_mean": good["auprc"].mean(),
            "auprc_std": good["auprc"].std(ddof=0),
            "fit_s": good["fit_s"].median(),
            "score_s": good["score_s"].median(),
            "peak_mem_mb": good["peak_mem_mb"].median(),
            "max_samples": good["max_samples"].max() if "max_samples" in frame else math.nan,
        }
    )
    out = counts.join(stats, how="left").reset_index()
    for column in ("n_ok", "n_failed", "n_missing", "n_planned"):
        out[column] = out[column].astype(int)
    return out[columns]


def ranks(table: pd.DataFrame, metric: str = "auroc", *, by: str = "detector") -> pd.DataFrame:
    """Rank within each (protocol, dataset), 1 = best, ties averaged; no result = last ranks."""
    column = f"{metric}_mean"
    if table.empty:
        return table.assign(rank=pd.Series(dtype=float))
    rank = table.groupby(["protocol", "dataset"], sort=False)[column].rank(
        ascending=False, method="average", na_option="bottom")
    return table.assign(rank=rank.astype(float))


def win_tie_loss(table: pd.DataFrame, reference: str, metric: str = "auroc", *,
                 by: str = "detector", tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
    """Per (protocol, key): datasets where its mean beats, ties or loses to ``reference``'s."""
    column = f"{metric}_mean"
    rows = []
    for protocol, group in table.groupby("protocol", sort=True):
        wide = group.pivot_table(index="dataset", columns=by, values=column, aggfunc="first",
                                  dropna=False)
        if reference not in wide.columns:
            raise UnknownReferenceError(f"reference {reference!r} has no results in protocol {protocol!r}; "
                             f"choose from {', '.join(map(str, wide.columns))}")
        ref = wide[reference]
        for key in wide.columns:
            paired = wide[[key]].assign(_ref=ref).dropna()
            diff = paired[key] - paired["_ref"]
            rows.append({"protocol": protocol, by: key,
                         "wins": int((diff > tolerance).sum()),
                         "ties": int((diff.abs() <= tolerance).sum()),
                         "losses": int((diff < -tolerance).sum())})
    return pd.DataFrame(rows, columns=["protocol", by, "wins", "ties", "losses"])


def summary(cells: pd.DataFrame, metric: str = "auroc", *, by: str = "detector",
            planned: pd.DataFrame | None = None, reference: str | None = None) -> pd.DataFrame:
    """One row per protocol and detector (or family), sorted by average rank."""
    table = ranks(per_dataset(cells, metric, by=by, planned=planned), metric, by=by)
    columns = ["protocol", by, "avg_rank", "avg_auroc", "avg_auprc", "n_datasets",
               "fit_s_median", "score_s_median", "peak_mem_mb_median", "cells_ok", "cells_failed",
               "cells_planned", "completeness"]
    if by == "family":
        columns.insert(2, "n_detectors")
    if reference is not None:
        columns += ["wins", "ties", "losses"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    ok_cells = cells[cells["status"] == "ok"]
    detectors_per = grid(cells, planned).groupby(["protocol", by])["detector"].nunique()
    rows = []
    for (protocol, key), group in table.groupby(["protocol", by], sort=True):
        mine = ok_cells[(ok_cells["protocol"] == protocol) & (ok_cells[by] == key)]
        planned_n = int(group["n_planned"].sum())
        rows.append(
            {
                "protocol": protocol,
                by: key,
                "n_detectors": int(detectors_per.get((protocol, key), 0)),
                "avg_rank": float(group["rank"].mean()),
                "avg_auroc": float(group["auroc_mean"].mean()),
                "avg_auprc": float(group["auprc_mean"].mean()),
                "n_datasets": int(group[f"{metric}_mean"].notna().sum()),
                "fit_s_median": float(mine["fit_s"].median()) if len(mine) else math.nan,
                "score_s_median": float(mine["score_s"].median()) if len(mine) else math.nan,
                "peak_mem_mb_median": float(mine["peak_mem_mb"].median()) if len(mine) else math.nan,
                "cells_ok": int(group["n_ok"].sum()),
                "cells_failed": int(group["n_failed"].sum()),
                "cells_planned": planned_n,
                "completeness": int(group["n_ok"].sum()) / planned_n if planned_n else math.nan,
            }
        )
    out = pd.DataFrame(rows)
    if reference is not None:
        wtl = win_tie_loss(table, reference, metric, by=by)
        out = out.merge(wtl, on=["protocol", by], how="left")
    out = out.reindex(columns=columns)
    return out.sort_values(["protocol", "avg_rank", by]).reset_index(drop=True)


def completeness(cells: pd.DataFrame, planned: pd.DataFrame | None = None) -> dict[str, Any]:
    """Counts over the whole grid: planned, ok, failed, timeout, never ran; and the ratio."""
    frame = grid(cells, planned)
    counts = frame["status"].value_counts() if len(frame) else pd.Series(dtype=int)
    total = int(len(frame))
    ok = int(counts.get("ok", 0))
    return {
        "cells_planned": total,
        "cells_ok": ok,
        "cells_failed": int(counts.get("failed", 0)),
        "cells_timeout": int(counts.get("timeout", 0)),
        "cells_missing": int(counts.get("missing", 0)),
        "completeness": ok / total if total else None,
        "cells_superseded": int(cells.attrs.get("superseded", 0)),
    }


def completeness_line(info: dict[str, Any]) -> str:
    ratio = info["completeness"]
    pct = "—" if ratio is None else f"{100 * ratio:.1f}%"
    return (f"Completeness: {info['cells_ok']} of {info['cells_planned']} planned cells ok "
            f"({pct}); {info['cells_failed']} failed, {info['cells_timeout']} timed out, "
            f"{info['cells_missing']} not run." + (
                f" {info['cells_superseded']} older cells (other parameters or plugin version, "
                f"superseded by a later run) not shown." if info.get("cells_superseded") else ""))


def protocol_table(cells: pd.DataFrame, metric: str, protocol: str, *, by: str = "detector",
                   planned: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """:func:`per_dataset` rows of one protocol, and its detectors (or families) in rank order."""
    cells = cells[cells["protocol"] == protocol]
    if planned is not None:
        planned = planned[planned["protocol"] == protocol]
    table = per_dataset(cells, metric, by=by, planned=planned)
    if table.empty:
        return table, []
    order = summary(cells, metric, by=by, planned=planned)
    return table, list(dict.fromkeys(order[by]))


def failures(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells that failed or timed out, with their error text."""
    columns = ["protocol", "detector", "dataset", "seed", "status", "error"]
    if cells.empty:
        return pd.DataFrame(columns=columns)
    bad = cells[cells["status"] != "ok"]
    return bad[columns].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# rendering: see bench/render.py


def results(frame_or_store: Any, protocol: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells and planned cells the tables show, from a store path or a frame of cells (what
    ``bench.run`` returns: every planned cell, ``missing`` for those that did not run)."""
    if isinstance(frame_or_store, str | Path):
        return load(frame_or_store, protocol)
    if not isinstance(frame_or_store, pd.DataFrame):
        from bench.errors import BenchError

        raise BenchError("expected a store path or a DataFrame of cells, got "
                         f"{type(frame_or_store).__name__}")
    frame = frame_or_store
    if protocol is not None:
        frame = frame[frame["protocol"] == protocol]
    planned = frame[["key", *SLOT]].assign(run_id=0)
    cells, planned = current(frame[frame["status"].isin(["ok", "failed", "timeout"])], planned)
    return subsample_labels(cells, planned.drop(columns="run_id").drop_duplicates())


class _CallableModule(type(sys.modules[__name__])):  # type: ignore[misc]
    """``bench.leaderboard(frame_or_store, *, metric, protocol, by, reference)``: the ranked
    table as a DataFrame (the public API and this module share the name)."""

    def __call__(self, frame_or_store: Any, *, metric: str = "auroc", protocol: str | None = None,
                 by: str = "detector", reference: str | None = None) -> pd.DataFrame:
        cells, planned = results(frame_or_store, protocol)
        return summary(cells, metric, by=by, planned=planned, reference=reference)


sys.modules[__name__].__class__ = _CallableModule
