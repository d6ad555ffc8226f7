"""anomaly-bench: a benchmark suite for anomaly detectors, extended through plugins.

The public API for plugin authors is what this module exports; it imports nothing heavy
(no numpy, pandas, scikit-learn or torch). ``bench.run`` and ``bench.leaderboard`` (the Python API,
bench/api.py) are loaded on first use.
"""

from __future__ import annotations

from typing import Any

from bench.detector import BaseDetector, Detector
from bench.hookspecs import hookimpl
from bench.registry import DatasetSpec, DetectorSpec

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("anomaly-bench")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0+unknown"

__all__ = ["BaseDetector", "DatasetSpec", "Detector", "DetectorSpec", "__version__", "hookimpl",
           "leaderboard", "run"]


def __getattr__(name: str) -> Any:
    if name == "run":
        from bench import api

        return api.run
    if name == "leaderboard":
        # the module bench.leaderboard is callable: bench.leaderboard(frame_or_store, ...) is
        # bench.api.leaderboard, and bench.leaderboard.summary etc. stay reachable
        import bench.leaderboard

        return bench.leaderboard
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
