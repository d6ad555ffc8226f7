"""Loading, validating, caching and checksumming datasets.

Every dataset, whatever its source, goes through :func:`load` and so through
:func:`validate`: numeric finite ``X`` (2-D, non-empty), binary ``y`` in {0, 1} with both
classes, equal lengths. Downloaded files live in the cache directory (``BENCH_DATA_DIR``, default
the user's cache dir) under their upstream file name, are checked against their sha256 before
use, and ``.npz`` files load with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import DatasetError
from bench.registry import DatasetSpec, resolve_object

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

def data_dir() -> Path:
    """The download cache: ``BENCH_DATA_DIR`` or the user's cache directory."""
    env = os.environ.get("BENCH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("anomaly-bench")) / "datasets"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(spec: DatasetSpec) -> Path | None:
    """Where a downloadable dataset's file is (or would be) in the cache; None for others."""
    if spec.path:
        return Path(spec.path)
    if spec.filename:
        return data_dir() / spec.filename
    return None


def is_cached(spec: DatasetSpec) -> bool | None:
    """True/False for file-backed datasets, None for embedded (generated or bundled) ones."""
    path = cached_path(spec)
    return None if path is None else path.is_file()


def fetch(spec: DatasetSpec, *, force: bool = False) -> Path:
    """Make sure the dataset's file is in the cache, downloading it if needed; return its path."""
    path = cached_path(spec)
    if path is None:
        raise DatasetError(f"dataset {spec.name!r} is embedded and has nothing to download")
    if spec.path:
        if not path.is_file():
            raise DatasetError(f"dataset file {path} does not exist")
        _check_sha(spec, path)
        return path
    if path.is_file() and not force:
        _check_sha(spec, path)
        return path
    if not spec.url:
        raise DatasetError(f"dataset {spec.name!r} has no url and {path} is not in the cache")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(spec.url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        _check_sha(spec, tmp)
        os.replace(tmp, path)
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"could not download dataset {spec.name!r} from {spec.url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_sha(spec: DatasetSpec, path: Path) -> None:
    if spec.sha256 is None:
        return
    actual = sha256_file(path)
    if actual != spec.sha256 and spec.path:
        raise DatasetError(
            f"dataset {spec.name!r}: {path} changed since it was chosen (sha256 {spec.sha256[:12]}..., "
            f"now {actual[:12]}...); run again to use the new content"
        )
    if actual != spec.sha256:
        raise DatasetError(
            f"dataset {spec.name!r}: checksum mismatch for {path}: expected sha256 {spec.sha256}, "
            f"got {actual}; refusing to use it (delete the file to download it again)"
        )


def read_file(path: str | Path, *, label_column: str = "y", name: str | None = None) -> tuple[Any, Any]:
    """Read ``X, y`` from a data file; the reader is chosen by suffix (:data:`READERS`).

    ``.npz``: arrays ``X`` and ``label_column`` (default ``y``); ``.csv``: a header row, the
    label column ``label_column`` and numeric feature columns; ``.mat``: variables ``X`` and
    ``label_column``. Every problem is a :class:`DatasetError` naming the dataset and the file.
    """
    path = Path(path)
    who = name or str(path)
    if not path.is_file():
        raise DatasetError(f"{who}: file {path} does not exist")
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise DatasetError(f"{who}: unsupported file type {suffix!r} (expected {_suffixes()})")
    try:
        return reader(path, who, label_column)
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{who}: cannot read {path.name}: {type(exc).__name__}: {exc}") from exc


def _suffixes() -> str:
    names = sorted(READERS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def _missing_arrays(who: str, path: Path, found: Any, label_column: str, kind: str) -> None:
    missing = [key for key in ("X", label_column) if key not in found]
    if missing:
        hint = " (choose the label array with --label-column)" if label_column in missing else ""
        raise DatasetError(
            f"{who}: {path.name} lacks {kind}(s) {missing} (has {sorted(found)}){hint}"
        )


def _read_npz(path: Path, who: str, label_column: str) -> tuple[Any, Any]:
    import zipfile

    import numpy as np

    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        raise DatasetError(
            f"{who}: {path.name} is a single .npy array, not a .npz archive; save X and y "
            f"together with numpy.savez({path.name!r}, X=X, y=y)"
        )
    if not zipfile.is_zipfile(path):
        raise DatasetError(
            f"{who}: {path.name} is not a valid .npz file (not a zip archive of arrays; "
            "save one with numpy.savez(path, X=X, y=y))"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            _missing_arrays(who, path, archive.files, label_column, "array")
            return archive["X"], archive[label_column]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DatasetError(
                f"{who}: {path.name} contains pickled objects, which are refused "
                "(store X and y as plain numeric arrays)"
            ) from exc
        raise


def _read_csv(path: Path, who: str, label_column: str) -> tuple[Any, Any]:
    import csv
    import difflib
    from collections import Counter

    import pandas as pd

    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise DatasetError(f"{who}: {path.name} is empty (expected a header row and data rows)")
    # pandas renames a repeated name ("y", "y" -> "y", "y.1"): a label could leak into X
    repeated = [name for name, count in Counter(header).items() if count > 1]
    if repeated:
        raise DatasetError(
            f"{who}: {path.name} has duplicate column name(s) "
            f"{', '.join(repr(n) for n in repeated)}; every column needs its own name"
        )
    frame = pd.read_csv(path)
    if label_column not in frame.columns:
        close = difflib.get_close_matches(label_column, [str(c) for c in frame.columns], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DatasetError(
            f"{who}: {path.name} has no label column {label_column!r}{hint} "
            f"(columns: {', '.join(map(str, frame.columns[:10]))}); use --label-column"
        )
    if len(frame) == 0:
        raise DatasetError(f"{who}: {path.name} has a header but no rows")
    y = frame.pop(label_column).to_numpy()
    bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DatasetError(f"{who}: non-numeric feature column(s) {', '.join(bad[:5])}")
    if any(pd.api.types.is_complex_dtype(frame[c]) for c in frame.columns):
        raise DatasetError(f"{who}: {path.name} has complex-valued feature columns")
    return frame.to_numpy(dtype=float), y


def _read_mat(path: Path, who: str, label_column: str) -> tuple[Any, Any]:
    import numpy as np
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        raise DatasetError(f"{who}: {path.name} is a MATLAB v7.3 (HDF5) file; save it with -v7") from None
    _missing_arrays(who, path, [k for k in mat if not k.startswith("__")], label_column, "variable")
    return mat["X"], np.ravel(mat[label_column])


#: one reader per file suffix: ``reader(path, who, label_column) -> (X, y)``
READERS: dict[str, Callable[[Path, str, str], tuple[Any, Any]]] = {
    ".npz": _read_npz,
    ".csv": _read_csv,
    ".mat": _read_mat,
}


def validate(
    X: Any, y: Any, name: str, *, image_shape: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check a dataset and return ``X`` as float64 (n, d) and ``y`` as int8 in {0, 1}.

    Images ((n, H, W), (n, C, H, W), or any X when ``image_shape`` is given) are checked by
    :func:`bench.arrays.validate_images` and keep their shape and dtype.
    """
    import numpy as np

    from bench import arrays

    X = arrays.as_array(X, name)
    if X.ndim > 2 or image_shape is not None:
        X = arrays.validate_images(X, name, image_shape)
        _, y = validate(np.zeros((len(X), 1)), y, name)  # the label checks
        return X, y
    y = np.asarray(y)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise DatasetError(f"dataset {name!r}: X is not numeric (dtype {X.dtype})")
    if np.iscomplexobj(X):
        raise DatasetError(f"dataset {name!r}: X is complex (dtype {X.dtype}); detectors take real "
                           "numbers (split real and imaginary parts into columns if both matter)")
    if X.ndim != 2:
        raise DatasetError(f"dataset {name!r}: X must be 2-D, got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DatasetError(f"dataset {name!r}: X is empty (shape {X.shape})")
    y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise DatasetError(f"dataset {name!r}: y must be 1-D, got shape {y.shape}")
    if len(y) != X.shape[0]:
        raise DatasetError(f"dataset {name!r}: X has {X.shape[0]} rows but y has {len(y)} labels")
    X = X.astype(np.float64, copy=False)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DatasetError(
            f"dataset {name!r}: X has {int(bad.sum())} NaN/inf value(s) in {len(rows)} row(s) "
            f"(first row index {int(rows[0])})"
        )
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise DatasetError(f"dataset {name!r}: labels are not numeric 0/1 (dtype {y.dtype})")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        shown = sorted(values - {0, 1})[:5]
        raise DatasetError(f"dataset {name!r}: labels must be 0 (normal) or 1 (anomaly), found {shown}")
    if len(values) < 2:
        only = "anomalies" if values == {1} else "normal rows"
        raise DatasetError(f"dataset {name!r}: y has only one class ({only}); need both")
    return X, y.astype(np.int8)


def load(spec: DatasetSpec, *, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate a registered dataset (fetching its file into the cache if needed)."""
    if spec.loader is not None:
        loader = resolve_object(spec.loader) if isinstance(spec.loader, str) else spec.loader
        try:
            X, y = loader()
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"dataset {spec.name!r}: loader failed: {type(exc).__name__}: {exc}") from exc
    else:
        path = cached_path(spec)
        assert path is not None
        if not path.is_file() and not download:
            raise DatasetError(f"dataset {spec.name!r} is not in the cache ({path}); run 'bench datasets fetch {spec.name}'")
        path = fetch(spec)
        X, y = read_file(path, name=spec.name, **dict(spec.options))
    X, y = validate(X, y, spec.name, image_shape=spec.image_shape)
    check_registered(spec, X, y)
    return X, y


def check_registered(spec: DatasetSpec, X: Any, y: Any) -> None:
    """Refuse data whose shape or class counts differ from what the registry entry declares.

    ``n_samples`` (rows), ``n_features`` (values per row: the product of the sample shape) and
    ``n_anomalies`` (rows labelled 1) are compared where the entry gives them, so that a file of
    another dataset (or a truncated one) never runs under this dataset's name.
    """
    import numpy as np

    declared = {"n_samples": spec.n_samples, "n_features": spec.n_features,
                "n_anomalies": spec.n_anomalies}
    found = {"n_samples": int(X.shape[0]), "n_features": int(np.prod(X.shape[1:])),
             "n_anomalies": int(np.sum(y))}
    wrong = [f"{key} {found[key]} (registered {value})" for key, value in declared.items()
             if value is not None and found[key] != value]
    if wrong:
        where = cached_path(spec) or (spec.loader if isinstance(spec.loader, str) else "its loader")
        raise DatasetError(
            f"dataset {spec.name!r}: {where} does not match its registry entry: "
            f"{', '.join(wrong)}; it is not this dataset (fix the file or the entry)"
        )


def fingerprint(spec: DatasetSpec, X: Any = None, y: Any = None) -> str:
    """The dataset's version in a cell key: the file's sha256, else a hash of the arrays."""
    path = cached_path(spec)
    if spec.sha256:
        return spec.sha256
    if path is not None and path.is_file():
        return sha256_file(path)
    if X is None:
        X, y = load(spec)
    import numpy as np

    digest = hashlib.sha256()
    digest.update(str(X.shape).encode())
    digest.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.int8).tobytes())
    return digest.hexdigest()


def file_spec(path: str | Path, *, label_column: str = "y") -> DatasetSpec:
    """A dataset spec for a user's own file (``--dataset-file``), named ``file:<stem>``.

    The spec carries the file's sha256: the cell key holds it, and a worker refuses the file if
    its content changed after planning. For several files use :func:`file_specs`, which keeps
    the names unique.
    """
    path = Path(path)
    if path.suffix.lower() not in READERS:
        raise DatasetError(f"{path}: unsupported file type {path.suffix!r} (expected {_suffixes()})")
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist")
    stem = path.stem.lower().replace(" ", "_")
    spec = DatasetSpec(
        name=f"file:{stem}",
        source="file",
        path=str(path.resolve()),
        filename=path.name,
        sha256=sha256_file(path),
        description=f"user file {path}",
        plugin="--dataset-file",
        options={"label_column": label_column},
    )
    X, y = read_file(path, label_column=label_column, name=spec.name)
    try:
        X, y = validate(X, y, spec.name)
    except DatasetError as exc:  # name the file: a user's file has no registry entry
        raise DatasetError(f"{exc} (file {path})") from None
    image_shape = tuple(int(v) for v in X.shape[1:]) if X.ndim > 2 else None
    return replace(spec, n_samples=int(X.shape[0]), n_features=int(X.size // X.shape[0]),
                   n_anomalies=int(y.sum()), image_shape=image_shape)


def file_specs(paths: Iterable[str | Path], *, label_column: str = "y") -> list[DatasetSpec]:
    """Specs for several user files, with names that never collide.

    A file is named ``file:<stem>``. Files whose stems collide but whose contents differ are
    all named ``file:<stem>-<first 10 hex digits of their sha256>``, whatever their order on the
    command line (``a/data.csv`` and ``b/data.csv`` become ``file:data-3f2a...`` and
    ``file:data-9c41...``). The same content given twice is one dataset.
    """
    specs: list[DatasetSpec] = []
    for path in paths:
        spec = file_spec(path, label_column=label_column)
        if all(spec.sha256 != other.sha256 for other in specs):
            specs.append(spec)
    stems: dict[str, int] = {}
    for spec in specs:
        stems[spec.name] = stems.get(spec.name, 0) + 1
    return [replace(spec, name=f"{spec.name}-{spec.sha256[:10]}") if stems[spec.name] > 1 else spec
            for spec in specs]
