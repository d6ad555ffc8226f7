"""Every built-in detector passes bench.testing's conformance checks.

The detectors are read from the registry (every plugin that anomaly-bench itself declares in
the `bench` entry-point group), so a newly added built-in is checked without editing this file.
Deep detectors run with their fast configuration, ``test_config()`` (bench.testing applies it).
Every built-in plugin module declares its ``__version__`` (part of every cell's key).
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points

import pytest

from bench import plugins
from bench.testing import failure_message, run_checks

#: checks that a built-in is known to fail, with the reason; the test fails when one of them
#: starts passing (remove it here then) or when any other check fails
KNOWN_FAILURES = {
    "pyod_alad": {
        "higher_is_more_anomalous": "ALAD barely separates obvious outliers (AUROC 0.59 after "
        "5 and after 30 epochs)",
    },
    "pyod_so_gaal": {
        "higher_is_more_anomalous": "SO-GAAL does not rank obvious outliers first (AUROC 0.07 "
        "after 2 epochs, 0.50 at PyOD's default 20)",
    },
}


def _builtin_plugins() -> set[str]:
    return {ep.name for ep in entry_points(group="bench")
            if ep.dist is not None and ep.dist.name == "anomaly-bench"}


def _builtin_detectors() -> list[str]:
    builtin = _builtin_plugins()
    return [spec.name for spec in plugins.get_detectors() if spec.plugin in builtin]


BUILTIN = _builtin_detectors()


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """PyOD's deep models use torch's default thread count; one thread is faster on a busy CI."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_builtins_are_found():
    assert {"iforest", "knn", "pyod_vae", "ae", "vae", "flow"} <= set(BUILTIN)
    assert not set(KNOWN_FAILURES) - set(BUILTIN), "KNOWN_FAILURES names a missing detector"


@pytest.mark.parametrize("plugin", sorted(_builtin_plugins()))
def test_every_builtin_plugin_declares_its_version(plugin):
    """docs/plugins.md: a distribution shipping several plugins versions each module."""
    (ep,) = [ep for ep in entry_points(group="bench") if ep.name == plugin]
    version = getattr(importlib.import_module(ep.value), "__version__", None)
    assert isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version), (
        f"plugin module {ep.value} must declare __version__ = 'X.Y.Z', got {version!r}"
    )


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_detector_conforms(name):
    spec = plugins.get_detectors().get(name)
    reason = spec.unavailable_reason()
    if reason:
        pytest.skip(f"{name} is unavailable here: {reason}")
    results = run_checks(spec)
    failed = {r.check for r in results if r.status == "failed"}
    known = KNOWN_FAILURES.get(name, {})
    assert not failed - set(known), failure_message(spec.label, results)
    fixed = set(known) - failed
    assert not fixed, f"{name} now passes {sorted(fixed)}: remove it from KNOWN_FAILURES"
    if failed:
        pytest.xfail("; ".join(f"{check}: {known[check]}" for check in sorted(failed)))
