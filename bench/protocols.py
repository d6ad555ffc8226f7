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

In every protocol, features that are constant on the training part are dropped (their count is
recorded in the cell): they carry no information, and some detectors divide by their zero
variance (PyOD's PCA returns infinite scores otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("unsupervised", "novelty", "adbench")


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


def split(X: Any, y: Any, protocol: str, seed: int, *, max_samples: int | None = None) -> Split:
    """Apply ``protocol`` with ``seed``; return scaled train/test parts and what was done."""
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
    info: dict[str, Any] = {"n_rows": int(len(y))}
    rng = np.random.RandomState(seed)
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
