"""Executing cells: choose an executor and yield one record per cell as it finishes.

``serial`` runs cells in this process (:mod:`bench.execution.process`, ``run_serial``);
``process`` runs them in worker processes that are killed and replaced on timeout, crash or
when they pass the memory limit; ``dask`` (:mod:`bench.execution.dask`) sends them to a Dask
cluster, where each Dask worker runs them in the same kind of replaceable process. How one cell
runs is :mod:`bench.execution.cell`; its peak memory, :mod:`bench.execution.memory`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from bench.errors import BenchError
from bench.execution.memory import format_memory, parse_memory
from bench.execution.process import available_cpus, default_threads, run_processes, run_serial
from bench.planner import Cell
from bench.record import CellRecord

EXECUTORS = ("serial", "process", "dask")

__all__ = ["EXECUTORS", "available_cpus", "default_threads", "execute", "format_memory",
           "parse_memory"]


def execute(
    cells: list[Cell],
    *,
    executor: str = "serial",
    jobs: int = 1,
    plugins_dirs: Iterable[str] = (),
    timeout: float | None = None,
    threads: int | None = None,
    max_memory: int | str | None = None,
    scheduler: str | None = None,
    on_record: Callable[[CellRecord], None] | None = None,
) -> Iterator[CellRecord]:
    """Run ``cells`` with the chosen executor, yielding one record per cell as it finishes.

    ``max_memory`` (bytes or ``"4GB"``) limits each worker's resident memory; the serial
    executor cannot enforce it and refuses it. ``scheduler`` is a Dask scheduler address.
    """
    limit = parse_memory(max_memory)
    if scheduler and executor != "dask":
        raise BenchError(f"a scheduler address needs the dask executor, not {executor!r}")
    if executor == "serial":
        if limit:
            raise BenchError("the serial executor cannot enforce a memory limit: use "
                             "--executor process (or --jobs 2 or more)")
        records = run_serial(cells, plugins_dirs=plugins_dirs, timeout=timeout, threads=threads)
    elif executor == "process":
        records = run_processes(cells, jobs=jobs, plugins_dirs=plugins_dirs, timeout=timeout,
                                threads=threads, max_memory=limit)
    elif executor == "dask":
        from bench.execution.dask import run_dask

        records = run_dask(cells, jobs=jobs, scheduler=scheduler, plugins_dirs=plugins_dirs,
                           timeout=timeout, threads=threads, max_memory=limit)
    else:
        raise BenchError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    for record in records:
        if on_record:
            on_record(record)
        yield record
