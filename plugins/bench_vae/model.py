"""The ``vae`` detector: Gaussian-latent VAE with a Gaussian decoder of learned variance."""

from __future__ import annotations

import math
from typing import Any

import torch
from bench_torchkit import hidden_sizes, latent_size
from bench_torchkit.train import Standardize, TorchDetector, mlp

_LOG_2PI = math.log(2 * math.pi)
SCORES = ("elbo", "iwae", "recon")


class _VAE(torch.nn.Module):
    def __init__(self, X: torch.Tensor, hidden: list[int], latent: int, min_std: float) -> None:
        super().__init__()
        d = X.shape[1]
        self.scale = Standardize(X)
        self.encoder = mlp([d, *hidden], last_activation=True)
        self.enc_out = torch.nn.Linear(hidden[-1], 2 * latent)
        self.decoder = mlp([latent, *reversed(hidden), d])
        # decoder log-std per feature: the likelihood p(x|z) = N(x; mu(z), diag(sigma^2))
        self.log_sigma = torch.nn.Parameter(torch.zeros(d))
        self.min_log_sigma = math.log(min_std)

    def encode(self, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc_out(self.encoder(xs)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def log_px_z(self, xs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log N(xs; decoder(z), sigma^2), summed over features: one value per row."""
        log_sigma = self.log_sigma.clamp_min(self.min_log_sigma)
        r = (xs - self.decoder(z)) * torch.exp(-log_sigma)
        return -(0.5 * r**2 + log_sigma + 0.5 * _LOG_2PI).sum(dim=1)


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=1)


class VAEDetector(TorchDetector):
    """Variational autoencoder anomaly detector.

    The encoder gives the mean and log-variance of a Gaussian q(z|x); z is drawn with the
    reparameterisation trick; the decoder gives the mean of a Gaussian p(x|z) whose per-feature
    standard deviation is a learned parameter (floored at ``min_std`` in standardized units, so
    a near-constant feature cannot make the likelihood unbounded). Inputs are z-scored with
    training statistics inside the model, so the ELBO is a proper (lower bound on the) density
    of the standardized row. Loss = -ELBO = -E_q log p(x|z) + KL(q(z|x) || N(0, I)).

    Parameters
    ----------
    score : ``"elbo"`` (default) negative ELBO, averaged over ``n_samples`` draws;
        ``"iwae"`` importance-weighted estimate of -log p(x) with K = ``n_samples``;
        ``"recon"`` the reconstruction term -E_q log p(x|z) alone.
    n_samples : draws of z per row when scoring.
    hidden, latent : widths (``None`` = scaled to the input dimension).
    min_std : floor on the decoder's standard deviation (standardized units).
    beta : weight of the KL term during training (1 = the ELBO).
    **kwargs : training parameters of :class:`bench_torchkit.train.TorchDetector`.
    """

    def __init__(
        self,
        score: str = "elbo",
        n_samples: int = 16,
        hidden: list[int] | None = None,
        latent: int | None = None,
        min_std: float = 0.05,
        beta: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.score = score
        self.n_samples = n_samples
        self.hidden = hidden
        self.latent = latent
        self.min_std = min_std
        self.beta = beta

    def _setup(self, X: torch.Tensor) -> None:
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        if int(self.n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        self._X_setup = X

    def _build(self, n_features: int) -> torch.nn.Module:
        hidden = list(self.hidden) if self.hidden is not None else hidden_sizes(n_features)
        latent = int(self.latent) if self.latent is not None else latent_size(n_features)
        model = _VAE(self._X_setup, hidden, latent, float(self.min_std))
        del self._X_setup
        return model

    def _loss(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        xs = model.scale(xb)
        mu, logvar = model.encode(xs)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return (-model.log_px_z(xs, z) + float(self.beta) * _kl(mu, logvar)).mean()

    def _score(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        xs = model.scale(xb)
        mu, logvar = model.encode(xs)
        std = torch.exp(0.5 * logvar)
        k = int(self.n_samples)
        if self.score == "iwae":
            log_w = []
            for _ in range(k):
                eps = torch.randn_like(mu)
                z = mu + std * eps
                log_pz = -0.5 * (z**2 + _LOG_2PI).sum(dim=1)
                log_qz = -0.5 * (eps**2 + logvar + _LOG_2PI).sum(dim=1)
                log_w.append(model.log_px_z(xs, z) + log_pz - log_qz)
            return -(torch.logsumexp(torch.stack(log_w), dim=0) - math.log(k))
        recon = torch.zeros(xs.shape[0], device=xs.device)
        for _ in range(k):
            recon = recon - model.log_px_z(xs, mu + std * torch.randn_like(mu))
        recon = recon / k
        return recon if self.score == "recon" else recon + _kl(mu, logvar)
