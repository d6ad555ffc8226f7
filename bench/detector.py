"""The detector contract (PyOD's convention): higher scores mean more anomalous."""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    """What the runner needs from a detector.

    ``fit(X)`` learns from unlabeled rows and returns ``self``; ``decision_function(X)`` returns
    one finite float per row, **higher = more anomalous**. Any PyOD detector satisfies it.
    """

    def fit(self, X: Any, y: Any = None) -> Any: ...

    def decision_function(self, X: Any) -> Any: ...


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
    ``get_params`` / ``set_params`` in scikit-learn's style, read from ``__init__``'s keyword
    parameters, so ``__init__`` must only store its arguments under the same names.
    """

    def fit(self, X: Any, y: Any = None) -> BaseDetector:  # pragma: no cover - abstract
        raise NotImplementedError

    def decision_function(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _param_names(cls) -> list[str]:
        """The keyword parameters: those of the class's own ``__signature__`` when it declares
        one, else those of ``__init__`` and, while an ``__init__`` passes ``**kwargs`` on, of
        each base class's ``__init__`` up the MRO."""
        declared = cls.__dict__.get("__signature__")
        if declared is not None:
            return sorted(p.name for p in declared.parameters.values()
                          if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            params = inspect.signature(init).parameters.values()
            names.update(p.name for p in params
                         if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return sorted(names)

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
