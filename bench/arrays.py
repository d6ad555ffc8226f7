"""Checks of a dataset's X that tables and images share: numeric, finite, a sane image shape.

Used by :mod:`bench.data` (every dataset) and :mod:`bench.images` (the image collections); it
imports neither, so the two never import each other. Nothing here imports numpy at module level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def as_array(X: Any, name: str) -> np.ndarray:
    """``np.asarray(X)``, with one clear error for ragged input (rows or images of different
    shapes)."""
    import numpy as np

    try:
        X = np.asarray(X)
    except ValueError as exc:
        raise DatasetError(f"dataset {name!r}: X is ragged (samples of different shapes): {exc}") from None
    if X.dtype == object and X.size and isinstance(X.flat[0], (np.ndarray, list, tuple)):
        shapes = sorted({np.shape(item) for item in X.flat[:1000]}, key=str)
        raise DatasetError(
            f"dataset {name!r}: X is ragged (samples of different shapes, e.g. "
            f"{', '.join(map(str, shapes[:3]))}); every image must have the same shape"
        )
    return X


def validate_images(X: Any, name: str, image_shape: Sequence[int] | None = None) -> np.ndarray:
    """Check images and return ``X`` as (n, H, W) or (n, C, H, W), keeping its dtype.

    ``image_shape`` is the shape of one sample the dataset declares ((H, W) or (C, H, W)); a
    flat (n, d) ``X`` with ``d`` equal to its size is reshaped to it, any other disagreement
    is an error. Integer and boolean pixels are kept as they are (``uint8`` is scaled /255 by
    the protocols, any other dtype by the global min/max of the training part).
    """
    import numpy as np

    X = as_array(X, name)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise DatasetError(f"dataset {name!r}: X is not numeric (dtype {X.dtype})")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise DatasetError(f"dataset {name!r}: X is complex (dtype {X.dtype})")
    if image_shape is not None:
        image_shape = tuple(int(v) for v in image_shape)
        if len(image_shape) not in (2, 3) or min(image_shape) < 1:
            raise DatasetError(f"dataset {name!r}: image_shape {list(image_shape)} is not (H, W) or (C, H, W)")
        if X.ndim == 2 and X.shape[1] == math.prod(image_shape):
            X = X.reshape((len(X), *image_shape))
        elif X.shape[1:] != image_shape:
            raise DatasetError(
                f"dataset {name!r}: X has samples of shape {list(X.shape[1:])} but the dataset "
                f"declares image_shape {list(image_shape)}"
            )
    if X.ndim > 4:
        raise DatasetError(
            f"dataset {name!r}: X is {X.ndim}-D (shape {X.shape}); images must be (n, H, W) or "
            "(n, C, H, W)"
        )
    if X.ndim < 3:
        raise DatasetError(f"dataset {name!r}: images must be (n, H, W) or (n, C, H, W), got shape {X.shape}")
    if X.ndim == 4 and X.shape[1] > 4 and X.shape[3] in (1, 3, 4):
        raise DatasetError(
            f"dataset {name!r}: X of shape {X.shape} looks channels-last (n, H, W, C); images "
            "must be channels-first (n, C, H, W): use np.moveaxis(X, -1, 1)"
        )
    if 0 in X.shape:
        raise DatasetError(f"dataset {name!r}: X is empty (shape {X.shape})")
    if X.dtype.kind == "f":
        bad = ~np.isfinite(X.reshape(len(X), -1))
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise DatasetError(
                f"dataset {name!r}: X has {int(bad.sum())} NaN/inf pixel(s) in {len(rows)} "
                f"image(s) (first image index {int(rows[0])})"
            )
    return X


