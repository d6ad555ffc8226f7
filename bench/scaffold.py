"""``bench plugins new NAME``: write a ready-to-install detector plugin package.

The package is what docs/plugins.md describes: distribution ``bench-NAME``, import package
``bench_NAME`` declared in the ``bench`` entry-point group, a detector class that works out of
the box (mean distance to the nearest training rows) for the author to replace, a test that runs
:func:`bench.testing.check_detector`, and a README.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from bench.errors import BenchError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME = 40


def validate_name(name: str) -> str:
    """Return ``name`` when it can name a detector, a package and a distribution; else raise."""
    rule = ("use lowercase letters, digits and underscores, starting with a letter, e.g. "
            "'mahalanobis' (it becomes the detector name, the package bench_<NAME> and the "
            "distribution bench-<NAME>)")
    if not _NAME_RE.match(name or ""):
        raise BenchError(f"invalid plugin name {name!r}: {rule}")
    if len(name) > MAX_NAME:
        raise BenchError(f"invalid plugin name {name!r}: at most {MAX_NAME} characters")
    if name.startswith("bench"):
        raise BenchError(f"invalid plugin name {name!r}: leave out the 'bench' prefix, it is "
                         f"added for you (the package will be bench_<NAME>)")
    if keyword.iskeyword(name):
        raise BenchError(f"invalid plugin name {name!r}: a Python keyword")
    return name


def class_name(name: str) -> str:
    """``my_knn`` -> ``MyKnnDetector``."""
    return "".join(part.capitalize() for part in name.split("_") if part) + "Detector"


def dist_name(name: str) -> str:
    """The distribution (and folder) name: ``my_knn`` -> ``bench-my-knn``."""
    return "bench-" + name.replace("_", "-")


def files(name: str) -> dict[str, str]:
    """The plugin package's files, relative path -> text."""
    validate_name(name)
    values = {"name": name, "package": f"bench_{name}", "dist": dist_name(name),
              "cls": class_name(name)}
    return {
        "pyproject.toml": PYPROJECT.format(**values),
        "README.md": README.format(**values),
        f"bench_{name}/__init__.py": INIT.format(**values),
        f"bench_{name}/detector.py": DETECTOR.format(**values),
        f"tests/test_{name}.py": TEST.format(**values),
    }


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the package into ``directory/bench-NAME`` (``_`` -> ``-``) and return that path.

    Refuses a name that a loaded plugin already registered, and a target folder that exists and
    is not empty.
    """
    validate_name(name)
    from bench import plugins

    registry = plugins.get_detectors()
    if name in registry:
        owner = registry.get(name).plugin
        raise BenchError(f"a detector named {name!r} is already registered by plugin "
                         f"{owner!r}; choose another name")
    root = Path(directory) / dist_name(name)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BenchError(f"{root} already exists and is not empty")
    for relative, text in files(name).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "anomaly-bench plugin: the {name} anomaly detector"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["anomaly-bench", "numpy"]

[project.optional-dependencies]
test = ["pytest"]

# This is what makes anomaly-bench find the plugin once the package is installed.
[project.entry-points.bench]
{name} = "{package}"

[tool.setuptools]
packages = ["{package}"]
"""

INIT = '''\
"""anomaly-bench plugin: the ``{name}`` detector.

Keep this module light: ``bench`` imports it at start-up. The detector class is named by a
lazy ``"module:attr"`` string, so it is imported only when the detector runs.
"""

from bench import hookimpl


@hookimpl
def register_detectors(registry):
    registry.add(
        "{name}",
        "{package}.detector:{cls}",
        family="classical",
        description="Mean distance to the k nearest training rows (standardised features)",
        citation="",
    )
'''

DETECTOR = '''\
"""The ``{name}`` detector. Replace the example in ``fit`` and ``decision_function`` with yours.

The contract (docs/plugins.md): ``fit(X)`` learns from unlabeled rows and returns ``self``;
``decision_function(X)`` returns one finite float per row, higher = more anomalous; the same
``random_state`` gives the same scores; ``__init__`` only stores its parameters.
Check it with ``pytest`` or ``bench plugins check {name}``.
"""

from __future__ import annotations

import numpy as np

from bench import BaseDetector


class {cls}(BaseDetector):
    """Mean Euclidean distance to the ``n_neighbors`` nearest training rows.

    Parameters
    ----------
    n_neighbors : int
        How many nearest training rows to average over.
    random_state : int or None
        Seed for any randomness (this example has none). The benchmark passes each run's seed.
    """

    def __init__(self, n_neighbors: int = 5, random_state: int | None = None) -> None:
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    def fit(self, X, y=None):
        """Learn from the rows of ``X``; ``y`` is never used. Returns ``self``."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)  # a constant feature must not divide by 0
        self.train_ = (X - self.mean_) / self.scale_
        self.decision_scores_ = self.decision_function(X)
        return self

    def decision_function(self, X):
        """One score per row of ``X``; higher = more anomalous."""
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        k = max(1, min(int(self.n_neighbors), len(self.train_)))
        train_sq = (self.train_**2).sum(axis=1)
        scores = np.empty(len(Z))
        for start in range(0, len(Z), 1024):  # blocks bound the memory of the distance matrix
            block = Z[start : start + 1024]
            d2 = (block**2).sum(axis=1)[:, None] + train_sq[None, :] - 2.0 * block @ self.train_.T
            nearest = np.partition(np.maximum(d2, 0.0), k - 1, axis=1)[:, :k]
            scores[start : start + len(block)] = np.sqrt(nearest).mean(axis=1)
        return scores
'''

TEST = '''\
"""The anomaly-bench conformance checks: contract, orientation, determinism, pickling."""

from bench.testing import check_detector

from {package}.detector import {cls}


def test_conformance():
    check_detector({cls})
'''

README = """\
# {dist}

An [anomaly-bench](https://pypi.org/project/anomaly-bench/) plugin that adds the `{name}`
anomaly detector (`{package}.detector.{cls}`).

## Install and check

```sh
pip install -e .                 # the `bench` entry point registers the detector
bench list detectors             # {name} is listed
bench plugins check {name}       # the conformance checks
pytest                           # the same checks as a test
```

## Benchmark it

```sh
bench run --detectors {name},iforest --datasets synthetic:global --seeds 1,2,3
bench leaderboard
```

Edit `{package}/detector.py` to implement your method; the contract is described in
anomaly-bench's docs/plugins.md.
"""
