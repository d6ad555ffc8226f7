"""Conformance checks for detectors, for plugin authors and for the project's own tests.

In the spirit of scikit-learn's ``check_estimator``: :func:`check_detector` builds the detector,
fits it on small generated data on the CPU (seconds) and checks the detector contract::

    from bench.testing import check_detector

    def test_conformance():
        check_detector(MyDetector, n_neighbors=5)

or, one pytest test per check (the fits are shared between them)::

    from bench.testing import parametrize_checks

    @parametrize_checks(MyDetector, n_neighbors=5)
    def test_conformance(check):
        check()

``factory`` is a class or callable, a lazy ``"module:attr"`` string, the name of a registered
detector (``"iforest"``, ``"vae[score=iwae]"``), a :class:`~bench.DetectorSpec`, or an
instance (copied for every fit). When the factory has a ``test_config()`` classmethod (the
torch detectors do: few epochs), its parameters are used, under any you pass.

The checks, in order (see :data:`CHECKS`):

``builds``
    ``factory(**params, random_state=0)`` (``random_state`` only when accepted) returns an object
    with ``fit`` and ``decision_function``.
``fit_returns_self``
    ``fit(X)`` returns the detector itself.
``scores_shape_and_finite``
    ``decision_function(X)`` returns one finite float per row, shape ``(n_rows,)``, not all equal.
``higher_is_more_anomalous``
    Obvious outliers (far outside the training data) rank above the inliers (AUROC >= 0.9).
``deterministic``
    Two fits with the same ``random_state`` give the same scores.
``ignores_labels``
    ``fit(X)`` works without labels, and ``fit(X, y)`` gives the same scores as ``fit(X)``: the
    detector never reads ``y``.
``constant_feature``
    A constant column does not crash ``fit`` or ``decision_function``; scores stay finite.
``duplicated_features``
    Duplicated columns and duplicated rows do not crash it; scores stay finite.
``params_round_trip``
    Where ``get_params`` exists: it returns the parameters given, and
    ``type(det)(**det.get_params())`` builds an equal detector (what ``sklearn.clone`` does).
``pickle_to_worker``
    The fitted detector pickles, unpickles in a fresh worker process (``spawn``, as the process
    and Dask executors use) and scores the same there.

This module imports numpy lazily and never imports torch.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import io
import pickle
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import DetectorError

__all__ = [
    "CHECKS",
    "CheckResult",
    "DetectorCheckError",
    "check_detector",
    "failure_message",
    "iter_checks",
    "parametrize_checks",
    "run_checks",
    "shutdown_worker",
]

#: tolerance for "the same scores" (fits in one process, and scoring in a worker)
RTOL, ATOL = 1e-5, 1e-6
#: minimum AUROC of the obvious outliers against the inliers
MIN_AUROC = 0.9
#: seconds the worker process may take to unpickle and score
WORKER_TIMEOUT = 120.0


class DetectorCheckError(DetectorError):
    """A detector failed one or more conformance checks; ``results`` holds every check's result."""

    def __init__(self, message: str, results: list[CheckResult]) -> None:
        super().__init__(message)
        self.results = results


class _Failed(Exception):
    """Raised inside a check: the check failed, with what it saw."""


class _Skipped(Exception):
    """Raised inside a check: the check does not apply (it passes, with this note)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``."""

    check: str
    status: str
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def __str__(self) -> str:
        return f"{self.status.upper():<7} {self.check}: {self.detail} ({self.seconds:.2f} s)"


# ---------------------------------------------------------------------------------------------
# the data and the shared fits


def _data(seed: int = 0) -> dict[str, Any]:
    """Small generated data, min-max scaled on the training rows as the runner's protocols do.

    Training: 150 Gaussian inliers (4 correlated features) and 3 planted outliers, labelled in
    ``y_train`` (the ``unsupervised`` protocol's setting). Test: 40 inliers and 4 obvious
    outliers, 8 to 10 standard deviations from the inliers' mean.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    d = 4
    mixing = np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 1.0, 0.3, 0.0], [0.0, 0.0, 1.0, -0.4],
                       [0.0, 0.0, 0.0, 1.0]])

    def inliers(n: int) -> Any:
        return rng.standard_normal((n, d)) @ mixing

    def outliers(n: int) -> Any:
        direction = rng.standard_normal((n, d))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return direction * rng.uniform(8.0, 10.0, size=(n, 1))

    X_train = np.vstack([inliers(150), outliers(3)])
    y_train = np.r_[np.zeros(150), np.ones(3)].astype(int)
    order = rng.permutation(len(y_train))
    X_train, y_train = X_train[order], y_train[order]
    X_test = np.vstack([inliers(40), outliers(4)])
    y_test = np.r_[np.zeros(40), np.ones(4)].astype(int)
    low, high = X_train.min(axis=0), X_train.max(axis=0)
    scale = np.where(high > low, high - low, 1.0)
    return {
        "X_train": (X_train - low) / scale,
        "y_train": y_train,
        "X_test": (X_test - low) / scale,
        "y_test": y_test,
    }


def _accepts(func: Any, argument: str) -> bool:
    from bench.detector import accepts_argument as accepts

    return accepts(func, argument)


def _as_scores(raw: Any, n_rows: int, what: str) -> Any:
    """``raw`` as a float64 array of shape (n_rows,), or _Failed saying what it was."""
    import numpy as np

    if raw is None:
        raise _Failed(f"{what} returned None, expected {n_rows} scores")
    try:
        scores = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _Failed(f"{what} returned {type(raw).__name__}, not numbers: {exc}") from None
    if scores.shape != (n_rows,):
        raise _Failed(f"{what} returned shape {scores.shape} for {n_rows} rows; "
                      f"expected ({n_rows},), one score per row")
    bad = ~np.isfinite(scores)
    if bad.any():
        kinds = sorted({str(v) for v in scores[bad][:50]})
        raise _Failed(f"{what} returned {int(bad.sum())} non-finite score(s) of {n_rows} "
                      f"({', '.join(kinds)})")
    return scores


def _differ(a: Any, b: Any) -> str | None:
    """None when two score arrays are equal within the tolerance, else how they differ."""
    import numpy as np

    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    atol = ATOL * max(1.0, float(np.abs(a).max(initial=0.0)))
    if np.allclose(a, b, rtol=RTOL, atol=atol):
        return None
    diff = np.abs(a - b)
    return (f"{int((diff > atol + RTOL * np.abs(b)).sum())} of {len(a)} scores differ, "
            f"max abs difference {float(diff.max()):.3g}")


def _auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve from ranks (ties count half); no scikit-learn needed."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 500 else text[:500] + " ..."


class _Outcome:
    """A memoised computation: its value, or the exception it raised (re-raised as _Failed)."""

    def __init__(self, compute: Callable[[], Any], what: str) -> None:
        self._compute, self._what = compute, what
        self._done = False
        self._value: Any = None
        self._error: str | None = None

    def get(self) -> Any:
        if not self._done:
            self._done = True
            try:
                self._value = self._compute()
            except _Failed as exc:
                self._error = str(exc)
            except Exception as exc:
                self._error = f"{self._what} raised {_describe(exc)}"
        if self._error is not None:
            raise _Failed(self._error)
        return self._value


class _Case:
    """One detector under test: how to build it, the data, and the fits the checks share."""

    def __init__(self, factory: Any, params: Mapping[str, Any] | None = None) -> None:
        self.label = _label(factory, dict(params or {}))
        self._make: Callable[[int], Any] | None = None
        self.params: dict[str, Any] = {}
        self.seed_note = "random_state=0"

        def resolve() -> None:
            self._make, self.params, seeded = _resolve(factory, dict(params or {}))
            if not seeded:
                self.seed_note = "the same parameters (the factory takes no random_state)"

        self.resolved = _Outcome(resolve, f"resolving {self.label}")
        self.data = _data()
        self.build = _Outcome(lambda: self._build(0), f"building {self.label}")
        self.first = _Outcome(lambda: self._fit(self.data["X_train"], validate=False), "fit")
        self.second = _Outcome(lambda: self._fit(self.data["X_train"]), "the second fit")

    def _build(self, seed: int) -> Any:
        self.resolved.get()
        assert self._make is not None
        detector = self._make(seed)
        missing = [m for m in ("fit", "decision_function") if not callable(getattr(detector, m, None))]
        if missing:
            raise _Failed(f"{self.label} built a {type(detector).__name__}, which has no "
                          f"{' or '.join(missing)} method")
        return detector

    def fresh(self) -> Any:
        self.build.get()  # fails the same way as the first build when that failed
        return self._build(0)

    def _fit(self, X: Any, y: Any = None, X_score: Any = None,
             validate: bool = True) -> tuple[Any, Any, Any]:
        """(detector, what fit returned, scores of X_score or of the test rows)."""
        detector = self.fresh()
        returned = detector.fit(X) if y is None else detector.fit(X, y)
        fitted = returned if returned is not None else detector
        X_score = self.data["X_test"] if X_score is None else X_score
        raw = fitted.decision_function(X_score)
        if not validate:
            return detector, returned, raw
        return detector, returned, _as_scores(raw, len(X_score), "decision_function")

    def raw_scores(self) -> Any:
        """The first fit's raw scores; skips the calling check when that fit raised."""
        try:
            return self.first.get()[2]
        except _Failed:
            raise _Skipped("not checked: fit or decision_function raised "
                           "(see fit_returns_self)") from None

    def scores(self) -> Any:
        """The first fit's validated scores; skips the calling check when they are invalid."""
        raw = self.raw_scores()
        try:
            return _as_scores(raw, len(self.data["X_test"]), "decision_function")
        except _Failed:
            raise _Skipped("not checked: the scores are invalid "
                           "(see scores_shape_and_finite)") from None


def _resolve(factory: Any, params: dict[str, Any]) -> tuple[Callable[[int], Any], dict[str, Any], bool]:
    """(make(seed) -> detector, effective params, whether seeded) for any form of factory."""
    from bench.registry import DetectorSpec, resolve_object

    if isinstance(factory, str) and ":" not in factory:
        from bench import plugins

        (spec,) = plugins.get_detectors().select([factory], validate=False)  # the checks report
        factory = spec
    if isinstance(factory, DetectorSpec):
        reason = factory.unavailable_reason()
        if reason:
            raise _Failed(f"detector {factory.label!r} is unavailable: {reason}")
        spec_params = dict(factory.all_params)
        factory = factory.resolve()
        params = {**spec_params, **params}
    elif isinstance(factory, str):
        factory = resolve_object(factory)

    if not callable(factory) or (not isinstance(factory, type) and hasattr(factory, "fit")):
        instance = factory  # an instance: every build is a deep copy of it
        if params:
            raise TypeError("parameters cannot be given with a detector instance")
        return lambda seed: copy.deepcopy(instance), {}, False

    test_config = getattr(factory, "test_config", None)
    if callable(test_config):
        params = {**test_config(), **params}
    seeded = _accepts(factory, "random_state") and "random_state" not in params

    def make(seed: int) -> Any:
        from bench.detector import as_detector

        kwargs = {**params, "random_state": seed} if seeded else dict(params)
        return as_detector(factory(**kwargs))  # what the runner runs (sklearn's scores negated)

    return make, params, seeded


# ---------------------------------------------------------------------------------------------
# the checks: each returns a note on success, raises _Failed (or _Skipped) otherwise


def check_builds(case: _Case) -> str:
    detector = case.build.get()
    return f"{type(detector).__name__} with {case.params or 'default parameters'}"


def check_fit_returns_self(case: _Case) -> str:
    detector, returned, _ = case.first.get()
    if returned is not detector:
        raise _Failed(f"fit returned {type(returned).__name__} {_short(returned)}, not the "
                      f"detector itself (end fit with 'return self')")
    return "fit(X) returned self"


def check_scores_shape_and_finite(case: _Case) -> str:
    import numpy as np

    scores = _as_scores(case.raw_scores(), len(case.data["X_test"]), "decision_function")
    if np.ptp(scores) == 0:
        raise _Failed(f"decision_function returned the same score ({scores[0]:g}) for all "
                      f"{len(scores)} rows")
    return f"{len(scores)} finite scores in [{scores.min():.3g}, {scores.max():.3g}]"


def check_higher_is_more_anomalous(case: _Case) -> str:
    scores = case.scores()
    y = case.data["y_test"]
    auroc = _auroc(scores, y)
    if auroc >= MIN_AUROC:
        return f"obvious outliers rank above the inliers (AUROC {auroc:.2f})"
    hint = ("the scores look inverted: higher must mean MORE anomalous (for example, negate "
            "a scikit-learn score_samples)" if auroc <= 1 - MIN_AUROC else
            "the detector barely tells them apart")
    raise _Failed(f"{int(y.sum())} obvious outliers against {int((y == 0).sum())} inliers: "
                  f"AUROC {auroc:.2f}, expected >= {MIN_AUROC}; {hint}")


def check_deterministic(case: _Case) -> str:
    first, second = case.scores(), case.second.get()[2]
    difference = _differ(first, second)
    if difference:
        raise _Failed(f"two fits with {case.seed_note} on the same data gave different scores: "
                      f"{difference}; seed every random generator from random_state")
    return f"two fits with {case.seed_note} gave the same scores"


def check_ignores_labels(case: _Case) -> str:
    import inspect

    first = case.scores()
    if _differ(first, case.second.get()[2]):
        raise _Skipped("not checked: the detector is not deterministic (see 'deterministic')")
    detector = case.fresh()
    try:
        takes_y = len(inspect.signature(detector.fit).parameters) > 1
    except (TypeError, ValueError):
        takes_y = True
    if not takes_y:
        return "fit(X) takes no y: labels cannot reach it"
    _, _, with_labels = case._fit(case.data["X_train"], case.data["y_train"])
    difference = _differ(first, with_labels)
    if difference:
        raise _Failed(f"fit(X, y) with the true labels gave different scores from fit(X): "
                      f"{difference}; a detector must never read y")
    return "fit(X, y) with the true labels scores the same as fit(X)"


def check_constant_feature(case: _Case) -> str:
    import numpy as np

    case.scores()
    X_train, X_test = case.data["X_train"], case.data["X_test"]
    X_train = np.hstack([X_train, np.full((len(X_train), 1), 0.5)])
    X_test = np.hstack([X_test, np.full((len(X_test), 1), 0.5)])
    try:
        case._fit(X_train, X_score=X_test)
    except _Failed as exc:
        raise _Failed(f"with a constant column: {exc}") from None
    except Exception as exc:
        raise _Failed(f"with a constant column: {_describe(exc)}") from None
    return "a constant column is handled"


def check_duplicated_features(case: _Case) -> str:
    import numpy as np

    case.scores()
    X_train, X_test = case.data["X_train"], case.data["X_test"]
    X_train = np.hstack([X_train, X_train[:, :2]])
    X_test = np.hstack([X_test, X_test[:, :2]])
    X_train = np.vstack([X_train, X_train[:10]])  # ten rows twice
    try:
        case._fit(X_train, X_score=X_test)
    except _Failed as exc:
        raise _Failed(f"with duplicated columns and rows: {exc}") from None
    except Exception as exc:
        raise _Failed(f"with duplicated columns and rows: {_describe(exc)}") from None
    return "duplicated columns and rows are handled"


def check_params_round_trip(case: _Case) -> str:
    detector = case.build.get()
    get_params = getattr(detector, "get_params", None)
    if not callable(get_params):
        raise _Skipped("no get_params: skipped (subclass bench.BaseDetector to get one)")
    try:
        params = get_params(deep=False)
    except TypeError:
        params = get_params()
    if not isinstance(params, Mapping):
        raise _Failed(f"get_params() returned {type(params).__name__}, not a dict")
    for key, value in case.params.items():
        if key not in params:
            raise _Failed(f"get_params() lacks {key!r}, which was passed to the factory")
        if not _equal(params[key], value):
            raise _Failed(f"get_params()[{key!r}] is {params[key]!r} but {value!r} was passed; "
                          f"__init__ must store each parameter unchanged")
    try:
        clone = type(detector)(**params)
    except Exception as exc:
        raise _Failed(f"type(det)(**det.get_params()) raised {_describe(exc)}") from None
    again = clone.get_params()
    changed = sorted(k for k in set(params) | set(again)
                     if k not in params or k not in again or not _equal(params[k], again[k]))
    if changed:
        raise _Failed(f"rebuilding from get_params() changed {', '.join(changed)}")
    return f"{len(params)} parameters round-trip through get_params()"


def check_pickle_to_worker(case: _Case) -> str:
    scores = case.scores()
    detector, returned, _ = case.first.get()
    fitted = returned if returned is not None else detector
    try:
        blob = pickle.dumps(fitted)
    except Exception as exc:
        raise _Failed(f"the fitted detector cannot be pickled: {_describe(exc)}") from None
    try:
        raw = _worker_score(blob, case.data["X_test"])
    except _Failed:
        raise
    except Exception as exc:
        raise _Failed(f"in a spawned worker process: {_describe(exc)}") from None
    worker_scores = _as_scores(raw, len(scores), "decision_function in the worker")
    difference = _differ(scores, worker_scores)
    if difference:
        raise _Failed(f"the unpickled detector scores differently in the worker: {difference}")
    return f"pickled ({len(blob) / 1024:.0f} KiB), scored the same in a spawned worker"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _equal(a: Any, b: Any) -> bool:
    try:
        result = a == b
        return bool(result) if not hasattr(result, "all") else bool(result.all())
    except Exception:
        return a is b


#: the checks, by name, in the order they run
CHECKS: dict[str, Callable[[_Case], str]] = {
    "builds": check_builds,
    "fit_returns_self": check_fit_returns_self,
    "scores_shape_and_finite": check_scores_shape_and_finite,
    "higher_is_more_anomalous": check_higher_is_more_anomalous,
    "deterministic": check_deterministic,
    "ignores_labels": check_ignores_labels,
    "constant_feature": check_constant_feature,
    "duplicated_features": check_duplicated_features,
    "params_round_trip": check_params_round_trip,
    "pickle_to_worker": check_pickle_to_worker,
}


# ---------------------------------------------------------------------------------------------
# the worker process


_pool: dict[str, Any] = {}


def _worker_score(blob: bytes, X: Any) -> Any:
    """Unpickle and score in a spawned worker, reused between calls (torch imports once)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from bench import plugins

    dirs = plugins.plugins_dirs_loaded()
    for attempt in (1, 2):
        executor = _pool.get("executor")
        if executor is None or _pool.get("dirs") != dirs:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            _pool.update(executor=executor, dirs=dirs)
            if not _pool.get("at_exit"):
                # stopped before the interpreter tears down, not by the executor's weakref
                # callback during teardown ("Exception ignored in ... weakref_cb")
                atexit.register(shutdown_worker)
                _pool["at_exit"] = True
        try:
            return executor.submit(_score_pickled, blob, X, dirs).result(timeout=WORKER_TIMEOUT)
        except BrokenProcessPool:
            _pool.pop("executor", None)
            if attempt == 2:
                raise _Failed("the worker process died while unpickling or scoring") from None
        except TimeoutError:
            _pool.pop("executor", None)
            executor.shutdown(wait=False, cancel_futures=True)
            raise _Failed(f"the worker did not answer within {WORKER_TIMEOUT:g} s") from None
    raise AssertionError("unreachable")


def _score_pickled(blob: bytes, X: Any, plugins_dirs: list[str]) -> Any:
    """In the worker: load the same --plugins-dir files, unpickle, score."""
    import numpy as np

    from bench import plugins

    for directory in plugins_dirs:
        plugins.load_plugins_dir(directory)
    detector = pickle.loads(blob)
    return np.asarray(detector.decision_function(X))


def shutdown_worker() -> None:
    """Stop the worker process (it also stops when this process exits)."""
    executor = _pool.pop("executor", None)
    if executor is not None:
        executor.shutdown(cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# entry points


def _selected(checks: Iterable[str] | None) -> list[str]:
    if checks is None:
        return list(CHECKS)
    names = list(checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    return names


def _run_one(case: _Case, name: str) -> CheckResult:
    start = time.perf_counter()
    with _quiet():
        try:
            detail, status = CHECKS[name](case), "passed"
        except _Skipped as exc:
            detail, status = str(exc), "skipped"
        except _Failed as exc:
            detail, status = str(exc), "failed"
        except Exception as exc:  # an error in the detector that no check anticipated
            detail, status = _describe(exc), "failed"
    return CheckResult(name, status, detail, time.perf_counter() - start)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow what detectors print and warn (progress bars), so the results stay readable."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def iter_checks(
    factory: Any, params: Mapping[str, Any] | None = None, *, checks: Iterable[str] | None = None
) -> Iterator[CheckResult]:
    """Run the checks one by one, yielding each result as it is known (for progress output)."""
    names = _selected(checks)
    case = _Case(factory, params)
    for name in names:
        yield _run_one(case, name)


def run_checks(
    factory: Any, params: Mapping[str, Any] | None = None, *, checks: Iterable[str] | None = None
) -> list[CheckResult]:
    """Run the checks and return every result; never raises for a failing check."""
    return list(iter_checks(factory, params, checks=checks))


def _label(factory: Any, params: Mapping[str, Any]) -> str:
    from bench.registry import DetectorSpec, display_name

    if isinstance(factory, DetectorSpec):
        return display_name(factory.name, {**factory.overrides, **params})
    if isinstance(factory, str):
        return display_name(factory, params) if ":" not in factory else factory
    name = getattr(factory, "__qualname__", None) or type(factory).__name__
    return display_name(name, params) if params else name


def failure_message(label: str, results: list[CheckResult]) -> str:
    failed = [r for r in results if r.status == "failed"]
    lines = [f"{label} failed {len(failed)} of {len(results)} detector checks:"]
    lines += [f"  {r.check}: {r.detail}" for r in failed]
    return "\n".join(lines)


def check_detector(factory: Any, /, **params: Any) -> list[CheckResult]:
    """Run every check on ``factory(**params)``; raise :class:`DetectorCheckError` listing failures.

    Returns the results (all passed or skipped) when the detector conforms.
    """
    results = run_checks(factory, params)
    if any(r.status == "failed" for r in results):
        raise DetectorCheckError(failure_message(_label(factory, params), results), results)
    return results


class _Check:
    """One check of one detector, callable from a pytest test; fits are shared between checks."""

    def __init__(self, cases: dict[str, _Case], factory: Any, params: dict[str, Any],
                 name: str) -> None:
        self._cases, self.factory, self.params, self.name = cases, factory, params, name

    def __call__(self) -> CheckResult:
        if "case" not in self._cases:
            self._cases["case"] = _Case(self.factory, self.params)
        result = _run_one(self._cases["case"], self.name)
        if result.status == "failed":
            message = failure_message(_label(self.factory, self.params), [result])
            raise DetectorCheckError(message, [result])
        return result

    def __repr__(self) -> str:
        return f"{_label(self.factory, self.params)}:{self.name}"


def parametrize_checks(factory: Any, /, *, checks: Iterable[str] | None = None,
                       **params: Any) -> Any:
    """``pytest.mark.parametrize("check", ...)``: one test per check, ids are the check names.

    The test receives ``check`` and calls it; a failing check raises
    :class:`DetectorCheckError`. (``checks`` selects a subset by name.)
    """
    import pytest

    cases: dict[str, _Case] = {}
    items = [_Check(cases, factory, params, name) for name in _selected(checks)]
    return pytest.mark.parametrize("check", items, ids=[c.name for c in items])
