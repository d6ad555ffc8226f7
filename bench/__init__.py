"""anomaly-bench: a benchmark suite for anomaly detectors, extended through plugins.

The public API for plugin authors is what this module exports; it imports nothing heavy
(no numpy, pandas, scikit-learn or torch).
"""

from __future__ import annotations

from bench.detector import BaseDetector, Detector
from bench.hookspecs import hookimpl
from bench.registry import DatasetSpec, DetectorSpec

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("anomaly-bench")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0+unknown"

__all__ = ["BaseDetector", "DatasetSpec", "Detector", "DetectorSpec", "__version__", "hookimpl"]
