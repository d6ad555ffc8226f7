"""Evaluation protocols: how one seed turns a dataset into training and test rows.

``unsupervised``
    ADBench's setting: stratified 70/30 train/test split; min-max scaling fitted on the training
    part; the detector is fitted on all training rows without labels (anomalies included) and
    scored on the test rows.
``novelty``
    As above, but the detector is fitted on the normal training rows only (one-class setting).
``adbench``
    ADBench's exact procedure (``data_generator.py``), so its published tables can be checked:
    datasets under 1,000 rows are first resampled *with replacement* to 1,000 rows and datasets
    over 10,000 rows subsampled without replacement to 10,000, then the ``unsupervised`` split.
    Resampling before splitting leaks: a duplicated row can land in both the training and the
    test part, so small datasets score optimistically (a detector that memorises its training
    rows, such as KNN or LOF, sees some test rows as exact inliers). Use it to compare with
    ADBench, not to rank detectors.

``oneclass``
    The canonical one-class protocol of the image literature (Ruff et al. 2018, Deep SVDD; also
    GANomaly, OCGAN): the detector is fitted on the normal rows of the dataset's official
    training part and scored on its whole official test part. Only datasets with an official
    split (``DatasetSpec.n_train``: rows [0:n_train] are the official training part) can use
    it; the split is the same for every seed (the seed sets the detector's ``random_state``).

On a table, features that are constant on the training part are dropped (their count is
recorded in the cell): they carry no information, and some detectors divide by their zero
variance (PyOD's PCA returns infinite scores otherwise). Then min-max scaling is fitted per
feature on the training part.

Images ((n, H, W) or (n, C, H, W)) keep their shape and are scaled as images: one global pixel
scaling, ``uint8`` pixels divided by 255 and any other pixels by the one minimum and maximum of
the whole training part; no pixel is dropped (MNIST's borders are constant, not useless to a
convolution). The scaled images are float32.

One-vs-rest tasks whose loaded rows hold every other class (``DatasetSpec.anomaly_share``,
e.g. ``mnist:3``: class 3 normal, 90 % of the images anomalies) are first reduced, under
``unsupervised``, ``novelty`` and ``adbench``, to all their normal rows and anomalies sampled
with a fixed seed (the same rows for every run seed) to that share of the rows; ``oneclass``
uses the official split as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.errors import DatasetError

PROTOCOLS = ("unsupervised", "novelty", "adbench", "oneclass")


@dataclass
class Split:
    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    n_dropped_features: int
    info: dict[str, Any]


def stratified_subsample(X: Any, y: Any, n: int, seed: int) -> tuple[Any, Any]:
    """At most ``n`` rows, stratified by label (used by ``--max-samples``)."""
    from sklearn.model_selection import train_test_split

    if len(y) <= n:
        return X, y
    _, X_sub, _, y_sub = train_test_split(X, y, test_size=n, stratify=y, random_state=seed)
    return X_sub, y_sub


def split(
    X: Any,
    y: Any,
    protocol: str,
    seed: int,
    *,
    max_samples: int | None = None,
    n_train: int | None = None,
    anomaly_share: float | None = None,
) -> Split:
    """Apply ``protocol`` with ``seed``; return scaled train/test parts and what was done.

    ``n_train`` and ``anomaly_share`` are the dataset's (:class:`bench.DatasetSpec`): its
    official split and, for one-vs-rest tasks, the anomaly share of the non-official protocols.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
    info: dict[str, Any] = {"n_rows": int(len(y))}
    if X.ndim > 2:
        info["image_shape"] = [int(v) for v in X.shape[1:]]
    if protocol == "oneclass":
        return _oneclass(X, y, seed, n_train, max_samples, info)
    rng = np.random.RandomState(seed)
    if anomaly_share is not None:
        from bench.images import subsample_anomalies

        keep = subsample_anomalies(y, anomaly_share)
        X, y = X[keep], y[keep]
        info.update(anomaly_share=float(anomaly_share), n_task_rows=int(len(y)))
    if protocol == "adbench":
        # Same calls, same order, same generator state as ADBench's data_generator (which seeds
        # numpy's global generator and then uses it).
        if len(y) < 1000:
            idx = rng.choice(np.arange(len(y)), 1000, replace=True)
            X, y = X[idx], y[idx]
            info["resampled_to"] = 1000
        if len(y) > 10000:
            idx = rng.choice(np.arange(len(y)), 10000, replace=False)
            X, y = X[idx], y[idx]
            info["subsampled_to"] = 10000
    if max_samples is not None and len(y) > max_samples:
        X, y = stratified_subsample(X, y, max_samples, seed)
        info["max_samples"] = int(max_samples)
    if int(y.sum()) < 2 or int((y == 0).sum()) < 2:
        raise ValueError("a stratified split needs at least 2 rows of each class")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, shuffle=True, stratify=y, random_state=rng
    )
    if protocol == "novelty":
        X_train, y_train = X_train[y_train == 0], y_train[y_train == 0]
    return _scaled(X_train, X_test, y_train, y_test, info)


def _scaled(X_train: Any, X_test: Any, y_train: Any, y_test: Any, info: dict[str, Any]) -> Split:
    """Scale images globally, tables per feature (dropping constant features); see above."""
    import numpy as np
    from sklearn.preprocessing import MinMaxScaler

    if X_train.ndim > 2:
        X_train, X_test, info["pixel_scaling"] = scale_images(X_train, X_test)
        info.update(n_train=int(len(y_train)), n_test=int(len(y_test)),
                    n_features=int(np.prod(X_train.shape[1:])))
        return Split(X_train, X_test, y_train, y_test, 0, info)
    keep = np.ptp(X_train, axis=0) > 0
    n_dropped = int((~keep).sum())
    if n_dropped:
        if not keep.any():
            raise ValueError("every feature is constant on the training part")
        X_train, X_test = X_train[:, keep], X_test[:, keep]
    scaler = MinMaxScaler().fit(X_train)
    X_train = scaler.transform(X_train)
    X_test = scaler.transform(X_test)
    info.update(n_train=int(len(y_train)), n_test=int(len(y_test)), n_features=int(X_train.shape[1]))
    return Split(X_train, X_test, y_train, y_test, n_dropped, info)


def scale_images(X_train: Any, X_test: Any) -> tuple[Any, Any, str]:
    """One global pixel scaling, as float32: uint8 / 255, else by the training part's one min
    and max (the training pixels span [0, 1]; test pixels may fall outside). Returns the scaled
    parts and a description of the scaling."""
    import numpy as np

    if X_train.dtype == np.uint8:
        return (X_train.astype(np.float32) / np.float32(255), X_test.astype(np.float32) / np.float32(255),
                "uint8/255")
    lo, hi = float(X_train.min()), float(X_train.max())
    if not hi > lo:
        raise ValueError(f"every pixel of the training part has the same value ({lo:g})")

    def scaled(X: Any) -> Any:
        return ((X.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)

    return scaled(X_train), scaled(X_test), f"global min-max [{lo:g}, {hi:g}]"


def _oneclass(
    X: Any, y: Any, seed: int, n_train: int | None, max_samples: int | None, info: dict[str, Any]
) -> Split:
    """Fit on the normal rows of the official training part, score the whole official test part."""
    import numpy as np

    if n_train is None:
        raise ValueError(
            "protocol oneclass needs an official train/test split and this dataset has none "
            "(no n_train); use unsupervised or novelty"
        )
    if not 0 < n_train < len(y):
        raise ValueError(f"the official split n_train={n_train} leaves no rows on one side of {len(y)}")
    train = np.flatnonzero(y[:n_train] == 0)
    test = np.arange(n_train, len(y))
    info.update(official_n_train=int(n_train), n_train_normal_official=int(len(train)))
    if max_samples is not None and len(train) + len(test) > max_samples:
        rng = np.random.RandomState(seed)
        n_fit = max(2, round(max_samples * len(train) / (len(train) + len(test))))
        train = np.sort(rng.choice(train, size=min(n_fit, len(train)), replace=False))
        test, _ = stratified_subsample(test, y[test], max(2, max_samples - len(train)), seed)
        test = np.sort(test)
        info["max_samples"] = int(max_samples)
    if len(train) < 2:
        raise ValueError(f"the official training part has {len(train)} normal row(s); need at least 2")
    y_test = y[test]
    if int(y_test.sum()) < 1 or int((y_test == 0).sum()) < 1:
        raise ValueError("the official test part needs both normal rows and anomalies")
    return _scaled(X[train], X[test], y[train], y_test, info)


def split_dataset(X: Any, y: Any, spec: Any, protocol: str, seed: int,
                  max_samples: int | None = None) -> Any:
    """The protocol's split of a loaded dataset as a cell makes it: with the dataset's official
    split and anomaly share (image collections). The report reloads a cell's test images with
    it, so the test-row indices a record keeps point at the same images."""
    try:
        return split(X, y, protocol, seed, max_samples=max_samples,
                               n_train=spec.n_train, anomaly_share=spec.anomaly_share)
    except ValueError as exc:
        raise DatasetError(f"dataset {spec.name!r}, protocol {protocol}: {exc}") from exc


def shape_for(X: Any, tags: Iterable[str]) -> Any:
    """The array a detector with ``tags`` receives: a table as it is; images (n, H, W) or
    (n, C, H, W) as (n, C, H, W) for a detector tagged ``images`` (C = 1 for (n, H, W)), as
    flattened pixels (n, C*H*W) for every other detector."""
    if X.ndim <= 2:
        return X
    if "images" in tuple(tags):
        return X[:, None] if X.ndim == 3 else X
    return X.reshape(len(X), -1)
