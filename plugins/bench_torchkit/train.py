"""The shared torch training loop (imports torch; see the package docstring)."""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from bench import BaseDetector
from bench_torchkit import TrainingCollapsedError, TrainingDivergedError, resolve_device
from bench_torchkit.layers import EnsembleLinear, Standardize, ensemble_mlp, mlp

__all__ = [
    "TRAINING_DEFAULTS",
    "EnsembleLinear",
    "Standardize",
    "TorchDetector",
    "check_array",
    "ensemble_mlp",
    "mlp",
]

#: the training parameters every :class:`TorchDetector` takes, with the base's defaults;
#: a subclass overrides some of them in its ``training_defaults`` class attribute
TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 200,
    "batch_size": None,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "validation_fraction": 0.1,
    "patience": 10,
    "min_delta": 1e-4,
    "max_steps": 3000,
    "max_seconds": None,
    "clip_grad": 10.0,
    "device": None,
    "n_threads": None,
    "random_state": None,
}


def check_array(X: Any) -> np.ndarray:
    """A finite float64 array of 2 dimensions (rows x features) or 4 (images: n, C, H, W).

    A 3-D array ``(n, H, W)`` is taken as single-channel images ``(n, 1, H, W)``. Anything
    else raises a ``ValueError`` that says what was wrong.
    """
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a numeric array: {exc}") from exc
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim not in (2, 4):
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) or images (n, C, H, W), got shape {arr.shape}"
        )
    if min(arr.shape) < 1:
        raise ValueError(f"X must have at least one row and one feature, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinite values")
    return arr


@contextlib.contextmanager
def _torch_settings(n_threads: int | None, deterministic: bool) -> Iterator[None]:
    """Set torch's thread count and deterministic-algorithm flag, restoring both afterwards."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if n_threads is not None:
            torch.set_num_threads(int(n_threads))
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        if n_threads is not None:
            torch.set_num_threads(old_threads)
        if deterministic:
            torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


class _EarlyStopping:
    """The best monitored value so far, its epoch and weights, and the epochs waited since."""

    def __init__(self, patience: int | None, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best = math.inf
        self.epoch = 0
        self.waited = 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, value: float, epoch: int, model: torch.nn.Module) -> None:
        """Keep ``model``'s weights when ``value`` improves on the best by ``min_delta`` (relative)."""
        if self.state is None or value < self.best - self.min_delta * abs(self.best):
            self.best, self.epoch, self.waited = value, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.waited += 1

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.waited >= self.patience

    def restore(self, model: torch.nn.Module) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)


def _signature(cls: type) -> inspect.Signature:
    """``cls``'s constructor signature: the parameters of each ``__init__`` from ``cls`` up to
    :class:`TorchDetector` (while they pass ``**kwargs`` on), then the training parameters with
    the defaults in effect for ``cls``."""
    own: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is TorchDetector:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        for p in params:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                own.setdefault(p.name, p)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return inspect.Signature(sorted(own.values(), key=lambda p: p.kind))
    defaults = cls._training_defaults()
    training = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
        for name, value in defaults.items()
        if name not in own
    ]
    return inspect.Signature([*sorted(own.values(), key=lambda p: p.kind), *training])


class TorchDetector(BaseDetector):
    """Base class of the torch detectors: validation, seeding, device, batching, early stopping.

    ``fit`` runs ``_prepare`` (seeding, device, the hold-out split), ``_build`` (the network),
    ``_train`` (the epoch loop) and ``_finish`` (the training rows' scores, checked); each is a
    method a subclass may extend. See docs/plugins.md, "Torch detectors", for a worked example.

    Subclasses implement
    --------------------
    ``_build(self, X) -> torch.nn.Module``
        The network(s), given the training tensor ``X`` (float32, on the device; 2-D rows, or
        4-D images ``(n, C, H, W)``), e.g. to size the layers or fix input statistics
        (:class:`~bench_torchkit.layers.Standardize`). Use :func:`bench_torchkit.hidden_sizes`
        so sizes scale with the input. A GAN returns a ``torch.nn.Module`` holding both nets.
    ``_loss(self, model, xb) -> scalar tensor``
        Training loss, the **mean** over the rows of the batch ``xb``. Not needed when
        ``_train_step`` is overridden.
    ``_score(self, model, xb) -> 1-D tensor``
        One score per row of ``xb``, higher = more anomalous. Called under ``inference_mode``.

    Optional overrides
    ------------------
    ``training_defaults`` (class attribute)
        This detector's defaults of the training parameters below, e.g.
        ``{"epochs": 12, "patience": None}``; they show in ``inspect.signature`` and
        ``get_params()`` like any constructor default.
    ``auto_defaults`` (class attribute)
        For a parameter whose default is ``"auto"``: its value on rows (``"mlp"``) and on
        images (``"conv"``), e.g. ``{"epochs": {"mlp": 30, "conv": 4}}``. Read parameters
        that may be ``"auto"`` through ``self._param(name)`` during ``fit``; the values used
        are in ``effective_params_``.
    ``_check_params(self) -> None``
        Validate the detector's own parameters (raise ``ValueError``); called early in ``fit``,
        once ``arch_`` is known.
    ``_optimizer_groups(self, model) -> list[(parameters, weight_decay)]``
        One Adam optimiser per group, all with ``lr`` (read through ``_param``, so a subclass may
        make it ``"auto"``) and the class attribute ``adam_betas``.
        Default: one group, the whole model with ``weight_decay``. A GAN returns one per network.
    ``_train_step(self, xb, optimizers) -> float | 0-d tensor``
        One update on batch ``xb`` (``self.model_`` is the network). The default does zero_grad /
        ``_loss`` / backward / optional gradient clipping / step and returns the detached loss.
        Return a detached value: it is summed on the device and read once per epoch (NaN/inf
        there raises :class:`TrainingDivergedError`).
    ``_on_step(self, step) -> None``
        Called after each optimiser step, ``step`` counting from 1 up to ``self.planned_steps_``
        (set before training: the steps the budget allows, unless early stopping or
        ``max_seconds`` ends it sooner). A GAN takes discriminator snapshots here.
    ``_val_loss(self, xv) -> float``
        Validation criterion for early stopping (default: mean ``_loss`` over ``xv``). Models
        without a meaningful held-out loss (GANs) can pass ``patience=None`` instead.
    ``_after_fit(self) -> None``
        Called at the end of ``fit``, after the training rows are scored: drop what the fitted
        detector does not need, freeze what it does.
    ``test_config()`` (classmethod)
        Fast parameters (few epochs): the conformance checks and the runner's warm-up use them.

    Training parameters (subclasses take their own and pass ``**kwargs`` here)
    -------------------------------------------------------------------------
    epochs : int, default 200
        Maximum passes over the training rows.
    batch_size : int or None, default None
        Rows per step; ``None`` scales with n: ``n_train // 8`` rounded up to a power of two and
        clipped to [32, 1024], at most ``max_auto_batch_images`` (64) for images (see
        ``_auto_batch_size``; the value used is ``batch_size_``).
    lr, weight_decay : float, default 1e-3 and 0.0
        Adam's.
    validation_fraction : float, default 0.1
        Share of the training rows held out (random, never labels) for early stopping; ``0``
        monitors the training loss. At least 16 rows, else no hold-out.
    patience : int or None, default 10
        Epochs without a relative improvement of ``min_delta`` before stopping; ``None``
        disables early stopping. The best weights are restored either way.
    min_delta : float, default 1e-4
    max_steps : int or None, default 3000
        Cap on the total optimiser steps, so a 600k-row set trains in bounded time (the number
        of epochs then shrinks with n).
    max_seconds : float or None, default None
        Optional wall-clock cap on training; **breaks** same-seed-same-scores when it triggers,
        so it is off by default.
    clip_grad : float or None, default 10.0
        Gradient-norm clipping (``None`` = off).
    device : str or None, default None
        ``None``/``"auto"`` (CUDA when available, else CPU), or ``"cpu"``/``"cuda"``.
    n_threads : int or None, default None
        Torch CPU threads during fit/score (``None`` = leave torch's setting).
    random_state : int or None, default None
        Seed. Same seed, same device, same thread count => identical scores on CPU
        (deterministic algorithms are switched on during fit). On CUDA, results match only up
        to float non-associativity of some kernels.

    ``None`` in a size parameter (``batch_size`` here, ``hidden``/``latent``/``width`` in the
    models) means "derived from the data by the rule in the docstring": the value is a pure
    function of the input's shape and of the code, so a cell key holding ``None`` is exact.

    Fitted attributes: ``model_``, ``history_`` (one dict per epoch: epoch, train_loss,
    val_loss, seconds), ``decision_scores_``, ``best_epoch_``, ``n_steps_``,
    ``planned_steps_``, ``stop_reason_``, ``batch_size_``, ``device_``, ``n_features_in_``,
    ``input_shape_`` (one sample's shape as the network sees it), ``arch_`` (``"mlp"`` or
    ``"conv"``), ``effective_params_`` (``get_params()`` with every ``"auto"`` resolved). No
    optimiser state is kept after ``fit``.

    Determinism: deterministic algorithms are switched on during fit and scoring for rows, and
    on CUDA; convolutions on the CPU run without them (they are deterministic at a fixed
    thread count, and the deterministic mode made them 2.3x slower).
    """

    #: overrides of :data:`TRAINING_DEFAULTS` for this class (merged down the MRO)
    training_defaults: ClassVar[dict[str, Any]] = {}
    #: what a parameter set to ``"auto"`` means, by architecture: ``{"epochs": {"mlp": 30,
    #: "conv": 4}}`` (images need a different budget than rows)
    auto_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Adam's betas for every optimiser of this class (GANs: DCGAN's (0.5, 0.999))
    adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.999)
    #: Adam's ``foreach`` flag (``None`` = torch's choice)
    adam_foreach: ClassVar[bool | None] = None
    #: largest automatic batch for images (DCGAN trains with 128, EGBAD and DTE with 64-100)
    max_auto_batch_images: ClassVar[int] = 64
    #: rows per forward pass when scoring
    _score_batch: ClassVar[int] = 8192

    def __init__(self, **training: Any) -> None:
        defaults = type(self)._training_defaults()
        unknown = sorted(set(training) - set(defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected parameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(self._param_names())}"
            )
        for name, default in defaults.items():
            setattr(self, name, training.get(name, default))

    @classmethod
    def _training_defaults(cls) -> dict[str, Any]:
        merged = dict(TRAINING_DEFAULTS)
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("training_defaults", {}))
        return merged

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.__dict__.get("training_defaults", {})) - set(TRAINING_DEFAULTS)
        if unknown:
            raise TypeError(f"{cls.__name__}.training_defaults: unknown {sorted(unknown)}")
        cls.__signature__ = _signature(cls)
        for name, param in cls.__signature__.parameters.items():
            if param.default == "auto" and name != "arch" and set(
                cls.auto_defaults.get(name, {})
            ) != {"mlp", "conv"}:
                raise TypeError(f"{cls.__name__}: {name}='auto' needs auto_defaults[{name!r}]")

    def _param(self, name: str) -> Any:
        """The parameter's value, ``"auto"`` resolved for the architecture of this fit."""
        value = getattr(self, name)
        if name == "arch" and hasattr(self, "arch_"):
            return self.arch_
        if isinstance(value, str) and value == "auto" and name in self.auto_defaults:
            return self.auto_defaults[name][self.arch_]
        return value

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        """Parameters for fast tests and warm-ups: few epochs, small step budget, one thread."""
        return {"epochs": 15, "max_steps": 300, "patience": None, "n_threads": 1}

    # -- hooks for subclasses --------------------------------------------------------------
    def _build(self, X: torch.Tensor) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _score(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _check_params(self) -> None:
        """Validate the detector's own parameters; called first in ``fit``."""

    def _uses_images(self, X: np.ndarray) -> bool:
        """Whether the network takes ``X`` as images (4-D) or as flattened rows (2-D).

        Reads an ``arch`` parameter when the detector has one: ``"auto"`` = images when ``X``
        is 4-D, ``"conv"`` = images (4-D input required), ``"mlp"`` = rows. Without ``arch``,
        rows.
        """
        arch = getattr(self, "arch", "mlp")
        if arch not in ("auto", "mlp", "conv"):
            raise ValueError(f"arch must be 'auto', 'mlp' or 'conv', got {arch!r}")
        if arch == "conv" and X.ndim != 4:
            raise ValueError(f"arch='conv' needs images (n, C, H, W), got shape {X.shape}")
        return arch != "mlp" and X.ndim == 4

    def _optimizer_groups(self, model: torch.nn.Module) -> list[tuple[Iterable[Any], float]]:
        return [(model.parameters(), self.weight_decay)]

    def _make_optimizers(self, model: torch.nn.Module) -> list[torch.optim.Optimizer]:
        return [
            torch.optim.Adam(
                params, lr=float(self._param("lr")), betas=self.adam_betas, weight_decay=decay,
                foreach=self.adam_foreach,
            )
            for params, decay in self._optimizer_groups(model)
        ]

    def _train_step(
        self, xb: torch.Tensor, optimizers: list[torch.optim.Optimizer]
    ) -> torch.Tensor | float:
        (opt,) = optimizers
        opt.zero_grad(set_to_none=True)
        loss = self._loss(self.model_, xb)
        loss.backward()
        if self.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(self.model_.parameters(), self.clip_grad)
        opt.step()
        return loss.detach()

    def _on_step(self, step: int) -> None:
        """Called after optimiser step ``step`` (1-based)."""

    def _val_loss(self, xv: torch.Tensor) -> float:
        return self._batched_mean(lambda xb: self._loss(self.model_, xb), xv)

    def _after_fit(self) -> None:
        """Called at the end of ``fit``."""

    # -- helpers ---------------------------------------------------------------------------
    def _batched_mean(self, fn: Any, xv: torch.Tensor) -> float:
        """Row-weighted mean of ``fn(batch)`` (a mean over the batch) over ``xv``, no grad."""
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, xv.shape[0], self._score_batch):
                xb = xv[start : start + self._score_batch]
                total += float(fn(xb)) * xb.shape[0]
                count += xb.shape[0]
        return total / max(count, 1)

    def _auto_batch_size(self, n_train: int) -> int:
        if self.batch_size is not None:
            return max(1, min(int(self.batch_size), n_train))
        target = max(1, n_train // 8)
        size = int(min(1024, max(32, 2 ** math.ceil(math.log2(target)))))
        if getattr(self, "arch_", "mlp") == "conv":
            size = min(size, self.max_auto_batch_images)
        return max(1, min(size, n_train))

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.default_rng().integers(2**31 - 1))
        return int(self.random_state)

    # -- fit -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> TorchDetector:
        """Train on the unlabeled rows ``X`` (``y`` is ignored), then score them."""
        arr = check_array(X)
        if arr.shape[0] < 2:
            raise ValueError(f"need at least 2 rows to fit, got {arr.shape[0]}")
        self.arch_ = "conv" if self._uses_images(arr) else "mlp"
        self.effective_params_ = {name: self._param(name) for name in self._param_names()}
        self._check_params()
        if self.arch_ == "mlp":
            arr = arr.reshape(len(arr), -1)
        self.input_shape_ = tuple(arr.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        seed = self._seed()
        self.device_ = resolve_device(self.device)
        with _torch_settings(self.n_threads, deterministic=self._deterministic):
            X_all, X_train, X_val, gen = self._prepare(arr, seed)
            self.model_ = self._build(X_train).to(self.device_)
            self._train(X_train, X_val, gen)
            scores = self._finish(X_all)
        self.decision_scores_ = scores
        self._after_fit()
        return self

    @property
    def _deterministic(self) -> bool:
        return self.arch_ == "mlp" or str(self.device_).startswith("cuda")

    def _prepare(
        self, arr: np.ndarray, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Generator]:
        """Seed torch, move ``arr`` to the device, hold out the validation rows.

        Returns (all rows, training rows, validation rows or ``None``, the batch generator).
        """
        torch.manual_seed(seed)
        if self.device_.startswith("cuda"):
            torch.cuda.manual_seed_all(seed)
        rng = np.random.default_rng(seed)
        gen = torch.Generator(device=self.device_)
        gen.manual_seed(seed)
        X_all = torch.as_tensor(arr, dtype=torch.float32).to(self.device_)
        n = X_all.shape[0]
        n_val = int(round(n * float(self.validation_fraction)))
        if n_val < 16 or n - n_val < 16:
            n_val = 0
        order = torch.as_tensor(rng.permutation(n), device=self.device_)
        if not n_val:
            return X_all, X_all, None, gen
        return X_all, X_all[order[n_val:]], X_all[order[:n_val]], gen

    def _train(
        self, X_train: torch.Tensor, X_val: torch.Tensor | None, gen: torch.Generator
    ) -> None:
        """The epoch loop: shuffled batches (the ragged tail dropped), the step cap, divergence
        checks, ``history_``, early stopping; the best epoch's weights are restored."""
        n_train = X_train.shape[0]
        self.batch_size_ = bs = self._auto_batch_size(n_train)
        steps_per_epoch = max(1, n_train // bs)
        epochs, max_steps = int(self._param("epochs")), self._param("max_steps")
        planned = steps_per_epoch * epochs
        if max_steps is not None:
            planned = min(planned, int(max_steps))
        self.planned_steps_ = planned
        optimizers = self._make_optimizers(self.model_)
        stopping = _EarlyStopping(self.patience, self.min_delta)
        self.history_: list[dict[str, Any]] = []
        steps, self.stop_reason_ = 0, "epochs"
        t_start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            self.model_.train()
            perm = torch.randperm(n_train, generator=gen, device=self.device_)
            total = torch.zeros((), device=self.device_)
            done = 0
            for b in range(steps_per_epoch):
                idx = perm[b * bs : (b + 1) * bs]
                total = total + self._train_step(X_train[idx], optimizers)
                done += 1
                steps += 1
                self._on_step(steps)
                if steps >= planned:
                    break
            train_loss = float(total) / done
            if not math.isfinite(train_loss):
                raise TrainingDivergedError(
                    f"training diverged: loss is {train_loss} at epoch {epoch}"
                )
            self.model_.eval()
            val_loss = self._val_loss(X_val) if X_val is not None else None
            if val_loss is not None and not math.isfinite(val_loss):
                raise TrainingDivergedError(
                    f"training diverged: validation loss is {val_loss} at epoch {epoch}"
                )
            self.history_.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                  "seconds": time.perf_counter() - t0})
            stopping.update(val_loss if val_loss is not None else train_loss, epoch, self.model_)
            if max_steps is not None and steps >= max_steps:
                self.stop_reason_ = "max_steps"
                break
            if stopping.should_stop:
                self.stop_reason_ = "early_stopping"
                break
            if self.max_seconds is not None and time.perf_counter() - t_start > self.max_seconds:
                self.stop_reason_ = "max_seconds"
                break
        stopping.restore(self.model_)
        self.model_.eval()
        self.best_epoch_ = stopping.epoch
        self.n_steps_ = steps

    def _finish(self, X_all: torch.Tensor) -> np.ndarray:
        """The training rows' scores; non-finite or all-equal scores raise."""
        scores = self._score_tensor(X_all)
        if not np.isfinite(scores).all():
            raise TrainingDivergedError("training diverged: training scores are not finite")
        if scores.size > 1 and not np.ptp(scores) > 1e-12 * max(1.0, float(np.abs(scores).max())):
            raise TrainingCollapsedError(
                f"training collapsed: all {scores.size} training scores are equal "
                f"({scores[0]:.6g}) after {len(self.history_)} epochs"
            )
        return scores

    # -- scoring ---------------------------------------------------------------------------
    def _score_tensor(self, Xt: torch.Tensor) -> np.ndarray:
        out = []
        self.model_.eval()
        with torch.inference_mode():
            for start in range(0, Xt.shape[0], self._score_batch):
                out.append(self._score(self.model_, Xt[start : start + self._score_batch]).reshape(-1))
        return torch.cat(out).to("cpu", torch.float64).numpy()

    def _reconstruct_with(self, fn: Any, X: Any) -> np.ndarray:
        """``fn(model, batch)`` (reconstructions in the batch's shape and units) over ``X`` in
        batches, returned in ``X``'s own shape: the body of a detector's public
        ``reconstruct(X)`` (docs/plugins.md, "Reconstructions")."""
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X) first")
        shape = np.shape(X)
        arr = self._check_input(X)
        out = []
        with _torch_settings(self.n_threads, deterministic=self._deterministic):
            self.model_.eval()
            with torch.inference_mode():
                Xt = torch.as_tensor(arr, dtype=torch.float32).to(self.device_)
                for start in range(0, Xt.shape[0], self._score_batch):
                    out.append(fn(self.model_, Xt[start : start + self._score_batch]))
        return torch.cat(out).to("cpu", torch.float64).numpy().reshape(shape)

    def _check_input(self, X: Any) -> np.ndarray:
        """``X`` in the shape the network was fitted on (rows or images, as at fit time)."""
        arr = check_array(X)
        if self.arch_ == "mlp" or arr.ndim == 2:
            arr = arr.reshape(len(arr), -1)
        if arr.ndim == 2 and arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} features, but the detector was fitted on "
                f"{self.n_features_in_}"
            )
        if self.arch_ == "conv":
            arr = arr.reshape(len(arr), *self.input_shape_) if arr.ndim == 2 else arr
            if tuple(arr.shape[1:]) != self.input_shape_:
                raise ValueError(
                    f"X has images of shape {tuple(arr.shape[1:])}, but the detector was fitted "
                    f"on {self.input_shape_}"
                )
        return arr

    def decision_function(self, X: Any) -> np.ndarray:
        """One score per row of ``X``, higher = more anomalous.

        ``+inf`` (e.g. a likelihood underflow on a far-out row) maps to just above the largest
        finite score; NaN raises :class:`TrainingDivergedError`.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X) first")
        arr = self._check_input(X)
        seed = self._seed()
        with _torch_settings(self.n_threads, deterministic=self._deterministic):
            torch.manual_seed(seed)  # scores that sample (IWAE) are reproducible too
            Xt = torch.as_tensor(arr, dtype=torch.float32).to(self.device_)
            scores = self._score_tensor(Xt)
        if np.isnan(scores).any():
            raise TrainingDivergedError("training diverged: scores are NaN")
        if np.isinf(scores).any():
            finite = scores[np.isfinite(scores)]
            top = float(finite.max()) if finite.size else 0.0
            scores = np.where(np.isposinf(scores), top + 1.0 + abs(top), scores)
            scores = np.where(np.isneginf(scores), (float(finite.min()) if finite.size else 0.0) - 1.0, scores)
        return scores


TorchDetector.__signature__ = inspect.Signature(
    [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=v)
     for n, v in TRAINING_DEFAULTS.items()]
)
