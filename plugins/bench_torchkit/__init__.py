"""bench_torchkit: the shared torch training loop for anomaly-bench's deep detectors.

A plain library package (it registers no detector). Importing it does **not** import torch:
the errors and the size helpers live here, the torch code in :mod:`bench_torchkit.train`, and
``bench_torchkit.TorchDetector`` is loaded lazily on first access.

A detector subclasses :class:`~bench_torchkit.train.TorchDetector` and implements only::

    _build(n_features) -> torch.nn.Module
    _loss(model, xb)   -> scalar tensor, the mean training loss over the batch
    _score(model, xb)  -> 1-D tensor, one score per row, higher = more anomalous

Models with their own update rule (GANs: two optimisers) override ``_make_optimizers`` and
``_train_step``; see the class docstring.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "TorchDetector",
    "TrainingCollapsedError",
    "TrainingDivergedError",
    "hidden_sizes",
    "latent_size",
    "resolve_hidden",
    "resolve_latent",
    "resolve_device",
]


class TrainingDivergedError(RuntimeError):
    """The training loss (or a score) became NaN or infinite.

    The message reads ``"training diverged: loss is nan at epoch k"``; the runner records the
    cell as failed with that reason instead of a meaningless AUROC.
    """


class TrainingCollapsedError(RuntimeError):
    """After training, every training row gets the same score (zero variance): nothing learned."""


def _pow2_clip(value: float, low: int, high: int) -> int:
    value = max(float(value), 1.0)
    return int(min(high, max(low, 2 ** math.ceil(math.log2(value)))))


def hidden_sizes(
    n_features: int, n_layers: int = 2, *, min_width: int = 32, max_width: int = 256
) -> list[int]:
    """Widths of the hidden layers of an MLP on ``n_features`` inputs, widest first.

    The first layer is the power of two at or above ``2 * n_features`` clipped to
    ``[min_width, max_width]``; each following layer halves it (never below ``min_width // 2``).
    ``hidden_sizes(6) == [32, 16]``, ``hidden_sizes(100) == [256, 128]``.
    """
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    first = _pow2_clip(2 * n_features, min_width, max_width)
    sizes = [first]
    for _ in range(n_layers - 1):
        sizes.append(max(min_width // 2, sizes[-1] // 2))
    return sizes


def latent_size(n_features: int, *, min_size: int = 2, max_size: int = 32) -> int:
    """Bottleneck width: about a quarter of the inputs, clipped to ``[min_size, max_size]``."""
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    return int(min(max_size, max(min_size, math.ceil(n_features / 4))))


def resolve_hidden(hidden: Any, n_features: int, n_layers: int = 2, **limits: int) -> list[int]:
    """``hidden`` as a list of ints, or ``hidden_sizes(n_features, n_layers, **limits)`` when
    ``hidden`` is ``None`` (the documented meaning of ``hidden=None`` in every model)."""
    if hidden is None:
        return hidden_sizes(n_features, n_layers, **limits)
    return [int(h) for h in hidden]


def resolve_latent(latent: Any, n_features: int) -> int:
    """``latent`` as an int, or ``latent_size(n_features)`` when ``latent`` is ``None``."""
    return latent_size(n_features) if latent is None else int(latent)


def resolve_device(device: Any = None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; otherwise as given."""
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available")
    return device


def __getattr__(name: str) -> Any:
    if name == "TorchDetector":
        from bench_torchkit.train import TorchDetector

        return TorchDetector
    raise AttributeError(f"module 'bench_torchkit' has no attribute {name!r}")
