"""What an install from the wheel gets, and the files a release carries."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.environ.get("BENCH_WHEEL_CHECKED") == "1",
                    reason=".ci/run already ran .ci/check-wheel in this CI run")
def test_wheel_registers_the_same_datasets_as_the_checkout():
    """Builds the wheel, installs it into a fresh venv outside the checkout with only the light
    dependencies listing needs, and compares `bench list datasets` (the CI step itself)."""
    result = subprocess.run([str(ROOT / ".ci" / "check-wheel")], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": sys.executable}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wheel OK" in result.stdout


def test_wheel_carries_the_registry_and_the_license(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("anomaly_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for toml in (ROOT / "datasets").glob("*.toml"):
        assert f"bench/registry_data/{toml.name}" in names
    assert not any(n.startswith("datasets/") for n in names)  # no top-level `datasets` package
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Requires-Dist: tomli>=1.1; python_version < \"3.11\"" in metadata


def test_license_and_citation_files():
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    citation = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in citation and "license: BSD-3-Clause" in citation
