"""Image data: validation, the IDX and CIFAR-10 readers, checked downloads, one-vs-rest tasks.

A dataset's ``X`` may be a table (n, d) or images (n, H, W) or (n, C, H, W) (channels first),
``uint8`` or float. The shape is kept from the loader to the protocol; the protocols scale image
pixels globally (see :mod:`bench.protocols`). This module is public API for dataset plugins
(``plugins/bench_images`` uses nothing else of the core):

- :func:`fetch_file` downloads a file of a collection into the cache (``BENCH_DATA_DIR``),
  trying its mirrors in order and refusing it unless its sha256 matches;
- :func:`read_idx` reads an IDX file (MNIST, Fashion-MNIST), gzipped or not;
- :func:`read_cifar10` reads the CIFAR-10 "python version" archive without extracting it;
- :func:`one_vs_rest` makes one class normal and samples the others as anomalies;
- :func:`one_vs_rest_specs` turns a labelled multi-class file into one task per class
  (``bench run --dataset-file F --one-vs-rest all --anomaly-share 0.1``).

Nothing here imports numpy at module level.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import pickle
import re
import struct
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the array checks live in bench.arrays (bench.data uses them too); re-exported here
from bench.arrays import as_array, validate_images  # noqa: F401
from bench.errors import DatasetError
from bench.registry import DatasetSpec

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: anomaly share of one-vs-rest tasks when none is chosen (Ruff et al. 2018 use the whole test
#: set; ADBench's image collections 5 %; 10 % keeps enough anomalies in a 30 % test part)
DEFAULT_ANOMALY_SHARE = 0.1
#: the fixed seed of every anomaly subsample: a task's rows do not depend on the run's seeds
TASK_SEED = 20181108


# the array checks live in bench.arrays (bench.data uses them too); re-exported here

# --- downloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    """A file of a collection: where to get it (mirrors, in order) and its checksum."""

    filename: str
    urls: tuple[str, ...]
    sha256: str | None
    #: size in bytes as published (checked before the sha256, for a clearer message)
    size: int | None = None


def fetch_file(remote: RemoteFile, folder: str, *, dataset: str, force: bool = False) -> Path:
    """Make sure ``remote`` is in the cache under ``folder/`` and matches its sha256.

    A cached file is checked before use; a download goes to a temporary file that is checked
    and then renamed, so a bad or partial download never sits in the cache. Each mirror is
    tried in turn; the error names every one that failed.
    """
    from bench import data

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", folder) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", remote.filename):
        raise DatasetError(f"dataset {dataset!r}: bad cache path {folder}/{remote.filename}")
    who = f"{dataset} ({remote.filename})"
    relative = f"{folder}/{remote.filename}"
    errors = []
    for url in remote.urls or (None,):
        spec = DatasetSpec(name=who, url=url, sha256=remote.sha256, filename=relative)
        try:
            path = data.fetch(spec, force=force)
        except DatasetError as exc:
            errors.append(str(exc))
            if data.cached_path(spec).is_file():  # type: ignore[union-attr]
                raise  # a cached file with a wrong checksum: never replace it silently
            continue
        if remote.size is not None and path.stat().st_size != remote.size:
            raise DatasetError(
                f"dataset {who!r}: {path} has {path.stat().st_size} bytes, expected "
                f"{remote.size}; refusing to use it (delete the file to download it again)"
            )
        return path
    raise DatasetError("; ".join(errors))


# --- readers -------------------------------------------------------------------------------

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's format of MNIST; ``.gz`` is decompressed).

    Header: two zero bytes, a type code (0x08 unsigned byte ... 0x0E double), the number of
    dimensions, then one big-endian uint32 per dimension; the data follow, big-endian.
    """
    import numpy as np

    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DatasetError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'none'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: IDX header declares shape {list(shape)} ({expected} bytes of data) but "
            f"the file holds {len(raw) - header}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers, bytes and numpy arrays (what a CIFAR batch holds)."""

    _ALLOWED = {
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def read_cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch (a pickled dict with ``data`` (n, 3072) uint8 in R, G, B
    planes of 32x32, and ``labels``) as images (n, 3, 32, 32) uint8 and labels."""
    import numpy as np

    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:
        raise DatasetError(f"{where}: not a CIFAR batch: {type(exc).__name__}: {exc}") from exc
    if not isinstance(batch, dict):
        raise DatasetError(f"{where}: not a CIFAR batch (a {type(batch).__name__}, not a dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DatasetError(f"{where}: CIFAR batch lacks 'data' or 'labels' (has {sorted(batch)})")
    pixels = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{where}: CIFAR batch data is {pixels.dtype} {pixels.shape}, expected uint8 (n, 3072)")
    if labels.shape != (len(pixels),):
        raise DatasetError(f"{where}: CIFAR batch has {len(pixels)} images but {labels.size} labels")
    return pixels.reshape(-1, 3, 32, 32), labels.astype(np.int64)


CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


def read_cifar10(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``cifar-10-python.tar.gz`` in place: ``(X_train, y_train, X_test, y_test)``, the
    images (n, 3, 32, 32) uint8 in the archive's order (batches 1-5, then the test batch)."""
    import numpy as np

    path = Path(path)
    try:
        with tarfile.open(path, "r:*") as archive:
            members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
            parts = []
            for names in (CIFAR10_TRAIN, CIFAR10_TEST):
                missing = [n for n in names if n not in members]
                if missing:
                    raise DatasetError(f"{path}: CIFAR-10 archive lacks {', '.join(missing)}")
                batches = []
                for n in names:
                    handle = archive.extractfile(members[n])
                    assert handle is not None
                    batches.append(read_cifar_batch(handle.read(), f"{path}:{n}"))
                parts.append((np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read the archive: {exc}") from exc
    (X_train, y_train), (X_test, y_test) = parts
    return X_train, y_train, X_test, y_test


# --- one-vs-rest tasks ---------------------------------------------------------------------


def subsample_anomalies(y: Any, share: float, seed: int = TASK_SEED) -> np.ndarray:
    """Indices (sorted) of all normal rows and of anomalies sampled so that they make ``share``
    of the rows (all anomalies when there are fewer). The same ``y`` always gives the same rows."""
    import numpy as np

    if not 0 < share < 1:
        raise DatasetError(f"the anomaly share must be between 0 and 1 (exclusive), got {share}")
    y = np.asarray(y)
    normal = np.flatnonzero(y == 0)
    anomalies = np.flatnonzero(y == 1)
    wanted = max(1, round(share * len(normal) / (1 - share)))
    if wanted < len(anomalies):
        anomalies = np.random.default_rng(seed).choice(anomalies, size=wanted, replace=False)
    return np.sort(np.concatenate([normal, anomalies]))


def one_vs_rest(
    X: Any, labels: Any, normal: Any, *, anomaly_share: float = DEFAULT_ANOMALY_SHARE, seed: int = TASK_SEED
) -> tuple[Any, np.ndarray]:
    """Class ``normal`` is normal (all its rows), the other classes are anomalies, sampled with a
    fixed seed to ``anomaly_share`` of the rows; rows keep their order."""
    import numpy as np

    labels = np.asarray(labels)
    y = (labels != normal).astype(np.int64)
    keep = subsample_anomalies(y, anomaly_share, seed)
    return X[keep], y[keep]


def _label_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", str(value)).strip("_.-") or "class"


def _read_labelled(path: Path, label_column: str, who: str) -> tuple[Any, np.ndarray]:
    import numpy as np

    from bench import data

    X, labels = data.read_file(path, label_column=label_column, name=who)
    labels = np.asarray(labels)
    labels = labels.reshape(-1) if labels.ndim == 2 and 1 in labels.shape else labels
    if labels.ndim != 1 or labels.dtype == object:
        raise DatasetError(f"{who}: {path.name}: class labels must be a 1-D array of numbers or strings")
    if len(labels) != len(X):
        raise DatasetError(f"{who}: {path.name}: X has {len(X)} rows but y has {len(labels)} labels")
    return X, labels


def load_one_vs_rest(path: str, label_column: str, normal_text: str, anomaly_share: float) -> tuple[Any, Any]:
    """The loader of one task made by :func:`one_vs_rest_specs` (picklable with ``partial``)."""
    import numpy as np

    path_ = Path(path)
    X, labels = _read_labelled(path_, label_column, f"file:{path_.stem}")
    texts = np.array([_label_text(v) for v in labels.tolist()])
    matches = np.unique(labels[texts == normal_text])
    if len(matches) != 1:
        raise DatasetError(f"{path}: class {normal_text!r} is not (or no longer) one class of the file")
    return one_vs_rest(X, labels, matches[0], anomaly_share=anomaly_share)


def one_vs_rest_specs(
    path: str | Path,
    classes: str | Iterable[str] = "all",
    *,
    anomaly_share: float = DEFAULT_ANOMALY_SHARE,
    label_column: str = "y",
) -> list[DatasetSpec]:
    """One task per class (``"all"``, or the chosen classes) of a labelled multi-class file.

    Task ``file:<stem>.<class>``: that class's rows are normal, the other classes' rows are
    anomalies, sampled with a fixed seed so that they make ``anomaly_share`` of the task (all of
    them when there are fewer). The share is part of the name when it is not the default 0.1.
    """
    import numpy as np

    from bench import data

    path = Path(path)
    stem = path.stem.lower().replace(" ", "_")
    who = f"file:{stem}"
    if path.suffix.lower() not in data.READERS:
        raise DatasetError(f"{path}: unsupported file type {path.suffix!r} (expected .npz, .csv or .mat)")
    if not 0 < anomaly_share < 1:
        raise DatasetError(f"{path}: the anomaly share must be between 0 and 1 (exclusive), got {anomaly_share}")
    X, labels = _read_labelled(path, label_column, who)
    texts = np.array([_label_text(v) for v in labels.tolist()])
    available = list(dict.fromkeys(texts[np.argsort(labels, kind="stable")].tolist()))
    if len(available) < 2:
        raise DatasetError(f"{path}: one-vs-rest needs at least 2 classes, found {available}")
    if len(np.unique(labels)) != len(available):
        raise DatasetError(f"{path}: two class labels render to the same name; rename them")
    if isinstance(classes, str):
        chosen = available if classes.strip().lower() == "all" else [c.strip() for c in classes.split(",") if c.strip()]
    else:
        chosen = [str(c) for c in classes]
    unknown = [c for c in chosen if c not in available]
    if unknown or not chosen:
        raise DatasetError(
            f"{path}: no class {', '.join(map(repr, unknown)) or '(none chosen)'} in its labels; "
            f"classes: {', '.join(available[:20])}"
        )
    file_sha = data.sha256_file(path)
    suffix = "" if anomaly_share == DEFAULT_ANOMALY_SHARE else f"-share{anomaly_share:g}"
    specs = []
    for text in dict.fromkeys(chosen):
        name = f"{who}.{text}{suffix}"
        loader = partial(load_one_vs_rest, str(path.resolve()), label_column, text, float(anomaly_share))
        X_task, y_task = loader()
        X_task, y_task = data.validate(X_task, y_task, name)
        if int(y_task.sum()) < 2 or int((y_task == 0).sum()) < 2:
            raise DatasetError(f"{path}: task {name} has {int((y_task == 0).sum())} normal row(s) and "
                               f"{int(y_task.sum())} anomalies; need at least 2 of each")
        version = hashlib.sha256(
            f"one-vs-rest|{file_sha}|{label_column}|{text}|{anomaly_share!r}|{TASK_SEED}".encode()
        ).hexdigest()
        image_shape = tuple(int(v) for v in X_task.shape[1:]) if X_task.ndim > 2 else None
        specs.append(DatasetSpec(
            name=name,
            loader=loader,
            source="file",
            sha256=version,
            n_samples=int(len(y_task)),
            n_features=int(math.prod(X_task.shape[1:])),
            n_anomalies=int(y_task.sum()),
            description=(
                f"user file {path}, one-vs-rest: class {text} normal, the other classes "
                f"anomalies sampled (fixed seed {TASK_SEED}) to {anomaly_share:g} of the rows"
            ),
            plugin="--dataset-file",
            image_shape=image_shape,
        ))
    return specs
