"""Choose a detector's defaults by leave-datasets-out cross-validation (DESIGN.md, "How defaults
are chosen").

For one detector and a small grid of candidate settings (parametrised selectors such as
``ae[epochs=50,n_models=1]``), under each protocol:

* every candidate runs on every available dataset through the real runner and result store
  (``bench run``: resumable, a rerun only computes missing cells);
* the datasets are split into the fixed, committed folds of ``benchmarks/folds.toml`` (related
  datasets share a fold); for each held-out fold the candidate with the best mean AUROC over the
  datasets of the *other* folds is chosen and scored on the held-out datasets;
* **out-of-fold** mean AUROC = mean over datasets of those held-out scores: an estimate of how
  the selection procedure does on datasets it did not see;
* in-sample mean AUROC = mean over all datasets of the candidate chosen on all datasets (the
  setting to ship); the gap = in-sample - out-of-fold, the optimism of choosing on the data;
* for comparison, the mean AUROC of the PyOD counterpart and of the reference ("aim") detector
  on the same datasets, seeds and ``--max-samples``, and the median fit times.

It prints the table and rewrites this detector's block in ``results/defaults_selection.md``
(the rest of that file is hand-written and kept).

Example (the grids used are in benchmarks/defaults_grid.toml)::

    nice -n 19 .venv/bin/python benchmarks/select_defaults.py ae --seeds 1 --max-samples 10000 \
        --reuse results/published.sqlite

Cells already in a ``--reuse`` store under the same cell key (same detector parameters, plugin
version, dataset sha256, protocol, seed and max_samples, i.e. the same computation) are copied
into the selection store instead of being recomputed; the copy is recorded as a run.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDS = ROOT / "benchmarks" / "folds.toml"
DEFAULT_GRID = ROOT / "benchmarks" / "defaults_grid.toml"
DEFAULT_STORE = ROOT / "results" / "defaults_selection.sqlite"
DEFAULT_OUT = ROOT / "results" / "defaults_selection.md"
PROTOCOLS = ("unsupervised", "novelty")


class SelectionError(Exception):
    """A problem with the folds, the grid or the cells; shown as one line."""


# ---------------------------------------------------------------------------------------------
# folds


def load_folds(path: str | Path) -> dict[str, str]:
    """``{dataset: fold}`` from a folds file (``[folds]`` table: fold name -> dataset names)."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SelectionError(f"folds file {path}: {exc}") from None
    folds = doc.get("folds")
    if not isinstance(folds, dict) or len(folds) < 2:
        raise SelectionError(f"folds file {path}: needs a [folds] table with at least two folds")
    out: dict[str, str] = {}
    for fold, names in folds.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SelectionError(f"folds file {path}: fold {fold!r} must be a list of dataset names")
        for name in names:
            if name in out:
                raise SelectionError(
                    f"folds file {path}: dataset {name!r} is in fold {out[name]!r} and {fold!r}")
            out[name] = str(fold)
    return out


def assign_folds(datasets: Sequence[str], folds: Mapping[str, str], path: Any = "folds") -> dict[str, str]:
    """The fold of each dataset; a dataset the folds file does not list is an error (its fold
    must be chosen by its source and committed, never by looking at results)."""
    missing = [d for d in datasets if d not in folds]
    if missing:
        raise SelectionError(
            f"{path}: no fold for dataset(s) {', '.join(missing)}; add each to the fold of its "
            "source (any fold if it has no relative)")
    chosen = {d: folds[d] for d in datasets}
    if len(set(chosen.values())) < 2:
        raise SelectionError(f"{path}: the available datasets fall in fewer than two folds")
    return chosen


# ---------------------------------------------------------------------------------------------
# the selection itself (pure: a table of AUROCs in, figures out)


def choose(means: pd.Series, min_gain: float = 0.0) -> str:
    """The candidate with the best mean; the first candidate (the current default) is kept
    unless that best mean beats it by more than ``min_gain``; ties go to the earlier one."""
    best = str(means.idxmax())  # first maximum
    first = str(means.index[0])
    return first if means[first] >= means[best] - min_gain else best


def cross_validate(table: pd.DataFrame, folds: Mapping[str, str], min_gain: float = 0.0) -> dict[str, Any]:
    """Leave-folds-out choice among candidates.

    ``table``: rows = datasets, columns = candidates (in preference order: the first is the
    current default, kept unless beaten by more than ``min_gain``; ties go to the earlier
    column), values = mean AUROC over seeds; no missing values. Returns the per-fold choices,
    the held-out score of each dataset, the out-of-fold mean, the candidate chosen on all
    datasets with its in-sample mean, and the gap.
    """
    if table.isna().any().any():
        raise SelectionError("cross_validate needs a complete table (no missing cells)")
    datasets = list(table.index)
    fold_of = {d: folds[d] for d in datasets}
    per_fold, held_out = [], {}
    for fold in sorted(set(fold_of.values()), key=str):
        inside = [d for d in datasets if fold_of[d] == fold]
        train = [d for d in datasets if fold_of[d] != fold]
        means = table.loc[train].mean(axis=0)
        choice = choose(means, min_gain)
        for d in inside:
            held_out[d] = float(table.at[d, choice])
        per_fold.append({"fold": fold, "n_datasets": len(inside), "chosen": choice,
                         "train_mean": float(means[choice]),
                         "held_out_mean": float(table.loc[inside, choice].mean())})
    overall = table.mean(axis=0)
    chosen = choose(overall, min_gain)
    out_of_fold = float(pd.Series(held_out).mean())
    in_sample = float(overall[chosen])
    return {"per_fold": per_fold, "held_out": held_out, "out_of_fold": out_of_fold,
            "chosen": chosen, "in_sample": in_sample, "gap": in_sample - out_of_fold,
            "candidate_means": {str(k): float(v) for k, v in overall.items()}}


# ---------------------------------------------------------------------------------------------
# the runner and the store: the ONE adapter (switch to bench.run(...) here once it exists)


def run_cells(selectors: Sequence[str], datasets: Sequence[str], protocols: Sequence[str],
              seeds: Sequence[int], store: str | Path, *, max_samples: int | None,
              jobs: int = 1, threads: int = 1, timeout: float | None = None,
              reuse: Sequence[str | Path] = (), execute: bool = True) -> pd.DataFrame:
    """Run (or resume) every cell through the real runner and return the store's current cells
    of this grid (columns of ``bench export``).

    Cells with the same key in a ``reuse`` store are copied first. A cell that fails stays in
    the store as failed (the caller reports it).
    """
    keys = plan_keys(selectors, datasets, protocols, seeds, max_samples)
    for ref in reuse:
        n = copy_cells(ref, store, keys)
        if n:
            print(f"copied {n} ok cells from {ref} (same cell keys)", file=sys.stderr)
    if execute:
        import bench

        bench.run(list(selectors), list(datasets), protocols=list(protocols), seeds=list(seeds),
                  store=str(store), jobs=jobs, threads_per_job=threads, timeout=timeout,
                  max_samples=max_samples, executor="process", progress=True,
                  command="benchmarks/select_defaults.py")
    if not Path(store).is_file():
        raise SelectionError(f"store {store} does not exist (run without --no-run first)")
    from bench import leaderboard

    cells, _ = leaderboard.load_current(store)
    return cells[cells["key"].isin(keys)]


def plan_keys(selectors: Sequence[str], datasets: Sequence[str], protocols: Sequence[str],
              seeds: Sequence[int], max_samples: int | None) -> set[str]:
    """The cell keys ``bench run`` plans for this grid (detector parameters, plugin version,
    dataset sha256, protocol, seed, max_samples)."""
    from bench import data, planner, plugins

    dets = plugins.get_detectors().select(list(selectors))
    specs = plugins.get_datasets().select(list(datasets))
    cells = planner.plan(dets, [(s, data.fingerprint(s)) for s in specs], list(protocols),
                        list(seeds), max_samples=max_samples)
    return {c.key for c in cells}


def copy_cells(reference: str | Path, store: str | Path, keys: set[str]) -> int:
    """Copy the ok cells of ``reference`` whose key is in ``keys`` and that ``store`` lacks;
    recorded in ``store`` as a run whose command names the reference. Returns how many."""
    from bench.provenance import git_commit, versions
    from bench.store import Store

    if not Path(reference).is_file():
        raise SelectionError(f"reuse store {reference} does not exist")
    with Store(store) as db:
        have = set(db.status_of(keys))
        ref = sqlite3.connect(f"file:{reference}?mode=ro", uri=True)
        try:
            ref_cols = [r[1] for r in ref.execute("PRAGMA table_info(cells)")]
            cols = [c for c in (r[1] for r in db.conn.execute("PRAGMA table_info(cells)"))
                    if c in ref_cols and c != "run_id"]
            wanted = sorted(keys - have)
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows += ref.execute(
                    f"SELECT {', '.join(cols)} FROM cells WHERE status = 'ok' AND key IN "
                    f"({','.join('?' * len(chunk))})", chunk).fetchall()
        finally:
            ref.close()
        if not rows:
            return 0
        run_id = db.start_run(command=f"select_defaults: copy {len(rows)} cells by key from {reference}",
                              git_commit=git_commit(), versions=versions(),
                              platform="", n_planned=0, options={"reuse": str(reference)})
        db.conn.execute("BEGIN")
        db.conn.executemany(
            f"INSERT OR IGNORE INTO cells ({', '.join(cols)}, run_id) "
            f"VALUES ({', '.join('?' * (len(cols) + 1))})", [(*r, run_id) for r in rows])
        db.conn.execute("COMMIT")
        db.finish_run(run_id)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# one detector


def available_datasets(pattern: str) -> list[str]:
    """Registered datasets matching ``pattern`` whose data is here (cached or embedded)."""
    from bench import data, plugins

    specs = plugins.get_datasets().select([p.strip() for p in pattern.split(",") if p.strip()])
    return sorted(s.name for s in specs if data.is_cached(s) is not False)


def labels_of(selectors: Sequence[str]) -> list[str]:
    """The display label the store uses for each selector (validates the names too)."""
    from bench import plugins

    out = []
    for sel in selectors:
        specs = plugins.get_detectors().select([sel])
        if len(specs) != 1:
            raise SelectionError(f"selector {sel!r} names {len(specs)} detectors, not one")
        out.append(specs[0].label)
    return out


def auroc_table(cells: pd.DataFrame, labels: Sequence[str], datasets: Sequence[str],
                protocol: str) -> tuple[pd.DataFrame, list[str]]:
    """Mean AUROC over seeds, datasets x labels, and the problems (failed/missing cells)."""
    mine = cells[(cells["protocol"] == protocol) & cells["detector"].isin(labels)]
    problems = []
    for row in mine[mine["status"] != "ok"].itertuples(index=False):
        problems.append(f"{row.detector} on {row.dataset} ({protocol}, seed {row.seed}): "
                        f"{row.status} {str(row.error or '')[:120]}")
    ok = mine[mine["status"] == "ok"]
    table = ok.pivot_table(index="dataset", columns="detector", values="auroc", aggfunc="mean")
    table = table.reindex(index=list(datasets), columns=list(labels))
    for d, lab in zip(*[list(x) for x in table.isna().to_numpy().nonzero()], strict=True):
        name = f"{table.columns[lab]} on {table.index[d]} ({protocol})"
        if not any(p.startswith(name.split(" (")[0]) for p in problems):
            problems.append(f"{name}: no ok cell")
    return table, problems


def median_fit(cells: pd.DataFrame, label: str, protocol: str, datasets: Sequence[str]) -> float:
    sub = cells[(cells["detector"] == label) & (cells["protocol"] == protocol)
                & (cells["status"] == "ok") & cells["dataset"].isin(datasets)]
    return float(sub["fit_s"].median()) if len(sub) else float("nan")


def select(detector: str, grid: Mapping[str, Any], folds: Mapping[str, str], args: argparse.Namespace,
           folds_path: Any) -> dict[str, Any]:
    candidates = list(grid["candidates"])
    counterpart = grid.get("counterpart")
    aims = dict(grid.get("aim", {}))
    protocols = list(args.protocols)
    datasets = available_datasets(args.datasets)
    if not datasets:
        raise SelectionError(f"no dataset matching {args.datasets!r} is available here "
                             "(set BENCH_DATA_DIR to the folder that caches them)")
    fold_of = assign_folds(datasets, folds, folds_path)
    labels = labels_of(candidates)
    extra = [counterpart] if counterpart else []
    extra_by_protocol = {p: [*extra, *([aims[p]] if p in aims else [])] for p in protocols}
    selectors = list(dict.fromkeys([*candidates, *extra, *[aims[p] for p in protocols if p in aims]]))
    cells = run_cells(selectors, datasets, protocols, args.seeds, args.store,
                      max_samples=args.max_samples, jobs=args.jobs, threads=args.threads,
                      timeout=args.timeout, reuse=args.reuse, execute=not args.no_run)
    result: dict[str, Any] = {"detector": detector, "candidates": labels, "datasets": datasets,
                              "folds": fold_of, "protocols": {}, "seeds": list(args.seeds),
                              "max_samples": args.max_samples, "min_gain": args.min_gain}
    tables: dict[str, pd.DataFrame] = {}
    for protocol in protocols:
        table, problems = auroc_table(cells, labels, datasets, protocol)
        complete = [d for d in datasets if not table.loc[d].isna().any()]
        refs = labels_of(extra_by_protocol[protocol])
        ref_table, ref_problems = auroc_table(cells, refs, complete, protocol)
        entry: dict[str, Any] = {"problems": problems + ref_problems, "n_datasets": len(complete),
                                 "excluded": [d for d in datasets if d not in complete]}
        if len({fold_of[d] for d in complete}) >= 2:
            entry.update(cross_validate(table.loc[complete], fold_of, args.min_gain))
        entry["fit_median_s"] = {lab: median_fit(cells, lab, protocol, complete)
                                 for lab in [*labels, *refs]}
        entry["references"] = {lab: float(ref_table[lab].mean()) for lab in refs}
        entry["reference_n"] = {lab: int(ref_table[lab].notna().sum()) for lab in refs}
        entry["counterpart"] = labels_of([counterpart])[0] if counterpart else None
        entry["aim"] = labels_of([aims[protocol]])[0] if protocol in aims else None
        result["protocols"][protocol] = entry
        tables[protocol] = table
    if len(protocols) > 1:
        result["both"] = _both(tables, fold_of, args.min_gain)
    return result


def _both(tables: Mapping[str, pd.DataFrame], fold_of: Mapping[str, str],
          min_gain: float) -> dict[str, Any]:
    """One setting for every protocol (a default cannot know the protocol): the same
    cross-validation over (protocol, dataset) pairs, a dataset held out under every protocol."""
    complete = [d for d in fold_of if all(not t.loc[d].isna().any() for t in tables.values())]
    rows = pd.concat({p: t.loc[complete] for p, t in tables.items()}, names=["protocol", "dataset"])
    rows.index = [f"{p}|{d}" for p, d in rows.index]
    folds = {key: fold_of[key.split("|", 1)[1]] for key in rows.index}
    out: dict[str, Any] = {"n_datasets": len(complete), "protocols": list(tables)}
    if len({fold_of[d] for d in complete}) >= 2:
        out.update(cross_validate(rows, folds, min_gain))
        held = pd.Series(out.pop("held_out"))
        out["per_protocol"] = {
            p: {"in_sample": float(rows.loc[[k for k in rows.index if k.startswith(p + "|")],
                                            out["chosen"]].mean()),
                "out_of_fold": float(held[[k for k in held.index if k.startswith(p + "|")]].mean())}
            for p in tables}
    return out


# ---------------------------------------------------------------------------------------------
# output


def _f(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and x != x) else f"{x:.3f}"


def render(result: Mapping[str, Any]) -> str:
    det = result["detector"]
    seeds = ",".join(str(s) for s in result["seeds"])
    lines = [f"### {det}", "",
             f"{len(result['datasets'])} datasets in {len(set(result['folds'].values()))} folds, "
             f"seeds {seeds}, max_samples={result['max_samples']}; the first candidate (the current "
             f"default) is kept unless another beats its mean by more than {result['min_gain']}.",
             ""]
    for protocol, e in result["protocols"].items():
        lines += [f"#### {det}, {protocol}", ""]
        if "chosen" not in e:
            lines += [f"Not enough complete datasets to cross-validate ({e['n_datasets']}).", ""]
        else:
            lines += ["| candidate | mean AUROC (all datasets) | median fit s |", "|---|---|---|"]
            for lab in result["candidates"]:
                mark = " **(chosen)**" if lab == e["chosen"] else ""
                lines.append(f"| `{lab}`{mark} | {_f(e['candidate_means'][lab])} | "
                             f"{_f(e['fit_median_s'][lab])} |")
            lines += ["", "| fold | datasets | chosen on the other folds | their mean | held-out mean |",
                      "|---|---|---|---|---|"]
            for f in e["per_fold"]:
                lines.append(f"| {f['fold']} | {f['n_datasets']} | `{f['chosen']}` | "
                             f"{_f(f['train_mean'])} | {_f(f['held_out_mean'])} |")
            lines += ["", f"- chosen setting: `{e['chosen']}`",
                      f"- in-sample mean AUROC: {_f(e['in_sample'])}",
                      f"- **out-of-fold** mean AUROC: {_f(e['out_of_fold'])}",
                      f"- gap (in-sample - out-of-fold): {_f(e['gap'])}"]
            cp = e["counterpart"]
            if cp and e["fit_median_s"].get(cp):
                ratio = e["fit_median_s"][e["chosen"]] / e["fit_median_s"][cp]
                lines.append(f"- median fit of the chosen setting / of `{cp}`: {ratio:.2f} "
                             "(same datasets; timed in whichever run computed each cell)")
            for lab, mean in e["references"].items():
                role = "PyOD counterpart" if lab == e["counterpart"] else "aim"
                lines.append(f"- {role} `{lab}`: mean AUROC {_f(mean)} on {e['reference_n'][lab]} of "
                             f"the same {e['n_datasets']} datasets, median fit "
                             f"{_f(e['fit_median_s'][lab])} s")
            lines.append("")
        if e["excluded"]:
            lines += [f"Excluded (a candidate has no ok cell): {', '.join(e['excluded'])}", ""]
        if e["problems"]:
            lines += ["Failed or missing cells:", "", *[f"- {p}" for p in e["problems"]], ""]
    both = result.get("both")
    if both and "chosen" in both:
        lines += [f"#### {det}, one setting for {' and '.join(both['protocols'])}", "",
                  f"The same cross-validation over (protocol, dataset) pairs of the "
                  f"{both['n_datasets']} datasets complete under every protocol (a held-out fold "
                  "is held out under every protocol).", "",
                  "| candidate | mean AUROC |", "|---|---|"]
        for lab in result["candidates"]:
            mark = " **(chosen)**" if lab == both["chosen"] else ""
            lines.append(f"| `{lab}`{mark} | {_f(both['candidate_means'][lab])} |")
        lines += ["", "Chosen per fold: " + ", ".join(
                      f"{f['fold']}: `{f['chosen']}`" for f in both["per_fold"]), "",
                  f"- chosen setting: `{both['chosen']}`",
                  f"- in-sample mean AUROC: {_f(both['in_sample'])}",
                  f"- **out-of-fold** mean AUROC: {_f(both['out_of_fold'])}",
                  f"- gap (in-sample - out-of-fold): {_f(both['gap'])}"]
        for protocol, fig in both["per_protocol"].items():
            e = result["protocols"][protocol]
            refs = "; ".join(f"`{lab}` {_f(mean)}" for lab, mean in e["references"].items())
            lines.append(f"- {protocol}: in-sample {_f(fig['in_sample'])}, **out-of-fold** "
                         f"{_f(fig['out_of_fold'])}, gap {_f(fig['in_sample'] - fig['out_of_fold'])} "
                         f"(compare: {refs})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_block(path: Path, name: str, text: str) -> None:
    """Replace (or append) the block between this detector's markers, keeping the rest."""
    begin, end = f"<!-- select_defaults:{name} -->", f"<!-- /select_defaults:{name} -->"
    block = f"{begin}\n{text}{end}"
    old = path.read_text() if path.is_file() else "# How the defaults were chosen\n"
    if begin in old and end in old:
        head, _, rest = old.partition(begin)
        _, _, tail = rest.partition(end)
        new = head + block + tail
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)


def diagnose(store: str | Path, detectors: Sequence[str], datasets: Sequence[str],
             max_samples: int | None) -> str:
    """Figures behind the choice of candidates, from an existing store (markdown).

    * training curves: per detector and protocol, the share of ok cells whose training loss still
      fell by more than 2 % over the last quarter of the epochs, and the median share of the
      whole drop that came in that last quarter;
    * a detector with no training ("norm": the mean squared z-score of a row, with the training
      part's statistics) under the same protocols, seeds and max_samples as the store's cells,
      its mean AUROC, and the Spearman correlation over datasets of each detector's AUROC with it.
    """
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from bench import data, leaderboard, plugins, protocols

    cells, _ = leaderboard.load_current(store)
    if max_samples is not None:
        cells = cells[cells["max_samples"] == max_samples]
    cells = cells[(cells["status"] == "ok") & cells["dataset"].isin(datasets)]
    lines = ["| detector | protocol | cells | epochs (median) | still falling | last quarter's share "
             "of the drop |", "|---|---|---|---|---|---|"]
    for (det, protocol), group in cells[cells["detector"].isin(detectors)].groupby(
            ["detector", "protocol"]):
        falling, share, epochs = [], [], []
        for extra in group["extra"]:
            history = json.loads(extra or "{}").get("history") if isinstance(extra, str) else None
            if not history:
                continue
            loss = np.array([float(e["train_loss"]) for e in history])
            q = max(1, len(loss) // 4)
            drop = loss[0] - loss.min()
            falling.append(loss[-1] < loss[-1 - q] - 0.02 * abs(loss[-1 - q]))
            share.append((loss[-1 - q] - loss[-1]) / drop if drop > 0 else np.nan)
            epochs.append(len(loss))
        if epochs:
            lines.append(f"| {det} | {protocol} | {len(epochs)} | {np.median(epochs):.0f} | "
                         f"{100 * np.mean(falling):.0f} % | {100 * np.nanmedian(share):.0f} % |")
    specs = {s.name: s for s in plugins.get_datasets().select(list(datasets))}
    norm = []
    for (name, protocol, seed), _ in cells.groupby(["dataset", "protocol", "seed"]):
        X, y = data.load(specs[name])
        part = protocols.split(X, y, protocol, int(seed), max_samples=max_samples)
        mu, sd = part.X_train.mean(0), np.maximum(part.X_train.std(0), 1e-2)
        score = (((part.X_test - mu) / sd) ** 2).mean(1)
        norm.append({"dataset": name, "protocol": protocol, "seed": seed,
                     "auroc": roc_auc_score(part.y_test, score)})
    norm_frame = pd.DataFrame(norm).groupby(["protocol", "dataset"])["auroc"].mean()
    lines += ["", "| protocol | norm mean AUROC | detector | its mean AUROC | Spearman with norm |",
              "|---|---|---|---|---|"]
    per = cells.groupby(["protocol", "detector", "dataset"])["auroc"].mean()
    for protocol in sorted(norm_frame.index.get_level_values(0).unique()):
        base = norm_frame.loc[protocol]
        for det in sorted(per.loc[protocol].index.get_level_values(0).unique()):
            mine = per.loc[(protocol, det)]
            common = base.index.intersection(mine.index)
            lines.append(f"| {protocol} | {base[common].mean():.3f} ({len(common)} datasets) | {det} | "
                         f"{mine[common].mean():.3f} | "
                         f"{base[common].corr(mine[common], method='spearman'):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("detector", nargs="?",
                   help="the detector whose defaults are chosen (a [section] of --grid)")
    p.add_argument("--grid", default=str(DEFAULT_GRID), help="TOML: [DETECTOR] candidates, "
                   "counterpart, [DETECTOR.aim] protocol = detector")
    p.add_argument("-c", "--candidate", action="append", default=None,
                   help="a candidate selector (repeatable; replaces the grid's list)")
    p.add_argument("--folds", default=str(DEFAULT_FOLDS))
    p.add_argument("--datasets", default="adbench:*", help="dataset names/globs; those available here")
    p.add_argument("-p", "--protocols", default=",".join(PROTOCOLS),
                   type=lambda s: [x.strip() for x in s.split(",") if x.strip()])
    p.add_argument("-s", "--seeds", default="1", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--max-samples", type=int, default=10000)
    p.add_argument("--min-gain", type=float, default=0.0,
                   help="keep the first candidate unless another's mean beats it by more than this")
    p.add_argument("--store", default=str(DEFAULT_STORE))
    p.add_argument("--reuse", action="append", default=[],
                   help="a store whose cells with the same key are copied instead of recomputed")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="threads per job")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.add_argument("--no-run", action="store_true", help="only read the store")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="markdown file to update")
    p.add_argument("--json", default=None, help="also write the figures as JSON here")
    p.add_argument("--diagnose", default=None, metavar="STORE",
                   help="print the training-curve and no-training-baseline figures of STORE")
    p.add_argument("--diagnose-detectors", default="ae,vae,gan,bigan")
    args = p.parse_args(argv)
    if args.diagnose:
        print(diagnose(args.diagnose, args.diagnose_detectors.split(","),
                       available_datasets(args.datasets), args.max_samples))
        return 0
    if not args.detector:
        p.error("name a detector (or --diagnose STORE)")
    try:
        with open(args.grid, "rb") as fh:
            grids = tomllib.load(fh)
        grid = dict(grids.get(args.detector, {}))
        if args.candidate:
            grid["candidates"] = args.candidate
        if not grid.get("candidates"):
            raise SelectionError(f"no candidates for {args.detector!r} (grid {args.grid} or -c)")
        result = select(args.detector, grid, load_folds(args.folds), args, args.folds)
    except SelectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = render(result)
    print(text)
    write_block(Path(args.out), args.detector, text)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
