"""Our generative detectors against PyOD's deep baselines, IForest and KNN (issue 3).

    .venv/bin/python benchmarks/generative_vs_pyod.py [--datasets adbench:cardio,...]
        [--seeds 1,2,3] [--jobs 2] [--store results/generative.sqlite]
        [-o results/generative_vs_pyod.md]

Runs, through the real runner (``bench.run`` into a store, so an interrupted grid resumes
from it):

1. protocol ``unsupervised``: ae, vae, gan, bigan, flow, diffusion, pyod_autoencoder, pyod_vae,
   pyod_alad, pyod_so_gaal, pyod_deepsvdd, iforest, knn;
2. protocol ``novelty``: the generative detectors and knn;

on every ADBench dataset present in the data cache (``BENCH_DATA_DIR``, default the shared
folder next to the checkout), seeds 1,2,3, ``--max-samples 10000``, ``--jobs 2``, all with
their default parameters. Detectors that are not registered (or cannot run here) are skipped
with a printed note.

It then prints, and writes to ``-o``, a Markdown table per protocol (mean AUROC: the mean over
datasets of the mean over seeds of the ok cells; median and total fit seconds over ok cells;
cells ok / failed) and the verdicts of issue 3:

- ae vs pyod_autoencoder, vae vs pyod_vae, bigan vs pyod_alad, gan vs pyod_so_gaal: higher mean
  AUROC *and* lower median fit time, on the datasets where both have ok cells;
- gan and bigan each at least pyod_deepsvdd's mean AUROC;
- the best generative detector at least IForest's mean AUROC (unsupervised) and above KNN's
  (novelty).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets" / "adbench"

GENERATIVE = ["ae", "vae", "gan", "bigan", "flow", "diffusion"]
BASELINES = ["pyod_autoencoder", "pyod_vae", "pyod_alad", "pyod_so_gaal", "pyod_deepsvdd",
             "iforest", "knn"]
#: (ours, theirs): ours must have the higher mean AUROC and the lower median fit time
PAIRS = [("ae", "pyod_autoencoder"), ("vae", "pyod_vae"), ("bigan", "pyod_alad"),
         ("gan", "pyod_so_gaal")]
#: ours must reach at least theirs' mean AUROC
FLOORS = [("gan", "pyod_deepsvdd"), ("bigan", "pyod_deepsvdd")]


def _setup() -> None:
    if "BENCH_DATA_DIR" not in os.environ and SHARED.is_dir():
        os.environ["BENCH_DATA_DIR"] = str(SHARED)
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]


def available_detectors(wanted: list[str]) -> list[str]:
    """The names in ``wanted`` that the registry holds and that can run here (notes the rest)."""
    from bench.plugins import get_detectors

    registry = get_detectors()
    found = []
    for name in wanted:
        if name not in registry:
            print(f"note: detector {name!r} is not registered; skipped", flush=True)
            continue
        reason = registry.get(name).unavailable_reason()
        if reason:
            print(f"note: detector {name!r} is unavailable ({reason}); skipped", flush=True)
            continue
        found.append(name)
    return found


def cached_adbench_datasets() -> list[str]:
    """Every ``adbench:*`` dataset whose file is in the data cache."""
    from bench.data import is_cached
    from bench.plugins import get_datasets

    return [spec.name for spec in get_datasets()
            if spec.name.startswith("adbench:") and is_cached(spec)]


def run_grid(detectors: list[str], datasets: list[str], protocol: str, args: Any) -> float:
    """``bench.run`` for one protocol; returns its wall seconds. Failed cells do not stop it."""
    import bench

    cmd = ["bench", "run", "--store", str(args.store), "--detectors", ",".join(detectors),
           "--datasets", ",".join(datasets), "--seeds", args.seeds, "--protocol", protocol,
           "--max-samples", str(args.max_samples), "--jobs", str(args.jobs),
           "--no-leaderboard", "--quiet"] + (["--timeout", str(args.timeout)] if args.timeout else [])
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    bench.run(detectors, datasets, protocols=[protocol],
              seeds=[int(s) for s in args.seeds.split(",")], store=args.store, executor=None,
              jobs=args.jobs, max_samples=args.max_samples, timeout=args.timeout or None,
              command=shlex.join(cmd))
    return time.perf_counter() - t0


def load_cells(store: Path, detectors: list[str], datasets: list[str], protocol: str,
               seeds: list[int], max_samples: int) -> Any:
    """This grid's cells (default parameters only) from the store."""
    from bench import leaderboard

    # each slot's latest cells: a detector rerun with new defaults (a new version) replaces its old
    cells, _ = leaderboard.load_current(store, protocol)
    keep = (cells["detector"].isin(detectors) & cells["dataset"].isin(datasets)
            & cells["seed"].isin(seeds)
            & (cells["max_samples"] == max_samples))  # not the same detector run on all rows
    return cells[keep]


def summarize(cells: Any, detectors: list[str]) -> dict[str, dict[str, Any]]:
    """Per detector: per-dataset mean AUROC, mean over datasets, fit-time stats, cell counts."""
    out: dict[str, dict[str, Any]] = {}
    for name in detectors:
        mine = cells[cells["detector"] == name]
        ok = mine[mine["status"] == "ok"]
        per_ds = ok.groupby("dataset")["auroc"].mean()
        out[name] = {
            "per_ds": per_ds,
            "auroc": float(per_ds.mean()) if len(per_ds) else float("nan"),
            "fit_median": float(ok["fit_s"].median()) if len(ok) else float("nan"),
            "fit_total": float(ok["fit_s"].sum()),
            "n_datasets": int(len(per_ds)),
            "ok": int(len(ok)),
            "failed": int((mine["status"] != "ok").sum()),
        }
    return out


def _paired(a: dict[str, Any], b: dict[str, Any], cells: Any, na: str, nb: str
            ) -> tuple[float, float, float, float, int]:
    """Mean AUROC and median fit time of a and b on the datasets where both have ok cells."""
    common = sorted(set(a["per_ds"].index) & set(b["per_ds"].index))
    ok = cells[(cells["status"] == "ok") & cells["dataset"].isin(common)]
    fa = ok[ok["detector"] == na]["fit_s"].median()
    fb = ok[ok["detector"] == nb]["fit_s"].median()
    return (float(a["per_ds"][common].mean()), float(b["per_ds"][common].mean()),
            float(fa), float(fb), len(common))


def verdicts(summary: dict[str, dict[str, Any]], cells: Any, protocol: str) -> list[str]:
    """Markdown rows of the pairwise verdicts that apply to ``protocol``."""
    rows = []

    def have(name: str) -> bool:
        return name in summary and summary[name]["n_datasets"] > 0

    if protocol == "unsupervised":
        for ours, theirs in PAIRS:
            if not (have(ours) and have(theirs)):
                rows.append(f"| {ours} vs {theirs} | AUROC higher and median fit lower | "
                            f"n/a | not run ({ours if not have(ours) else theirs} missing) |")
                continue
            a, b, fa, fb, n = _paired(summary[ours], summary[theirs], cells, ours, theirs)
            ok = a > b and fa < fb
            rows.append(f"| {ours} vs {theirs} | AUROC higher and median fit lower | "
                        f"{'pass' if ok else 'fail'} | AUROC {a:.3f} vs {b:.3f}, median fit "
                        f"{fa:.2f} s vs {fb:.2f} s ({fb / fa if fa else float('inf'):.1f}x), "
                        f"{n} datasets |")
        for ours, theirs in FLOORS:
            if not (have(ours) and have(theirs)):
                rows.append(f"| {ours} vs {theirs} | AUROC at least | n/a | not run |")
                continue
            a, b, _, _, n = _paired(summary[ours], summary[theirs], cells, ours, theirs)
            rows.append(f"| {ours} vs {theirs} | AUROC at least | "
                        f"{'pass' if a >= b else 'fail'} | AUROC {a:.3f} vs {b:.3f}, "
                        f"{n} datasets |")
    reference, rule = ("iforest", "at least") if protocol == "unsupervised" else ("knn", "above")
    gens = [g for g in GENERATIVE if have(g)]
    if gens and have(reference):
        best = max(gens, key=lambda g: summary[g]["auroc"])
        a, b, _, _, n = _paired(summary[best], summary[reference], cells, best, reference)
        ok = a >= b if rule == "at least" else a > b
        rows.append(f"| best generative ({best}) vs {reference} | AUROC {rule} | "
                    f"{'pass' if ok else 'fail'} | AUROC {a:.3f} vs {b:.3f}, {n} datasets |")
    else:
        rows.append(f"| best generative vs {reference} | AUROC {rule} | n/a | not run |")
    return rows


def table(summary: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| detector | mean AUROC | datasets | median fit (s) | total fit (s) | cells ok | "
             "cells failed |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    order = sorted(summary, key=lambda d: -summary[d]["auroc"]
                   if summary[d]["n_datasets"] else float("inf"))
    for name in order:
        s = summary[name]
        lines.append(f"| {name} | {s['auroc']:.3f} | {s['n_datasets']} | {s['fit_median']:.3f} "
                     f"| {s['fit_total']:.1f} | {s['ok']} | {s['failed']} |")
    return lines


def per_dataset_table(summary: dict[str, dict[str, Any]], datasets: list[str]) -> list[str]:
    """Datasets x detectors of the mean AUROC over seeds ("-" where no cell is ok)."""
    names = [n for n in summary if summary[n]["n_datasets"]]
    lines = ["| dataset | " + " | ".join(names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for ds in datasets:
        vals = []
        for n in names:
            per = summary[n]["per_ds"]
            vals.append(f"{per[ds]:.3f}" if ds in per.index else "-")
        lines.append(f"| {ds.removeprefix('adbench:')} | " + " | ".join(vals) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help="comma list (default: every cached adbench:* set)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-samples", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    parser.add_argument("--store", type=Path, default=ROOT / "results" / "generative.sqlite")
    parser.add_argument("-o", "--output", type=Path,
                        default=ROOT / "results" / "generative_vs_pyod.md")
    parser.add_argument("--report-only", action="store_true",
                        help="do not run; tabulate what the store already holds")
    args = parser.parse_args(argv)
    _setup()

    datasets = args.datasets.split(",") if args.datasets else cached_adbench_datasets()
    if not datasets:
        raise SystemExit("no ADBench dataset in the cache; set BENCH_DATA_DIR")
    seeds = [int(s) for s in args.seeds.split(",")]
    unsup = available_detectors(GENERATIVE + BASELINES)
    novel = [d for d in unsup if d in GENERATIVE or d == "knn"]
    args.store.parent.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()
    walls = {}
    if not args.report_only:
        walls["unsupervised"] = run_grid(unsup, datasets, "unsupervised", args)
        walls["novelty"] = run_grid(novel, datasets, "novelty", args)
    load_after = os.getloadavg()

    out = [
        "# Generative detectors vs PyOD's deep baselines, IForest and KNN",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"`benchmarks/generative_vs_pyod.py` on {platform.node()} ({os.cpu_count()} CPUs; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after). "
        f"Store `{os.path.relpath(args.store, ROOT)}`; seeds {args.seeds}; "
        f"`--max-samples {args.max_samples}`; `--jobs {args.jobs}`; default parameters.",
        "",
        f"Datasets ({len(datasets)}): {', '.join(d.removeprefix('adbench:') for d in datasets)}.",
        "",
        "Mean AUROC = mean over datasets of the mean over seeds (ok cells only); fit times over "
        "ok cells, excluding each worker's one-time warm-up.",
    ]
    for protocol, dets in (("unsupervised", unsup), ("novelty", novel)):
        cells = load_cells(args.store, dets, datasets, protocol, seeds, args.max_samples)
        summary = summarize(cells, dets)
        wall = f" (grid wall time {walls[protocol]:.0f} s)" if protocol in walls else ""
        out += ["", f"## Protocol `{protocol}`{wall}", "", *table(summary), "",
                "| verdict | rule | result | figures |", "| --- | --- | --- | --- |",
                *verdicts(summary, cells, protocol)]
        for ours, theirs in PAIRS:
            if ours in summary and theirs in summary and summary[ours]["fit_total"] > 0:
                ratio = summary[theirs]["fit_total"] / summary[ours]["fit_total"]
                out.append(f"\nTotal fit time {theirs} / {ours}: {ratio:.1f}x")
        out += ["", f"### Mean AUROC per dataset (`{protocol}`)", "",
                *per_dataset_table(summary, datasets)]
    text = "\n".join(out) + "\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
