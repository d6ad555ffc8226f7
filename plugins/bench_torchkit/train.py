"""The shared torch training loop (imports torch; see the package docstring)."""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from bench import BaseDetector
from bench_torchkit import TrainingCollapsedError, TrainingDivergedError, resolve_device

__all__ = ["EnsembleLinear", "Standardize", "TorchDetector", "check_array", "ensemble_mlp", "mlp"]


def check_array(X: Any) -> np.ndarray:
    """A 2-D, finite, float64 copy-free view of ``X``; a clear ``ValueError`` otherwise."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a numeric array: {exc}") from exc
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {arr.shape}")
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


class TorchDetector(BaseDetector):
    """Base class of the torch detectors: validation, seeding, device, batching, early stopping.

    Subclasses implement
    --------------------
    ``_build(self, n_features) -> torch.nn.Module``
        The network(s). Use :func:`bench_torchkit.hidden_sizes` so sizes scale with the input.
        A GAN returns a ``torch.nn.ModuleDict`` holding generator and discriminator.
    ``_loss(self, model, xb) -> scalar tensor``
        Training loss, the **mean** over the rows of the batch ``xb`` (a float32 tensor on the
        device). Also used, under ``torch.no_grad``, as the validation loss for early stopping.
    ``_score(self, model, xb) -> 1-D tensor``
        One score per row of ``xb``, higher = more anomalous. Called under ``inference_mode``.

    Optional overrides
    ------------------
    ``_make_optimizers(self, model) -> list[torch.optim.Optimizer]``
        Default: one Adam over ``model.parameters()``. A GAN returns one per network.
    ``_train_step(self, xb) -> float | 0-d tensor``
        One update on batch ``xb``; use ``self.model_`` and ``self.optimizers_``. The default
        does zero_grad / ``_loss`` / backward / optional gradient clipping / step and returns
        the detached loss. Return a detached value: it is summed on the device and read once
        per epoch (NaN/inf there raises :class:`TrainingDivergedError`).
    ``_val_loss(self, xv) -> float``
        Validation criterion for early stopping (default: mean ``_loss`` over ``xv``).
        Models without a meaningful held-out loss (GANs) can pass ``patience=None`` instead.
    ``_setup(self, X) -> None``
        Called with the training tensor before ``_build`` (e.g. to compute data statistics).
    ``test_config()`` (classmethod)
        Fast parameters (few epochs) used by the tests.

    Common parameters (subclasses take their own and pass ``**kwargs`` here)
    -----------------------------------------------------------------------
    epochs : maximum passes over the training rows.
    batch_size : rows per step; ``None`` scales with n: ``n_train // 8`` rounded up to a power
        of two and clipped to [32, 1024].
    lr, weight_decay : Adam's.
    validation_fraction : share of the training rows held out (random, never labels) for early
        stopping; ``0`` monitors the training loss. At least 16 rows, else no hold-out.
    patience : epochs without a relative improvement of ``min_delta`` before stopping;
        ``None`` disables early stopping. The best weights are restored either way.
    max_steps : cap on the total optimiser steps, so a 600k-row set trains in bounded time
        (the number of epochs then shrinks with n).
    max_seconds : optional wall-clock cap on training; **breaks** same-seed-same-scores when it
        triggers, so it is off by default.
    clip_grad : gradient-norm clipping (``None`` = off).
    device : ``None``/``"auto"`` (CUDA when available, else CPU), or ``"cpu"``/``"cuda"``.
    n_threads : torch CPU threads during fit/score (``None`` = leave torch's setting).
    random_state : seed. Same seed, same device, same thread count => identical scores on CPU
        (deterministic algorithms are switched on during fit). On CUDA, results match only up to
        float non-associativity of some kernels.

    Fitted attributes: ``model_``, ``history_`` (one dict per epoch: epoch, train_loss,
    val_loss, seconds), ``decision_scores_``, ``best_epoch_``, ``n_steps_``, ``stop_reason_``,
    ``device_``, ``n_features_in_``.
    """

    def __init__(
        self,
        *,
        epochs: int = 200,
        batch_size: int | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        min_delta: float = 1e-4,
        max_steps: int | None = 3000,
        max_seconds: float | None = None,
        clip_grad: float | None = 10.0,
        device: str | None = None,
        n_threads: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.clip_grad = clip_grad
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state

    # -- parameters: union of the keyword parameters of every __init__ up the MRO ------------
    @classmethod
    def _param_names(cls) -> list[str]:
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            params = inspect.signature(init).parameters.values()
            names.update(
                p.name
                for p in params
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            )
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return sorted(names)

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        """Parameters for fast tests: few epochs, small step budget, one thread."""
        return {"epochs": 15, "max_steps": 300, "patience": None, "n_threads": 1}

    # -- hooks for subclasses --------------------------------------------------------------
    def _build(self, n_features: int) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _score(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _setup(self, X: torch.Tensor) -> None:
        """Called with the training tensor (on the device) before ``_build``."""

    def _make_optimizers(self, model: torch.nn.Module) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)]

    def _train_step(self, xb: torch.Tensor) -> torch.Tensor | float:
        (opt,) = self.optimizers_
        opt.zero_grad(set_to_none=True)
        loss = self._loss(self.model_, xb)
        loss.backward()
        if self.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(self.model_.parameters(), self.clip_grad)
        opt.step()
        return loss.detach()

    def _val_loss(self, xv: torch.Tensor) -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, xv.shape[0], self._score_batch):
                xb = xv[start : start + self._score_batch]
                total += float(self._loss(self.model_, xb)) * xb.shape[0]
                count += xb.shape[0]
        return total / max(count, 1)

    # -- helpers ---------------------------------------------------------------------------
    def _auto_batch_size(self, n_train: int) -> int:
        if self.batch_size is not None:
            return max(1, min(int(self.batch_size), n_train))
        target = max(1, n_train // 8)
        size = int(min(1024, max(32, 2 ** math.ceil(math.log2(target)))))
        return max(1, min(size, n_train))

    _score_batch = 8192

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.default_rng().integers(2**31 - 1))
        return int(self.random_state)

    # -- fit / score -----------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> TorchDetector:
        """Train on the unlabeled rows ``X`` (``y`` is ignored), then score them."""
        arr = check_array(X)
        n, d = arr.shape
        if n < 2:
            raise ValueError(f"need at least 2 rows to fit, got {n}")
        seed = self._seed()
        self.device_ = resolve_device(self.device)
        self.n_features_in_ = d
        with _torch_settings(self.n_threads, deterministic=True):
            torch.manual_seed(seed)
            if self.device_.startswith("cuda"):
                torch.cuda.manual_seed_all(seed)
            rng = np.random.default_rng(seed)
            gen = torch.Generator(device=self.device_)
            gen.manual_seed(seed)
            Xt = torch.as_tensor(arr, dtype=torch.float32).to(self.device_)

            # internal validation split, from the training rows only
            n_val = int(round(n * float(self.validation_fraction)))
            if n_val < 16 or n - n_val < 16:
                n_val = 0
            order = torch.as_tensor(rng.permutation(n), device=self.device_)
            Xval = Xt[order[:n_val]] if n_val else None
            Xtr = Xt[order[n_val:]] if n_val else Xt
            n_train = Xtr.shape[0]

            self._setup(Xtr)
            self.model_ = self._build(d).to(self.device_)
            self.optimizers_ = self._make_optimizers(self.model_)
            self.batch_size_ = bs = self._auto_batch_size(n_train)
            steps_per_epoch = max(1, n_train // bs)  # drop the ragged tail (reshuffled each epoch)

            self.history_: list[dict[str, Any]] = []
            best_value, best_state, best_epoch, waited = math.inf, None, 0, 0
            steps, self.stop_reason_ = 0, "epochs"
            t_start = time.perf_counter()
            for epoch in range(1, int(self.epochs) + 1):
                t0 = time.perf_counter()
                self.model_.train()
                self._epoch = epoch
                perm = torch.randperm(n_train, generator=gen, device=self.device_)
                total = torch.zeros((), device=self.device_)
                done = 0
                for b in range(steps_per_epoch):
                    idx = perm[b * bs : (b + 1) * bs]
                    total = total + self._train_step(Xtr[idx])
                    done += 1
                    steps += 1
                    if self.max_steps is not None and steps >= self.max_steps:
                        break
                train_loss = float(total) / done
                if not math.isfinite(train_loss):
                    raise TrainingDivergedError(
                        f"training diverged: loss is {train_loss} at epoch {epoch}"
                    )
                self.model_.eval()
                val_loss = self._val_loss(Xval) if Xval is not None else None
                if val_loss is not None and not math.isfinite(val_loss):
                    raise TrainingDivergedError(
                        f"training diverged: validation loss is {val_loss} at epoch {epoch}"
                    )
                self.history_.append(
                    {
                        "epoch": epoch,
                        "train_loss": train_loss,
                        "val_loss": val_loss,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                monitored = val_loss if val_loss is not None else train_loss
                if monitored < best_value - self.min_delta * abs(best_value) or best_state is None:
                    best_value, best_epoch, waited = monitored, epoch, 0
                    best_state = copy.deepcopy(self.model_.state_dict())
                else:
                    waited += 1
                if self.max_steps is not None and steps >= self.max_steps:
                    self.stop_reason_ = "max_steps"
                    break
                if self.patience is not None and waited >= self.patience:
                    self.stop_reason_ = "early_stopping"
                    break
                if self.max_seconds is not None and time.perf_counter() - t_start > self.max_seconds:
                    self.stop_reason_ = "max_seconds"
                    break
            if best_state is not None:
                self.model_.load_state_dict(best_state)
            self.model_.eval()
            self.best_epoch_ = best_epoch
            self.n_steps_ = steps
            self._Xt_train = Xt
            scores = self._score_tensor(Xt)
            del self._Xt_train
        if not np.isfinite(scores).all():
            raise TrainingDivergedError("training diverged: training scores are not finite")
        if scores.size > 1 and not np.ptp(scores) > 1e-12 * max(1.0, float(np.abs(scores).max())):
            raise TrainingCollapsedError(
                f"training collapsed: all {scores.size} training scores are equal "
                f"({scores[0]:.6g}) after {len(self.history_)} epochs"
            )
        self.decision_scores_ = scores
        return self

    def _score_tensor(self, Xt: torch.Tensor) -> np.ndarray:
        out = []
        self.model_.eval()
        with torch.inference_mode():
            for start in range(0, Xt.shape[0], self._score_batch):
                out.append(self._score(self.model_, Xt[start : start + self._score_batch]).reshape(-1))
        return torch.cat(out).to("cpu", torch.float64).numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        """One score per row of ``X``, higher = more anomalous.

        ``+inf`` (e.g. a likelihood underflow on a far-out row) maps to just above the largest
        finite score; NaN raises :class:`TrainingDivergedError`.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X) first")
        arr = check_array(X)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} features, but the detector was fitted on "
                f"{self.n_features_in_}"
            )
        seed = self._seed()
        with _torch_settings(self.n_threads, deterministic=True):
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


class Standardize(torch.nn.Module):
    """Per-feature z-scoring with statistics fixed at construction (buffers, not parameters).

    ``min_std`` floors the scale so a feature constant on the training rows cannot divide by
    zero; a test row that moves such a feature then gets a large, finite value.
    """

    def __init__(self, X: torch.Tensor, min_std: float = 1e-2) -> None:
        super().__init__()
        self.register_buffer("mean", X.mean(0).detach().clone())
        self.register_buffer("std", X.std(0, unbiased=False).clamp_min(min_std).detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp(
    sizes: list[int],
    *,
    activation: type[torch.nn.Module] = torch.nn.LeakyReLU,
    last_activation: bool = False,
) -> torch.nn.Sequential:
    """``Linear`` layers through ``sizes`` with ``activation`` between them."""
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return torch.nn.Sequential(*layers)


class EnsembleLinear(torch.nn.Module):
    """``k`` independent ``Linear(a, b)`` layers applied at once: ``(k, B, a) -> (k, B, b)``.

    One batched matmul instead of ``k`` small ones, so an ensemble of ``k`` small networks costs
    about one network's Python overhead per step. Each member is initialised like
    ``torch.nn.Linear`` (uniform in ``+-1/sqrt(a)``).
    """

    def __init__(self, k: int, a: int, b: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(a)
        self.weight = torch.nn.Parameter(torch.empty(k, a, b).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(k, 1, b).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def ensemble_mlp(
    k: int,
    sizes: list[int],
    *,
    activation: type[torch.nn.Module] = torch.nn.LeakyReLU,
    last_activation: bool = False,
    dropout: float = 0.0,
) -> torch.nn.Sequential:
    """:func:`mlp` for ``k`` independent members at once, on ``(k, B, d)`` tensors.

    ``dropout`` (after each hidden activation) regularises each member during training.
    """
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(EnsembleLinear(k, a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
            if dropout > 0:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)
