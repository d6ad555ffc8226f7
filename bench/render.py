"""Leaderboard tables for people: units, precision, headers and the best value marked.

:mod:`bench.leaderboard` computes the numbers (frames of floats); this module turns them into text.
Each quantity has one format: AUROC and AUPRC to 3 places, an average rank to 2, times in ms under
a second and in s above, memory in whole MB, completeness in % rounded *down* (so a grid with one
failed cell never reads 100%), counts as integers, a missing value as an em dash. A mean over one
seed is shown without a ``± 0.000`` that would claim a spread nobody measured. The column headers
are words, numbers are right-aligned, ``max_samples`` is a column ("Max rows") instead of part of
the detector's label, and the best mean per dataset is marked (bold) in Markdown, LaTeX and HTML.

Markdown goes through :meth:`pandas.DataFrame.to_markdown` (tabulate), LaTeX and HTML through
:class:`pandas.io.formats.style.Styler`, and the terminal table through rich; CSV and JSON keep
the raw numbers (with ``detector`` and ``max_samples`` as two columns) for programs.
"""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

from bench import leaderboard as lb
from bench.options import BY, LEADERBOARD_FORMATS, METRICS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: human headers of the summary and per-dataset columns (the CSV/JSON keep the raw names)
HEADERS = {
    "protocol": "Protocol",
    "detector": "Detector",
    "family": "Family",
    "n_detectors": "Detectors",
    "max_samples": "Max rows",
    "avg_rank": "Avg rank",
    "avg_auroc": "AUROC",
    "avg_auprc": "AUPRC",
    "n_datasets": "Datasets",
    "fit_s_median": "Fit time",
    "score_s_median": "Score time",
    "peak_mem_mb_median": "Cell's own peak MB",
    "cells_ok": "Cells ok",
    "cells_failed": "Failed",
    "cells_planned": "Planned",
    "completeness": "Complete",
    "wins": "Wins",
    "ties": "Ties",
    "losses": "Losses",
    "dataset": "Dataset",
    "seed": "Seed",
    "status": "Status",
    "error": "Error",
}

#: how each column is formatted (see :func:`format_value`)
KINDS = {
    "n_detectors": "count", "max_samples": "rows", "avg_rank": "rank", "avg_auroc": "metric",
    "avg_auprc": "metric", "n_datasets": "count", "fit_s_median": "seconds",
    "score_s_median": "seconds", "peak_mem_mb_median": "mb", "cells_ok": "count",
    "cells_failed": "count", "cells_planned": "count", "completeness": "ratio", "wins": "count",
    "ties": "count", "losses": "count", "seed": "count",
}
NUMERIC_KINDS = {"count", "rows", "rank", "metric", "seconds", "mb", "ratio"}
DASH = "—"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value != value


def seconds(value: float) -> str:
    """``12 ms``, ``3.5 ms``, ``0.4 ms``, ``1.23 s``, ``45.6 s``, ``312 s``."""
    if value < 1:
        ms = value * 1000
        return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def percent_floor(ratio: float) -> str:
    """A ratio in %, one decimal, rounded down: 3453/3456 reads 99.9%, never 100.0%."""
    tenths = math.floor(ratio * 1000 + 1e-9)
    return f"{tenths / 10:.1f}%"


def format_value(value: Any, kind: str) -> str:
    """One value as the tables show it (``kind`` from :data:`KINDS`, ``text`` otherwise)."""
    if _missing(value):
        return "all" if kind == "rows" else DASH
    if kind == "metric":
        return f"{value:.3f}"
    if kind == "rank":
        return f"{value:.2f}"
    if kind == "seconds":
        return seconds(float(value))
    if kind == "mb":
        return f"{value:.0f}"
    if kind == "ratio":
        return percent_floor(float(value))
    if kind == "rows":
        return f"{int(value):,}"
    if kind == "count":
        return str(int(value))
    return str(value)


def mean_std(mean: float, std: float, n: int, n_failed: int = 0, n_planned: int = 0) -> str:
    """``0.912 ± 0.004`` over several seeds, ``0.912`` over one; failed seeds noted."""
    if _missing(mean):
        return "failed" if n_failed else "not run"
    text = f"{mean:.3f}" if n <= 1 or _missing(std) else f"{mean:.3f} ± {std:.3f}"
    if n_failed:
        text += f" ({n_failed}/{n_planned} failed)"
    return text


# ---------------------------------------------------------------------------------------------
# display frames: strings, human headers, and which columns are numbers


class Table:
    """A frame of display strings, which columns are right-aligned, and cells to mark best."""

    def __init__(self, frame: pd.DataFrame, numeric: list[bool], best: pd.DataFrame | None = None,
                 title: str = "") -> None:
        self.frame = frame
        self.numeric = numeric
        self.best = best
        self.title = title

    @property
    def empty(self) -> bool:
        return self.frame.empty


def summary_table(summary: pd.DataFrame, by: str = "detector") -> Table:
    """The ranked summary of one protocol as display strings (``protocol`` dropped)."""
    frame = summary.drop(columns=[c for c in ("protocol",) if c in summary])
    if by == "detector":
        names, rows = zip(*(lb.split_label(d) for d in frame["detector"]), strict=True) \
            if len(frame) else ((), ())
        frame = frame.assign(detector=list(names))
        frame.insert(1, "max_samples", list(rows))
        if frame["max_samples"].isna().all():
            frame = frame.drop(columns="max_samples")
    out = {}
    numeric = []
    for column in frame.columns:
        kind = KINDS.get(column, "text")
        out[HEADERS.get(column, column)] = [format_value(v, kind) for v in frame[column]]
        numeric.append(kind in NUMERIC_KINDS)
    import pandas as pd

    return Table(pd.DataFrame(out, columns=list(out)), numeric)


def column_label(label: str) -> str:
    """A detector label for a matrix header: ``knn ≤10k`` for ``knn[max_samples=10000]``."""
    name, rows = lb.split_label(label)
    if rows is None:
        return name
    short = f"{rows // 1000}k" if rows >= 1000 and rows % 1000 == 0 else f"{rows:,}"
    return f"{name} ≤{short}"


def matrix_table(cells: pd.DataFrame, metric: str, protocol: str, *, by: str = "detector",
                 planned: pd.DataFrame | None = None) -> Table:
    """Datasets x detectors of ``mean ± std`` over seeds, in leaderboard order, best marked."""
    import pandas as pd

    table, order = lb.protocol_table(cells, metric, protocol, by=by, planned=planned)
    if table.empty:
        return Table(pd.DataFrame(), [])
    column = f"{metric}_mean"
    text = [mean_std(r[column], r[f"{metric}_std"], int(r["n_ok"]), int(r["n_failed"]),
                     int(r["n_planned"])) for _, r in table.iterrows()]
    table = table.assign(text=text, rounded=table[column].round(3))
    wide = table.pivot_table(index="dataset", columns=by, values="text", aggfunc="first")
    wide = wide.reindex(columns=order).fillna(DASH)
    values = table.pivot_table(index="dataset", columns=by, values="rounded", aggfunc="first",
                               dropna=False).reindex(index=wide.index, columns=order)
    best = values.eq(values.max(axis=1), axis=0) & values.notna()
    headers = [column_label(c) if by == "detector" else str(c) for c in order]
    frame = wide.reset_index()
    frame.columns = ["Dataset", *headers]
    best = best.reset_index(drop=True)
    best.columns = headers
    best.insert(0, "Dataset", False)
    return Table(frame, [False] + [True] * len(headers), best)


def failures_table(fails: pd.DataFrame) -> Table:
    frame = fails.rename(columns=HEADERS)
    frame = frame.astype(object).where(frame.notna(), DASH)
    return Table(frame, [c == "Seed" for c in frame.columns])


# ---------------------------------------------------------------------------------------------
# writers


def markdown(table: Table) -> str:
    """A GitHub Markdown table (tabulate), numbers right-aligned, the best values in bold."""
    frame = _marked(table, "**{}**", escape=lambda s: s.replace("|", "\\|").replace("\n", " "))
    align = ["right" if n else "left" for n in table.numeric]
    return frame.to_markdown(index=False, tablefmt="pipe", colalign=align,
                             disable_numparse=True)


def latex(table: Table, caption: str = "", label: str = "") -> str:
    """A booktabs table (``\\usepackage{booktabs}``) through pandas' Styler, best values bold."""
    styler = _styler(table, "textbf: --rwrap;", escape="latex")
    column_format = "".join("r" if n else "l" for n in table.numeric)
    text = styler.to_latex(hrules=True, column_format=column_format,
                           caption=caption or None, label=label or None,
                           position="t", position_float="centering").rstrip()
    for char, command in _LATEX_SYMBOLS.items():  # pdflatex has no glyph for these by default
        text = text.replace(char, command)
    return text


_LATEX_SYMBOLS = {"±": r"$\pm$", "≤": r"$\le$", "—": "--"}


def html_table(table: Table, table_id: str = "") -> str:
    """An HTML table through pandas' Styler: class ``num`` on numbers, ``best`` on best values."""
    if table.empty:
        return "<p class='note'>(none)</p>"
    styler = _styler(table, "", escape="html")
    # long text (an error, a command line) wraps instead of widening the table
    kinds = ["num" if n else "wrap" if table.frame[c].astype(str).str.len().max() > 60 else ""
             for c, n in zip(table.frame.columns, table.numeric, strict=True)]
    classes = [kinds for _ in range(len(table.frame))]
    import pandas as pd

    td = pd.DataFrame(classes, index=table.frame.index, columns=table.frame.columns)
    if table.best is not None:
        marks = table.best.reindex(index=table.frame.index, columns=table.frame.columns)
        td = td.where(~marks.fillna(False).astype(bool), td + " best")
    styler = styler.set_td_classes(td)
    attributes = "class='board'" + (f" id='{html.escape(table_id)}'" if table_id else "")
    styler = styler.set_table_attributes(attributes)
    heads = [{"selector": f"th.col_heading.col{i}", "props": "text-align: right;"}
             for i, n in enumerate(table.numeric) if n]
    return styler.set_table_styles(heads, overwrite=True).to_html()


def _marked(table: Table, pattern: str, escape: Any) -> pd.DataFrame:
    frame = table.frame.astype(str).map(escape)
    frame.columns = [escape(str(c)) for c in frame.columns]
    if table.best is not None:
        for j, column in enumerate(table.frame.columns):
            marks = table.best[column].to_numpy()
            frame.iloc[marks, j] = [pattern.format(v) for v in frame.iloc[marks, j]]
    return frame


def _styler(table: Table, best_css: str, escape: str) -> Any:
    styler = table.frame.style.hide(axis="index").format(escape=escape)
    styler = styler.format_index(escape=escape, axis=1)
    if table.best is not None and best_css:
        best = table.best
        styler = styler.apply(lambda _: best.map(lambda b: best_css if b else ""), axis=None)
    return styler


#: columns a narrow terminal leaves out first (the files keep them all)
NARROW_DROP = ("Score time", "AUPRC", "Datasets", "Failed", "Planned", "Cells ok")


def _widths(table: Table) -> dict[str, int]:
    """Each column's width: its widest value, or the longest word of its header."""
    return {str(c): max(max((len(str(v)) for v in table.frame[c]), default=1),
                        max(len(w) for w in str(c).split()))
            for c in table.frame.columns}


def fit_width(table: Table, width: int) -> tuple[Table, list[str]]:
    """Leave out :data:`NARROW_DROP` columns until the table fits ``width`` characters."""
    dropped: list[str] = []
    for column in NARROW_DROP:
        widths = _widths(table)
        # rich shares out the width less tightly than this sum: leave it some room
        if sum(widths.values()) + 3 * len(widths) + 1 + 2 * len(widths) <= width:
            break
        if column in table.frame.columns:
            keep = [c != column for c in table.frame.columns]
            table = Table(table.frame.loc[:, keep],
                          [n for n, k in zip(table.numeric, keep, strict=True) if k],
                          None if table.best is None else table.best.loc[:, keep], table.title)
            dropped.append(column)
    return table, dropped


def rich_table(table: Table, title: str = "") -> Any:
    """A rich ``Table`` for the terminal: values never cut, long headers wrap between words."""
    from rich.table import Table as RichTable

    out = RichTable(title=title or None, title_justify="left", header_style="bold")
    widths = _widths(table)
    for i, (column, numeric) in enumerate(zip(table.frame.columns, table.numeric, strict=True)):
        out.add_column(str(column), justify="right" if numeric else "left",
                       min_width=widths[str(column)] if i == 0 else None, no_wrap=i == 0,
                       overflow="ellipsis" if numeric else "fold")
    for i, row in enumerate(table.frame.itertuples(index=False)):
        cells = []
        for j, value in enumerate(row):
            text = str(value)
            if table.best is not None and bool(table.best.iat[i, j]):
                text = f"[bold]{text}[/bold]"
            cells.append(text)
        out.add_row(*cells)
    return out


# ---------------------------------------------------------------------------------------------
# the whole leaderboard


def render(cells: pd.DataFrame, metric: str = "auroc", fmt: str = "markdown", *,
           by: str = "detector", planned: pd.DataFrame | None = None,
           reference: str | None = None, width: int | None = None) -> str:
    """The leaderboard (completeness, summary, per-dataset matrix, failures) in one format."""
    if fmt not in LEADERBOARD_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(LEADERBOARD_FORMATS)})")
    if metric not in METRICS or by not in BY:
        lb.validate_options(metric, by)
    summary = lb.summary(cells, metric, by=by, planned=planned, reference=reference)
    info = lb.completeness(cells, planned)
    fails = lb.failures(cells)
    if fmt == "csv":
        return _csv(cells, metric, by, planned)
    if fmt == "json":
        return _json(cells, metric, by, planned, reference, summary, info, fails)
    protocols = sorted(lb.grid(cells, planned)["protocol"].unique()) if info["cells_planned"] else []
    if not protocols:
        return "(no results in the store)\n"
    line = lb.completeness_line(info)
    vs = f", wins/ties/losses against {reference}" if reference else ""
    sections = []
    for protocol in protocols:
        title = f"Leaderboard: {metric.upper()}, protocol {protocol}, by {by}{vs}"
        mine = summary[summary["protocol"] == protocol]
        per_dataset_table = matrix_table(cells, metric, protocol, by=by, planned=planned)
        note = ("; a header with ≤N: run on at most N rows of each dataset (stratified)"
                if any("≤" in str(c) for c in per_dataset_table.frame.columns) else "")
        sub = (f"{metric.upper()} per dataset (mean ± std over seeds; bold: best on the "
               f"dataset{note}), protocol {protocol}")
        sections.append((title, summary_table(mine, by), sub, per_dataset_table))
    fail_head = f"Cells that did not finish ({len(fails)})"
    fail_table = failures_table(fails) if len(fails) else None
    if fmt == "table":
        return _terminal(line, sections, fail_head, fail_table, width)
    parts: list[str] = []
    if fmt == "markdown":
        parts += [line, ""]
        for title, ranked, sub, per_dataset_table in sections:
            parts += [f"## {title}", "", markdown(ranked), "", f"### {sub}", "",
                      markdown(per_dataset_table), ""]
        if fail_table is not None:
            parts += [f"### {fail_head}", "", markdown(fail_table), ""]
        return "\n".join(parts).rstrip() + "\n"
    if fmt == "latex":
        parts += [f"% {line}", "% needs \\usepackage{booktabs}", ""]
        for title, ranked, sub, per_dataset_table in sections:
            parts += [latex(ranked, caption=title), "", latex(per_dataset_table, caption=sub), ""]
        if fail_table is not None:
            parts += [latex(fail_table, caption=fail_head), ""]
        return "\n".join(parts).rstrip() + "\n"
    body = [f"<p class='completeness'>{html.escape(line)}</p>"]
    for title, ranked, sub, per_dataset_table in sections:
        body += [f"<h2>{html.escape(title)}</h2>", html_table(ranked),
                 f"<h3>{html.escape(sub)}</h3>", html_table(per_dataset_table)]
    if fail_table is not None:
        body += [f"<h3>{html.escape(fail_head)}</h3>", html_table(fail_table)]
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>anomaly-bench "
            "leaderboard</title><style>td.num,th.num{text-align:right}td.best{font-weight:bold}"
            "</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _terminal(line: str, sections: list[Any], fail_head: str, fail_table: Table | None,
              width: int | None) -> str:
    from rich.console import Console

    console = Console(record=True, width=width or 160, force_terminal=False,
                      color_system=None, file=_Null())
    console.print(line)
    left_out: set[str] = set()
    for title, ranked, _sub, _mat in sections:
        ranked, dropped = fit_width(ranked, console.width)
        left_out.update(dropped)
        console.print()
        console.print(rich_table(ranked, title))
    if left_out:
        console.print(f"\n(Left out for the terminal's width: {', '.join(sorted(left_out))}.)")
    if fail_table is not None:
        console.print()
        console.print(rich_table(fail_table, fail_head))
    console.print("\nPer-dataset tables: bench leaderboard --format markdown (or html, latex).")
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def export_frame(frame: pd.DataFrame, by: str = "detector") -> pd.DataFrame:
    """A frame for CSV/JSON: ``detector`` without ``max_samples=``, which gets its own column."""
    if by != "detector" or "detector" not in frame or frame.empty:
        return frame
    import pandas as pd

    names, rows = zip(*(lb.split_label(d) for d in frame["detector"]), strict=True)
    out = frame.assign(detector=list(names))
    out["max_samples"] = pd.Series([None if r is None else int(r) for r in rows],
                                   index=frame.index, dtype=object)
    return out


def _csv(cells: pd.DataFrame, metric: str, by: str, planned: pd.DataFrame | None) -> str:
    long = export_frame(lb.per_dataset(cells, metric, by=by, planned=planned), by)
    first = [by, "max_samples", "dataset", "protocol"] if by == "detector" else \
        [by, "dataset", "protocol"]
    long = long[first + [c for c in long.columns if c not in first]]
    return long.assign(schema_version=lb.SCHEMA_VERSION).to_csv(index=False, float_format="%.6g")


def _json(cells: pd.DataFrame, metric: str, by: str, planned: pd.DataFrame | None,
          reference: str | None, summary: pd.DataFrame, info: dict[str, Any],
          fails: pd.DataFrame) -> str:
    summary = export_frame(summary, by)
    if by == "detector" and len(summary):
        summary.insert(2, "max_samples", summary.pop("max_samples"))
    payload = {
        "schema_version": lb.SCHEMA_VERSION,
        "metric": metric,
        "by": by,
        "reference": reference,
        "completeness": info,
        "summary": records(summary),
        "per_dataset": records(export_frame(lb.per_dataset(cells, metric, by=by,
                                                           planned=planned), by)),
        "failures": records(fails),
    }
    return json.dumps(payload, indent=2, default=json_default, allow_nan=False)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of JSON types: NaN becomes null, numpy numbers plain numbers."""
    return [{k: json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def json_value(value: Any) -> Any:
    """A value as its JSON type: numpy ints and floats as numbers, NaN and NA as null."""
    import numpy as np

    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if value is None or value is getattr(__import__("pandas"), "NA", object()):
        return None
    return value


def json_default(value: Any) -> Any:
    converted = json_value(value)
    return str(converted) if converted is value else converted
