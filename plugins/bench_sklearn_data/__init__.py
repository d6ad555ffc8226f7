"""Real datasets bundled with scikit-learn (no download), made into anomaly tasks ODDS-style.

``sklearn:breast_cancer``, ``sklearn:digits``, ``sklearn:digits_images`` (8x8 images) and
``sklearn:wine``; see
:mod:`bench_sklearn_data.loaders` for each construction. Registering them imports nothing heavy.
"""

from __future__ import annotations

from bench import hookimpl

#: part of every cell's key: bumped when the plugin's code or defaults change its results
__version__ = "0.1.0"

_SKLEARN = (
    "Pedregosa et al. Scikit-learn: Machine Learning in Python. JMLR 12:2825-2830, 2011."
)
_ODDS = "Rayana. ODDS Library. Stony Brook University, 2016. https://odds.cs.stonybrook.edu"
_LICENSE = "CC BY 4.0 (UCI Machine Learning Repository); bundled with scikit-learn (BSD-3-Clause)"

DATASETS = {
    "breast_cancer": {
        "n_samples": 397,
        "n_features": 30,
        "n_anomalies": 40,
        "description": (
            "UCI Breast Cancer Wisconsin (Diagnostic): all 357 benign rows normal, "
            "40 malignant rows sampled with a fixed seed as anomalies"
        ),
        "citation": (
            f"Street, Wolberg, Mangasarian. Nuclear feature extraction for breast tumor "
            f"diagnosis. 1993. {_SKLEARN} Task construction after {_ODDS}"
        ),
    },
    "digits": {
        "n_samples": 1669,
        "n_features": 64,
        "n_anomalies": 50,
        "description": (
            "UCI optical digits (8x8): digits 1-9 normal, 50 images of digit 0 sampled with a "
            "fixed seed as anomalies (ODDS optdigits construction)"
        ),
        "citation": (
            f"Alpaydin, Kaynak. Optical Recognition of Handwritten Digits. UCI, 1998. "
            f"{_SKLEARN} Task construction: {_ODDS} (optdigits)"
        ),
    },
    "digits_images": {
        "n_samples": 198,
        "n_features": 64,
        "n_anomalies": 20,
        "image_shape": (8, 8),
        "description": (
            "UCI optical digits as 8x8 images (pixel values 0-16): digit 0 normal (178 images), "
            "20 images of the other digits sampled with a fixed seed as anomalies (10 %)"
        ),
        "citation": (
            f"Alpaydin, Kaynak. Optical Recognition of Handwritten Digits. UCI, 1998. "
            f"{_SKLEARN} One-vs-rest task after Ruff et al. Deep One-Class Classification. ICML 2018."
        ),
    },
    "wine": {
        "n_samples": 129,
        "n_features": 13,
        "n_anomalies": 10,
        "description": (
            "UCI Wine: classes 2 and 3 normal, 10 rows of class 1 sampled with a fixed seed as "
            "anomalies (ODDS wine construction)"
        ),
        "citation": f"Aeberhard, Forina. Wine. UCI, 1991. {_SKLEARN} Task construction: {_ODDS} (wine)",
    },
}


@hookimpl
def register_datasets(registry):
    for name, meta in DATASETS.items():
        registry.add(
            f"sklearn:{name}",
            f"bench_sklearn_data.loaders:load_{name}",
            source="sklearn",
            license=_LICENSE,
            tags=("embedded",),
            **meta,
        )
