"""``bench report``: a static report of a result store.

``html`` writes ``index.html`` from a jinja2 template (``bench/templates/report.html.j2``), PNG
figures, and the leaderboard as ``leaderboard.csv`` and ``leaderboard.json`` beside it, linked
from the page. Nothing comes from the network: the few lines of script that sort the tables are
inline, so the folder opens offline and can be published as it is. The page holds the
completeness of the grid, the leaderboard (tables that sort, their first column kept in view),
the Friedman test with its post-hoc test and critical difference diagram, one box plot of the
metric over datasets per detector, the metric against fit time (the Pareto view, labels placed so
they do not overlap), the training curves of the detectors that record a ``history`` (deep
detectors), for image datasets the most and least anomalous test images per detector (with
reconstructions where the detector makes them), the failed cells with their reasons, and the
provenance of every run. ``latex``
writes ``tables.tex`` with booktabs tables ready for a paper.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bench import leaderboard as lb
from bench import render, stats
from bench.errors import BenchError
from bench.options import REPORT_FORMATS

FORMATS = REPORT_FORMATS


def build(store: str | Path, out: str | Path, *, fmt: str = "html", metric: str = "auroc",
          posthoc: str = "nemenyi", alpha: float = 0.05, missing: str = "last") -> Path:
    """Write the report of ``store`` into folder ``out``; return the main file's path.

    ``missing`` is the statistics' policy for a detector without a result on a dataset:
    ``"last"`` ranks it last there (as the leaderboard does), ``"drop"`` leaves that dataset out
    of the tests (for a partial grid, so unfinished detectors are not ranked by what is missing).
    """
    if fmt not in FORMATS:
        raise BenchError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
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
        scores.columns = [render.column_label(c) for c in scores.columns]
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
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)
    _plt().close(fig)
    return path.name


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower() or "x"


def box_plot(table: pd.DataFrame, order: list[str], path: Path, metric: str = "auroc") -> str:
    """One horizontal box per detector: its metric on each dataset (mean over seeds), with the
    datasets as dots; detectors in ``order`` (leaderboard order, best on top)."""
    plt = _plt()
    column = f"{metric}_mean"
    data = [table.loc[table["detector"] == d, column].dropna().to_numpy() for d in order]
    labels = [render.column_label(d) for d in order]
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.32 * len(order)))
    ax.boxplot([d if len(d) else [math.nan] for d in data], orientation="horizontal",
               widths=0.6, showfliers=False, medianprops={"color": "#c33"})
    import numpy as np

    rng = np.random.default_rng(0)
    for i, values in enumerate(data, 1):
        ax.scatter(values, i + rng.uniform(-0.18, 0.18, len(values)), s=9, color="#3465a4",
                   alpha=0.55, linewidths=0, zorder=3)
    ax.set_yticks(range(1, len(order) + 1), labels, fontsize=9)
    ax.set_ylim(len(order) + 0.6, 0.4)
    ax.set_xlabel(f"{metric.upper()} on a dataset (mean over seeds)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def place_labels(ax: Any, x: Any, y: Any, names: list[str], fontsize: int = 8) -> list[Any]:
    """Annotate points so that no two labels overlap, nor a label and a point: each label tries
    offsets around its point, nearest first, and takes the first free place; a label placed away
    from its point gets a thin line to it."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72  # points to pixels
    points = ax.transData.transform(list(zip(x, y, strict=True)))
    taken = [(px - 5, py - 5, px + 5, py + 5) for px, py in points]
    near = [(5, 2), (5, -11), (-5, 2), (-5, -11), (0, 7), (0, -17)]
    candidates = near + [(dx, dy) for k in (1.5, 2, 3, 4, 5, 6, 8)
                         for dx, dy in ((6 * k, 6 * k), (6 * k, -6 * k), (-6 * k, 6 * k),
                                        (-6 * k, -6 * k), (0, 10 * k), (0, -10 * k))]
    texts = []
    for i in sorted(range(len(names)), key=lambda i: (-points[i][1], points[i][0])):
        px, py = points[i]
        probe = ax.text(0, 0, names[i], fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        probe.remove()
        w, h = box.width, box.height
        place = None
        for dx, dy in candidates:
            left = px + dx * scale - (w if dx < 0 else w / 2 if dx == 0 else 0)
            rect = (left, py + dy * scale, left + w, py + dy * scale + h)
            if not any(_overlap(rect, other) for other in taken):
                place = (dx, dy, rect)
                break
        if place is None:  # crowded beyond every candidate: the farthest one
            dx, dy = candidates[-1]
            left = px + dx * scale - (w if dx < 0 else w / 2 if dx == 0 else 0)
            place = (dx, dy, (left, py + dy * scale, left + w, py + dy * scale + h))
        dx, dy, rect = place
        far = (dx, dy) not in near
        texts.append(ax.annotate(
            names[i], (x[i], y[i]), xytext=(dx, dy), textcoords="offset points",
            fontsize=fontsize, ha="right" if dx < 0 else "center" if dx == 0 else "left",
            va="bottom",
            arrowprops={"arrowstyle": "-", "color": "#999", "lw": 0.6, "shrinkA": 0,
                        "shrinkB": 3} if far else None))
        taken.append(rect)
    return texts


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def pareto(summary: pd.DataFrame, path: Path, metric: str = "auroc") -> str:
    """Average metric against median fit seconds; the Pareto front (faster and better) marked."""
    plt = _plt()
    frame = summary.dropna(subset=["fit_s_median", f"avg_{metric}"])
    fig, ax = plt.subplots(figsize=(10, 6.5))
    x = frame["fit_s_median"].clip(lower=1e-4).to_numpy()
    y = frame[f"avg_{metric}"].to_numpy()
    front = [i for i in range(len(frame))
             if not any((x[j] <= x[i] and y[j] >= y[i]) and (x[j] < x[i] or y[j] > y[i])
                        for j in range(len(frame)))]
    ax.scatter(x, y, color="#555", s=18, zorder=3)
    if front:
        idx = sorted(front, key=lambda i: x[i])
        ax.plot(x[idx], y[idx], "-", color="#c33", lw=1.2, label="Pareto front", zorder=2)
        ax.scatter(x[idx], y[idx], color="#c33", s=26, zorder=4)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xscale("log")
    if len(x):
        ax.set_xlim(x.min() / 2.5, x.max() * 4)
        span = max(y.max() - y.min(), 0.02)
        ax.set_ylim(y.min() - 0.12 * span, y.max() + 0.12 * span)
    ax.set_xlabel("median fit time per cell (s, log scale)")
    ax.set_ylabel(f"average {metric.upper()} over datasets")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    place_labels(ax, x, y, [render.column_label(d) for d in frame["detector"]])
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
        ax.set_title(f"{render.column_label(detector)} (solid: train, dashed: validation)",
                     fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        low, high = mine[["train_loss", "val_loss"]].stack().agg(["min", "max"])
        if high - low > 100:  # a few datasets' losses would flatten the others' curves
            ax.set_yscale("symlog", linthresh=1)
        ax.set_ylabel("loss (symlog)" if high - low > 100 else "loss", fontsize=8)
        ax.grid(alpha=0.3)
        if len(datasets) <= 10:
            ax.legend(fontsize=7)
    for ax in axes.flat[len(detectors):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------
# example images (image datasets)


def _examples_of(cell: Any) -> dict[str, Any] | None:
    text = getattr(cell, "examples", None)
    if not isinstance(text, str) or not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _optional_int(value: Any) -> int | None:
    return None if value is None or value != value else int(value)


def _reload_test_images(cell: Any, cache: dict[Any, Any]) -> tuple[Any, Any]:
    """The cell's test images (n, C, H, W) and labels, from its dataset reloaded (not
    downloaded) and split as the cell was; raises BenchError saying why not."""
    from bench import data, examples, plugins
    from bench.errors import DatasetError
    from bench.protocols import split_dataset

    name = cell.dataset
    if name not in cache:
        try:
            spec = plugins.get_datasets().get(name)
            X, y = data.load(spec, download=False)
            loaded = (spec, X, y, data.fingerprint(spec, X, y))
            cache.clear()  # one dataset (and split) at a time: image collections are large
            cache[name] = loaded
        except (BenchError, DatasetError) as exc:
            raise BenchError(f"dataset {name!r} cannot be loaded here ({exc})") from exc
    spec, X, y, sha = cache[name]
    if cell.dataset_sha256 and sha != cell.dataset_sha256:
        raise BenchError(f"dataset {name!r} here is not the version the cells ran on "
                         f"(sha256 {sha[:12]} here, {str(cell.dataset_sha256)[:12]} in the store)")
    key = (cell.protocol, int(cell.seed), _optional_int(cell.max_samples))
    if cache.get(("split",), (None,))[0] != key:  # detectors of one seed share their split
        part = split_dataset(X, y, spec, *key)
        cache[("split",)] = (key, examples.as_nchw(part.X_test), part.y_test)
    return cache[("split",)][1], cache[("split",)][2]


def _shown_images(cell: Any, found: dict[str, Any], cache: dict[Any, Any]) -> Any:
    """The ``2 k`` images of a cell's examples (top then bottom), (2 k, C, H, W): stored with
    them (a dataset given as a file or arrays), else reloaded; raises BenchError saying why not."""
    from bench import examples

    if "images" in found:
        return examples.decode(found["images"])
    images, labels = _reload_test_images(cell, cache)
    chosen = list(found["top"]) + list(found["bottom"])
    stored = list(found["top_labels"]) + list(found["bottom_labels"])
    if (len(labels) != _optional_int(cell.n_test) or max(chosen, default=0) >= len(labels)
            or [int(labels[i]) for i in chosen] != stored):
        raise BenchError("the test split made again is not the cell's (its rows or labels differ)")
    return images[chosen]


def _image_grid(ax: Any, image: Any) -> None:
    """Draw one (C, H, W) image in [0, 1] without axes."""
    import numpy as np

    pixels = np.clip(image, 0, 1)
    if pixels.shape[0] in (3, 4):  # RGB (an alpha channel is not drawn)
        ax.imshow(np.moveaxis(pixels[:3], 0, -1), interpolation="nearest")
    else:  # grey; of other channel counts, the first channel
        ax.imshow(pixels[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_color("#bbb")


def example_figure(cell: Any, found: dict[str, Any], shown: Any, path: Path) -> str:
    """One figure for a cell: its most anomalous test images (top row), their reconstructions
    under them where the detector makes them, then its least anomalous and theirs; each image
    titled with its label. ``shown``: the ``2 k`` images (C, H, W), top then bottom."""
    from bench import examples

    plt = _plt()
    k = int(found["k"])
    recon = examples.decode(found["recon"]) if "recon" in found else None
    rows: list[tuple[str, Any, list[int] | None]] = []
    for end, title in (("top", "most\nanomalous"), ("bottom", "least\nanomalous")):
        offset = 0 if end == "top" else k
        rows.append((title, [shown[offset + j] for j in range(k)], list(found[f"{end}_labels"])))
        if recon is not None:
            rows.append(("recon-\nstruction", [recon[offset + j] for j in range(k)], None))
    # inches: an image, the space above a row of images (titled) and above its reconstructions
    size, titled, under, left, top = 1.0, 0.3, 0.06, 1.0, 0.45
    gaps = [titled if chosen is not None else under for _, _, chosen in rows]
    width = left + 0.1 + size * k * 1.08
    height = top + 0.1 + size * len(rows) + sum(gaps)
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(2 * len(rows), k, height_ratios=[v for g in gaps for v in (g, size)],
                            hspace=0, wspace=0.08, left=left / width, right=1 - 0.1 / width,
                            top=1 - (top - titled) / height, bottom=0.1 / height)
    for r, (title, row, chosen) in enumerate(rows):
        for j in range(k):
            ax = fig.add_subplot(grid[2 * r + 1, j])
            _image_grid(ax, row[j])
            if chosen is not None:  # the row's labels
                anomaly = int(chosen[j]) == 1
                ax.set_title(f"{'anomaly' if anomaly else 'normal'}", fontsize=8, pad=2,
                             color="#b22" if anomaly else "#262")
            if j == 0:
                ax.set_ylabel(title, fontsize=8, rotation=0, ha="right", va="center",
                              labelpad=6)
    auroc = getattr(cell, "auroc", None)
    score = f", AUROC {auroc:.3f}" if isinstance(auroc, float) and auroc == auroc else ""
    fig.suptitle(f"{render.column_label(cell.detector)} (seed {int(cell.seed)}{score})",
                 fontsize=10, y=1 - 0.12 / height, va="top")
    return _save(fig, path)


def image_examples(cells: pd.DataFrame, out: Path) -> list[dict[str, Any]]:
    """Per image dataset and protocol, one figure per detector (its lowest seed that kept
    examples), or the reason there are none."""
    if "examples" not in cells.columns:
        return []
    ok = cells[(cells["status"] == "ok") & cells["examples"].notna()]
    sections: list[dict[str, Any]] = []
    cache: dict[Any, Any] = {}
    n_figures = 0
    for (dataset, protocol), group in ok.groupby(["dataset", "protocol"], sort=True):
        section: dict[str, Any] = {"dataset": dataset, "protocol": protocol, "figures": [],
                                   "notes": []}
        sections.append(section)
        for detector, mine in group.sort_values("seed").groupby("detector", sort=True):
            cell = next(mine.itertuples(index=False))
            found = _examples_of(cell)
            label = render.column_label(detector)
            if found is None or "error" in found or not found.get("k"):
                reason = (found.get("error") or "too few test rows") if found else "unreadable examples"
                section["notes"].append(f"{label}: no examples ({reason}).")
                continue
            try:
                shown = _shown_images(cell, found, cache)
            except BenchError as exc:
                section["notes"].append(f"{label}: images not shown: {exc}.")
                continue
            n_figures += 1  # numbered: a slug of a long label could pass a file name's limit
            name = f"examples-{n_figures:03d}-{_slug(f'{dataset}-{protocol}-{detector}')[:60]}.png"
            section["figures"].append({
                "detector": label, "src": example_figure(cell, found, shown, out / name),
                "recon": "recon" in found, "recon_note": found.get("recon_error"),
            })
    return sections


# ---------------------------------------------------------------------------------------------
# html


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("bench", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              trim_blocks=True, lstrip_blocks=True)


def _text_table(frame: pd.DataFrame, numeric: list[str] = ()) -> str:
    frame = frame.astype(object).where(frame.notna(), render.DASH)
    return render.html_table(render.Table(frame, [c in numeric for c in frame.columns]))


def _pvalues(frame: pd.DataFrame) -> str:
    text = frame.map(lambda p: render.DASH if pd.isna(p) else "< 0.001" if p < 0.001
                     else f"{p:.3f}")
    text = text.rename_axis(index=None, columns=None).reset_index(names="")
    return render.html_table(render.Table(text, [False] + [True] * (len(text.columns) - 1)))


def _provenance(runs: list[dict[str, Any]]) -> tuple[str, str]:
    """One table of every run (a row each), and the versions when every run shares them."""
    rows, versions = [], []
    for run in runs:
        try:
            found = json.loads(run.get("versions") or "{}")
        except ValueError:
            found = {}
        try:
            options = json.loads(run.get("options") or "{}")
        except ValueError:
            options = {"options": run.get("options")}
        if not isinstance(options, dict):
            options = {"options": options}
        config = options.pop("config", None)
        text = ", ".join(f"{k}={v}" for k, v in options.items() if v not in (None, False))
        if config:
            text += f"; grid file {config.get('file')}, block {config.get('block')}"
        versions.append(", ".join(f"{k} {v}" for k, v in sorted(found.items())))
        rows.append({"Run": run["run_id"], "Started": _minute(run.get("started_at")),
                     "Finished": _minute(run.get("finished_at")) or "(interrupted)",
                     "Cells planned": run.get("n_planned"),
                     "Git commit": (run.get("git_commit") or "(unknown)")[:12],
                     "Options": text, "Command": run.get("command"),
                     "Machine": run.get("platform"), "Versions": versions[-1]})
    if not rows:
        return "", ""
    frame = pd.DataFrame(rows)
    shared = []
    for column in ("Machine", "Versions"):  # said once above the table when every run shares it
        if frame[column].nunique(dropna=False) == 1:
            shared.append(f"{column.lower()}: {frame[column].iloc[0]}")
            frame = frame.drop(columns=column)
    numeric = ["Run", "Cells planned"]
    return _text_table(frame, numeric), "; ".join(shared)


def _minute(stamp: str | None) -> str | None:
    """``2026-11-23T11:46:25+00:00`` as ``2026-11-23 11:46 UTC``."""
    if not stamp:
        return None
    text = stamp.replace("T", " ")[:16]
    return f"{text} UTC" if stamp.endswith(("+00:00", "Z")) else text


def _html(cells: pd.DataFrame, planned: pd.DataFrame, runs: list[dict[str, Any]], out: Path,
          metric: str, posthoc: str, alpha: float, missing: str = "last") -> Path:
    info = lb.completeness(cells, planned)
    hist = histories(cells)
    results = comparisons(cells, planned, metric, posthoc, alpha, missing)
    (out / "leaderboard.csv").write_text(render.render(cells, metric, "csv", planned=planned),
                                         encoding="utf-8")
    (out / "leaderboard.json").write_text(render.render(cells, metric, "json", planned=planned),
                                          encoding="utf-8")
    leaderboards, figures = [], []
    for protocol in protocols_of(cells, planned):
        mine_c = cells[cells["protocol"] == protocol]
        mine_p = planned[planned["protocol"] == protocol]
        board = lb.summary(mine_c, metric, planned=mine_p)
        slug = _slug(protocol)
        leaderboards.append({
            "protocol": protocol, "slug": slug,
            "summary": render.html_table(render.summary_table(board)),
            "matrix": render.html_table(render.matrix_table(cells, metric, protocol,
                                                            planned=planned)),
        })
        table, order = lb.protocol_table(cells, metric, protocol, planned=planned)
        if mine_c[mine_c["status"] == "ok"].empty:
            continue
        figures.append({
            "protocol": protocol,
            "box": box_plot(table, order, out / f"box-{slug}.png", metric),
            "pareto": pareto(board, out / f"pareto-{slug}.png", metric),
        })
    statistics = []
    for protocol, result in results.items():
        if isinstance(result, str):
            statistics.append({"protocol": protocol, "error": result})
            continue
        notes = []
        if result.excluded:
            notes.append("Left out of the tests (no result on any dataset): "
                         f"{', '.join(result.excluded)}.")
        if result.imputed:
            notes.append(f"{result.imputed} missing result(s) (failed, timed out or not run) "
                         "rank last on their dataset, as in the leaderboard.")
        if result.dropped:
            notes.append("Datasets left out of the tests (missing results): "
                         f"{', '.join(result.dropped)}.")
        figure = stats.cd_diagram(result, out / f"cd-{_slug(protocol)}.png",
                                  f"protocol {protocol}").name
        method = ("Nemenyi" if result.posthoc_method == "nemenyi"
                  else "Wilcoxon signed-rank, Holm-corrected")
        statistics.append({"protocol": protocol, "text": result.text(), "notes": notes,
                           "figure": figure, "method": method,
                           "posthoc": _pvalues(result.posthoc)})
    fails = lb.failures(cells)
    never = lb.grid(cells, planned)
    never = never[never["status"] == "missing"]
    training = curves(hist, out / "training-curves.png") if not hist.empty else None
    gallery = image_examples(cells, out)
    provenance, shared_versions = _provenance(runs)
    page = _environment().get_template("report.html.j2").render(
        completeness=lb.completeness_line(info),
        metric=metric.upper(),
        downloads=[{"href": "leaderboard.csv", "text": "leaderboard.csv (one row per detector "
                    "and dataset)"}, {"href": "leaderboard.json", "text": "leaderboard.json "
                                      "(summary, per dataset, failures)"}],
        leaderboards=leaderboards,
        statistics=statistics,
        figures=figures,
        training=training,
        gallery=gallery,
        n_failures=len(fails),
        failures=render.html_table(render.failures_table(fails)) if len(fails)
        else "<p class='note'>(none)</p>",
        n_missing=len(never),
        missing=_text_table(never[["protocol", "detector", "dataset", "seed"]], ["seed"])
        if len(never) else "",
        runs=provenance,
        versions=shared_versions,
    )
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
        board = lb.summary(mine_c, metric, planned=mine_p)
        keep = ["detector", "avg_rank", "avg_auroc", "avg_auprc", "fit_s_median",
                "peak_mem_mb_median", "completeness"]
        slug = _slug(protocol)
        matrix = render.matrix_table(cells, metric, protocol, planned=planned)
        parts += [render.latex(render.summary_table(board[keep]),
                               caption=f"Average rank and {metric.upper()} over datasets, "
                                       f"protocol {protocol}", label=f"tab:summary-{slug}"), "",
                  render.latex(matrix, caption=f"{metric.upper()} per dataset (mean ± std over "
                                               f"seeds; bold: best), protocol {protocol}",
                               label=f"tab:{metric}-{slug}"), ""]
        result = results[protocol]
        if isinstance(result, stats.Comparison):
            ranks = result.avg_ranks.rename("avg_rank").rename_axis("detector").reset_index()
            parts += [render.latex(render.summary_table(ranks), caption=result.text(),
                                   label=f"tab:ranks-{slug}"), ""]
    path = out / "tables.tex"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
