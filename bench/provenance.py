"""Provenance of a run and of a cell: library versions, git commit, platform, timestamps.

The lowest layer of the run pipeline: it imports nothing from ``bench`` (the store, the planner
and the executors all use it).
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone

#: the distributions whose versions every run records
VERSIONED = ("anomaly-bench", "numpy", "scikit-learn", "pyod", "pandas", "torch", "scipy")


def versions() -> dict[str, str]:
    """Versions of the project and its main libraries (those installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """The commit of the checkout ``bench`` runs from, if it is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def platform_line() -> str:
    return f"{platform.platform()}; {os.cpu_count()} cpus"


def now() -> str:
    """UTC time to the second, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
