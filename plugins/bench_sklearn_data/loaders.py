"""Real datasets bundled with scikit-learn, made into anomaly tasks the way ODDS makes them.

ODDS (Rayana 2016) turns a classification dataset into an outlier task by keeping some classes
whole as the normal rows and down-sampling another class to a few anomalies. The constructions:

``breast_cancer`` (UCI Breast Cancer Wisconsin, Diagnostic; 569 x 30)
    all 357 benign rows are normal; 40 of the 212 malignant rows, drawn with a fixed seed, are
    anomalies (10.1 %). Like ODDS/ELKI's WDBC, which keeps only 10 malignant rows.
``digits`` (UCI Optical Recognition of Handwritten Digits, sklearn's 8x8 copy; 1797 x 64)
    digits 1-9 are normal (1619 rows); 50 images of digit 0, drawn with a fixed seed, are
    anomalies (3.0 %). This is ODDS's ``optdigits`` construction (digits 1-9 normal, digit 0
    down-sampled to 150 of 5216, 2.9 %).
``digits_images`` (the same digits as 8x8 images, float pixels 0-16)
    digit 0 is normal (178 images); the other digits are anomalies, 20 images drawn with
    :func:`bench.images.one_vs_rest`'s fixed seed (10 %). ``X`` has shape (198, 8, 8): the image
    task of the embedded suite (no download).
``wine`` (UCI Wine; 178 x 13)
    classes 2 and 3 (sklearn targets 1 and 2, 119 rows) are normal; 10 rows of class 1 (sklearn
    target 0), drawn with a fixed seed, are anomalies. This is ODDS's ``wine`` (129 x 13, 10
    outliers), the same shape as ADBench's 45_wine.

Each loader returns ``(X, y)``: ``X`` float64 unscaled, ``y`` int64 with 1 for an anomaly, normal
rows first in their original order, then the sampled anomalies in their original order
(``digits_images``: all rows in their original order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

#: the fixed seed of every down-sampling here
SEED = 20160101


def make_task(
    X: np.ndarray,
    target: np.ndarray,
    normal_classes: Iterable[int],
    anomaly_class: int,
    n_anomalies: int,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``normal_classes`` whole and sample ``n_anomalies`` rows of ``anomaly_class``."""
    normal_mask = np.isin(target, list(normal_classes))
    candidates = np.flatnonzero(target == anomaly_class)
    if n_anomalies > candidates.size:
        raise ValueError(f"class {anomaly_class} has only {candidates.size} rows")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(candidates, size=n_anomalies, replace=False))
    X_out = np.concatenate([X[normal_mask], X[chosen]]).astype(np.float64)
    y_out = np.concatenate(
        [np.zeros(int(normal_mask.sum()), np.int64), np.ones(n_anomalies, np.int64)]
    )
    return X_out, y_out


def _load(loader: Callable[..., tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    X, target = loader(return_X_y=True)
    return np.asarray(X), np.asarray(target)


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer as sk_load

    X, target = _load(sk_load)
    # sklearn: 0 = malignant (212 rows), 1 = benign (357 rows)
    return make_task(X, target, normal_classes=[1], anomaly_class=0, n_anomalies=40)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load

    X, target = _load(sk_load)
    return make_task(X, target, normal_classes=range(1, 10), anomaly_class=0, n_anomalies=50)


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load

    from bench.images import one_vs_rest

    digits = sk_load()
    return one_vs_rest(np.asarray(digits.images, dtype=np.float64), digits.target, 0, anomaly_share=0.1)


def load_wine() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_wine as sk_load

    X, target = _load(sk_load)
    return make_task(X, target, normal_classes=[1, 2], anomaly_class=0, n_anomalies=10)
