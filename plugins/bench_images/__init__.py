"""MNIST, Fashion-MNIST and CIFAR-10 as one-vs-rest anomaly tasks, one per class.

``mnist:0`` ... ``mnist:9``, ``fashion_mnist:tshirt_top`` ... ``fashion_mnist:ankle_boot``,
``cifar10:airplane`` ... ``cifar10:truck``. Task ``<collection>:<class>``: that class is normal,
every other class an anomaly. Its rows are the collection's official training images followed
by its official test images (``n_train`` marks the split), as images (28x28 uint8, or
3x32x32 uint8 for CIFAR-10):

- protocol ``oneclass`` (Ruff et al. 2018): fit on the official training images of the class,
  score the whole official test set (10 % normal);
- protocols ``unsupervised`` and ``novelty``: the class's images (training and test) with
  anomalies from the other classes sampled with a fixed seed to 10 % of the rows
  (``anomaly_share``), then the usual stratified 70/30 split.

The files are downloaded on first use from their public addresses into the cache directory
(``$BENCH_DATA_DIR/<collection>/``) and checked against their published sha256 and size.
Registering the tasks imports nothing heavy. Written only against the public API
(:mod:`bench` and :mod:`bench.images`), as a third-party plugin would be.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from bench import hookimpl
from bench.images import TASK_SEED
from bench_images.catalog import COLLECTIONS, Collection

__version__ = "0.1.0"

#: anomalies per task under unsupervised/novelty (the oneclass protocol uses the official split)
ANOMALY_SHARE = 0.1


def _load(collection: Collection, index: int) -> tuple[Any, Any]:
    from bench_images.loaders import load_task

    return load_task(collection, index)


def register_collection(registry: Any, collection: Collection, *, anomaly_share: float = ANOMALY_SHARE) -> None:
    """Register one task per class of ``collection``."""
    # the tasks' version in cell keys: the files' checksums and how the share is sampled
    version = hashlib.sha256(
        f"{collection.version}|anomaly_share={anomaly_share!r}|seed={TASK_SEED}".encode()
    ).hexdigest()
    for index, name in enumerate(collection.classes):
        n_normal = collection.train_counts[index] + collection.test_counts[index]
        registry.add(
            f"{collection.key}:{name}",
            partial(_load, collection, index),
            source=collection.key,
            sha256=version,
            n_samples=collection.n_samples,
            n_features=collection.n_features,
            n_anomalies=collection.n_samples - n_normal,
            n_train=collection.n_train,
            image_shape=collection.image_shape,
            anomaly_share=anomaly_share,
            license=collection.license,
            citation=collection.citation,
            description=(
                f"{collection.title}, class {name!r} normal, the other classes anomalies. Rows: "
                f"the {collection.n_train} official training images, then the "
                f"{collection.n_samples - collection.n_train} official test images "
                f"(protocol oneclass: fit on the {collection.train_counts[index]} training images "
                f"of the class, score the whole test set). unsupervised/novelty: the class's "
                f"{n_normal} images with anomalies sampled (fixed seed) to {anomaly_share:g} of "
                f"the rows. Downloaded from {collection.homepage} into the cache on first use."
            ),
            tags=("download", "images"),
        )


@hookimpl
def register_datasets(registry: Any) -> None:
    for collection in COLLECTIONS:
        register_collection(registry, collection)
