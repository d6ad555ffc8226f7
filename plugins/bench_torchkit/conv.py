"""Convolutional building blocks for image detectors (imports torch).

Every network here takes images ``(B, C, H, W)`` of any size; the number of stride-2 levels
follows the image (:func:`conv_levels`): 8x8 -> one level (to 4x4), 28x28 -> two (14, 7),
32x32 -> three (16, 8, 4). Widths double per level from ``base``, as in DCGAN (Radford et al.
2016); ``base`` is 16 by default, a quarter of DCGAN's 64, so that a 1,000-image task trains
within a CPU budget.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "GlobalStandardize",
    "UNet",
    "conv_levels",
    "freeze_spectral_norm",
    "time_embedding",
]


def conv_levels(h: int, w: int, *, min_size: int = 4, max_levels: int = 3) -> int:
    """Stride-2 halvings while both sides stay even and at least ``2 * min_size`` before it."""
    levels = 0
    while levels < max_levels and h % 2 == 0 and w % 2 == 0 and min(h, w) >= 2 * min_size:
        h, w, levels = h // 2, w // 2, levels + 1
    return max(levels, 0)


class GlobalStandardize(torch.nn.Module):
    """One mean and one standard deviation over all training pixels (a global affine map, so
    image structure is kept; per-pixel z-scoring would blow up MNIST's constant borders)."""

    def __init__(self, X: torch.Tensor, min_std: float = 1e-2) -> None:
        super().__init__()
        self.register_buffer("mean", X.mean().detach().clone())
        self.register_buffer("std", X.std(unbiased=False).clamp_min(min_std).detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _sn(module: torch.nn.Module, on: bool) -> torch.nn.Module:
    return torch.nn.utils.parametrizations.spectral_norm(module) if on else module


class ConvEncoder(torch.nn.Module):
    """Image -> vector, DCGAN's discriminator layout: per level a 4x4 stride-2 conv (+ optional
    batch norm) and LeakyReLU(0.2), ``base``, ``2 * base``, ... channels; flattened, then
    ``Linear`` to ``out_dim`` (``out_dim=None``: the flattened features, ``feature_dim`` wide)."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        out_dim: int | None,
        *,
        base: int = 16,
        batch_norm: bool = False,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.config = {"shape": shape, "out_dim": out_dim, "base": base, "batch_norm": batch_norm}
        c, h, w = shape
        layers: list[torch.nn.Module] = []
        width = c
        for level in range(max(1, conv_levels(h, w))):
            out = base * 2**level
            layers.append(_sn(torch.nn.Conv2d(width, out, 4, 2, 1), spectral_norm))
            if batch_norm and level > 0:
                layers.append(torch.nn.BatchNorm2d(out))
            layers.append(torch.nn.LeakyReLU(0.2))
            width, h, w = out, h // 2, w // 2
        layers.append(torch.nn.Flatten())
        self.features = torch.nn.Sequential(*layers)
        self.feature_dim = width * h * w
        self.head = (
            _sn(torch.nn.Linear(self.feature_dim, out_dim), spectral_norm)
            if out_dim is not None else torch.nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvDecoder(torch.nn.Module):
    """Vector -> image, DCGAN's generator layout, the mirror of :class:`ConvEncoder`: ``Linear``
    to the smallest feature map, then per level a 4x4 stride-2 transposed conv, with batch norm
    (optional) and ReLU between them; the last one outputs ``C`` channels, no activation (the
    models work in standardized units)."""

    def __init__(
        self, in_dim: int, shape: tuple[int, int, int], *, base: int = 16, batch_norm: bool = False
    ) -> None:
        super().__init__()
        c, h, w = shape
        levels = max(1, conv_levels(h, w))
        self.start = (base * 2 ** (levels - 1), h // 2**levels, w // 2**levels)
        self.fc = torch.nn.Sequential(
            torch.nn.Linear(in_dim, math.prod(self.start)), torch.nn.ReLU()
        )
        layers: list[torch.nn.Module] = []
        width = self.start[0]
        for level in range(levels):
            last = level == levels - 1
            out = c if last else width // 2
            layers.append(torch.nn.ConvTranspose2d(width, out, 4, 2, 1))
            if not last:
                if batch_norm:
                    layers.append(torch.nn.BatchNorm2d(out))
                layers.append(torch.nn.ReLU())
            width = out
        self.net = torch.nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).reshape(-1, *self.start))


def freeze_spectral_norm(module: ConvEncoder) -> ConvEncoder:
    """A plain copy of a spectrally normalised :class:`ConvEncoder` in eval mode, the current
    normalised weights folded in: it pickles (parametrized modules do not), scores without power
    iterations, and making it leaves the random generators as they were."""
    was_training = module.training
    module.eval()  # read the weights without a power-iteration step
    device = next(module.parameters()).device
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        plain = ConvEncoder(**module.config, spectral_norm=False).to(device)
        for name, tensor in plain.state_dict().items():
            prefix, _, attr = name.rpartition(".")
            tensor.copy_(getattr(module.get_submodule(prefix), attr))
    module.train(was_training)
    return plain.eval().requires_grad_(False)


def time_embedding(t: torch.Tensor, T: int, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the integer timesteps ``t`` (one row each)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(1000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = (t.float() * (1000.0 / T))[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class _Block(torch.nn.Module):
    """A residual block: 3x3 conv, GroupNorm, SiLU, plus the projected time embedding."""

    def __init__(self, c_in: int, c_out: int, t_dim: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm = torch.nn.GroupNorm(min(8, c_out), c_out)
        self.time = torch.nn.Linear(t_dim, c_out)
        self.skip = torch.nn.Conv2d(c_in, c_out, 1) if c_in != c_out else torch.nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        h = torch.nn.functional.silu(self.norm(self.conv(x)))
        if emb is not None:
            h = h + self.time(emb)[:, :, None, None]
        return h + self.skip(x)


class UNet(torch.nn.Module):
    """A small U-Net (Ronneberger et al. 2015, as used by DDPM, Ho et al. 2020): per level a
    residual block and a stride-2 downsampling, a middle block, then upsampling with skip
    connections; the diffusion time enters every block through a sinusoidal embedding.

    ``out="image"``: a tensor shaped like the input (DDPM's noise prediction);
    ``out=k``: ``k`` logits from the pooled middle features (DTE's time classifier).
    """

    def __init__(self, shape: tuple[int, int, int], out: str | int, *, base: int = 8,
                 t_dim: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        c, h, w = shape
        self.t_dim = t_dim
        self.time_mlp = torch.nn.Sequential(
            torch.nn.Linear(t_dim, t_dim), torch.nn.SiLU(), torch.nn.Linear(t_dim, t_dim)
        )
        levels = max(1, min(2, conv_levels(h, w)))
        widths = [base * 2**i for i in range(levels + 1)]
        self.inp = torch.nn.Conv2d(c, base, 3, 1, 1)
        self.down_blocks = torch.nn.ModuleList()
        self.downs = torch.nn.ModuleList()
        for i in range(levels):
            self.down_blocks.append(_Block(widths[i], widths[i], t_dim))
            self.downs.append(torch.nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1))
        self.mid = _Block(widths[-1], widths[-1], t_dim)
        self.drop = torch.nn.Dropout(dropout)
        self.image_out = out == "image"
        if self.image_out:
            self.ups = torch.nn.ModuleList()
            self.up_blocks = torch.nn.ModuleList()
            for i in reversed(range(levels)):
                self.ups.append(torch.nn.ConvTranspose2d(widths[i + 1], widths[i], 4, 2, 1))
                self.up_blocks.append(_Block(2 * widths[i], widths[i], t_dim))
            self.head = torch.nn.Conv2d(base, c, 3, 1, 1)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)
        else:
            self.head = torch.nn.Linear(widths[-1], int(out))

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None = None) -> torch.Tensor:
        """``t_emb``: :func:`time_embedding` rows, or ``None`` for a network without time input."""
        emb = self.time_mlp(t_emb) if t_emb is not None else None
        h = self.inp(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downs, strict=True):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.drop(self.mid(h, emb))
        if not self.image_out:
            return self.head(h.mean(dim=(2, 3)))
        for up, block in zip(self.ups, self.up_blocks, strict=True):
            h = block(torch.cat([up(h), skips.pop()], dim=1), emb)
        return self.head(h)
