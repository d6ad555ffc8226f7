"""Image data: the IDX and CIFAR-10 readers on files written in the real formats, checked
downloads of the registered collections (served from local file URLs: the real collections are
never downloaded here), the protocols on images (oneclass exactly), bad image inputs, one-vs-rest
from a labelled file, and ADBench's CV/NLP registry entries on the shared files."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import bench_images
import numpy as np
import pytest
from bench_images import catalog, loaders
from bench_images.catalog import Collection
from click.testing import CliRunner

from bench import data, images, plugins, protocols
from bench.api import default_datasets
from bench.cli import cli
from bench.default_plugins import adbench_registry
from bench.errors import DatasetError
from bench.images import RemoteFile
from bench.registry import DatasetRegistry, DatasetSpec

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BENCH_SHARED_DIR", ROOT.parent / "shared")) / "datasets"
MNIST_SAMPLE = SHARED / "images" / "mnist-test-digits-0-4.npz"
CV_DIR = SHARED / "adbench-cv"
CV_TSV = SHARED / "adbench-cv-upstream-sha256.tsv"


# --- files in the real formats --------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> Path:
    """LeCun's IDX layout: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    raw = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += big.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(raw)
    else:
        path.write_bytes(raw)
    return path


def cifar_batch(images_: np.ndarray, labels: list[int], label: bytes) -> bytes:
    """A batch pickled as the real ones: bytes keys, data (n, 3072) uint8 in R, G, B planes."""
    batch = {b"batch_label": label, b"labels": labels, b"data": images_.reshape(len(images_), -1),
             b"filenames": [b"img_%d.png" % i for i in range(len(labels))]}
    return pickle.dumps(batch, protocol=2)


def write_cifar_archive(path: Path, rng: np.random.Generator, per_batch: int = 2,
                        n_classes: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    X = rng.integers(0, 256, (per_batch * 6, 3, 32, 32), dtype=np.uint8)
    y = np.arange(per_batch * 6) % n_classes
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            part = slice(i * per_batch, (i + 1) * per_batch)
            raw = cifar_batch(X[part], y[part].tolist(), f"batch {i}".encode())
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        meta = pickle.dumps({b"label_names": [b"x", b"y"]}, protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    n = per_batch * 5
    return X[:n], y[:n], X[n:], y[n:]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# A small IDX collection: 3 classes, 6x5 images (not square, to catch a swapped axis). Pixel
# (0, 0) and (0, 1) hold the row's index in the whole collection; the last image row is always 0
# (a constant border, which no protocol may drop).
CLASSES = ("a", "b", "c")
TRAIN_LABELS = np.array([0, 1, 2, 1, 0, 1, 2, 0, 1, 1, 0, 2])  # 4 a, 5 b, 3 c
TEST_LABELS = np.array([2, 0, 1, 1, 0, 2, 1])  # 2 a, 3 b, 2 c


def _tiny_images(n: int, offset: int, rng: np.random.Generator) -> np.ndarray:
    X = rng.integers(1, 256, (n, 6, 5), dtype=np.uint8)
    X[:, 0, 0] = (np.arange(n) + offset) % 256
    X[:, 0, 1] = (np.arange(n) + offset) // 256
    X[:, 5, :] = 0
    return X


@pytest.fixture
def served(tmp_path, monkeypatch):
    """IDX files on a 'server' (a local folder reached by file:// URLs), an empty cache, and the
    collection describing them."""
    loaders.load_collection.cache_clear()
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))
    server = tmp_path / "server"
    server.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": _tiny_images(len(TRAIN_LABELS), 0, rng),
        "train-labels-idx1-ubyte.gz": TRAIN_LABELS.astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": _tiny_images(len(TEST_LABELS), len(TRAIN_LABELS), rng),
        "t10k-labels-idx1-ubyte.gz": TEST_LABELS.astype(np.uint8),
    }
    files = []
    for name, array in arrays.items():
        path = write_idx(server / name, array)
        files.append(RemoteFile(name, (path.as_uri(),), _sha(path), path.stat().st_size))
    collection = Collection(
        key="tinyidx", title="tiny IDX collection", reader="idx", files=tuple(files), classes=CLASSES,
        train_counts=(4, 5, 3), test_counts=(2, 3, 2), image_shape=(6, 5), license="test",
        citation="test", homepage="file://",
    )
    yield collection, arrays, server, tmp_path / "cache"
    loaders.load_collection.cache_clear()


def _registry(collection: Collection) -> DatasetRegistry:
    registry = DatasetRegistry()
    bench_images.register_collection(registry, collection)
    return registry


# --- readers --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.dtype(">i4"), np.dtype(">f4"), np.dtype(">f8")])
def test_idx_reader_reads_the_real_layout(tmp_path, suffix, dtype):
    array = (np.arange(4 * 6 * 5).reshape(4, 6, 5) % 200).astype(dtype)
    path = write_idx(tmp_path / f"x-idx3-ubyte{suffix}", array)
    out = images.read_idx(path)
    assert out.shape == (4, 6, 5) and out.dtype.isnative
    assert out.dtype.kind == np.dtype(dtype).kind
    np.testing.assert_array_equal(out, array)
    labels = write_idx(tmp_path / f"y-idx1-ubyte{suffix}", np.array([3, 1, 4, 1], np.uint8))
    np.testing.assert_array_equal(images.read_idx(labels), [3, 1, 4, 1])


def test_idx_reader_refuses_bad_files_naming_them(tmp_path):
    bad = tmp_path / "not-idx.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"PK\x03\x04 not an idx file")
    with pytest.raises(DatasetError, match=r"not-idx.gz: not an IDX file"):
        images.read_idx(bad)
    short = write_idx(tmp_path / "short-idx3-ubyte", np.zeros((3, 4, 4), np.uint8))
    short.write_bytes(short.read_bytes()[:-5])
    with pytest.raises(DatasetError, match=r"short-idx3-ubyte: IDX header declares shape \[3, 4, 4\]"):
        images.read_idx(short)


def test_cifar_reader_reads_the_python_archive_in_place(tmp_path):
    X_train, y_train, X_test, y_test = write_cifar_archive(
        tmp_path / "cifar-10-python.tar.gz", np.random.default_rng(1))
    out = images.read_cifar10(tmp_path / "cifar-10-python.tar.gz")
    for got, want in zip(out, (X_train, y_train, X_test, y_test), strict=True):
        np.testing.assert_array_equal(got, want)
    assert out[0].shape == (10, 3, 32, 32) and out[0].dtype == np.uint8
    # channels first: the batch's row is R plane (1024 values), G plane, B plane, each row-major
    raw = X_train.reshape(10, -1)
    assert out[0][3, 1, 2, 7] == raw[3, 1024 + 2 * 32 + 7]
    assert not list(tmp_path.glob("cifar-10-batches-py"))  # nothing extracted


def test_cifar_reader_refuses_pickles_that_are_not_plain_data(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    raw = pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2)
    with pytest.raises(DatasetError, match=r"batch_x: not a CIFAR batch: UnpicklingError: refusing"):
        images.read_cifar_batch(raw, "batch_x")
    with pytest.raises(DatasetError, match="expected uint8 \\(n, 3072\\)"):
        images.read_cifar_batch(cifar_batch(np.zeros((2, 3, 16, 16), np.uint8), [0, 1], b"b"), "b")


# --- downloads of the registered collections ------------------------------------------------


def test_collection_downloads_into_the_cache_and_loads_as_images(served):
    collection, arrays, _, cache = served
    registry = _registry(collection)
    assert registry.names() == ["tinyidx:a", "tinyidx:b", "tinyidx:c"]
    spec = registry.get("tinyidx:b")
    assert (spec.n_samples, spec.n_train, spec.image_shape, spec.n_features) == (19, 12, (6, 5), 30)
    assert spec.n_anomalies == 19 - 8 and spec.anomaly_share == 0.1 and len(spec.sha256) == 64
    other_share = DatasetRegistry()
    bench_images.register_collection(other_share, collection, anomaly_share=0.2)
    assert other_share.get("tinyidx:b").sha256 != spec.sha256  # a new share is a new version
    X, y = data.load(spec)
    assert X.shape == (19, 6, 5) and X.dtype == np.uint8
    np.testing.assert_array_equal(X[:12], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(X[12:], arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y, np.r_[TRAIN_LABELS, TEST_LABELS] != 1)
    for remote in collection.files:
        cached = cache / "tinyidx" / remote.filename
        assert cached.is_file() and _sha(cached) == remote.sha256
    assert not [p for p in cache.rglob("*") if p.name.endswith(".part")]


def test_cifar_collection_through_the_cache(tmp_path, monkeypatch):
    loaders.load_collection.cache_clear()
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))
    archive = tmp_path / "cifar-10-python.tar.gz"
    X_train, _, X_test, _ = write_cifar_archive(archive, np.random.default_rng(2))
    collection = Collection(
        key="tinycifar", title="t", reader="cifar10",
        files=(RemoteFile(archive.name, (archive.as_uri(),), _sha(archive), archive.stat().st_size),),
        classes=("x", "y"), train_counts=(5, 5), test_counts=(1, 1), image_shape=(3, 32, 32),
        license="t", citation="t", homepage="t")
    X, y = data.load(_registry(collection).get("tinycifar:y"))
    assert X.shape == (12, 3, 32, 32)
    np.testing.assert_array_equal(X, np.concatenate([X_train, X_test]))
    np.testing.assert_array_equal(y, (np.arange(12) % 2 != 1).astype(int))
    loaders.load_collection.cache_clear()


def test_checksum_mismatch_is_refused_and_nothing_is_cached(served):
    collection, _, _, cache = served
    first = collection.files[0]
    wrong = Collection(**{**vars(collection), "files": (
        RemoteFile(first.filename, first.urls, "0" * 64, first.size), *collection.files[1:])})
    with pytest.raises(DatasetError, match=r"tinyidx \(train-images-idx3-ubyte.gz\).*checksum mismatch"):
        data.load(_registry(wrong).get("tinyidx:a"))
    assert not (cache / "tinyidx" / first.filename).exists()
    assert not [p for p in cache.rglob("*") if p.name.endswith(".part")]


def test_corrupt_cached_file_is_refused_not_replaced(served):
    collection, _, _, cache = served
    data.load(_registry(collection).get("tinyidx:a"))
    loaders.load_collection.cache_clear()
    cached = cache / "tinyidx" / "t10k-labels-idx1-ubyte.gz"
    cached.write_bytes(b"tampered")
    with pytest.raises(DatasetError, match="checksum mismatch.*delete the file"):
        data.load(_registry(collection).get("tinyidx:a"))
    assert cached.read_bytes() == b"tampered"


def test_mirrors_are_tried_in_turn_and_all_failures_named(served):
    collection, _, server, _ = served
    moved = [RemoteFile(f.filename, ((server / "gone" / f.filename).as_uri(), *f.urls), f.sha256, f.size)
             for f in collection.files]
    mirrored = Collection(**{**vars(collection), "files": tuple(moved)})
    X, _ = data.load(_registry(mirrored).get("tinyidx:c"))
    assert X.shape == (19, 6, 5)
    loaders.load_collection.cache_clear()
    broken = [RemoteFile(f.filename, ((server / "gone" / f.filename).as_uri(),), f.sha256, f.size)
              for f in collection.files]
    with pytest.raises(DatasetError, match=r"could not download dataset .*gone/train-images"):
        data.load(_registry(Collection(**{**vars(collection), "key": "tinyidx2",
                                          "files": tuple(broken)})).get("tinyidx2:a"))


def test_collection_with_other_class_counts_is_refused(served):
    collection, *_ = served
    other = Collection(**{**vars(collection), "train_counts": (5, 4, 3)})
    with pytest.raises(DatasetError, match=r"official training part has \[4, 5, 3\] images per class"):
        data.load(_registry(other).get("tinyidx:a"))


def test_registered_collections_are_the_official_files():
    registry = DatasetRegistry()
    bench_images.register_datasets(registry=registry)
    names = registry.names()
    assert len(names) == 30
    assert {f"mnist:{d}" for d in range(10)} <= set(names)
    assert {"fashion_mnist:ankle_boot", "fashion_mnist:tshirt_top", "cifar10:airplane",
            "cifar10:truck"} <= set(names)
    published = {  # sizes in bytes as the authors publish them
        "mnist": [9912422, 28881, 1648877, 4542],
        "fashion_mnist": [26421880, 29515, 4422102, 5148],
        "cifar10": [170498071],
    }
    for collection in catalog.COLLECTIONS:
        assert [f.size for f in collection.files] == published[collection.key]
        for remote in collection.files:
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
            assert remote.urls[0].startswith("https://")
            assert all(url.endswith("/" + remote.filename) for url in remote.urls)
        spec = registry.get(f"{collection.key}:{collection.classes[0]}")
        assert spec.n_train == {"cifar10": 50000}.get(collection.key, 60000)
        assert spec.n_samples == spec.n_train + 10000
        assert spec.image_shape == {"cifar10": (3, 32, 32)}.get(collection.key, (28, 28))
        assert spec.tags == ("download", "images") and spec.citation and spec.license
        assert "Ruff" in spec.citation and spec.anomaly_share == 0.1
    assert registry.get("mnist:3").n_anomalies == 70000 - 6131 - 1010


def test_image_plugin_registers_without_importing_numpy():
    code = (
        "import sys, bench_images\n"
        "from bench.registry import DatasetRegistry\n"
        "bench_images.register_datasets(registry=DatasetRegistry())\n"
        "heavy = {'numpy', 'pandas', 'sklearn', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- protocols on images --------------------------------------------------------------------


def _row_ids(X_scaled: np.ndarray) -> np.ndarray:
    """The collection row index written into pixels (0, 0) and (0, 1)."""
    pixels = np.rint(X_scaled[:, 0, :2] * 255).astype(int)
    return pixels[:, 0] + 256 * pixels[:, 1]


def test_oneclass_trains_on_official_normal_rows_and_tests_on_the_whole_test_set(served):
    collection, *_ = served
    spec = _registry(collection).get("tinyidx:b")
    X, y = data.load(spec)
    for seed in (1, 2):
        part = protocols.split(X, y, "oneclass", seed, n_train=spec.n_train, anomaly_share=spec.anomaly_share)
        train_rows = np.flatnonzero(TRAIN_LABELS == 1)
        np.testing.assert_array_equal(_row_ids(part.X_train), train_rows)
        np.testing.assert_array_equal(_row_ids(part.X_test), np.arange(12, 19))
        np.testing.assert_array_equal(part.y_train, np.zeros(5))
        np.testing.assert_array_equal(part.y_test, TEST_LABELS != 1)
        assert part.X_train.shape == (5, 6, 5) and part.X_test.shape == (7, 6, 5)
        assert part.X_train.dtype == np.float32 and part.n_dropped_features == 0
        np.testing.assert_allclose(part.X_test, X[12:] / 255.0, rtol=1e-6)
        assert part.info["n_features"] == 30 and part.info["image_shape"] == [6, 5]


def test_oneclass_needs_an_official_split():
    X = np.random.default_rng(0).integers(0, 255, (40, 4, 4), dtype=np.uint8)
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    with pytest.raises(ValueError, match="oneclass needs an official train/test split"):
        protocols.split(X, y, "oneclass", 1)
    with pytest.raises(ValueError, match="leaves no rows"):
        protocols.split(X, y, "oneclass", 1, n_train=40)


def test_oneclass_with_max_samples_keeps_both_parts(served):
    collection, *_ = served
    spec = _registry(collection).get("tinyidx:b")
    X, y = data.load(spec)
    part = protocols.split(X, y, "oneclass", 3, n_train=spec.n_train, max_samples=8)
    assert len(part.y_train) + len(part.y_test) <= 8 and part.info["max_samples"] == 8
    assert set(_row_ids(part.X_train)) <= set(np.flatnonzero(TRAIN_LABELS == 1))
    assert set(_row_ids(part.X_test)) <= set(range(12, 19)) and set(part.y_test) == {0, 1}


def test_unsupervised_and_novelty_sample_the_anomaly_share_the_same_for_every_seed(served):
    collection, *_ = served
    spec = _registry(collection).get("tinyidx:b")
    X, y = data.load(spec)
    share = 0.25  # 8 normal images of class b -> round(0.25 * 8 / 0.75) = 3 anomalies
    rows = {}
    for protocol in ("unsupervised", "novelty"):
        for seed in (1, 2):
            part = protocols.split(X, y, protocol, seed, n_train=spec.n_train, anomaly_share=share)
            ids = np.r_[_row_ids(part.X_train), _row_ids(part.X_test)]
            assert part.X_train.shape[1:] == (6, 5) and part.X_train.dtype == np.float32
            assert part.info["n_task_rows"] == 11 and part.info["anomaly_share"] == share
            labels = np.r_[TRAIN_LABELS, TEST_LABELS]
            assert (labels[ids] == 1).sum() == 8 or protocol == "novelty"
            if protocol == "unsupervised":
                assert len(ids) == 11 and (labels[ids] != 1).sum() == 3
                rows[seed] = set(ids.tolist())
            else:
                assert (part.y_train == 0).all()
            assert (part.X_train[:, 5, :] == 0).all()  # the constant border is kept
    assert rows[1] == rows[2]  # the task's rows do not depend on the seed


def test_float_images_are_scaled_by_one_global_min_max_of_the_training_part():
    rng = np.random.default_rng(3)
    X = rng.normal(50.0, 10.0, (60, 2, 4, 4))
    X[:, 1] *= 3.0  # a channel with a larger range: per-pixel scaling would undo this
    y = np.r_[np.zeros(50, int), np.ones(10, int)]
    X, y = data.validate(X, y, "floats")
    part = protocols.split(X, y, "unsupervised", 1)
    assert part.X_train.shape[1:] == (2, 4, 4) and part.n_dropped_features == 0
    assert part.X_train.min() == 0.0 and part.X_train.max() == pytest.approx(1.0)
    # the same affine map for every pixel: the ratio of the channels' spreads is kept
    ratio = part.X_train[:, 1].std() / part.X_train[:, 0].std()
    assert ratio == pytest.approx(X[:, 1].std() / X[:, 0].std(), rel=0.2)
    assert "global min-max" in part.info["pixel_scaling"]
    with pytest.raises(ValueError, match="every pixel of the training part has the same value"):
        protocols.split(np.ones((40, 3, 3)), np.r_[np.zeros(30, int), np.ones(10, int)], "unsupervised", 1)


# --- bad image inputs -----------------------------------------------------------------------


def _run_file(path: Path, *extra: str):
    return CliRunner().invoke(
        cli, ["run", "--dataset-file", str(path), "--detectors", "iforest", "--seeds", "1",
              "--store", str(path.parent / "s.sqlite"), *extra])


@pytest.mark.parametrize(
    "case, X, message",
    [
        ("five_d", np.zeros((20, 1, 2, 4, 4)), "is 5-D (shape (20, 1, 2, 4, 4))"),
        ("nan", np.where(np.arange(20 * 16).reshape(20, 4, 4) == 37, np.nan, 1.0), "1 NaN/inf pixel(s) in 1 image(s) (first image index 2)"),
        ("inf", np.where(np.arange(20 * 16).reshape(20, 4, 4) == 70, np.inf, 1.0), "NaN/inf pixel(s)"),
        ("channels_last", np.zeros((20, 8, 8, 3), np.uint8), "looks channels-last"),
        ("empty_images", np.zeros((20, 0, 4)), "X is empty"),
    ],
)
def test_bad_image_files_name_the_file_and_problem(tmp_path, case, X, message):
    y = np.r_[np.zeros(15, int), np.ones(5, int)]
    path = tmp_path / f"bad_{case}.npz"
    np.savez(path, X=X, y=y)
    result = _run_file(path)
    assert result.exit_code != 0
    assert f"file:bad_{case}" in result.output and str(path) in result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def test_ragged_images_are_refused_clearly():
    ragged = [np.zeros((28, 28)), np.zeros((27, 28)), np.zeros((28, 28))]
    with pytest.raises(DatasetError, match=r"dataset 'rag': X is ragged \(samples of different shapes"):
        data.validate(ragged, [0, 1, 0], "rag")
    objects = np.empty(3, dtype=object)
    objects[:] = ragged
    with pytest.raises(DatasetError, match=r"X is ragged .*\(27, 28\)"):
        data.validate(objects, [0, 1, 0], "rag")


def test_image_shape_disagreeing_with_the_metadata(tmp_path):
    X = np.zeros((20, 27, 28), np.uint8)
    y = np.r_[np.zeros(15, int), np.ones(5, int)]
    spec = DatasetSpec(name="imgs:bad", loader=lambda: (X, y), image_shape=(28, 28))
    with pytest.raises(DatasetError, match=r"'imgs:bad': X has samples of shape \[27, 28\] but the dataset "
                                           r"declares image_shape \[28, 28\]"):
        data.load(spec)
    flat = DatasetSpec(name="imgs:flat", loader=lambda: (np.zeros((20, 784), np.uint8), y), image_shape=(28, 28))
    assert data.load(flat)[0].shape == (20, 28, 28)  # a flat file of the declared size is reshaped


def test_registry_file_declares_image_shape_and_official_split(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (30, 6 * 5), dtype=np.uint8)  # stored flat
    y = np.r_[np.zeros(10, int), np.ones(5, int), np.zeros(10, int), np.ones(5, int)]
    np.savez(tmp_path / "imgs.npz", X=X, y=y)
    sha = _sha(tmp_path / "imgs.npz")
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    (registry_dir / "imgs.toml").write_text(
        f'[datasets."test:imgs"]\nurl = "{(tmp_path / "imgs.npz").as_uri()}"\nsha256 = "{sha}"\n'
        "n_samples = 30\nn_features = 30\nn_anomalies = 10\nimage_shape = [6, 5]\nn_train = 15\n")
    (registry_dir / "bad.toml").write_text(
        '[datasets."test:bad"]\nurl = "https://e.org/x.npz"\nverified = false\nimage_shape = [6, "5"]\n')
    with pytest.raises(DatasetError, match=r"bad.toml: key 'datasets.'test:bad'.image_shape' must be \[H, W\]"):
        adbench_registry.read_registry_file(registry_dir / "bad.toml")
    (registry_dir / "bad.toml").unlink()
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))
    registry = DatasetRegistry()
    adbench_registry.register_from(registry_dir, registry)
    spec = registry.get("test:imgs")
    assert spec.image_shape == (6, 5) and spec.n_train == 15
    Xl, yl = data.load(spec)
    assert Xl.shape == (30, 6, 5)
    part = protocols.split(Xl, yl, "oneclass", 1, n_train=spec.n_train)
    assert len(part.y_train) == 10 and len(part.y_test) == 15


# --- one-vs-rest from a labelled file -------------------------------------------------------


@pytest.fixture
def mnist_sample() -> Path:
    if not MNIST_SAMPLE.is_file():
        pytest.skip(f"{MNIST_SAMPLE} is not available here")
    return MNIST_SAMPLE


def test_one_vs_rest_specs_from_the_mnist_sample(mnist_sample):
    with np.load(mnist_sample, allow_pickle=False) as f:
        labels = f["y"]
    specs = images.one_vs_rest_specs(mnist_sample, "all")
    classes = [str(c) for c in np.unique(labels)]
    assert [s.name for s in specs] == [f"file:mnist-test-digits-0-4.{c}" for c in classes]
    for spec, c in zip(specs, np.unique(labels), strict=True):
        n_normal = int((labels == c).sum())
        assert spec.n_samples - spec.n_anomalies == n_normal
        assert spec.n_anomalies == round(0.1 * n_normal / 0.9)
        assert spec.image_shape == (28, 28) and spec.n_features == 784 and spec.source == "file"
        X, y = data.load(spec)
        assert X.shape == (spec.n_samples, 28, 28) and X.dtype == np.uint8
        X2, y2 = data.load(spec)
        np.testing.assert_array_equal(X, X2)  # the same rows every time
    other = images.one_vs_rest_specs(mnist_sample, "3", anomaly_share=0.2)
    assert [s.name for s in other] == ["file:mnist-test-digits-0-4.3-share0.2"]
    assert other[0].sha256 != specs[3].sha256
    with pytest.raises(DatasetError, match=r"no class '7' in its labels; classes: 0, 1, 2, 3, 4"):
        images.one_vs_rest_specs(mnist_sample, "3,7")


def test_cli_one_vs_rest_runs_iforest_on_the_mnist_sample(mnist_sample, tmp_path):
    from bench.store import Store

    store = tmp_path / "ovr.sqlite"
    result = CliRunner().invoke(cli, [
        "run", "--dataset-file", str(mnist_sample), "--one-vs-rest", "0,3", "--anomaly-share", "0.1",
        "-d", "iforest", "--seeds", "1", "--max-samples", "300", "--store", str(store), "-q",
        "--executor", "serial"])
    with Store(str(store)) as db:
        cells = db.query()
    assert sorted(cells["dataset"]) == ["file:mnist-test-digits-0-4.0", "file:mnist-test-digits-0-4.3"]
    assert result.exit_code == 0, result.output
    assert (cells["status"] == "ok").all() and (cells["n_train"] + cells["n_test"] == 300).all()
    assert cells["auroc"].between(0, 1).all()


PROBE = '''
import numpy as np
from bench import hookimpl

class ShapeProbe:
    """Records the shape it is fitted on; scores by distance to the mean image."""
    def __init__(self, random_state=None):
        self.random_state = random_state
    def get_params(self, deep=True):
        return {"random_state": self.random_state}
    def fit(self, X, y=None):
        self.shape_ = X.shape
        assert X.dtype == np.float32 and X.min() >= 0 and X.max() <= 1, (X.dtype, X.min(), X.max())
        self.mu_ = X.reshape(len(X), -1).mean(0)
        return self
    def decision_function(self, X):
        return ((X.reshape(len(X), -1) - self.mu_) ** 2).sum(1)

@hookimpl
def register_detectors(registry):
    registry.add("shape_probe", ShapeProbe, family="test")
'''


def test_cli_one_vs_rest_cells_keep_the_image_shape(mnist_sample, tmp_path):
    from bench.store import Store

    (tmp_path / "plugs").mkdir()
    (tmp_path / "plugs" / "probe.py").write_text(PROBE)
    store = tmp_path / "probe.sqlite"
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(tmp_path / "plugs"), "run", "--dataset-file", str(mnist_sample),
        "--one-vs-rest", "1", "-p", "unsupervised,novelty", "-d", "shape_probe", "--seeds", "1,2",
        "--max-samples", "400", "--store", str(store), "-q", "--executor", "serial"])
    assert result.exit_code == 0, result.output
    with Store(str(store)) as db:
        cells = db.query()
    assert len(cells) == 4 and (cells["status"] == "ok").all()
    assert set(cells["dataset"]) == {"file:mnist-test-digits-0-4.1"}
    # the mean image separates digit 1 from the others well above chance
    assert cells["auroc"].min() > 0.7


def test_cli_one_vs_rest_usage_errors(tmp_path, mnist_sample):
    result = CliRunner().invoke(cli, ["run", "--anomaly-share", "0.2", "--dataset-file", str(mnist_sample),
                                      "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code != 0 and "--anomaly-share needs --one-vs-rest" in result.output
    result = CliRunner().invoke(cli, ["run", "--dataset-file", str(mnist_sample), "--one-vs-rest", "9",
                                      "-d", "iforest", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code != 0 and "no class '9'" in result.output and "Traceback" not in result.output


# --- the embedded image task ----------------------------------------------------------------


def test_default_suite_has_an_image_task_that_needs_no_download():
    specs = {s.name: s for s in default_datasets(plugins.get_datasets())}
    spec = specs["sklearn:digits_images"]
    assert spec.image_shape == (8, 8) and spec.url is None
    X, y = data.load(spec)
    assert X.shape == (198, 8, 8) and int(y.sum()) == spec.n_anomalies == 20
    part = protocols.split(X, y, "unsupervised", 1)
    assert part.X_train.shape[1:] == (8, 8) and part.info["pixel_scaling"] == "global min-max [0, 16]"


# --- ADBench's CV and NLP collections -------------------------------------------------------


def _cv_rows() -> dict[str, dict[str, str]]:
    if not CV_TSV.is_file():
        pytest.skip(f"{CV_TSV} is not available here")
    with open(CV_TSV) as fh:
        rows = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
        return {row["file"]: row for row in rows}


PREFIX = {"CV_by_ResNet18": "adbench_cv_resnet18", "CV_by_ViT": "adbench_cv_vit",
          "NLP_by_BERT": "adbench_nlp_bert", "NLP_by_RoBERTa": "adbench_nlp_roberta"}


@pytest.fixture
def cv_registry(monkeypatch) -> DatasetRegistry:
    monkeypatch.setenv("BENCH_REGISTRY_DIR", str(ROOT / "datasets"))
    registry = DatasetRegistry()
    adbench_registry.register_datasets(registry=registry)
    return registry


def test_every_upstream_cv_nlp_file_is_registered(cv_registry):
    rows = _cv_rows()
    by_file = {spec.filename: spec for spec in cv_registry if spec.source in PREFIX.values()}
    assert set(by_file) == set(rows)
    for filename, row in rows.items():
        spec = by_file[filename]
        folder, name = filename.split("/")
        assert spec.name == f"{PREFIX[folder]}:{name.removesuffix('.npz').lower()}"
        assert spec.url == f"https://github.com/Minqi824/ADBench/raw/main/adbench/datasets/{filename}"
        assert spec.sha256 == (row["sha256"] or None)
        if row["sha256"]:
            assert (spec.n_samples, spec.n_features, spec.n_anomalies) == (
                int(row["n_samples"]), int(row["n_features"]), int(row["n_anomalies"]))
        else:
            assert not spec.verified and spec.n_samples is None  # no shape guessed
        assert "ADBench" in spec.citation and "Original data:" in spec.citation


def test_cv_entries_resolve_to_the_shared_files(cv_registry, monkeypatch):
    files = sorted(CV_DIR.glob("*/*.npz"))
    if not files:
        pytest.skip(f"no ADBench CV/NLP files in {CV_DIR}")
    monkeypatch.setenv("BENCH_DATA_DIR", str(CV_DIR))
    by_file = {spec.filename: spec for spec in cv_registry if spec.filename}
    for path in files:
        spec = by_file[f"{path.parent.name}/{path.name}"]
        assert data.cached_path(spec) == path and data.is_cached(spec)
        if path.stat().st_size < 2_000_000:
            X, y = data.load(spec, download=False)  # checks the sha256 of the cached file
            assert X.shape == (spec.n_samples, spec.n_features) and int(y.sum()) == spec.n_anomalies


def test_cli_runs_a_registered_collection_under_oneclass_and_unsupervised(served, tmp_path):
    """End to end through `bench run`: a collection registered by a plugin, its files fetched
    into the cache by the cell, the official split under oneclass, the anomaly share otherwise."""
    from bench.store import Store

    collection, *_ = served
    plugs = tmp_path / "plugs"
    plugs.mkdir()
    (plugs / "probe.py").write_text(PROBE)
    (plugs / "tiny_collection.py").write_text(
        "from bench import hookimpl\nfrom bench.images import RemoteFile\n"
        "from bench_images import register_collection\nfrom bench_images.catalog import Collection\n"
        f"COLLECTION = {collection!r}\n\n@hookimpl\ndef register_datasets(registry):\n"
        "    register_collection(registry, COLLECTION, anomaly_share=0.25)\n")
    store = tmp_path / "tiny.sqlite"
    result = CliRunner().invoke(cli, [
        "--plugins-dir", str(plugs), "run", "-D", "tinyidx:b", "-p", "oneclass,unsupervised",
        "-d", "shape_probe", "--seeds", "1", "--store", str(store), "-q", "--executor", "serial"])
    with Store(str(store)) as db:
        cells = db.query().set_index("protocol")
    assert result.exit_code == 0, result.output
    # oneclass: the 5 official training images of class b; the whole official test set (7)
    assert (cells.loc["oneclass", "n_train"], cells.loc["oneclass", "n_test"]) == (5, 7)
    # unsupervised: 8 images of b and round(0.25 * 8 / 0.75) = 3 others, split 70/30
    assert (cells.loc["unsupervised", "n_train"], cells.loc["unsupervised", "n_test"]) == (7, 4)


@pytest.mark.parametrize("shape", [(30, 6, 5), (30, 3, 6, 5)])
def test_dataset_file_keeps_the_image_shape(tmp_path, shape):
    X = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    y = np.r_[np.zeros(25, int), np.ones(5, int)]
    np.savez(tmp_path / "imgs.npz", X=X, y=y)
    spec = data.file_spec(tmp_path / "imgs.npz")
    assert spec.image_shape == shape[1:] and spec.n_features == int(np.prod(shape[1:]))
    Xl, yl = data.load(spec)
    assert Xl.shape == shape and Xl.dtype == np.uint8
    part = protocols.split(Xl, yl, "novelty", 1)
    assert part.X_train.shape[1:] == shape[1:] and part.info["pixel_scaling"] == "uint8/255"
