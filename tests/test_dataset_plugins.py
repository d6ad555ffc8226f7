"""The dataset sources: the registry manifest reader, synthetic and scikit-learn datasets.

Hook implementations are called directly with a fresh registry, so these tests never touch the
plugin manager's global state.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import bench_sklearn_data
import bench_synthetic
import numpy as np
import pytest
from bench_synthetic import generate

from bench.default_plugins import adbench_registry
from bench.errors import DatasetError, DuplicateNameError
from bench.registry import DatasetRegistry, resolve_object

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_DIR = ROOT / "datasets"
SHARED = Path(os.environ.get("BENCH_SHARED_DIR", "/work/shared")) / "datasets"
UPSTREAM_TSV = SHARED / "adbench-upstream-sha256.tsv"
LOCAL_MANIFEST = SHARED / "adbench" / "MANIFEST.tsv"
UNVERIFIED = {"adbench:backdoor", "adbench:census", "adbench:fraud", "adbench:speech"}


def _name(filename: str) -> str:
    return "adbench:" + filename.removesuffix(".npz").split("_", 1)[1].lower()


def _read_tsv(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    with open(path) as fh:
        rows = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        return {row["file"]: row for row in rows}


@pytest.fixture
def adbench(tmp_path) -> DatasetRegistry:
    """The Classical collection alone (datasets/adbench.toml; the CV/NLP files are apart)."""
    only = tmp_path / "classical"
    only.mkdir()
    (only / "adbench.toml").write_bytes((REGISTRY_DIR / "adbench.toml").read_bytes())
    registry = DatasetRegistry()
    adbench_registry.register_from(only, registry)
    return registry


@pytest.fixture(scope="module")
def embedded() -> DatasetRegistry:
    registry = DatasetRegistry()
    bench_synthetic.register_datasets(registry=registry)
    bench_sklearn_data.register_datasets(registry=registry)
    return registry


def test_data_only_folders_have_no_python_packages():
    assert not list(REGISTRY_DIR.glob("*.py")), "datasets/ must hold registry data only"
    assert not (REGISTRY_DIR / "__init__.py").exists()
    assert not (ROOT / "plugins" / "__init__.py").exists()


# --- the ADBench manifest -------------------------------------------------------------------


def test_manifest_lists_all_47_classical_datasets(adbench):
    assert len(adbench) == 47
    numbers = sorted(int(spec.filename.split("_", 1)[0]) for spec in adbench)
    assert numbers == list(range(1, 48))
    for spec in adbench:
        assert spec.name == _name(spec.filename)
        assert spec.url.endswith("/adbench/datasets/Classical/" + spec.filename)
        assert spec.url.startswith("https://github.com/Minqi824/ADBench/raw/main/")
        assert spec.source == "adbench"
        assert spec.tags == ("download",)
        assert "ADBench" in spec.citation and "Original data:" in spec.citation
        assert spec.license
        assert 0 < spec.n_anomalies < spec.n_samples and spec.n_features > 0
    assert {"adbench:cardio", "adbench:magic.gamma", "adbench:satimage-2"} <= set(adbench.names())


def test_manifest_matches_upstream_checksums_and_shapes(adbench):
    upstream = _read_tsv(UPSTREAM_TSV)
    assert len(upstream) == 43
    by_file = {spec.filename: spec for spec in adbench}
    for filename, row in upstream.items():
        spec = by_file[filename]
        assert spec.sha256 == row["sha256"], filename
        assert (spec.n_samples, spec.n_features, spec.n_anomalies) == (
            int(row["n_samples"]), int(row["n_features"]), int(row["n_anomalies"])
        ), filename
    unverified = {spec.name for spec in adbench if not spec.verified}
    assert unverified == UNVERIFIED
    assert {_name(f) for f in upstream} | UNVERIFIED == set(adbench.names())
    assert all(adbench.get(name).sha256 is None for name in UNVERIFIED)
    assert (adbench.get("adbench:fraud").n_samples, adbench.get("adbench:fraud").n_anomalies) == (
        284807, 492
    )


def test_manifest_matches_the_local_copies(adbench):
    """The files in the shared offline folder hash to the manifest's sha256 and have its shape."""
    local = _read_tsv(LOCAL_MANIFEST)
    by_file = {spec.filename: spec for spec in adbench}
    for filename, row in local.items():
        spec = by_file[filename]
        assert spec.sha256 == row["sha256"]
        path = LOCAL_MANIFEST.parent / filename
        if path.stat().st_size > 1_000_000:
            continue  # keep the test fast; the checksum above ties the large ones to the TSV
        assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
        with np.load(path, allow_pickle=False) as data:
            assert data["X"].shape == (spec.n_samples, spec.n_features)
            assert int(data["y"].sum()) == spec.n_anomalies


# --- registry directory lookup --------------------------------------------------------------

ENTRY = """
[datasets."test:tiny"]
url = "https://example.org/tiny.npz"
sha256 = "{sha}"
n_samples = 10
n_features = 2
n_anomalies = 1
"""


def _write(directory: Path, text: str, name: str = "extra.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def _registered() -> DatasetRegistry:
    registry = DatasetRegistry()
    adbench_registry.register_datasets(registry=registry)
    return registry


def _builtin_entries() -> int:
    """How many entries the built-in registry files declare (every [[dataset]] table)."""
    return sum(len(adbench_registry.read_registry_file(p))
               for p in sorted(REGISTRY_DIR.glob("*.toml")))


def test_user_registry_adds_to_the_builtin_one(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_REGISTRY_DIR", raising=False)
    builtin = set(_registered().names())
    assert len(builtin) == _builtin_entries() >= 47
    _write(tmp_path / "mine", ENTRY.format(sha="c" * 64))
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(tmp_path / "mine"))
    registry = _registered()
    assert set(registry.names()) == builtin | {"test:tiny"}
    tiny = registry.get("test:tiny")
    assert (tiny.filename, tiny.source, tiny.tags) == ("tiny.npz", "test", ("download",))
    assert adbench_registry.registry_dirs() == [adbench_registry.builtin_registry_dir(),
                                                tmp_path / "mine"]


def test_a_datasets_folder_in_the_current_directory_is_not_read(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_REGISTRY_DIR", raising=False)
    _write(tmp_path / "datasets", ENTRY.format(sha="b" * 64))
    monkeypatch.chdir(tmp_path)
    registry = _registered()
    assert "test:tiny" not in registry and len(registry) == _builtin_entries()


def test_registry_dir_option_adds_through_the_cli(monkeypatch, tmp_path):
    import json

    from click.testing import CliRunner

    from bench.cli import cli

    monkeypatch.delenv("BENCH_REGISTRY_DIR", raising=False)
    before = json.loads(CliRunner().invoke(cli, ["list", "datasets", "--json"]).output)
    _write(tmp_path, ENTRY.format(sha="d" * 64))
    result = CliRunner().invoke(cli, ["--registry-dir", str(tmp_path), "list", "datasets", "--json"])
    assert result.exit_code == 0, result.output
    after = json.loads(result.output)
    assert {r["name"] for r in after} == {r["name"] for r in before} | {"test:tiny"}


def test_user_entry_with_a_builtin_name_is_an_error_naming_the_file(monkeypatch, tmp_path):
    path = _write(tmp_path, ENTRY.format(sha="e" * 64).replace("test:tiny", "adbench:cardio"))
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(tmp_path))
    with pytest.raises(DuplicateNameError, match=str(path)):
        _registered()


def test_pointing_at_the_builtin_folder_reads_it_once(monkeypatch):
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(REGISTRY_DIR))
    assert len(_registered()) == _builtin_entries()


def test_registry_dir_from_env_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="missing"):
        adbench_registry.registry_dirs()


def test_builtin_registry_is_package_data():
    from importlib.resources import files

    packaged = files("bench.registry_data") / "adbench.toml"
    assert packaged.read_bytes() == (REGISTRY_DIR / "adbench.toml").read_bytes()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (ENTRY.format(sha="a" * 64) + "colour = 'red'\n", "colour"),
        (ENTRY.format(sha="a" * 64).replace("n_samples = 10", "n_samples = '10'"), "n_samples"),
        (ENTRY.format(sha="A" * 64), "sha256"),
        (ENTRY.format(sha="a" * 64) + "verified = false\n", "verified"),
        (ENTRY.format(sha="a" * 64).replace('url = "https://example.org/tiny.npz"', ""), "url"),
        (ENTRY.replace('sha256 = "{sha}"', ""), "sha256"),
        ("[collection]\nlicence = 'MIT'\n", "licence"),
        ("schema_version = 2\n", "schema_version"),
        (ENTRY.format(sha="a" * 64).replace("test:tiny", "Test Tiny"), "Test Tiny"),
    ],
)
def test_malformed_file_names_file_and_key(monkeypatch, tmp_path, text, key):
    path = _write(tmp_path, text, name="broken.toml")
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as info:
        adbench_registry.register_datasets(registry=DatasetRegistry())
    assert str(path) in str(info.value) and key in str(info.value)


def test_invalid_toml_names_the_file(monkeypatch, tmp_path):
    path = _write(tmp_path, "[datasets\n", name="syntax.toml")
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="syntax.toml"):
        adbench_registry.register_datasets(registry=DatasetRegistry())
    assert path.exists()


def test_plugin_modules_import_nothing_heavy():
    code = (
        "import sys, bench_synthetic, bench_sklearn_data, bench_pyod\n"
        "import bench.default_plugins.adbench_registry\n"
        "heavy = {'numpy', 'pandas', 'sklearn', 'pyod', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- embedded datasets ----------------------------------------------------------------------

EMBEDDED = [
    "synthetic:local", "synthetic:global", "synthetic:dependency", "synthetic:clustered",
    "sklearn:breast_cancer", "sklearn:digits", "sklearn:digits_images", "sklearn:wine",
]


def test_embedded_names(embedded):
    assert embedded.names() == sorted(EMBEDDED)


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_dataset_loads_as_registered(embedded, name):
    spec = embedded.get(name)
    assert spec.tags == ("embedded",) and spec.url is None and spec.sha256 is None
    assert spec.citation and spec.license and spec.description
    X, y = resolve_object(spec.loader)()
    assert X.dtype == np.float64 and np.isfinite(X).all()
    assert y.dtype.kind == "i" and set(np.unique(y)) == {0, 1}
    assert X.shape == (spec.n_samples, *(spec.image_shape or (spec.n_features,)))
    assert X.ndim == (3 if name == "sklearn:digits_images" else 2)
    assert int(y.sum()) == spec.n_anomalies
    assert 0.02 <= spec.anomaly_ratio <= 0.11


@pytest.mark.parametrize("kind", generate.KINDS)
def test_synthetic_generation_is_deterministic(kind):
    np.random.seed(0)
    X1, y1 = generate.make_anomaly_dataset(kind)
    np.random.seed(1)  # the global generator plays no part
    X2, y2 = generate.make_anomaly_dataset(kind)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    X3, _ = generate.make_anomaly_dataset(kind, seed=7)
    assert not np.array_equal(X1, X3)


def test_synthetic_anomaly_types_have_their_shape():
    X, y = generate.make_anomaly_dataset("global")
    normal, anomalies = X[y == 0], X[y == 1]
    low, high = normal.min(axis=0), normal.max(axis=0)
    margin = (high - low) * 0.05 + 1e-9
    assert (anomalies >= low - margin).all() and (anomalies <= high + margin).all()
    assert ((anomalies < low) | (anomalies > high)).any()

    X, y = generate.make_anomaly_dataset("local")
    assert X[y == 1].std(axis=0).mean() > 1.5 * X[y == 0].std(axis=0).mean()

    X, y = generate.make_anomaly_dataset("clustered")
    assert np.abs(X[y == 1]).mean() > 2 * np.abs(X[y == 0]).mean()

    # dependency: same marginals, much weaker correlation between features
    X, y = generate.make_anomaly_dataset("dependency", n_samples=4000, n_anomalies=2000)
    off_diagonal = ~np.eye(X.shape[1], dtype=bool)
    corr_normal = np.abs(np.corrcoef(X[y == 0], rowvar=False)[off_diagonal]).mean()
    corr_anomalies = np.abs(np.corrcoef(X[y == 1], rowvar=False)[off_diagonal]).mean()
    assert corr_anomalies < 0.5 * corr_normal
    assert np.allclose(X[y == 0].mean(axis=0), X[y == 1].mean(axis=0), atol=0.3)


def test_synthetic_registered_shape_matches_generator(embedded):
    spec = embedded.get("synthetic:local")
    assert (spec.n_samples, spec.n_features, spec.n_anomalies) == (
        generate.N_SAMPLES, generate.N_FEATURES, generate.N_ANOMALIES
    )


def test_sklearn_wine_is_the_odds_construction():
    from sklearn.datasets import load_wine

    X, y = resolve_object("bench_sklearn_data.loaders:load_wine")()
    raw, target = load_wine(return_X_y=True)
    assert np.array_equal(X[y == 0], raw[target != 0])  # classes 2 and 3, whole
    anomalies = {tuple(row) for row in X[y == 1]}
    assert anomalies <= {tuple(row) for row in raw[target == 0]} and len(anomalies) == 10
