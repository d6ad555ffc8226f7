"""Synthetic anomaly datasets of ADBench's four anomaly types (Han et al. 2022, section 3.3).

ADBench fits a Gaussian mixture (GMM) to a real dataset's normal rows and then draws anomalies of
one type from a perturbed model (``data_generator.py``, ``generate_realistic_synthetic``). Here the
normal model is itself a fixed random GMM, so every dataset is generated from a seed alone:

``local``
    the same GMM with every covariance scaled by ``alpha = 5``;
``global``
    uniform over the normal data's bounding box widened by ``alpha = 1.1`` around its centre;
``dependency``
    normal rows whose features are strongly dependent (a low-rank covariance plus a little noise),
    anomalies drawn from the independent per-feature marginals: fresh normal rows whose columns are
    each permuted independently (ADBench fits a vine copula and independent KDEs instead);
``clustered``
    the GMM with its means scaled by ``alpha = 5``.

Each loader returns ``(X, y)``: ``X`` float64 (n_samples, n_features), ``y`` int64 with 1 for an
anomaly, rows shuffled. The same seed gives the same arrays on every platform (NumPy's PCG64).
"""

from __future__ import annotations

import numpy as np

KINDS = ("local", "global", "dependency", "clustered")

N_SAMPLES = 1500
N_ANOMALIES = 100
N_FEATURES = 10
N_COMPONENTS = 3
#: one fixed generation seed per kind, so that the datasets differ but never change
SEEDS = {"local": 20220901, "global": 20220902, "dependency": 20220903, "clustered": 20220904}
ALPHA = {"local": 5.0, "global": 1.1, "clustered": 5.0}


class GaussianMixture:
    """A GMM with full covariances: weights (k,), means (k, d), covariances (k, d, d)."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        self.weights = weights
        self.means = means
        self.covariances = covariances

    @classmethod
    def random(cls, rng: np.random.Generator, n_components: int, n_features: int,
               rank: int = 2, noise: float = 0.05) -> GaussianMixture:
        """Components with means N(0, 1) and covariances ``W W^T + noise I`` with W (d, rank).

        The low rank makes the features strongly dependent inside each component.
        """
        weights = rng.dirichlet(np.full(n_components, 5.0))
        means = rng.normal(0.0, 1.0, size=(n_components, n_features))
        covariances = np.empty((n_components, n_features, n_features))
        for k in range(n_components):
            w = rng.normal(0.0, 1.0, size=(n_features, rank))
            covariances[k] = w @ w.T / rank + noise * np.eye(n_features)
        return cls(weights, means, covariances)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        counts = rng.multinomial(n, self.weights)
        parts = [
            rng.multivariate_normal(self.means[k], self.covariances[k], size=int(c), method="cholesky")
            for k, c in enumerate(counts)
        ]
        return np.concatenate(parts, axis=0)


def make_anomaly_dataset(
    kind: str,
    *,
    n_samples: int = N_SAMPLES,
    n_anomalies: int = N_ANOMALIES,
    n_features: int = N_FEATURES,
    n_components: int = N_COMPONENTS,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate one dataset of anomaly type ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown anomaly type {kind!r}; expected one of {', '.join(KINDS)}")
    if not 0 < n_anomalies < n_samples:
        raise ValueError("need 0 < n_anomalies < n_samples")
    rng = np.random.default_rng(SEEDS[kind] if seed is None else seed)
    gmm = GaussianMixture.random(rng, n_components, n_features)
    n_normal = n_samples - n_anomalies
    normal = gmm.sample(rng, n_normal)

    if kind == "local":
        scaled = GaussianMixture(gmm.weights, gmm.means, gmm.covariances * ALPHA["local"])
        anomalies = scaled.sample(rng, n_anomalies)
    elif kind == "clustered":
        scaled = GaussianMixture(gmm.weights, gmm.means * ALPHA["clustered"], gmm.covariances)
        anomalies = scaled.sample(rng, n_anomalies)
    elif kind == "global":
        low, high = normal.min(axis=0), normal.max(axis=0)
        centre, half = (low + high) / 2, (high - low) / 2 * ALPHA["global"]
        anomalies = rng.uniform(centre - half, centre + half, size=(n_anomalies, n_features))
    else:  # dependency: keep each feature's marginal, break the dependence between features
        anomalies = gmm.sample(rng, n_anomalies)
        for j in range(n_features):
            anomalies[:, j] = rng.permutation(anomalies[:, j])

    X = np.concatenate([normal, anomalies], axis=0).astype(np.float64)
    y = np.concatenate([np.zeros(n_normal, np.int64), np.ones(n_anomalies, np.int64)])
    order = rng.permutation(n_samples)
    return np.ascontiguousarray(X[order]), y[order]


def load_local() -> tuple[np.ndarray, np.ndarray]:
    return make_anomaly_dataset("local")


def load_global() -> tuple[np.ndarray, np.ndarray]:
    return make_anomaly_dataset("global")


def load_dependency() -> tuple[np.ndarray, np.ndarray]:
    return make_anomaly_dataset("dependency")


def load_clustered() -> tuple[np.ndarray, np.ndarray]:
    return make_anomaly_dataset("clustered")
