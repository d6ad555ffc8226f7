"""Plan and run cells: detector x dataset x protocol x seed.

One cell = load the dataset, split and scale it with the protocol, build the detector with the
seed, ``fit`` on the training rows, ``decision_function`` on the test rows, metrics. Each cell is
isolated: an exception, bad scores, a timeout or a dead worker process make that cell ``failed``
or ``timeout`` with a reason, and the run goes on.

Executors: ``serial`` runs cells in this process (timeouts through SIGALRM, best effort);
``process`` runs them in worker processes that are killed and replaced on timeout, crash or when
they pass the memory limit; ``dask`` (bench.executors_dask) sends cells to a Dask cluster, where
each Dask worker runs them in the same kind of replaceable process. Cells travel to workers by
name; workers load the same plugins (``--plugins-dir`` included).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import platform
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from bench.errors import BenchError, DetectorError
from bench.registry import DatasetSpec, DetectorSpec

EXECUTORS = ("serial", "process", "dask")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(text: str | int | None) -> int | None:
    """``"4GB"``, ``"500MiB"``, ``"2e9"`` -> bytes (``None`` or ``""`` -> no limit)."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    import re

    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise BenchError(f"{text!r} is not a memory size (e.g. 4GB, 500MB, 2GiB)")
    value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if value <= 0:
        raise BenchError(f"{text!r}: the memory limit must be positive")
    return value


def format_memory(n_bytes: float) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes / 10**3:.3g} kB"


@dataclass(frozen=True)
class Cell:
    """One unit of work, described by names so that it can travel to another process."""

    detector: str  # display label, e.g. "vae[score=iwae]"
    dataset: str
    protocol: str
    seed: int
    detector_name: str = ""
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    params_hash: str = ""
    plugin_version: str = ""
    dataset_sha256: str = ""
    max_samples: int | None = None
    #: set for datasets that are not in the registry (user files)
    dataset_spec: DatasetSpec | None = field(default=None, hash=False, compare=False)

    @property
    def key(self) -> str:
        parts = [self.detector_name or self.detector, self.params_hash, self.plugin_version,
                 self.dataset, self.dataset_sha256, self.protocol, self.seed, self.max_samples]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def plan(
    detectors: Iterable[DetectorSpec],
    datasets: Iterable[tuple[DatasetSpec, str]],
    protocols: Iterable[str],
    seeds: Iterable[int],
    *,
    max_samples: int | None = None,
) -> list[Cell]:
    """Every combination, datasets outermost so a worker reuses the dataset it loaded."""
    detectors = list(detectors)
    cells = []
    for dataset, sha in datasets:
        for protocol in protocols:
            for seed in seeds:
                for det in detectors:
                    cells.append(
                        Cell(
                            detector=det.label,
                            dataset=dataset.name,
                            protocol=protocol,
                            seed=int(seed),
                            detector_name=det.name,
                            params=det.all_params,
                            params_hash=det.params_hash,
                            plugin_version=det.plugin_version,
                            dataset_sha256=sha,
                            max_samples=max_samples,
                            dataset_spec=dataset if dataset.source == "file" else None,
                        )
                    )
    return cells


# ---------------------------------------------------------------------------------------------
# provenance


def versions() -> dict[str, str]:
    """Versions of the project and its main libraries (those already imported or importable)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("anomaly-bench", "numpy", "scikit-learn", "pyod", "pandas", "torch", "scipy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# running one cell (in whichever process executes it)


class _PeakMemory:
    """Peak resident memory of this process while the block runs (``peak``, bytes).

    On Linux the kernel keeps the high-water mark (``VmHWM``) and lets a process reset it
    (``/proc/self/clear_refs``): exact and free. Elsewhere a thread samples the resident memory
    every ``interval`` seconds (which costs about 1% of a CPU-bound fit in waking up for the GIL).
    The process's peak over its whole life, which the reset forgets, is kept in ``life_peak``.
    """

    life_peak = 0  # bytes, over every block measured in this process (and the start)
    _hwm: bool | None = None  # whether the kernel's high-water mark can be reset here

    def __init__(self, interval: float = 0.01) -> None:
        self._interval = interval
        self._thread: threading.Thread | None = None
        self.peak = 0

    @classmethod
    def _read_hwm(cls) -> int | None:
        try:
            with open("/proc/self/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    @classmethod
    def _reset_hwm(cls) -> bool:
        if cls._hwm is False:
            return False
        before = cls._read_hwm()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            cls._hwm = False
            return False
        cls._hwm = before is not None
        if before is not None:
            _PeakMemory.life_peak = max(_PeakMemory.life_peak, before)
        return cls._hwm

    def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        if self._reset_hwm():
            return self
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            self.peak = self._read_hwm() or 0
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._proc.memory_info().rss)
        _PeakMemory.life_peak = max(_PeakMemory.life_peak, self.peak)


class CellTimeout(BaseException):  # not caught by a detector's `except Exception`
    pass


class _Worker:
    """Per-process state: plugin registries, a small dataset cache, warmed-up detectors."""

    def __init__(self, plugins_dirs: Iterable[str] = (), threads: int | None = None) -> None:
        self.plugins_dirs = list(plugins_dirs)
        self.threads = threads
        self._datasets: dict[str, Any] = {}
        self._warm: set[str] = set()
        self._split: tuple[tuple[Any, ...], Any] | None = None
        self._setup = False

    def setup(self) -> None:
        if self._setup:
            return
        self._setup = True
        from bench import plugins

        plugins.load_plugins(self.plugins_dirs)
        if self.threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(self.threads)
            os.environ["OMP_NUM_THREADS"] = str(self.threads)

    def dataset(self, cell: Cell) -> Any:
        from bench import data, plugins

        key = cell.dataset
        if key not in self._datasets:
            spec = cell.dataset_spec or plugins.get_datasets().get(cell.dataset)
            self._datasets.clear()  # keep one dataset: the largest ones are hundreds of MB
            self._datasets[key] = data.load(spec)
        return self._datasets[key]

    def split(self, cell: Cell) -> Any:
        """The cell's train/test parts. Cells are planned detectors innermost, so consecutive
        cells share a (dataset, protocol, seed): the last split is kept, and each cell gets its
        own copy of the arrays (a detector may scale its input in place)."""
        import dataclasses

        from bench import protocols

        key = (cell.dataset, cell.dataset_sha256, cell.protocol, cell.seed, cell.max_samples)
        if self._split is None or self._split[0] != key:
            self._split = None  # free the old one before making the next
            X, y = self.dataset(cell)
            try:
                part = protocols.split(X, y, cell.protocol, cell.seed, max_samples=cell.max_samples)
            except ValueError as exc:
                raise BenchError(f"dataset {cell.dataset!r}, protocol {cell.protocol}: {exc}") from exc
            self._split = (key, part)
        part = self._split[1]
        return dataclasses.replace(part, X_train=part.X_train.copy(), X_test=part.X_test.copy(),
                                   y_train=part.y_train.copy(), y_test=part.y_test.copy(),
                                   info=dict(part.info))

    def detector_spec(self, cell: Cell) -> DetectorSpec:
        from bench import plugins

        spec = plugins.get_detectors().get(cell.detector_name or cell.detector)
        return spec.with_params(_overrides(spec, cell.params))

    def warm_up(self, spec: DetectorSpec, n_features: int, seed: int) -> float:
        """Pay one-time costs (imports, first kernel calls) outside the timed region."""
        if spec.label in self._warm:
            return 0.0
        self._warm.add(spec.label)
        import numpy as np

        start = time.perf_counter()
        factory = spec.resolve()  # imports torch etc. for lazy factories
        if "torch" in spec.tags and self.threads:
            import torch

            torch.set_num_threads(self.threads)
        rng = np.random.default_rng(0)
        X = rng.random((128, n_features))
        try:
            det = spec.build(random_state=seed)
            det = _shrink_for_warmup(det)
            det.fit(X)
            det.decision_function(X[:8])
        except CellTimeout:
            raise
        except Exception:
            pass  # the real fit reports the problem
        del factory
        return time.perf_counter() - start

    def run(self, cell: Cell, timeout: float | None = None) -> dict[str, Any]:
        record = _base_record(cell)
        started = time.perf_counter()
        try:
            self.setup()
            spec = self.detector_spec(cell)
            record.update(family=spec.family, plugin=spec.plugin)
            part = self.split(cell)
            record.update(
                n_train=part.info["n_train"],
                n_test=part.info["n_test"],
                n_features=part.info["n_features"],
                n_dropped_features=part.n_dropped_features,
            )
            with _alarm(timeout):
                record["warmup_s"] = self.warm_up(spec, part.X_train.shape[1], cell.seed)
                result = _fit_score(spec, cell, part)
            record.update(result)
            record["status"] = "ok"
        except CellTimeout:
            record.update(status="timeout", error=f"cell exceeded the timeout of {timeout:g} s")
        except BenchError as exc:
            record.update(status="failed", error=str(exc))
        except MemoryError:
            record.update(status="failed", error="MemoryError: the detector ran out of memory")
        except Exception as exc:
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
            record.update(
                status="failed",
                error=f"detector {cell.detector!r} on {cell.dataset!r}: {type(exc).__name__}: {exc}{where}",
            )
        record["wall_s"] = time.perf_counter() - started
        record["finished_at"] = now()
        record["worker_maxrss_mb"] = _maxrss_mb()  # this process's peak so far (not stored)
        return record


def _maxrss_mb() -> float | None:
    """This process's peak resident memory over its life so far, in MB."""
    try:
        import resource
    except ImportError:  # Windows
        return _PeakMemory.life_peak / 2**20 or None
    # ru_maxrss is in kB on Linux (bytes on macOS); _PeakMemory's high-water-mark resets also
    # reset it, so the largest value it saw is kept apart
    unit = 1 if sys.platform == "darwin" else 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    return max(maxrss, _PeakMemory.life_peak) / 2**20


def _shrink_for_warmup(det: Any) -> Any:
    """Fewer epochs for the warm-up fit of deep detectors that expose an epochs parameter."""
    for name in ("epochs", "epoch_num", "max_epochs", "n_epochs"):
        if hasattr(det, name) and isinstance(getattr(det, name), int):
            try:
                setattr(det, name, 1)
            except Exception:
                pass
    return det


def _overrides(spec: DetectorSpec, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if spec.params.get(k, object()) != v}


def _base_record(cell: Cell) -> dict[str, Any]:
    return {
        "key": cell.key,
        "detector": cell.detector,
        "detector_name": cell.detector_name or cell.detector,
        "params": json.dumps(cell.params, sort_keys=True, default=str),
        "params_hash": cell.params_hash,
        "plugin_version": cell.plugin_version,
        "dataset": cell.dataset,
        "dataset_sha256": cell.dataset_sha256,
        "protocol": cell.protocol,
        "seed": cell.seed,
        "max_samples": cell.max_samples,
        "started_at": now(),
        "host": platform.node(),
        "pid": os.getpid(),
    }


def _fit_score(spec: DetectorSpec, cell: Cell, part: Any) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    detector = spec.build(random_state=cell.seed)
    with _PeakMemory() as mem:
        t0 = time.perf_counter()
        fitted = detector.fit(part.X_train)
        fit_s = time.perf_counter() - t0
        detector = fitted if fitted is not None else detector
        t0 = time.perf_counter()
        raw = detector.decision_function(part.X_test)
        score_s = time.perf_counter() - t0
    scores = np.asarray(raw, dtype=np.float64).reshape(-1) if raw is not None else None
    who = f"detector {cell.detector!r} on {cell.dataset!r} (seed {cell.seed})"
    if scores is None or len(scores) != len(part.y_test):
        got = "None" if scores is None else f"{len(scores)}"
        raise DetectorError(f"{who} returned {got} scores for {len(part.y_test)} test rows")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise DetectorError(f"{who} returned {int(bad.sum())} NaN/inf score(s) of {len(scores)}")
    if np.ptp(scores) == 0:
        raise DetectorError(f"{who} returned the same score for every row (collapsed detector)")
    extra: dict[str, Any] = {}
    history = getattr(detector, "history_", None)
    if history:
        extra["history"] = _jsonable(history)
    return {
        "auroc": float(roc_auc_score(part.y_test, scores)),
        "auprc": float(average_precision_score(part.y_test, scores)),
        "fit_s": fit_s,
        "score_s": score_s,
        # the peak resident memory of the process that ran the cell (interpreter and imported
        # libraries included: what --max-memory limits). An increase over the start is not used:
        # a reused worker's allocator serves a cell from memory freed by earlier ones.
        "peak_mem_mb": mem.peak / 2**20,
        "rss_peak_mb": mem.peak / 2**20,
        "extra": json.dumps(extra, default=float) if extra else None,
    }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, default=float)
        return value
    except (TypeError, ValueError):
        return repr(value)


class _alarm:
    """Raise CellTimeout after ``seconds`` in the main thread (serial executor, POSIX only)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.active = (
            bool(seconds)
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _handler(self, signum: int, frame: Any) -> None:
        raise CellTimeout()

    def __enter__(self) -> None:
        if self.active:
            self._old = signal.signal(signal.SIGALRM, self._handler)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


# ---------------------------------------------------------------------------------------------
# executors


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_threads(jobs: int) -> int:
    return max(1, available_cpus() // max(1, jobs))


def run_serial(
    cells: Iterable[Cell],
    *,
    plugins_dirs: Iterable[str] = (),
    timeout: float | None = None,
    threads: int | None = None,
) -> Iterator[dict[str, Any]]:
    worker = _Worker(plugins_dirs, threads)
    for cell in cells:
        yield worker.run(cell, timeout)


def _worker_main(conn: Any, plugins_dirs: list[str], threads: int | None, env: dict[str, str]) -> None:
    os.environ.update(env)
    worker = _Worker(plugins_dirs, threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        cell, timeout = message
        conn.send(worker.run(cell, timeout))


class _Slot:
    """One worker process and the cell it is running; killed and replaced when that cell fails it.

    Used by the process executor (one slot per job) and inside each Dask worker.
    """

    #: seconds between two looks at a busy worker's memory when a limit is set
    MEMORY_POLL = 0.05

    def __init__(self, ctx: Any, args: tuple[Any, ...], max_memory: int | None = None) -> None:
        self.ctx, self.args, self.max_memory = ctx, args, max_memory
        self.cell: Cell | None = None
        self.timeout: float | None = None
        self.deadline: float | None = None
        self._start()

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.conn = parent
        self.proc = self.ctx.Process(target=_worker_main, args=(child, *self.args), daemon=True)
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
        self.cell, self.timeout = cell, timeout
        # The worker stops the cell itself after `timeout` s of fit and score; the driver kills it
        # when that fails (a detector stuck in C code), leaving time for loading and warm-up.
        self.deadline = time.monotonic() + timeout + 30 if timeout else None
        self.conn.send((cell, timeout))

    def waitables(self) -> list[Any]:
        return [self.conn, self.proc.sentinel]

    def wait_for(self) -> float | None:
        """Seconds until this slot needs looking at even if its worker says nothing."""
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

    def poll(self, ready: Iterable[Any]) -> dict[str, Any] | None:
        """The busy cell's record if it has one now (finished, crashed, too slow or too big).

        A worker that crashed, timed out or passed the memory limit is replaced.
        """
        cell = self.cell
        assert cell is not None
        ready = list(ready)
        record = None
        if self.conn in ready:
            try:
                record = self.conn.recv()
            except (EOFError, OSError):
                record = None
        if record is None and (self.conn in ready or self.proc.sentinel in ready):
            self.proc.join(5)
            record = _failed(cell, f"worker process died ({_exit_reason(self.proc.exitcode)}) "
                             f"while running detector {cell.detector!r} on {cell.dataset!r}")
            self.restart()
        elif record is None and self.deadline is not None and time.monotonic() >= self.deadline:
            record = _failed(cell, f"cell exceeded the timeout of {self.timeout:g} s", "timeout")
            self.restart()
        elif record is None and self.max_memory and (rss := self.rss()) > self.max_memory:
            record = _failed(cell, f"cell exceeded the memory limit of "
                             f"{format_memory(self.max_memory)} (worker resident memory reached "
                             f"{format_memory(rss)}); worker replaced")
            self.restart()
        if record is not None:
            self.cell = None
        return record

    def run(self, cell: Cell, timeout: float | None) -> dict[str, Any]:
        """Run one cell in this slot's worker and wait for its record."""
        from multiprocessing.connection import wait

        if not self.proc.is_alive():
            self.restart()
        self.assign(cell, timeout)
        while True:
            record = self.poll(wait(self.waitables(), self.wait_for()))
            if record is not None:
                return record


def _exit_reason(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = ": perhaps the out-of-memory killer" if -code == signal.SIGKILL else ""
    return f"exit code {code}, killed by {name}{hint}"


def worker_args(plugins_dirs: Iterable[str], threads: int,
                env: dict[str, str] | None = None) -> tuple[Any, ...]:
    """What a worker process needs: plugin dirs, thread limit, BENCH_* environment."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    return (list(plugins_dirs), threads, env)


def run_processes(
    cells: Iterable[Cell],
    *,
    jobs: int,
    plugins_dirs: Iterable[str] = (),
    timeout: float | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Run cells in ``jobs`` worker processes; a timed-out, crashed or too big worker is replaced."""
    from multiprocessing.connection import wait

    pending = list(cells)[::-1]
    if not pending:
        return
    ctx = multiprocessing.get_context("spawn")
    args = worker_args(plugins_dirs, threads or default_threads(jobs))
    slots = [_Slot(ctx, args, max_memory) for _ in range(min(jobs, len(pending)))]
    try:
        for slot in slots:
            slot.assign(pending.pop(), timeout)
        while any(slot.cell is not None for slot in slots):
            busy = [s for s in slots if s.cell is not None]
            waits = [w for s in busy if (w := s.wait_for()) is not None]
            ready = wait([x for s in busy for x in s.waitables()], min(waits) if waits else None)
            for slot in busy:
                record = slot.poll(ready)
                if record is not None:
                    yield record
                    if pending:
                        slot.assign(pending.pop(), timeout)
    finally:
        for slot in slots:
            slot.stop()


def _failed(cell: Cell, message: str, status: str = "failed") -> dict[str, Any]:
    record = _base_record(cell)
    record.update(status=status, error=message, finished_at=now())
    return record


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
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
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
        from bench.executors_dask import run_dask

        records = run_dask(cells, jobs=jobs, scheduler=scheduler, plugins_dirs=plugins_dirs,
                           timeout=timeout, threads=threads, max_memory=limit)
    else:
        raise BenchError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    for record in records:
        if on_record:
            on_record(record)
        yield record


def cell_summary(cell: Cell) -> dict[str, Any]:
    return {k: v for k, v in asdict(cell).items() if k != "dataset_spec"}


