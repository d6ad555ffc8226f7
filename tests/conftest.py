"""Shared fixtures: the real ADBench files as the offline cache, and plugin isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import plugins

ROOT = Path(__file__).resolve().parents[1]
SHARED_ADBENCH = ROOT.parent / "shared" / "datasets" / "adbench"


def pytest_configure(config: pytest.Config) -> None:
    if "BENCH_DATA_DIR" not in os.environ and SHARED_ADBENCH.is_dir():
        os.environ["BENCH_DATA_DIR"] = str(SHARED_ADBENCH)


@pytest.fixture
def plugs() -> Path:
    """``--plugins-dir`` folder of detectors that raise, return NaN or too few scores, sleep,
    exit their process, hog or spike memory, or overwrite their input; and a good one."""
    return Path(__file__).parent / "misbehaving_plugins"


@pytest.fixture
def adbench_dir() -> Path:
    """The folder of real ADBench .npz files used as the download cache."""
    path = Path(os.environ.get("BENCH_DATA_DIR", SHARED_ADBENCH))
    if not any(path.glob("*.npz")):
        pytest.skip(f"no ADBench files in {path}")
    return path


@pytest.fixture
def adbench_file(adbench_dir: Path):
    """Path of a small real ADBench file, found by shape rather than by name."""
    import numpy as np

    def pick(max_rows: int = 3000) -> Path:
        best = None
        for path in sorted(adbench_dir.glob("*.npz")):
            with np.load(path, allow_pickle=False) as f:
                n = len(f["y"])
            if 300 <= n <= max_rows and (best is None or n > best[0]):
                best = (n, path)
        if best is None:
            pytest.skip("no small ADBench file available")
        return best[1]

    return pick


@pytest.fixture(autouse=True)
def _isolate_plugins():
    """Unregister any plugin a test registered (inline or via --plugins-dir) afterwards.

    The built-in plugins stay loaded (STYLE.md's ``BENCH_LOAD_PLUGINS=""`` default is not used:
    most tests run the shipped detectors and datasets); the CLI's ``--registry-dir`` writes
    ``BENCH_REGISTRY_DIR``, so that variable is put back too.
    """
    plugins.load_plugins()  # the built-ins are in every snapshot, whichever test loads first
    snapshot = plugins.state.snapshot()
    env = {k: os.environ.get(k) for k in ("BENCH_REGISTRY_DIR", "BENCH_LOAD_PLUGINS")}
    yield
    plugins.state.restore(snapshot)
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    plugins.reset_registries()
