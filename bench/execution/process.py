"""Worker processes: the serial executor, the process executor, and the worker handle Dask uses.

A :class:`WorkerProcess` is one spawned process running a :class:`CellRunner`, and the cell it is
busy with. The driver gives the worker :data:`PREPARE_TIMEOUT` seconds to import, load and warm
up; the worker then says the cell's own time starts, and the driver allows it the cell's timeout
(the worker stops the fit itself with SIGALRM; the driver kills it ``GRACE`` seconds later if that
failed, e.g. a detector stuck in C code). A worker is killed and replaced when it passes either
limit, crashes, passes the memory limit, or timed out a cell (an interrupted import could have
left it half-initialised): it never runs another cell in a doubtful state.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any

from bench.execution.cell import PREPARE_TIMEOUT, CellRunner
from bench.execution.memory import format_memory
from bench.planner import Cell
from bench.record import CellRecord

#: seconds the driver waits past a cell's timeout before it kills the worker itself
GRACE = 30.0


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads(jobs: int) -> int:
    """BLAS/torch threads per worker: the available cores shared between ``jobs`` workers."""
    return max(1, available_cpus() // max(1, jobs))


def bench_environment() -> dict[str, str]:
    """The ``BENCH_*`` variables a worker on this machine inherits."""
    return {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}


def run_serial(
    cells: Iterable[Cell],
    *,
    plugins_dirs: Iterable[str] = (),
    timeout: float | None = None,
    threads: int | None = None,
) -> Iterator[CellRecord]:
    """Run cells in this process (timeouts by SIGALRM around fit and score only)."""
    runner = CellRunner(plugins_dirs, threads)
    for cell in cells:
        yield runner.run(cell, timeout)


def worker_main(conn: Any, plugins_dirs: list[str], threads: int | None, env: dict[str, str]) -> None:
    """The loop of a worker process: receive (cell, timeout), send "prepared", send the record."""
    os.environ.update(env)
    runner = CellRunner(plugins_dirs, threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        cell, timeout = message
        record = runner.run(cell, timeout, on_prepared=lambda: conn.send(("prepared", None)))
        conn.send(("record", record))


def worker_args(plugins_dirs: Iterable[str], threads: int,
                env: dict[str, str] | None = None) -> tuple[Any, ...]:
    """What a worker process needs: plugin dirs, thread limit, BENCH_* environment."""
    return (list(plugins_dirs), threads, bench_environment() if env is None else env)


def _exit_reason(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = ": perhaps the out-of-memory killer" if -code == signal.SIGKILL else ""
    return f"exit code {code}, killed by {name}{hint}"


class WorkerProcess:
    """One worker process and the cell it is running; killed and replaced when that cell fails it.

    Used by the process executor (one per job) and inside each Dask worker.
    """

    #: seconds between two looks at a busy worker's memory when a limit is set
    MEMORY_POLL = 0.05

    def __init__(self, ctx: Any, args: tuple[Any, ...], max_memory: int | None = None,
                 prepare_timeout: float = PREPARE_TIMEOUT) -> None:
        self.ctx, self.args, self.max_memory = ctx, args, max_memory
        self.prepare_timeout = prepare_timeout
        self.cell: Cell | None = None
        self.timeout: float | None = None
        self.deadline: float | None = None
        self.preparing = False
        self._start()

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.conn = parent
        self.proc = self.ctx.Process(target=worker_main, args=(child, *self.args), daemon=True)
        self.proc.start()
        child.close()
        self._ps: Any = None

    def restart(self) -> None:
        self.kill()
        self._start()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        """Ask an idle worker to exit, then make sure it has."""
        try:
            if self.cell is None and self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(2)
        except OSError:
            pass
        self.kill()

    def assign(self, cell: Cell, timeout: float | None) -> None:
        if not self.proc.is_alive():
            self.restart()
        self.cell, self.timeout, self.preparing = cell, timeout, True
        self.deadline = time.monotonic() + self.prepare_timeout
        self.conn.send((cell, timeout))

    def waitables(self) -> list[Any]:
        return [self.conn, self.proc.sentinel]

    def wait_for(self) -> float | None:
        """Seconds until this worker needs looking at even if it says nothing."""
        limits = []
        if self.deadline is not None:
            limits.append(max(0.0, self.deadline - time.monotonic()))
        if self.max_memory:
            limits.append(self.MEMORY_POLL)
        return min(limits) if limits else None

    def rss(self) -> int:
        import psutil

        try:
            if self._ps is None or self._ps.pid != self.proc.pid:
                self._ps = psutil.Process(self.proc.pid)
            return int(self._ps.memory_info().rss)
        except psutil.Error:
            return 0

    def _receive(self) -> CellRecord | None:
        """Read what the worker sent: a record, or None (it started the cell's own time)."""
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            raise EOFError from None
        if kind == "prepared":
            self.preparing = False
            self.deadline = time.monotonic() + self.timeout + GRACE if self.timeout else None
            return None
        return payload  # type: ignore[no-any-return]

    def poll(self, ready: Iterable[Any]) -> CellRecord | None:
        """The busy cell's record if it has one now (finished, crashed, too slow or too big).

        A worker that crashed, timed out or passed a limit is replaced.
        """
        cell = self.cell
        assert cell is not None
        ready = list(ready)
        record = None
        dead = False
        if self.conn in ready:
            try:
                while record is None and self.conn.poll():
                    record = self._receive()
            except EOFError:
                dead = True
        if record is None and (dead or self.proc.sentinel in ready and not self.conn.poll()):
            self.proc.join(5)
            record = CellRecord.failed(cell, f"worker process died ({_exit_reason(self.proc.exitcode)}) "
                                       f"while running detector {cell.detector!r} on {cell.dataset!r}")
            self.restart()
        elif record is None and self.deadline is not None and time.monotonic() >= self.deadline:
            if self.preparing:
                record = CellRecord.failed(
                    cell, f"preparing the cell (imports, dataset, warm-up) took more than "
                    f"{self.prepare_timeout:g} s; worker replaced")
            else:
                record = CellRecord.failed(cell, f"cell exceeded the timeout of {self.timeout:g} s",
                                           "timeout")
            self.restart()
        elif record is None and self.max_memory and (rss := self.rss()) > self.max_memory:
            record = CellRecord.failed(
                cell, f"cell exceeded the memory limit of {format_memory(self.max_memory)} "
                f"(worker resident memory reached {format_memory(rss)}); worker replaced")
            self.restart()
        elif record is not None and record.status == "timeout":
            self.restart()  # the alarm may have interrupted an import: never reuse this process
        if record is not None:
            self.cell = None
            self.deadline = None
        return record

    def run(self, cell: Cell, timeout: float | None) -> CellRecord:
        """Run one cell in this worker and wait for its record."""
        self.assign(cell, timeout)
        while True:
            record = self.poll(wait(self.waitables(), self.wait_for()))
            if record is not None:
                return record


def run_processes(
    cells: Iterable[Cell],
    *,
    jobs: int,
    plugins_dirs: Iterable[str] = (),
    timeout: float | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
) -> Iterator[CellRecord]:
    """Run cells in ``jobs`` worker processes; a timed-out, crashed or too big worker is replaced."""
    pending = list(cells)[::-1]
    if not pending:
        return
    ctx = multiprocessing.get_context("spawn")
    args = worker_args(plugins_dirs, threads or default_threads(jobs))
    workers = [WorkerProcess(ctx, args, max_memory) for _ in range(min(jobs, len(pending)))]
    try:
        for worker in workers:
            worker.assign(pending.pop(), timeout)
        while any(w.cell is not None for w in workers):
            busy = [w for w in workers if w.cell is not None]
            waits = [t for w in busy if (t := w.wait_for()) is not None]
            ready = wait([x for w in busy for x in w.waitables()], min(waits) if waits else None)
            for worker in busy:
                record = worker.poll(ready)
                if record is not None:
                    yield record
                    if pending:
                        worker.assign(pending.pop(), timeout)
    finally:
        for worker in workers:
            worker.stop()
