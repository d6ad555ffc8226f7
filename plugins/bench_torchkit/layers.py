"""Layers shared by the torch detectors (imports torch): input scaling and MLP builders."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = ["EnsembleLinear", "Standardize", "ensemble_mlp", "mlp"]


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


def mlp(
    sizes: list[int],
    *,
    activation: Callable[[], torch.nn.Module] = torch.nn.LeakyReLU,
    last_activation: bool = False,
    dropout: float = 0.0,
    dropout_from: int = 0,
    spectral_norm: bool = False,
    members: int | None = None,
) -> torch.nn.Sequential:
    """Linear layers through ``sizes``, ``activation()`` between them.

    Parameters
    ----------
    sizes : widths, input first, output last.
    activation : a callable returning the activation module (``torch.nn.ReLU``,
        ``functools.partial(torch.nn.LeakyReLU, 0.2)``).
    last_activation : also put the activation after the output layer.
    dropout : dropout after the activation of each hidden layer from index ``dropout_from`` on
        (the DTE paper's MLP skips the first: ``dropout_from=1``).
    spectral_norm : wrap each ``Linear`` in spectral normalisation (Miyato et al. 2018).
    members : ``k`` builds ``k`` independent MLPs evaluated at once on ``(k, B, d)`` tensors
        (:class:`EnsembleLinear` layers); ``None`` builds one MLP on ``(B, d)``.
    """
    layers: list[torch.nn.Module] = []
    n_linear = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if members is not None:
            layers.append(EnsembleLinear(members, a, b))
        else:
            linear = torch.nn.Linear(a, b)
            layers.append(
                torch.nn.utils.parametrizations.spectral_norm(linear) if spectral_norm else linear
            )
        if i < n_linear - 1 or last_activation:
            layers.append(activation())
            if dropout > 0 and i >= dropout_from and i < n_linear - 1:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


def ensemble_mlp(k: int, sizes: list[int], **kwargs: object) -> torch.nn.Sequential:
    """:func:`mlp` for ``k`` independent members at once, on ``(k, B, d)`` tensors."""
    return mlp(sizes, members=k, **kwargs)  # type: ignore[arg-type]
