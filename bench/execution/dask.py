"""The ``dask`` executor: cells run on a Dask distributed cluster; only the driver writes the store.

Each cell (a :class:`bench.planner.Cell`) travels to a Dask worker. The worker does not run the
detector in its own process: it hands the cell to a child process of its own (the same
:class:`bench.execution.process.WorkerProcess` the process executor uses), which loads the
plugins and the dataset from the cache, and which is killed and replaced when the cell times out,
crashes it or passes the memory limit. So a bad detector costs one cell, never a Dask worker, and
its reason is the same as with ``--executor process``. Dask is imported only when this executor
is chosen; detector objects and in-memory datasets travel inside the cell (cloudpickled).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from bench.errors import BenchError
from bench.execution.process import WorkerProcess, bench_environment, default_threads, worker_args
from bench.planner import Cell
from bench.record import CellRecord

#: environment forwarded to workers on a remote cluster: names, not paths of the driver's machine
REMOTE_ENV = ("BENCH_LOAD_PLUGINS", "BENCH_TRACE_PLUGINS")

#: a LocalCluster shares the machine with the cells it runs: its event-loop health checks
#: (every 20 ms by default) and monitors poll less often, so the cells keep the CPU
LOCAL_CONFIG = {
    "distributed.worker.daemon": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "500ms",
}

# -- inside a Dask worker ------------------------------------------------------------------------


class _IdleWorkers:
    """This Dask worker's idle child processes, by the arguments they were started with."""

    def __init__(self) -> None:
        self.pools: dict[tuple[Any, ...], list[WorkerProcess]] = {}
        self.lock = threading.Lock()

    def take(self, args: tuple[Any, ...], max_memory: int | None) -> WorkerProcess:
        with self.lock:
            pool = self.pools.setdefault((repr(args), max_memory), [])
            if pool:
                return pool.pop()
        ctx = multiprocessing.get_context("spawn")
        me = multiprocessing.current_process()
        # Dask's nanny starts workers as daemonic processes (distributed.worker.daemon), and
        # multiprocessing refuses children to those. The child is ours: it exits when its pipe
        # to this worker closes, and we kill it when the cell fails it.
        if me._config.get("daemon"):  # type: ignore[attr-defined]
            me._config["daemon"] = False  # type: ignore[attr-defined]
        # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (its
        # distributed.nanny.pre-spawn-environ), which a spawned child inherits: glibc then hands
        # freed memory back to the kernel at once and maps it again on the next allocation.
        # Measured here, it made IsolationForest cells 1.5x slower (a fifth of their time in the
        # kernel), so the cells' process gets the allocator's defaults, as with --executor process.
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        return WorkerProcess(ctx, args, max_memory)

    def give_back(self, worker: WorkerProcess, args: tuple[Any, ...], max_memory: int | None) -> None:
        with self.lock:
            self.pools.setdefault((repr(args), max_memory), []).append(worker)

    def reset(self) -> int:
        with self.lock:
            workers = [w for pool in self.pools.values() for w in pool]
            self.pools.clear()
        for worker in workers:
            worker.stop()
        return len(workers)


_idle = _IdleWorkers()


def run_cell(cell: Cell, timeout: float | None, max_memory: int | None,
             plugins_dirs: list[str], threads: int | None, env: dict[str, str]) -> CellRecord:
    """The Dask task: run ``cell`` in a replaceable child of this worker and return its record."""
    missing = [d for d in plugins_dirs if not os.path.isdir(d)]
    if missing:
        return CellRecord.failed(cell, f"plugins dir {missing[0]} does not exist on Dask worker "
                                 f"{os.uname().nodename} (share it at the same path, or install "
                                 "the plugin)")
    args = worker_args(plugins_dirs, threads or 1, env)
    worker = _idle.take(args, max_memory)
    try:
        record = worker.run(cell, timeout)
    except BaseException:
        worker.kill()
        raise
    _idle.give_back(worker, args, max_memory)
    return record


def close_workers() -> int:
    """Stop this Dask worker's child processes (called on every worker at the end of a run)."""
    return _idle.reset()


# -- the driver ----------------------------------------------------------------------------------


def run_dask(
    cells: Iterable[Cell],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    plugins_dirs: Iterable[str] = (),
    timeout: float | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
) -> Iterator[CellRecord]:
    """Run cells on the cluster at ``scheduler``, or on a LocalCluster of ``jobs`` workers."""
    cells = list(cells)
    if not cells:
        return
    try:
        import dask
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise BenchError("--executor dask needs Dask distributed: pip install "
                         "'anomaly-bench[dask]' (or 'dask[distributed]')") from exc

    dirs = [os.path.abspath(d) for d in plugins_dirs]
    cluster = None
    if scheduler:
        env = {k: v for k in REMOTE_ENV if (v := os.environ.get(k)) is not None}
        try:
            client = Client(scheduler)  # waits distributed.comm.timeouts.connect
        except (OSError, TimeoutError) as exc:
            raise BenchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    else:
        env = bench_environment()
        threads = threads or default_threads(jobs)
        with dask.config.set(LOCAL_CONFIG):
            cluster = LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                memory_limit=max_memory or "auto",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        client = Client(cluster)
    futures: dict[Any, Cell] = {}
    try:
        futures = {
            client.submit(run_cell, cell, timeout, max_memory, dirs, threads, env, pure=False): cell
            for cell in cells
        }
        for future in as_completed(futures):
            cell = futures.pop(future)
            try:
                record = future.result()
            except Exception as exc:  # the Dask worker itself died or left
                record = CellRecord.failed(cell, f"Dask worker lost while running detector "
                                           f"{cell.detector!r} on {cell.dataset!r}: "
                                           f"{type(exc).__name__}: {exc}")
            yield record
    finally:
        if futures:
            client.cancel(list(futures))
        try:
            client.run(close_workers)
        except Exception:  # workers already gone
            pass
        client.close()
        if cluster is not None:
            cluster.close()
