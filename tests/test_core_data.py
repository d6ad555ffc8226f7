"""Dataset loading, validation, checksums and protocols, on real files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from bench import data, protocols
from bench.cli import cli
from bench.errors import DatasetError
from bench.registry import DatasetRegistry


def _run_file(path, *extra):
    return CliRunner().invoke(
        cli, ["run", "--dataset-file", str(path), "--detectors", "iforest", "--seeds", "1",
              "--store", str(path.parent / "s.sqlite"), *extra])


@pytest.mark.parametrize(
    "case, make, message",
    [
        ("nan", lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y),
         "NaN/inf value"),
        ("inf", lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), y),
         "NaN/inf value"),
        ("labels", lambda X, y: (X, y * 2), "labels must be 0 (normal) or 1 (anomaly)"),
        ("oneclass", lambda X, y: (X, np.zeros_like(y)), "only one class"),
        ("length", lambda X, y: (X, y[:-3]), "rows but y has"),
        ("empty", lambda X, y: (X[:0], y[:0]), "empty"),
        ("strings", lambda X, y: (X.astype(str), y), "not numeric"),
    ],
)
def test_bad_npz_inputs_name_the_file_and_problem(tmp_path, case, make, message):
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 4)), (rng.random(60) < 0.2).astype(int)
    y[:2] = [0, 1]
    X, y = make(X, y)
    path = tmp_path / f"bad_{case}.npz"
    np.savez(path, X=X, y=y)
    result = _run_file(path)
    assert result.exit_code != 0
    assert f"file:bad_{case}" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, X=np.array([{"a": 1}] * 10, dtype=object), y=np.array([0, 1] * 5))
    result = _run_file(path)
    assert result.exit_code != 0 and "pickled objects" in result.output
    assert "Traceback" not in result.output


def test_missing_and_unsupported_files(tmp_path):
    result = _run_file(tmp_path / "nope.npz")
    assert result.exit_code != 0 and "does not exist" in result.output
    other = tmp_path / "data.parquet"
    other.write_text("x")
    result = _run_file(other)
    assert result.exit_code != 0 and "unsupported file type" in result.output


def test_csv_with_label_column_and_non_numeric_column(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    X[:10] += 6
    y = np.r_[np.ones(10, int), np.zeros(190, int)]
    path = tmp_path / "mine.csv"
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    result = _run_file(path)
    assert result.exit_code != 0 and "no label column 'y'" in result.output
    result = _run_file(path, "--label-column", "label")
    assert result.exit_code == 0, result.output
    assert "file:mine" in result.output
    bad = tmp_path / "text.csv"
    bad.write_text("a,b,y\n1,x,0\n2,y,1\n3,z,0\n4,w,1\n")
    result = _run_file(bad)
    assert result.exit_code != 0 and "non-numeric feature column(s) b" in result.output


def test_mat_file(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 4))
    y = np.r_[np.ones(12), np.zeros(108)].reshape(-1, 1)
    X[:12] += 5
    savemat(tmp_path / "odds_like.mat", {"X": X, "y": y})
    result = _run_file(tmp_path / "odds_like.mat")
    assert result.exit_code == 0, result.output


def test_cache_checksum_is_verified(tmp_path, adbench_file):
    real = adbench_file()
    registry = DatasetRegistry()
    good = registry.add("t:good", url=f"https://example.invalid/{real.name}",
                        sha256=data.sha256_file(real))
    bad = registry.add("t:bad", url=f"https://example.invalid/{real.name}", sha256="0" * 64,
                       filename=real.name)
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(real, cache / real.name)
    import os

    old = os.environ.get("BENCH_DATA_DIR")
    os.environ["BENCH_DATA_DIR"] = str(cache)
    try:
        assert data.is_cached(good)
        X, y = data.load(good)
        assert X.dtype == np.float64 and set(np.unique(y)) == {0, 1}
        with pytest.raises(DatasetError, match="checksum mismatch"):
            data.load(bad)
        missing = registry.add("t:missing", url="https://example.invalid/none.npz")
        with pytest.raises(DatasetError, match="not in the cache"):
            data.load(missing, download=False)
    finally:
        if old is None:
            os.environ.pop("BENCH_DATA_DIR")
        else:
            os.environ["BENCH_DATA_DIR"] = old


def _toy(n=400, d=5, ratio=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < ratio).astype(int)
    y[:2] = [0, 1]
    return X, y


def test_unsupervised_split_is_stratified_scaled_and_deterministic():
    X, y = _toy()
    X[:, 2] = 3.0  # constant feature
    a = protocols.split(X, y, "unsupervised", 1)
    b = protocols.split(X, y, "unsupervised", 1)
    c = protocols.split(X, y, "unsupervised", 2)
    assert np.array_equal(a.X_train, b.X_train) and not np.array_equal(a.X_train, c.X_train)
    assert len(a.y_test) == 120 and len(a.y_train) == 280
    assert abs(a.y_test.mean() - y.mean()) < 0.02
    assert a.n_dropped_features == 1 and a.X_train.shape[1] == 4
    assert a.X_train.min() == 0.0 and a.X_train.max() == 1.0
    assert a.y_train.sum() > 0  # anomalies stay in the training rows


def test_novelty_trains_on_normal_rows_only():
    X, y = _toy()
    s = protocols.split(X, y, "novelty", 1)
    assert s.y_train.sum() == 0 and s.y_test.sum() > 0


def test_adbench_protocol_resamples_small_and_subsamples_large():
    X, y = _toy(n=300)
    s = protocols.split(X, y, "adbench", 1)
    assert len(s.y_train) + len(s.y_test) == 1000 and s.info["resampled_to"] == 1000
    X, y = _toy(n=12000, d=3)
    s = protocols.split(X, y, "adbench", 1)
    assert len(s.y_train) + len(s.y_test) == 10000 and s.info["subsampled_to"] == 10000


def test_max_samples_is_stratified():
    X, y = _toy(n=5000)
    s = protocols.split(X, y, "unsupervised", 3, max_samples=1000)
    assert len(s.y_train) + len(s.y_test) == 1000 and s.info["max_samples"] == 1000
    assert abs(np.r_[s.y_train, s.y_test].mean() - y.mean()) < 0.01
