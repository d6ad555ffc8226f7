"""The record of one cell: one definition, used by the executors, the store, export and the tables.

A :class:`CellRecord`'s fields *are* the columns of the store's ``cells`` table (besides the
columns old stores keep for history, such as ``rss_peak_mb``). Adding a metric means a field here,
a numbered migration in :mod:`bench.store` that adds the column, and whatever displays it.

Memory is in MB of 2**20 bytes (what ``ps`` and the kernel report):

``peak_mem_mb``
    the cell's own peak: the largest resident memory of the process during fit and score, minus
    its resident memory when the cell started (warm-up, imports and the loaded dataset are
    outside it). Comparable between cells whatever ran before them in the same worker.
``worker_mem_mb``
    the worker process's resident memory when the cell started (interpreter, imported libraries,
    the dataset and its split): the baseline that ``peak_mem_mb`` is measured above.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from bench.provenance import now

if TYPE_CHECKING:  # pragma: no cover
    from bench.planner import Cell

STATUSES = ("ok", "failed", "timeout")


@dataclass
class CellRecord:
    """One finished cell (a row of the store's ``cells`` table)."""

    key: str
    detector: str  # the display label, e.g. "vae[score=iwae]"
    detector_name: str  # the registered name (or the class name of a detector object)
    dataset: str
    protocol: str
    seed: int
    status: str = "failed"
    run_id: int | None = None
    family: str | None = None
    plugin: str | None = None
    plugin_version: str | None = None
    code_hash: str | None = None
    params: str | None = None  # JSON of every constructor parameter, defaults included
    params_hash: str | None = None
    dataset_sha256: str | None = None
    max_samples: int | None = None
    auroc: float | None = None
    auprc: float | None = None
    fit_s: float | None = None
    score_s: float | None = None
    warmup_s: float | None = None
    wall_s: float | None = None
    peak_mem_mb: float | None = None
    worker_mem_mb: float | None = None
    n_train: int | None = None
    n_test: int | None = None
    n_features: int | None = None
    n_dropped_features: int | None = None
    x_shape: str | None = None  # JSON of one sample's shape as the detector saw it: "[30]"
    error: str | None = None
    extra: str | None = None
    #: JSON, image data only: the most and least anomalous test rows, and reconstructions of
    #: them where the detector makes them (format: bench.examples)
    examples: str | None = None
    attempts: int = 1
    host: str | None = None
    pid: int | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @classmethod
    def for_cell(cls, cell: Cell, **values: Any) -> CellRecord:
        """A record of ``cell`` with its identity filled in, started now, in this process."""
        base = dict(
            key=cell.key,
            detector=cell.detector,
            detector_name=cell.detector_name or cell.detector,
            dataset=cell.dataset,
            protocol=cell.protocol,
            seed=cell.seed,
            plugin_version=cell.plugin_version,
            code_hash=cell.code_hash,
            params=json.dumps(cell.params, sort_keys=True, default=str),
            params_hash=cell.params_hash,
            dataset_sha256=cell.dataset_sha256,
            max_samples=cell.max_samples,
            family=cell.family or None,
            plugin=cell.plugin or None,
            started_at=now(),
            host=platform.node(),
            pid=os.getpid(),
        )
        base.update(values)
        return cls(**base)

    @classmethod
    def failed(cls, cell: Cell, message: str, status: str = "failed") -> CellRecord:
        """The record of a cell that did not finish (told by the driver: a dead or killed worker)."""
        return cls.for_cell(cell, status=status, error=message, finished_at=now())

    def as_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __getitem__(self, name: str) -> Any:  # record["status"]: what progress lines read
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


#: every column of a record, in the store's order of first appearance
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CellRecord))

#: the first columns of `bench export` and of the DataFrame `bench.run` returns; the others follow
EXPORT_COLUMNS = ["detector", "dataset", "protocol", "seed", "status", "auroc", "auprc", "fit_s",
                  "score_s", "peak_mem_mb", "error"]


def export_order(columns: list[str]) -> list[str]:
    """``columns`` with :data:`EXPORT_COLUMNS` first (those present), the others after."""
    first = [c for c in EXPORT_COLUMNS if c in columns]
    return first + [c for c in columns if c not in first]
