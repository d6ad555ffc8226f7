"""The detector contract (PyOD's convention): higher scores mean more anomalous.

Also the helpers that every path which builds a detector shares: :func:`accepts_argument`,
:func:`parameter_names` (a factory's keyword parameters, following ``**kwargs`` up the MRO) and
:func:`as_detector`, which adapts scikit-learn's outlier detectors (lower = more abnormal) to this
contract, or refuses the ones that cannot score new rows.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from bench.errors import DetectorError


@runtime_checkable
class Detector(Protocol):
    """What the runner needs from a detector.

    ``fit(X)`` learns from unlabeled rows and returns ``self``; ``decision_function(X)`` returns
    one finite float per row, **higher = more anomalous**. Any PyOD detector satisfies it.
    """

    def fit(self, X: Any, y: Any = None) -> Any: ...

    def decision_function(self, X: Any) -> Any: ...


def accepts_argument(func: Callable[..., Any], argument: str) -> bool:
    """Whether ``func`` (a class or callable) takes the keyword ``argument`` (or ``**kwargs``)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    params = signature.parameters.values()
    return any(p.name == argument for p in params) or any(p.kind is p.VAR_KEYWORD for p in params)


def _keyword_parameters(factory: Callable[..., Any]) -> tuple[list[inspect.Parameter], bool]:
    """The named parameters of ``factory`` (up the MRO through ``**kwargs``), and whether open."""
    if isinstance(factory, type):
        declared = factory.__dict__.get("__signature__")
        if declared is not None:  # a class that states its signature (TorchDetector's models)
            params = list(declared.parameters.values())
            return ([p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)],
                    any(p.kind is p.VAR_KEYWORD for p in params))
        found: dict[str, inspect.Parameter] = {}
        for klass in factory.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            if klass is object:
                return list(found.values()), False
            try:
                params = list(inspect.signature(init).parameters.values())[1:]  # drop self
            except (TypeError, ValueError):  # a C-implemented __init__
                return list(found.values()), True
            for p in params:
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    found.setdefault(p.name, p)  # the subclass's default wins
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                return list(found.values()), False
        return list(found.values()), True
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return [], True
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def parameter_names(factory: Callable[..., Any]) -> tuple[list[str], bool]:
    """The keyword parameters ``factory`` takes, and whether it also takes any other name.

    For a class, the ``__init__`` signatures up the MRO are joined while each one passes
    ``**kwargs`` on to its parent (``class AE(TorchDetector): def __init__(self, hidden=None,
    **kwargs)``). The second value is True when the chain ends in a ``**kwargs`` that nothing
    explains (then no name can be refused).
    """
    params, open_ended = _keyword_parameters(factory)
    return sorted(p.name for p in params), open_ended


def parameter_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """``{name: default}`` for the keyword parameters of ``factory`` that have a default."""
    params, _ = _keyword_parameters(factory)
    return {p.name: p.default for p in params if p.default is not p.empty}


class BaseDetector:
    """Optional base class for detectors that do not subclass PyOD's ``BaseDetector``.

    Implement
    ---------
    fit(X, y=None)
        Learn from the unlabeled rows ``X`` (a float array, n_samples x n_features); never read
        ``y``. Set fitted attributes with a trailing underscore, including
        ``decision_scores_`` (the training rows' scores), and return ``self``.
    decision_function(X)
        Return one finite float per row of ``X``; higher means more anomalous.

    Provided
    --------
    ``get_params`` / ``set_params`` in scikit-learn's style, read from the keyword parameters of
    ``__init__`` (and of the parents' ``__init__`` that a ``**kwargs`` passes on to), so each
    ``__init__`` must only store its arguments under the same names.

    Optional
    --------
    ``_parameter_constraints``: a dict in scikit-learn's format (``{"epochs": [Interval(Integral,
    1, None, closed="left")]}``); ``bench run`` then refuses an invalid value before any cell runs.
    """

    def fit(self, X: Any, y: Any = None) -> BaseDetector:  # pragma: no cover - abstract
        raise NotImplementedError

    def decision_function(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _param_names(cls) -> list[str]:
        return parameter_names(cls)[0]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseDetector:
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------------------------
# scikit-learn's outlier detectors


def follows_sklearn_convention(obj: Any) -> bool:
    """True for a scikit-learn outlier detector: its scores are *lower* for abnormal rows.

    scikit-learn marks them with the estimator type ``"outlier_detector"`` (``OutlierMixin``):
    ``IsolationForest``, ``LocalOutlierFactor``, ``OneClassSVM``, ``SGDOneClassSVM``,
    ``EllipticEnvelope``. PyOD marks its detectors the same way although they follow the
    opposite convention (higher = more abnormal, like this project), so PyOD's and this
    project's detectors are excluded.
    """
    if "sklearn" not in sys.modules or isinstance(obj, (type, BaseDetector)):
        return False
    pyod_base = sys.modules.get("pyod.models.base")
    if pyod_base is not None and isinstance(obj, pyod_base.BaseDetector):
        return False
    from sklearn.base import OutlierMixin, is_outlier_detector

    try:
        return isinstance(obj, OutlierMixin) or bool(is_outlier_detector(obj))
    except Exception:  # a foreign object whose tags cannot be read
        return False


class SklearnOutlierDetector(BaseDetector):
    """A scikit-learn outlier detector with its scores negated (higher = more anomalous).

    scikit-learn's ``decision_function`` (``score_samples`` where there is none) is lower for
    abnormal rows; this adapter returns its negation, so AUROC and AUPRC are computed the right way
    round. ``estimator`` is fitted in place. ``decision_scores_`` is not set: it would cost a
    scoring pass of the training rows inside the timed fit, and the runner does not read it.

    Parameters
    ----------
    estimator : a scikit-learn estimator whose estimator type is ``"outlier_detector"``
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any = None) -> SklearnOutlierDetector:
        self.estimator.fit(X)
        return self

    def decision_function(self, X: Any) -> Any:
        score = getattr(self.estimator, "decision_function", None)
        if score is None:
            score = self.estimator.score_samples
        return -score(X)

    def __repr__(self) -> str:
        return f"SklearnOutlierDetector({self.estimator!r})"


def as_detector(obj: Any, name: str | None = None) -> Any:
    """``obj`` ready for the runner: scikit-learn outlier detectors adapted, others unchanged.

    A scikit-learn outlier detector (see :func:`follows_sklearn_convention`) is wrapped in
    :class:`SklearnOutlierDetector`, which negates its scores. One that cannot score new rows
    (``LocalOutlierFactor`` without ``novelty=True``) is refused with a :class:`DetectorError`
    that says how to fix it. Every path that builds a detector calls this: registered factories
    (``DetectorSpec.build``) and detector objects passed to the Python API alike.
    """
    if isinstance(obj, SklearnOutlierDetector) or not follows_sklearn_convention(obj):
        return obj
    who = f"detector {name!r}: " if name else ""
    cls = type(obj).__name__
    if getattr(obj, "novelty", None) is False:
        raise DetectorError(
            f"{who}{cls}(novelty=False) cannot score new rows (scikit-learn gives it only "
            f"fit_predict); use {cls}(novelty=True), or PyOD's LOF (detector 'lof')"
        )
    if not (hasattr(obj, "decision_function") or hasattr(obj, "score_samples")):
        raise DetectorError(
            f"{who}the scikit-learn outlier detector {cls} has neither decision_function nor "
            "score_samples, so it cannot score new rows"
        )
    return SklearnOutlierDetector(obj)
