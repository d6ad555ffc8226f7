"""Example images of a cell on image data: its most and least anomalous test images.

At the end of an ok cell on an image dataset the record's ``examples`` column keeps, as JSON:

``k``
    how many images each end holds (at most :data:`K`, and at most half the test rows);
``top`` / ``bottom``
    the test-row indices (positions in the protocol's test part) of the ``k`` highest scores,
    highest first, and of the ``k`` lowest, lowest first;
``top_scores`` / ``bottom_scores``, ``top_labels`` / ``bottom_labels``
    their scores and labels (1 = anomaly), so a reader can check that a reloaded split is the
    cell's own;
``recon``
    where the fitted detector offers ``reconstruct(X)``: its reconstructions of those ``2 k``
    images (top then bottom), clipped to [0, 1] and stored as uint8 in base64, with their shape
    ``(2 k, C, H, W)``; or ``recon_error``, the reason there are none (the detector has no
    ``reconstruct``, or it raised);
``images``
    only for a dataset that no registry can give back by name (a file or arrays in memory,
    which travel with their cells): the ``2 k`` test images themselves, encoded as ``recon``.

The images of a registered dataset are not stored (a grid on an image collection would store the
same images once per detector): the report reloads the dataset from the cache and makes the same
protocol split again (:func:`bench.protocols.split_dataset`). Nothing in this step may fail
an ok cell: :func:`collect` returns ``{"error": reason}`` when it cannot do its work.
"""

from __future__ import annotations

import base64
import json
from typing import Any

#: test images kept at each end (most and least anomalous) of a cell on image data
K = 8


def as_nchw(images: Any) -> Any:
    """(n, H, W) or (n, C, H, W) images as (n, C, H, W)."""
    return images[:, None] if images.ndim == 3 else images


def encode(images: Any) -> dict[str, Any]:
    """Images of pixels in [0, 1] (clipped) as uint8 in base64 with their shape."""
    import numpy as np

    pixels = np.clip(np.nan_to_num(np.asarray(images, dtype=np.float64)), 0.0, 1.0)
    data = np.round(pixels * 255).astype(np.uint8)
    return {"shape": [int(n) for n in data.shape], "dtype": "uint8",
            "data": base64.b64encode(data.tobytes()).decode("ascii")}


def decode(blob: dict[str, Any]) -> Any:
    """The float images in [0, 1] that :func:`encode` stored."""
    import numpy as np

    data = np.frombuffer(base64.b64decode(blob["data"]), dtype=np.uint8)
    return data.reshape(blob["shape"]).astype(np.float32) / np.float32(255)


def collect(detector: Any, images: Any, y_test: Any, scores: Any, tags: Any = (),
            k: int = K, keep_images: bool = False) -> str:
    """The ``examples`` JSON of an ok cell on image data (see the module docstring).

    ``images`` are the test images as the protocol gave them, untouched by the detector,
    (n, H, W) or (n, C, H, W); ``tags`` the detector's (it receives the images as the cell gave
    them: 4-D when tagged ``images``, else flattened); ``keep_images``: store the chosen images
    too (a dataset the report cannot reload by name).
    """
    try:
        return json.dumps(_collect(detector, images, y_test, scores, tags, k, keep_images))
    except Exception as exc:  # never fails the cell: the reason is kept instead
        return json.dumps({"error": f"{type(exc).__name__}: {exc}"})


def _collect(detector: Any, images: Any, y_test: Any, scores: Any, tags: Any, k: int,
             keep_images: bool) -> dict[str, Any]:
    import numpy as np

    from bench.protocols import shape_for

    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    y_test = np.asarray(y_test).reshape(-1)
    k = int(min(k, len(scores) // 2))
    order = np.argsort(-scores, kind="stable")
    top = order[:k]
    bottom = np.argsort(scores, kind="stable")[:k]
    out: dict[str, Any] = {
        "k": k,
        "top": top.tolist(), "bottom": bottom.tolist(),
        "top_scores": scores[top].tolist(), "bottom_scores": scores[bottom].tolist(),
        "top_labels": y_test[top].astype(int).tolist(),
        "bottom_labels": y_test[bottom].astype(int).tolist(),
    }
    chosen = np.concatenate([top, bottom])
    if keep_images:
        out["images"] = encode(as_nchw(images[chosen]))
    method = getattr(detector, "reconstruct", None)
    if not callable(method):
        out["recon_error"] = "the detector offers no reconstruct(X)"
        return out
    wanted = shape_for(np.array(images[chosen], copy=True), tags)
    try:
        recon = np.asarray(method(wanted), dtype=np.float64)
        if recon.shape != wanted.shape:
            raise ValueError(f"reconstruct returned shape {recon.shape} for input {wanted.shape}")
        if not np.isfinite(recon).all():
            raise ValueError("reconstruct returned non-finite values")
        out["recon"] = encode(as_nchw(recon.reshape(images[chosen].shape)))
    except Exception as exc:
        out["recon_error"] = f"reconstruct failed: {type(exc).__name__}: {exc}"
    return out
