"""Default plugin: register the datasets listed in the registry directory's ``*.toml`` files.

A registry file has an optional ``[collection]`` table of defaults and one
``[datasets."<name>"]`` table per dataset::

    schema_version = 1

    [collection]
    source = "adbench"
    license = "..."
    citation = "..."
    tags = ["download"]

    [datasets."adbench:cardio"]
    filename = "6_cardio.npz"
    url = "https://.../6_cardio.npz"
    sha256 = "<64 hex digits>"       # or `verified = false` when no checksum is known
    n_samples = 1831
    n_features = 21
    n_anomalies = 176
    origin = "UCI Cardiotocography, via ODDS"   # appended to the collection's citation

An entry with ``verified = false`` may leave out its shape (n_samples, n_features, n_anomalies)
when it is unknown; ``filename`` may be ``folder/name`` (the cache keeps upstream sub-folders,
as ADBench's ``CV_by_ViT/``); images declare ``image_shape = [H, W]`` or ``[C, H, W]``, and an
official train/test split ``n_train`` (rows [0:n_train] are its training part).

Two registries are read, the second adding to the first:

1. the built-in registry: the project's ``datasets/*.toml``, shipped inside the package as
   ``bench/registry_data`` (found through the import system, so a wheel registers the same
   datasets as a checkout); in a checkout whose link is missing, ``datasets/`` beside ``bench/``;
2. the user's registry, only where the user points: ``--registry-dir`` or ``$BENCH_REGISTRY_DIR``
   (the CLI's option sets the variable). A name registered twice is an error naming the file.

A ``datasets/`` folder in the current directory is never read on its own (it may be anything).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError, DatasetError, DuplicateNameError
from bench.hookspecs import hookimpl
from bench.registry import DatasetRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib

ENV_VAR = "BENCH_REGISTRY_DIR"
SCHEMA_VERSION = 1

_TOP_KEYS = {"schema_version", "collection", "datasets"}
#: keys a [collection] table may set: defaults for every entry, plus descriptive ones
_COLLECTION_KEYS = {"source", "license", "citation", "tags", "homepage", "description"}
_REQUIRED = ("url", "n_samples", "n_features", "n_anomalies")
_STR_KEYS = {"url", "filename", "sha256", "source", "license", "citation", "origin", "description"}
_INT_KEYS = {"n_samples", "n_features", "n_anomalies", "n_train"}
_ENTRY_KEYS = _STR_KEYS | _INT_KEYS | {"tags", "verified", "image_shape"}
_DEFAULT_TAGS = ("download",)


def builtin_registry_dir() -> Path | None:
    """The folder of the built-in registry files (package data), or None when there is none."""
    import importlib.util

    try:  # bench.registry_data is a namespace package of data files: find it without importing
        found = importlib.util.find_spec("bench.registry_data")
    except (ImportError, ValueError):
        found = None
    for location in (found.submodule_search_locations or []) if found is not None else []:
        if any(Path(location).glob("*.toml")):
            return Path(location)
    import bench

    checkout = Path(bench.__file__).resolve().parent.parent / "datasets"
    return checkout if checkout.is_dir() else None


def user_registry_dir() -> Path | None:
    """The user's registry folder (``--registry-dir`` / ``$BENCH_REGISTRY_DIR``), or None."""
    env = os.environ.get(ENV_VAR)
    if not env:
        return None
    path = Path(env).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{ENV_VAR}={env}: not a directory")
    return path


def registry_dirs() -> list[Path]:
    """The registry folders read, built-in first; a user folder that is the built-in one counts once."""
    found: list[Path] = []
    for directory in (builtin_registry_dir(), user_registry_dir()):
        if directory is not None and directory.resolve() not in {d.resolve() for d in found}:
            found.append(directory)
    return found


def registry_files(directory: Path | None = None) -> list[Path]:
    """The registry files of ``directory`` (default: every registry folder), sorted by name."""
    directories = registry_dirs() if directory is None else [directory]
    return [path for d in directories for path in sorted(d.glob("*.toml"))]


def read_registry_file(path: Path) -> list[dict[str, Any]]:
    """Parse and validate one registry file into keyword arguments for ``registry.add``.

    Raises :class:`DatasetError` naming the file and the offending key.
    """
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DatasetError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc

    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise DatasetError(f"{path}: unknown top-level key {unknown[0]!r}")
    version = document.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: key 'schema_version' is {version!r}; this version of bench reads "
            f"{SCHEMA_VERSION}"
        )
    collection = document.get("collection", {})
    if not isinstance(collection, Mapping):
        raise DatasetError(f"{path}: key 'collection' must be a table")
    for key, value in collection.items():
        if key not in _COLLECTION_KEYS:
            raise DatasetError(f"{path}: unknown key 'collection.{key}'")
        _check_type(path, f"collection.{key}", key, value)
    datasets = document.get("datasets", {})
    if not isinstance(datasets, Mapping):
        raise DatasetError(f"{path}: key 'datasets' must be a table of tables")
    return [_entry(path, name, table, collection) for name, table in datasets.items()]


def _check_type(path: Path, where: str, key: str, value: Any) -> None:
    if key in _INT_KEYS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DatasetError(f"{path}: key '{where}' must be a non-negative integer, got {value!r}")
    elif key == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise DatasetError(f"{path}: key '{where}' must be a list of strings, got {value!r}")
    elif key == "image_shape":  # (H, W) or (C, H, W) of one sample
        if not isinstance(value, list) or len(value) not in (2, 3) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise DatasetError(f"{path}: key '{where}' must be [H, W] or [C, H, W], got {value!r}")
    elif key == "verified":
        if not isinstance(value, bool):
            raise DatasetError(f"{path}: key '{where}' must be true or false, got {value!r}")
    elif not isinstance(value, str):
        raise DatasetError(f"{path}: key '{where}' must be a string, got {value!r}")


def _entry(path: Path, name: str, table: Any, collection: Mapping[str, Any]) -> dict[str, Any]:
    where = f"datasets.{name!r}"
    if not isinstance(table, Mapping):
        raise DatasetError(f"{path}: key '{where}' must be a table")
    for key, value in table.items():
        if key not in _ENTRY_KEYS:
            raise DatasetError(f"{path}: unknown key '{where}.{key}'")
        _check_type(path, f"{where}.{key}", key, value)
    for key in _REQUIRED:  # an unverified file's shape may be unknown too (ADBench CV/NLP)
        if key not in table and (table.get("verified", True) or key == "url"):
            raise DatasetError(f"{path}: missing key '{where}.{key}'")

    sha256 = table.get("sha256")
    verified = table.get("verified", True)
    if verified and sha256 is None:
        raise DatasetError(f"{path}: missing key '{where}.sha256' (or set verified = false)")
    if not verified and sha256 is not None:
        raise DatasetError(f"{path}: key '{where}.verified' is false but a sha256 is given")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise DatasetError(f"{path}: key '{where}.sha256' is not 64 lowercase hex digits")
    if "n_samples" in table and table.get("n_anomalies", 0) > table["n_samples"]:
        raise DatasetError(f"{path}: key '{where}.n_anomalies' exceeds n_samples")
    url = table["url"]
    if not re.match(r"^(https?|file)://", url):
        raise DatasetError(f"{path}: key '{where}.url' is not an http(s) or file URL: {url!r}")
    filename = table.get("filename") or url.rstrip("/").rsplit("/", 1)[-1]
    # a plain file name, or folder/name (the upstream sub-folder, as ADBench's CV_by_ViT/)
    if "\\" in filename or any(part in {"", ".", ".."} for part in filename.split("/")):
        raise DatasetError(f"{path}: key '{where}.filename' must be a plain file name or a relative path")

    citation = table.get("citation", collection.get("citation", ""))
    origin = table.get("origin")
    if origin:
        citation = f"{citation} Original data: {origin}.".strip()
    return {
        "name": name,
        "url": url,
        "sha256": sha256,
        "filename": filename,
        "n_samples": table.get("n_samples"),
        "n_features": table.get("n_features"),
        "n_anomalies": table.get("n_anomalies"),
        "n_train": table.get("n_train"),
        "image_shape": table.get("image_shape"),
        "source": table.get("source", collection.get("source", "")),
        "license": table.get("license", collection.get("license", "")),
        "citation": citation,
        "description": table.get("description", ""),
        "tags": tuple(table.get("tags", collection.get("tags", _DEFAULT_TAGS))),
    }


def register_from(directory: Path | None, registry: DatasetRegistry) -> int:
    """Register every dataset of every registry file in ``directory``; return how many."""
    count = 0
    for path in registry_files(directory) if directory is not None else []:
        for entry in read_registry_file(path):
            name = entry.pop("name")
            try:
                registry.add(name, **entry)
            except DuplicateNameError as exc:
                raise DuplicateNameError(f"{path}: {exc}") from exc
            except DatasetError:
                raise
            except BenchError as exc:
                raise DatasetError(f"{path}: key 'datasets.{name!r}': {exc}") from exc
            count += 1
    return count


@hookimpl
def register_datasets(registry: DatasetRegistry) -> None:
    """Register the built-in registry's datasets, then the user's (see the module docstring)."""
    for directory in registry_dirs():
        register_from(directory, registry)
