"""The Python API: ``bench.run`` runs a grid into a store and returns its cells as a DataFrame;
``bench.leaderboard`` ranks a frame or a store. ``bench run`` and ``bench leaderboard`` are thin
layers over these functions.

    import bench
    from pyod.models.iforest import IForest

    cells = bench.run(["hbos", IForest(n_estimators=50)],
                      ["synthetic:local", ("mine", X, y)], seeds=[1, 2])
    bench.leaderboard(cells)

Detectors are registered names, globs or selectors (``"vae[score=iwae]"``), specs, or objects
with ``fit`` and ``decision_function`` (a PyOD detector, your own class; ``(name, object)`` names
it). Datasets are registered names or globs, specs, paths of files (``.npz``, ``.csv``, ``.mat``)
or in-memory ``(name, X, y)``. Objects made in a notebook reach process and Dask workers
cloudpickled. ``store=None`` keeps the results in memory; a path resumes like the CLI.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import plugins
from bench.errors import BenchError, DatasetError
from bench.registry import DatasetSpec, DetectorSpec, split_list

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from bench.planner import Cell


def default_detectors(registry: Any) -> list[DetectorSpec]:
    """The default suite: every available detector not tagged ``slow``."""
    return [s for s in registry if "slow" not in s.tags and s.unavailable_reason() is None]


def default_datasets(registry: Any) -> list[DatasetSpec]:
    """The default suite's datasets: those tagged ``embedded`` (no network needed)."""
    return [s for s in registry if "embedded" in s.tags]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | Path | DetectorSpec | DatasetSpec):
        return [value]
    if isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[0], str) and not all(
            isinstance(v, str) for v in value):
        return [value]  # one (name, object) or (name, X, y)
    if hasattr(value, "fit") and hasattr(value, "decision_function"):
        return [value]
    return list(value)


def resolve_detectors(detectors: Any) -> list[DetectorSpec]:
    """Registered names/selectors/globs, specs and detector objects -> specs (user order)."""
    from bench.planner import object_spec

    registry = plugins.get_detectors()
    if detectors is None:
        return default_detectors(registry)
    chosen: dict[str, DetectorSpec] = {}
    for item in _as_list(detectors):
        if isinstance(item, str):
            specs = registry.select(split_list(item))
        elif isinstance(item, DetectorSpec):
            specs = [item]
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            specs = [object_spec(item[1], item[0])]
        else:
            specs = [object_spec(item)]
        for spec in specs:
            if spec.label in chosen and chosen[spec.label] is not spec:
                if not isinstance(spec.factory, str) and not isinstance(chosen[spec.label].factory, str):
                    raise BenchError(f"two detectors are both named {spec.label!r}: name them "
                                     "with (name, detector)")
            chosen.setdefault(spec.label, spec)
    for spec in chosen.values():
        reason = spec.unavailable_reason()
        if reason:
            raise BenchError(f"detector {spec.name!r} is unavailable: {reason}")
    return list(chosen.values())


def resolve_datasets(datasets: Any, *, label_column: str = "y") -> list[DatasetSpec]:
    """Registered names/globs, specs, file paths and ``(name, X, y)`` -> specs (user order)."""
    from bench import data
    from bench.planner import arrays_spec

    registry = plugins.get_datasets()
    if datasets is None:
        return default_datasets(registry)
    chosen: dict[str, DatasetSpec] = {}
    items = _as_list(datasets)
    is_file = [isinstance(item, Path) or (isinstance(item, str) and os.sep in item and
                                          Path(item).suffix.lower() in data.READERS)
               for item in items]
    # user files are named together: two files with one stem get distinct, content-keyed names
    # (and the same content given twice is one dataset); they take the first file's place
    file_specs = data.file_specs([i for i, f in zip(items, is_file, strict=True) if f],
                                 label_column=label_column)
    for item, a_file in zip(items, is_file, strict=True):
        if a_file:
            specs, file_specs = file_specs, []
        elif isinstance(item, str):
            specs = registry.select(split_list(item))
        elif isinstance(item, DatasetSpec):
            specs = [item]
        elif isinstance(item, tuple) and len(item) == 3:
            specs = [arrays_spec(*item)]
        else:
            raise BenchError(f"{item!r} is not a dataset: give a registered name, a file path or "
                             "(name, X, y)")
        for spec in specs:
            other = chosen.setdefault(spec.name, spec)
            if other is not spec and other != spec:
                where = " and ".join(str(s.path or s.source or "?") for s in (other, spec))
                raise BenchError(f"two datasets are both named {spec.name!r} ({where}): their "
                                 "cells would be mixed up; give them different names")
    return list(chosen.values())


def check_options(*, timeout: float | None, max_samples: int | None, jobs: int | None,
                  threads_per_job: int | None, protocols: Iterable[str], executor: str | None,
                  scheduler: str | None) -> list[str]:
    """Refuse options that cannot give a sensible run, before anything is planned."""
    from bench import protocols as protocols_module
    from bench.execution import EXECUTORS

    if timeout is not None:
        try:
            value = float(timeout)
        except (TypeError, ValueError):
            raise BenchError(f"timeout {timeout!r} is not a number of seconds") from None
        if not math.isfinite(value) or value <= 0:
            raise BenchError(f"timeout {timeout!r}: a timeout is a finite number of seconds > 0 "
                             "(leave it out for no timeout)")
    for name, value, low in (("max_samples", max_samples, 2), ("jobs", jobs, 1),
                             ("threads_per_job", threads_per_job, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise BenchError(f"{name} {value!r}: expected an integer >= {low}")
    chosen = [protocols] if isinstance(protocols, str) else list(protocols)
    chosen = [p for item in chosen for p in split_list(item)]
    for p in chosen:
        if p not in protocols_module.PROTOCOLS:
            raise BenchError(f"protocol {p!r} is not one of {', '.join(protocols_module.PROTOCOLS)}")
    if not chosen:
        raise BenchError("no protocol given")
    if executor is not None and executor not in EXECUTORS:
        raise BenchError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    if scheduler and executor not in (None, "dask"):
        raise BenchError(f"a scheduler address needs the dask executor, not {executor!r}")
    return chosen


def _fingerprints(specs: list[DatasetSpec], skip_missing: bool) -> tuple[list[tuple[DatasetSpec, str]], dict[str, str]]:
    """Fetch what is not cached (a missing file is one error for the run, not one per cell)."""
    from bench import data

    ready, missing = [], {}
    for spec in specs:
        try:
            if spec.loader is None and not spec.path:
                data.fetch(spec)
            ready.append((spec, data.fingerprint(spec)))
        except DatasetError as exc:
            missing[spec.name] = str(exc)
            ready.append((spec, spec.sha256 or ""))
    if missing and not skip_missing:
        lines = "; ".join(f"{name} ({why})" for name, why in missing.items())
        raise BenchError(f"{len(missing)} dataset(s) not available: {lines}. Fetch them "
                         "('bench datasets fetch NAME'), or run the others with --skip-missing "
                         "(skip_missing=True): their cells are then recorded as not run")
    return ready, missing


def run(
    detectors: Any = None,
    datasets: Any = None,
    *,
    protocols: Iterable[str] | str = ("unsupervised",),
    seeds: Iterable[int] = (1, 2, 3),
    store: str | Path | None = None,
    executor: str | None = "process",
    jobs: int | None = None,
    timeout: float | None = None,
    max_memory: int | str | None = None,
    max_samples: int | None = None,
    threads_per_job: int | None = None,
    force: bool = False,
    progress: bool = False,
    scheduler: str | None = None,
    plugins_dirs: Iterable[str | Path] = (),
    label_column: str = "y",
    skip_missing: bool = False,
    command: str | None = None,
    config: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run detectors x datasets x protocols x seeds; return one row per planned cell.

    The columns are those of ``bench export``. Cells already ``ok`` in ``store`` are not run again
    (``force=True`` reruns them; an ok row is never replaced by a failure). ``executor=None``
    chooses like the CLI (dask with a scheduler, process for several jobs, a timeout or a memory
    limit, else serial). Cells of datasets that could not be fetched (``skip_missing=True``) are
    rows with status ``missing``. ``frame.attrs`` holds ``run_id``, ``counts`` and ``store``.
    """
    from bench import planner
    from bench.execution import available_cpus, execute, parse_memory
    from bench.progress import Progress
    from bench.provenance import git_commit, platform_line, versions
    from bench.store import Store

    protocol_list = check_options(timeout=timeout, max_samples=max_samples, jobs=jobs,
                                  threads_per_job=threads_per_job, protocols=protocols,
                                  executor=executor, scheduler=scheduler)
    seed_list = planner.check_seeds(seeds)
    memory_limit = parse_memory(max_memory)
    if plugins_dirs:
        plugins.load_plugins([os.path.abspath(d) for d in plugins_dirs])
        plugins.reset_registries()
    else:
        plugins.load_plugins()
    if executor is None:
        if jobs is None:
            jobs = available_cpus()
        executor = ("dask" if scheduler else "process" if jobs > 1 or timeout or memory_limit
                    else "serial")
    if jobs is None:
        jobs = 1 if executor == "serial" else available_cpus()
    chosen_detectors = resolve_detectors(detectors)
    chosen_datasets = resolve_datasets(datasets, label_column=label_column)
    if not chosen_detectors or not chosen_datasets or not seed_list:
        raise BenchError("nothing to run: no detectors, datasets or seeds selected")
    described = [planner.describe(spec) for spec in chosen_detectors]
    with_sha, missing = _fingerprints(chosen_datasets, skip_missing)
    cells = planner.plan(described, with_sha, protocol_list, seed_list, max_samples=max_samples)
    absent = [c for c in cells if c.dataset in missing]

    counts = {"ok": 0, "failed": 0, "timeout": 0, "skipped": 0, "missing": len(absent)}
    stream = sys.stderr
    with Store(":memory:" if store is None else store) as db:
        done = db.status_of(c.key for c in cells)
        todo = [c for c in cells if c.dataset not in missing and (force or done.get(c.key) != "ok")]
        counts["skipped"] = len(cells) - len(todo) - len(absent)
        run_id = db.start_run(
            command=command or f"bench.run from {Path(sys.argv[0]).name or 'python'}",
            git_commit=git_commit(), versions=versions(), platform=platform_line(),
            n_planned=len(cells),
            options={"jobs": jobs, "executor": executor, "scheduler": scheduler,
                     "timeout": timeout, "max_memory": memory_limit, "force": force,
                     "max_samples": max_samples, "threads_per_job": threads_per_job,
                     "skip_missing": skip_missing, "config": config})
        db.plan_run(run_id, cells)
        if progress:
            where = "memory" if store is None else str(store)
            print(f"{len(cells)} cells planned ({len(chosen_detectors)} detectors x "
                  f"{len(chosen_datasets)} datasets x {len(protocol_list)} protocols x "
                  f"{len(seed_list)} seeds); {counts['skipped']} already ok in {where}; "
                  f"running {len(todo)}", file=stream, flush=True)
            for name, why in missing.items():
                print(f"not run: dataset {name} is not available ({why})", file=stream, flush=True)
        records = execute(todo, executor=executor, jobs=jobs,
                          plugins_dirs=plugins.plugins_dirs_loaded(), timeout=timeout,
                          threads=threads_per_job, max_memory=memory_limit, scheduler=scheduler)
        with Progress(len(todo), quiet=not progress, stream=stream) as bar:
            for record in records:
                db.append(record, run_id)
                counts[record.status] += 1
                bar.update(record)
        db.finish_run(run_id)
        frame = db.query(keys=[c.key for c in cells])
    frame = _with_missing(frame, absent, missing)
    from bench.record import export_order

    frame = frame[export_order(list(frame.columns))]
    frame.attrs.update(run_id=run_id, counts=counts, store=None if store is None else str(store))
    return frame


def _with_missing(frame: pd.DataFrame, absent: list[Cell], why: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    from bench.record import CellRecord

    if not absent:
        return frame
    rows = []
    for cell in absent:
        row = CellRecord.for_cell(cell, error=f"not run: dataset not available ({why[cell.dataset]})",
                                  started_at=None, host=None, pid=None).as_row()
        row["status"] = "missing"
        rows.append(row)
    extra = pd.DataFrame(rows).reindex(columns=frame.columns)
    return pd.concat([f for f in (frame, extra) if len(f)], ignore_index=True) if len(frame) else extra


# -- results -------------------------------------------------------------------------------------


def leaderboard(frame_or_store: Any, *, metric: str = "auroc", protocol: str | None = None,
                by: str = "detector", reference: str | None = None) -> pd.DataFrame:
    """The ranked table (one row per protocol and detector) of a store or of ``run``'s frame."""
    from bench import leaderboard as lb

    return lb(frame_or_store, metric=metric, protocol=protocol, by=by,  # type: ignore[operator]
              reference=reference)


def render_leaderboard(frame_or_store: Any, *, metric: str = "auroc", fmt: str = "markdown",
                       protocol: str | None = None, by: str = "detector",
                       reference: str | None = None, width: int | None = None) -> str:
    """The whole leaderboard as text: what ``bench leaderboard`` and the end of ``bench run`` print
    (``fmt="table"``: a rich table ``width`` columns wide)."""
    from bench import leaderboard as lb
    from bench import render

    cells, planned = lb.results(frame_or_store, protocol)
    return render.render(cells, metric, fmt, by=by, planned=planned, reference=reference,
                         width=width)
