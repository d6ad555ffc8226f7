"""Running one cell in whichever process executes it.

One cell = load the dataset (cached per worker by name *and* sha256), split and scale it with
the protocol, shape it for the detector, build the detector with the seed, warm it up, then
``fit`` on the training rows and ``decision_function`` on the test rows, timed apart, and the
metrics. Everything before the fit (imports, loading, the warm-up fit) is outside the cell's
timeout and outside its measured time and memory; the process executor gives it a limit of its
own (:data:`PREPARE_TIMEOUT`) and replaces a worker that passes it.

Shapes (contracts: images): a table is (n, d) for every detector; an image dataset, (n, H, W) or
(n, C, H, W), reaches a detector tagged ``images`` as (n, C, H, W) (C = 1 for (n, H, W)) and every
other detector flattened, (n, C*H*W).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from bench.errors import BenchError, DetectorError
from bench.execution.memory import MB, PeakMemory
from bench.planner import Cell, implementation_hash
from bench.protocols import shape_for, split_dataset
from bench.provenance import now
from bench.record import CellRecord
from bench.registry import DetectorSpec

#: seconds a worker may spend importing, loading the dataset and warming a detector up before a
#: cell's own timeout starts (override with BENCH_PREPARE_TIMEOUT)
PREPARE_TIMEOUT = float(os.environ.get("BENCH_PREPARE_TIMEOUT", "600"))


class CellTimeout(BaseException):  # not caught by a detector's `except Exception`
    pass


_IMPORT_FRAMES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")


def _importing(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename in _IMPORT_FRAMES:
            return True
        frame = frame.f_back
    return False


class Alarm:
    """Raise CellTimeout after ``seconds`` in the main thread (POSIX only).

    Never in the middle of an import: an import stopped half-way leaves a module half-initialised
    for the rest of the process (torch then fails or crashes in later cells), so while one runs
    the alarm is put off until it has finished.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.active = (
            bool(seconds)
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _handler(self, signum: int, frame: Any) -> None:
        if _importing(frame):
            signal.setitimer(signal.ITIMER_REAL, 0.01)  # look again once the import is done
            return
        raise CellTimeout()

    def __enter__(self) -> None:
        if self.active:
            self._old = signal.signal(signal.SIGALRM, self._handler)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


class CellRunner:
    """Per-process state: plugin registries, a small dataset cache, warmed-up detectors."""

    def __init__(self, plugins_dirs: Iterable[str] = (), threads: int | None = None) -> None:
        self.plugins_dirs = list(plugins_dirs)
        self.threads = threads
        self._datasets: dict[tuple[str, str], Any] = {}
        self._specs: dict[tuple[str, str, str], DetectorSpec] = {}
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
            # reaches libraries that read it when they start (torch's intra-op pool)
            os.environ["OMP_NUM_THREADS"] = str(self.threads)

    def dataset(self, cell: Cell) -> Any:
        from bench import data, plugins

        key = (cell.dataset, cell.dataset_sha256)
        if key not in self._datasets:
            spec = cell.dataset_spec or plugins.get_datasets().get(cell.dataset)
            self._datasets.clear()  # keep one dataset: the largest ones are hundreds of MB
            self._datasets[key] = (*data.load(spec), spec)
        return self._datasets[key]

    def split(self, cell: Cell) -> Any:
        """The cell's train/test parts. Cells are planned detectors innermost, so consecutive
        cells share a (dataset, protocol, seed): the last split is kept, and each cell gets its
        own copy of the arrays (a detector may scale its input in place)."""
        key = (cell.dataset, cell.dataset_sha256, cell.protocol, cell.seed, cell.max_samples)
        if self._split is None or self._split[0] != key:
            self._split = None  # free the old one before making the next
            X, y, spec = self.dataset(cell)
            part = split_dataset(X, y, spec, cell.protocol, cell.seed, cell.max_samples)
            self._split = (key, part)
        part = self._split[1]
        return dataclasses.replace(part, X_train=part.X_train.copy(), X_test=part.X_test.copy(),
                                   y_train=part.y_train.copy(), y_test=part.y_test.copy(),
                                   info=dict(part.info))

    def detector_spec(self, cell: Cell) -> DetectorSpec:
        key = (cell.detector, cell.params_hash, cell.code_hash)
        if key not in self._specs:
            if cell.detector_blob is not None:
                spec = pickle.loads(cell.detector_blob)  # cloudpickled by the planner
            else:
                from bench import plugins

                spec = plugins.get_detectors().get(cell.detector_name or cell.detector)
                spec = spec.with_params(dict(cell.overrides)) if cell.overrides else spec
                here = implementation_hash(spec.resolve())
                if cell.code_hash and here != cell.code_hash:
                    raise BenchError(
                        f"detector {cell.detector!r}: this worker's implementation differs from "
                        f"the driver's (code hash {here} here, {cell.code_hash} planned); install "
                        f"the same plugin and library versions on every worker")
            self._specs[key] = spec
        return self._specs[key]

    def warm_up(self, spec: DetectorSpec, shape: tuple[int, ...], seed: int,
                timeout: float | None = None) -> float:
        """Pay one-time costs (imports, first kernel calls) outside the timed region.

        The imports have no limit here (the process executor's driver gives them one); the
        warm-up fit on 128 random rows stops after ``timeout`` (a detector that cannot fit that
        in the cell's time will not fit the cell's data either: the cell itself says so).
        """
        if spec.label in self._warm:
            return 0.0
        import numpy as np

        start = time.perf_counter()
        spec.resolve()  # imports torch etc. for lazy factories
        if "torch" in spec.tags and self.threads:
            import torch

            torch.set_num_threads(self.threads)
        X = np.random.default_rng(0).random((128, *shape))
        try:
            with Alarm(timeout):
                det = _shrink_for_warmup(spec.build(random_state=seed))
                det.fit(X)
                det.decision_function(X[:8])
        except (Exception, CellTimeout):
            pass  # the real fit reports the problem
        self._warm.add(spec.label)
        return time.perf_counter() - start

    def run(self, cell: Cell, timeout: float | None = None,
            on_prepared: Callable[[], None] | None = None) -> CellRecord:
        """Run ``cell``; ``on_prepared`` is called when imports, data and warm-up are done and
        the cell's own time starts (the process executor's driver starts its deadline then)."""
        record = CellRecord.for_cell(cell)
        started = time.perf_counter()
        try:
            self.setup()
            spec = self.detector_spec(cell)
            record.family, record.plugin = spec.family, spec.plugin
            part = self.split(cell)
            # the test images as the protocol gave them (the cached split, which no detector
            # sees: a detector may scale its copy in place), for the record's examples
            images = self._split[1].X_test if part.X_test.ndim > 2 and self._split else None
            part.X_train = shape_for(part.X_train, spec.tags)
            part.X_test = shape_for(part.X_test, spec.tags)
            sample = tuple(int(n) for n in part.X_train.shape[1:])
            record.n_train = part.info["n_train"]
            record.n_test = part.info["n_test"]
            record.n_features = part.info.get("n_features", int(_prod(sample)))
            record.n_dropped_features = part.n_dropped_features
            record.x_shape = json.dumps(list(sample))
            record.warmup_s = self.warm_up(spec, sample, cell.seed, timeout)
            if on_prepared is not None:
                on_prepared()
            with Alarm(timeout):
                fit_and_score(spec, cell, part, record, images=images)
            record.status = "ok"
        except CellTimeout:
            record.status, record.error = "timeout", f"cell exceeded the timeout of {timeout:g} s"
        except BenchError as exc:
            record.status, record.error = "failed", str(exc)
        except MemoryError:
            record.status, record.error = "failed", "MemoryError: the detector ran out of memory"
        except Exception as exc:
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
            record.status = "failed"
            record.error = (f"detector {cell.detector!r} on {cell.dataset!r}: "
                            f"{type(exc).__name__}: {exc}{where}")
        record.wall_s = time.perf_counter() - started
        record.finished_at = now()
        return record


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


def _shrink_for_warmup(det: Any) -> Any:
    """Fewer epochs for the warm-up fit of deep detectors that expose an epochs parameter."""
    for name in ("epochs", "epoch_num", "max_epochs", "n_epochs"):
        if isinstance(getattr(det, name, None), int):
            try:
                setattr(det, name, 1)
            except AttributeError:  # a read-only property
                pass
    return det


def fit_and_score(spec: DetectorSpec, cell: Cell, part: Any, record: CellRecord,
                  images: Any = None) -> None:
    """Build, fit, score; fill the record's metrics, times and memory.

    ``images``: on image data, the untouched test images (n, H, W) or (n, C, H, W); the record
    then keeps its examples (:mod:`bench.examples`: the most and least anomalous test rows and
    the detector's reconstructions of them), after the measured part. That step never fails the
    cell: what goes wrong in it is kept in the examples as the reason they are missing.
    """
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    detector = spec.build(random_state=cell.seed)
    with PeakMemory() as mem:
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
    history = getattr(detector, "history_", None)
    record.auroc = float(roc_auc_score(part.y_test, scores))
    record.auprc = float(average_precision_score(part.y_test, scores))
    record.fit_s, record.score_s = fit_s, score_s
    record.peak_mem_mb = mem.own / MB
    record.worker_mem_mb = mem.baseline / MB
    record.extra = json.dumps({"history": _jsonable(history)}, default=float) if history else None
    if images is not None:
        from bench import examples

        try:
            # a dataset that travels with its cells (a file, arrays) is not in the registry for
            # the report to reload: its chosen images are kept too
            record.examples = examples.collect(detector, images, part.y_test, scores, spec.tags,
                                               keep_images=cell.dataset_spec is not None)
        except CellTimeout:  # fit and score are done: the cell stays ok, without examples
            record.examples = json.dumps({"error": "the cell's timeout passed while its "
                                                   "examples were collected"})


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, default=float)
        return value
    except (TypeError, ValueError):
        return repr(value)
