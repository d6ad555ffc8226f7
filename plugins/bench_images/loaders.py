"""Load a collection (downloading and checking its files) and make one class's task."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from bench.errors import DatasetError
from bench.images import fetch_file, read_cifar10, read_idx
from bench_images.catalog import Collection


@lru_cache(maxsize=1)
def load_collection(collection: Collection) -> tuple[np.ndarray, np.ndarray]:
    """All images (official training part first, then the test part) and their class indices.

    Kept for the next task of the same collection; the arrays are read-only.
    """
    paths = [fetch_file(f, collection.key, dataset=collection.key) for f in collection.files]
    if collection.reader == "idx":
        X_train, y_train, X_test, y_test = (read_idx(p) for p in paths)
    elif collection.reader == "cifar10":
        X_train, y_train, X_test, y_test = read_cifar10(paths[0])
    else:
        raise DatasetError(f"{collection.key}: unknown reader {collection.reader!r}")
    n_classes = len(collection.classes)
    for part, X, y, counts in (("training", X_train, y_train, collection.train_counts),
                               ("test", X_test, y_test, collection.test_counts)):
        if X.shape != (sum(counts), *collection.image_shape) or y.shape != (len(X),):
            raise DatasetError(
                f"{collection.key}: official {part} part has images {list(X.shape)} and labels "
                f"{list(y.shape)}; expected {sum(counts)} images of shape {list(collection.image_shape)}"
            )
        found = np.bincount(y.astype(np.int64), minlength=n_classes)
        if len(found) != n_classes or tuple(int(c) for c in found) != tuple(counts):
            raise DatasetError(
                f"{collection.key}: official {part} part has {found.tolist()} images per class; "
                f"expected {list(counts)}"
            )
    X = np.concatenate([X_train, X_test])
    labels = np.concatenate([y_train, y_test]).astype(np.int64)
    X.flags.writeable = False
    labels.flags.writeable = False
    return X, labels


def load_task(collection: Collection, index: int) -> tuple[Any, Any]:
    """Class ``index`` normal (0), every other class an anomaly (1)."""
    X, labels = load_collection(collection)
    return X, (labels != index).astype(np.int64)
