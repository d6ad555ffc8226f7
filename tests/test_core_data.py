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


# --- hostile or mislabelled files -------------------------------------------------------------


def _write_csv(path, X, y, header):
    rows = [",".join(header)] + [",".join(map(str, [*r, t])) for r, t in zip(X, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")


def test_duplicate_csv_columns_are_an_error_naming_file_and_column(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.random((200, 3))  # pure noise: a leaked label would give AUROC near 1
    y = (rng.random(200) < 0.1).astype(int)
    y[:2] = [0, 1]
    path = tmp_path / "leaky.csv"
    _write_csv(path, np.c_[X, y], y, ["a", "b", "c", "y", "y"])
    result = _run_file(path)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "leaky.csv" in result.output and "duplicate column name(s) 'y'" in result.output


@pytest.mark.parametrize(
    "case, write, message",
    [
        ("random", lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
         "not a valid .npz file"),
        ("npy", lambda p: np.save(open(p, "wb"), np.ones((10, 3))), "single .npy array"),
        ("headeronly", lambda p: p.write_text("a,b,y\n"), "has a header but no rows"),
        ("empty", lambda p: p.write_text(""), "is empty"),
    ],
)
def test_broken_files_say_what_is_wrong(tmp_path, case, write, message):
    path = tmp_path / (f"{case}.csv" if case in {"headeronly", "empty"} else f"{case}.npz")
    write(path)
    result = _run_file(path)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output and f"file:{case}" in result.output
    assert "pickled" not in result.output and "non-numeric" not in result.output


def test_complex_X_is_refused(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.random((60, 3)) + 1j * rng.random((60, 3))
    y = np.r_[np.ones(6, int), np.zeros(54, int)]
    np.savez(tmp_path / "cplx.npz", X=X, y=y)
    result = _run_file(tmp_path / "cplx.npz")
    assert result.exit_code != 0 and "X is complex" in result.output


def test_label_column_names_the_npz_label_array(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 3))
    X[:15] += 6
    target = np.r_[np.ones(15, int), np.zeros(135, int)]
    np.savez(tmp_path / "named.npz", X=X, target=target)
    result = _run_file(tmp_path / "named.npz")
    assert result.exit_code != 0 and "lacks array(s) ['y']" in result.output
    assert "--label-column" in result.output
    result = _run_file(tmp_path / "named.npz", "--label-column", "target")
    assert result.exit_code == 0, result.output
    X2, y2 = data.load(data.file_spec(tmp_path / "named.npz", label_column="target"))
    assert np.array_equal(y2, target) and X2.shape == (150, 3)


# --- user files with the same stem (item 1) ---------------------------------------------------


def test_files_with_the_same_stem_get_distinct_names_keyed_by_content(tmp_path):
    rng = np.random.default_rng(6)
    paths = []
    for folder, shift in (("a", 0.0), ("b", 5.0)):
        (tmp_path / folder).mkdir()
        X = rng.normal(size=(80, 2)) + shift
        y = np.r_[np.ones(8, int), np.zeros(72, int)]
        paths.append(tmp_path / folder / "data.csv")
        _write_csv(paths[-1], X, y, ["u", "v", "y"])
    specs = data.file_specs(paths)
    names = [s.name for s in specs]
    assert len(set(names)) == 2 and all(n.startswith("file:data-") for n in names)
    assert [s.sha256 for s in specs] == [data.sha256_file(p) for p in paths]
    assert [s.name for s in data.file_specs(paths[::-1])] == names[::-1]  # order-independent
    means = [data.load(s)[0].mean() for s in specs]  # each name loads its own file
    assert means[1] - means[0] > 4
    assert [s.name for s in data.file_specs([paths[0]])] == ["file:data"]
    twin = tmp_path / "twin" / "data.csv"
    twin.parent.mkdir()
    shutil.copy(paths[0], twin)
    assert len(data.file_specs([paths[0], twin])) == 1  # the same content is one dataset


def test_user_file_changed_after_planning_is_refused(tmp_path):
    path = tmp_path / "moving.csv"
    _write_csv(path, np.arange(40).reshape(20, 2), [1, 1] + [0] * 18, ["u", "v", "y"])
    spec = data.file_spec(path)
    _write_csv(path, np.arange(40).reshape(20, 2) * 2, [1, 1] + [0] * 18, ["u", "v", "y"])
    with pytest.raises(DatasetError, match="changed since it was chosen"):
        data.load(spec)


# --- the registry entry's shape is checked (item 6) -------------------------------------------


def test_a_file_of_another_shape_is_not_run_under_an_entrys_name(tmp_path, adbench_file, monkeypatch):
    real = adbench_file()
    with np.load(real, allow_pickle=False) as f:
        n, d, k = len(f["y"]), f["X"].shape[1], int(f["y"].sum())
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(real, cache / "other.npz")
    monkeypatch.setenv("BENCH_DATA_DIR", str(cache))
    registry = DatasetRegistry()
    right = registry.add("t:right", url="https://example.invalid/other.npz", n_samples=n,
                         n_features=d, n_anomalies=k)
    X, _ = data.load(right)
    assert X.shape == (n, d)
    for field, value in (("n_samples", n + 1), ("n_features", d + 2), ("n_anomalies", k - 1)):
        entry = {"n_samples": n, "n_features": d, "n_anomalies": k, field: value}
        wrong = registry.add(f"t:wrong_{field}", url="https://example.invalid/other.npz", **entry)
        with pytest.raises(DatasetError) as info:
            data.load(wrong)
        message = str(info.value)
        assert f"t:wrong_{field}" in message and "other.npz" in message
        assert f"(registered {value})" in message and "does not match its registry entry" in message
