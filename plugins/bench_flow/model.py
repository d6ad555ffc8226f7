"""The ``flow`` detector: a RealNVP normalizing flow; score = exact -log p(x)."""

from __future__ import annotations

import math
from typing import Any

import torch
from bench_torchkit import hidden_sizes
from bench_torchkit.layers import Standardize, mlp
from bench_torchkit.train import TorchDetector

_LOG_2PI = math.log(2 * math.pi)


class _Coupling(torch.nn.Module):
    """Affine coupling: the features outside ``mask`` are scaled and shifted by a function of
    the features inside it. Log-scales are bounded by ``bound * tanh`` so no layer can blow up."""

    def __init__(self, mask: torch.Tensor, hidden: int, bound: float) -> None:
        super().__init__()
        d = mask.shape[0]
        self.register_buffer("mask", mask)
        self.net = mlp([d, hidden, hidden, 2 * d])
        last = self.net[-1]
        torch.nn.init.zeros_(last.weight)  # start at the identity map
        torch.nn.init.zeros_(last.bias)
        self.bound = bound

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = self.mask
        free = 1.0 - keep
        s, t = self.net(x * keep).chunk(2, dim=1)
        s = self.bound * torch.tanh(s / self.bound) * free
        y = x * keep + free * (x * torch.exp(s) + t)
        return y, s.sum(dim=1)


class _RealNVP(torch.nn.Module):
    def __init__(self, X: torch.Tensor, n_layers: int, hidden: int, bound: float) -> None:
        super().__init__()
        d = X.shape[1]
        self.scale = Standardize(X)
        layers = []
        for i in range(n_layers):
            if i % 2 == 0:  # a fresh random half of the features, then its complement
                mask = torch.zeros(d)
                mask[torch.randperm(d)[: d // 2]] = 1.0
            else:
                mask = 1.0 - layers[-1].mask
            layers.append(_Coupling(mask, hidden, bound))
        self.layers = torch.nn.ModuleList(layers)
        # the last element-wise affine (learned), so the base need not be unit-scale
        self.out_log_scale = torch.nn.Parameter(torch.zeros(d))
        self.out_shift = torch.nn.Parameter(torch.zeros(d))

    def log_prob(self, x: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        """Exact log-density of each row (of x, in the original units)."""
        h = self.scale(x)
        if noise > 0:
            h = h + noise * torch.randn_like(h)
        log_det = -torch.log(self.scale.std).sum().expand(h.shape[0])
        for layer in self.layers:
            h, ld = layer(h)
            log_det = log_det + ld
        h = h * torch.exp(self.out_log_scale) + self.out_shift
        log_det = log_det + self.out_log_scale.sum()
        return -0.5 * (h**2 + _LOG_2PI).sum(dim=1) + log_det


def _st_net(c_in: int, c_out: int, hidden: int) -> torch.nn.Sequential:
    """The coupling's scale-and-shift network: three 3x3 convs with batch normalization (as in
    Dinh et al. 2017, which stabilises training), the last conv zero (the identity map)."""
    last = torch.nn.Conv2d(hidden, 2 * c_out, 3, 1, 1)
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    return torch.nn.Sequential(
        torch.nn.Conv2d(c_in, hidden, 3, 1, 1), torch.nn.BatchNorm2d(hidden), torch.nn.ReLU(),
        torch.nn.Conv2d(hidden, hidden, 3, 1, 1), torch.nn.BatchNorm2d(hidden), torch.nn.ReLU(),
        last,
    )


class _CheckerboardCoupling(torch.nn.Module):
    """Affine coupling with a checkerboard mask (Dinh et al. 2017, fig. 3 left)."""

    def __init__(self, shape: tuple[int, int, int], parity: int, hidden: int, bound: float) -> None:
        super().__init__()
        c, h, w = shape
        ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        self.register_buffer("mask", ((ii + jj + parity) % 2).float()[None, None])
        self.net = _st_net(c, c, hidden)
        self.bound = bound

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep, free = self.mask, 1.0 - self.mask
        s, t = self.net(x * keep).chunk(2, dim=1)
        s = self.bound * torch.tanh(s / self.bound) * free
        return x * keep + free * (x * torch.exp(s) + t * free), s.flatten(1).sum(dim=1)


class _ChannelCoupling(torch.nn.Module):
    """Affine coupling with a channel mask (Dinh et al. 2017, fig. 3 right): one half of the
    channels is scaled and shifted by a function of the other half."""

    def __init__(self, c: int, flip: bool, hidden: int, bound: float) -> None:
        super().__init__()
        self.flip = flip
        self.net = _st_net(c // 2, c - c // 2, hidden)
        self.bound = bound

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x[:, : x.shape[1] // 2], x[:, x.shape[1] // 2 :]
        if self.flip:
            a, b = b, a
        s, t = self.net(a).chunk(2, dim=1)
        s = self.bound * torch.tanh(s / self.bound)
        b = b * torch.exp(s) + t
        out = torch.cat([b, a] if self.flip else [a, b], dim=1)
        return out, s.flatten(1).sum(dim=1)


def _squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block becomes four channels."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


class _MultiScaleRealNVP(torch.nn.Module):
    """RealNVP's multi-scale architecture (Dinh et al. 2017, section 3.6) at two scales:
    3 checkerboard couplings, a squeeze, 3 channel couplings, half the channels factored out
    to the Gaussian, then 4 checkerboard couplings on the rest. Images whose sides are odd or
    under 8 pixels get one scale of 4 checkerboard couplings."""

    ALPHA = 0.05  # the logit transform's margin, as in the paper

    def __init__(self, shape: tuple[int, int, int], hidden: int, bound: float) -> None:
        super().__init__()
        c, h, w = shape
        self.multi_scale = h % 2 == 0 and w % 2 == 0 and min(h, w) >= 8
        n_first = 3 if self.multi_scale else 4
        self.first = torch.nn.ModuleList(
            _CheckerboardCoupling(shape, i % 2, hidden, bound) for i in range(n_first)
        )
        if self.multi_scale:
            self.channel = torch.nn.ModuleList(
                _ChannelCoupling(4 * c, i % 2 == 1, hidden, bound) for i in range(3)
            )
            rest = (4 * c - 2 * c, h // 2, w // 2)
            self.last = torch.nn.ModuleList(
                _CheckerboardCoupling(rest, i % 2, hidden, bound) for i in range(4)
            )

    def log_prob(self, x: torch.Tensor, u: torch.Tensor | float) -> torch.Tensor:
        """log p(x) in nats per image of the dequantized pixels ``(255 x + u) / 256``."""
        a = self.ALPHA
        xd = (255.0 * x.clamp(0.0, 1.0) + u) / 256.0
        p = a + (1.0 - 2 * a) * xd
        h = torch.log(p) - torch.log1p(-p)
        log_det = (math.log(1.0 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(dim=1)
        for layer in self.first:
            h, ld = layer(h)
            log_det = log_det + ld
        parts = []
        if self.multi_scale:
            h = _squeeze(h)
            for layer in self.channel:
                h, ld = layer(h)
                log_det = log_det + ld
            half = h.shape[1] // 2
            parts.append(h[:, :half])
            h = h[:, half:]
            for layer in self.last:
                h, ld = layer(h)
                log_det = log_det + ld
        parts.append(h)
        log_pz = sum(-0.5 * (z**2 + _LOG_2PI).flatten(1).sum(dim=1) for z in parts)
        return log_pz + log_det


class FlowDetector(TorchDetector):
    """RealNVP normalizing-flow anomaly detector; score = -log p(x), exact.

    Inputs are z-scored with training statistics (a fixed affine map, included in the density).
    ``n_layers`` affine couplings alternate a random half of the features with its complement;
    each coupling network has two hidden layers of width ``hidden`` (default scaled to d). The
    log-scales are bounded (``scale_bound * tanh``) and the coupling outputs start at zero, so
    training starts from the identity and cannot overflow.

    Min-max-scaled data often has discrete or near-constant features, on which a density can
    grow without bound (spikes on the discrete values). Training therefore adds Gaussian
    dequantization noise of std ``noise`` (standardized units) to each batch; scoring is on the
    clean rows.

    Training budget: 30 short epochs (about 8 steps each with the automatic batch size), no
    hold-out and no early stopping, a few seconds on 1-10k rows on one CPU thread. The earlier
    budget (up to 3000 steps with early stopping) took about 130 s a cell; in the unsupervised
    setting a long fit also learns the anomalies in the training rows.

    How the defaults were chosen (none was selected on benchmark AUROCs): the RealNVP of Dinh
    et al. (ICLR 2017): affine couplings with alternating masks, tanh-bounded log-scales,
    zero-initialised outputs (the identity at the start), exact ``-log p(x)``; on images its
    multi-scale architecture, logit transform with alpha 0.05 and uniform dequantization.
    Engineering choices for a CPU budget of seconds per cell, not compared on AUROC: 4
    couplings with two hidden layers of width scaled to d (at most 128), 30 epochs of about 8
    steps on rows and 10 on images, weight decay 1e-5 (the paper's L2 of 5e-5 is of the same
    order), dequantization noise 0.05 on rows.

    Parameters
    ----------
    epochs : ``"auto"`` (default) = 30 on rows, 10 on images (see ``auto_defaults``).
    n_layers : number of coupling layers (rounded up to even; MLP only).
    hidden : width of the coupling networks (``None`` = scaled to d, at most 128).
    scale_bound : bound on each coupling's log-scale.
    noise : std of the training (dequantization) noise, standardized units (MLP only).
    arch : ``"auto"`` (default), ``"mlp"`` or ``"conv"``; ``"auto"`` takes images
        ``(n, C, H, W)`` with the multi-scale RealNVP of Dinh et al. (2017): checkerboard and
        channel-mask affine couplings (conv scale-and-shift networks of width ``hidden``,
        ``None`` = 16) around a squeeze, half the channels factored out after the first scale
        (see :class:`_MultiScaleRealNVP`). Pixels in [0, 1] (the protocols' scaling; clamped)
        are dequantized as 256 levels, ``(255 x + u) / 256``, with ``u`` uniform in training
        and ``u = 0.5`` (the bin centre) when scoring, and mapped by the paper's logit
        transform ``logit(0.05 + 0.9 x)``, whose log-determinant is included. Score: the exact
        ``-log p(x)`` of the dequantized image in **nats per image** (divide by
        ``C * H * W * ln 2`` and add 8 for bits per dimension of the 256-level image).
    **kwargs : training parameters of :class:`bench_torchkit.train.TorchDetector`.
    """

    training_defaults = {
        "weight_decay": 1e-5, "epochs": "auto", "validation_fraction": 0.0, "patience": None,
        "clip_grad": None,
    }
    #: 30 short epochs on rows; on images 10 (the multi-scale flow costs ~10 M multiply-adds
    #: per 28x28 image and pass: 10 epochs of 1,000 images take about 20 s of one CPU core)
    auto_defaults = {"epochs": {"mlp": 30, "conv": 10}}

    def __init__(
        self,
        n_layers: int = 4,
        hidden: int | None = None,
        scale_bound: float = 2.0,
        noise: float = 0.05,
        arch: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.arch = arch
        self.n_layers = n_layers
        self.hidden = hidden
        self.scale_bound = scale_bound
        self.noise = noise

    def _build(self, X: torch.Tensor) -> torch.nn.Module:
        if X.ndim == 4:
            hidden = int(self.hidden) if self.hidden else 16
            return _MultiScaleRealNVP(tuple(X.shape[1:]), hidden, float(self.scale_bound))
        d = X.shape[1]
        hidden = int(self.hidden) if self.hidden else hidden_sizes(d, 1, max_width=128)[0]
        n_layers = max(2, int(self.n_layers) + int(self.n_layers) % 2)
        return _RealNVP(X, n_layers, hidden, float(self.scale_bound))

    def _loss(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        if isinstance(model, _MultiScaleRealNVP):
            u = torch.rand_like(xb) if model.training else 0.5
            return -model.log_prob(xb, u).mean()
        noise = float(self.noise) if model.training else 0.0
        return -model.log_prob(xb, noise).mean()

    def _score(self, model: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        if isinstance(model, _MultiScaleRealNVP):
            return -model.log_prob(xb, 0.5)
        return -model.log_prob(xb)
