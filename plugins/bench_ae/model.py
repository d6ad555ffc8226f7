"""The ``ae`` detector: an MLP autoencoder; score = mean squared reconstruction error per row."""

from __future__ import annotations

from typing import Any

import torch
from bench_torchkit import hidden_sizes, latent_size
from bench_torchkit.train import Standardize, TorchDetector, mlp


class _AutoEncoder(torch.nn.Module):
    def __init__(self, X: torch.Tensor, hidden: list[int], latent: int, dropout: float) -> None:
        super().__init__()
        d = X.shape[1]
        self.scale = Standardize(X)
        self.encoder = mlp([d, *hidden, latent])
        self.decoder = mlp([latent, *reversed(hidden), d])
        self.dropout = torch.nn.Dropout(dropout) if dropout > 0 else torch.nn.Identity()

    def forward(self, x: torch.Tensor, noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (standardized input, its reconstruction)."""
        xs = self.scale(x)
        inp = xs + noise * torch.randn_like(xs) if noise > 0 else xs
        return xs, self.decoder(self.encoder(self.dropout(inp)))


class AutoEncoderDetector(TorchDetector):
    """Autoencoder anomaly detector.

    Inputs are z-scored with training statistics inside the model; the encoder maps through
    ``hidden`` (default :func:`bench_torchkit.hidden_sizes`) to a ``latent``-wide bottleneck
    (default :func:`bench_torchkit.latent_size`) and the decoder mirrors it. Trained on mean
    squared error with early stopping on a held-out 10% of the training rows.

    Parameters
    ----------
    hidden : hidden widths of the encoder (the decoder mirrors them); ``None`` = scaled to d.
    latent : bottleneck width; ``None`` = scaled to d.
    denoising : std of Gaussian noise added to the (standardized) input during training;
        0 = a plain autoencoder.
    dropout : dropout on the input during training.
    **kwargs : training parameters of :class:`bench_torchkit.train.TorchDetector`.

    Score: mean squared reconstruction error of the row (standardized units).
    """

    def __init__(
        self,
        hidden: list[int] | None = None,
        latent: int | None = None,
        denoising: float = 0.0,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden = hidden
        self.latent = latent
        self.denoising = denoising
        self.dropout = dropout

    def _setup(self, X: torch.Tensor) -> None:
        self._X_setup = X

    def _build(self, n_features: int) -> torch.nn.Module:
        hidden = list(self.hidden) if self.hidden is not None else hidden_sizes(n_features)
        latent = int(self.latent) if self.latent is not None else latent_size(n_features)
        model = _AutoEncoder(self._X_setup, hidden, latent, float(self.dropout))
        del self._X_setup
        return model

    def _loss(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        noise = float(self.denoising) if model.training else 0.0
        xs, rec = model(xb, noise)
        return ((rec - xs) ** 2).mean()

    def _score(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        xs, rec = model(xb)
        return ((rec - xs) ** 2).mean(dim=1)
