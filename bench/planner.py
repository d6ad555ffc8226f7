"""Plan a run: the cells of detectors x datasets x protocols x seeds, and each cell's key.

A cell's key covers everything its numbers depend on: the detector's name, its *effective*
parameters (every constructor parameter, defaults included, read from the built detector's
``get_params()`` or its signature), what implements it (:func:`implementation_hash`: the source
files of the package that defines the detector, and of each package its class inherits from, with
their distributions' versions; of the core package ``bench``, only the module of the base class,
so an edit to the CLI or the store keys nothing anew), the dataset and its sha256, the protocol,
the seed and ``max_samples``. So a change of a detector's code or of a default, in any plugin,
with or without a version bump, gives new keys: the cells run again, and the old ones stay in
the store, superseded in the tables (``bench prune`` removes them).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import inspect
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.errors import BenchError
from bench.registry import DatasetSpec, DetectorSpec, display_name, params_hash

#: seeds are numpy RandomState seeds: 0 .. 2**32 - 1
MAX_SEED = 2**32 - 1
#: more seeds than this in one run is a typo (``-s 1-100000000``), refused before planning
MAX_SEEDS = 10_000


@dataclass(frozen=True)
class Cell:
    """One unit of work, described so that it can travel to another process or machine."""

    detector: str  # display label, e.g. "vae[score=iwae]"
    dataset: str
    protocol: str
    seed: int
    detector_name: str = ""
    #: parameters given on top of the registered ones (the worker rebuilds the spec with them)
    overrides: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: every constructor parameter, defaults included (recorded; hashed into the key)
    params: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    params_hash: str = ""
    code_hash: str = ""
    plugin_version: str = ""
    dataset_sha256: str = ""
    max_samples: int | None = None
    family: str = ""
    plugin: str = ""
    #: set for datasets that are not in the registry (user files, in-memory arrays)
    dataset_spec: DatasetSpec | None = field(default=None, hash=False, compare=False)
    #: a detector that is not in the registry (an object): its spec, cloudpickled
    detector_blob: bytes | None = field(default=None, hash=False, compare=False, repr=False)

    @property
    def key(self) -> str:
        parts = [self.detector_name or self.detector, self.params_hash, self.code_hash,
                 self.plugin_version, self.dataset, self.dataset_sha256, self.protocol, self.seed,
                 self.max_samples]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


# -- what implements a detector ------------------------------------------------------------------


@cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


@cache
def _package_hash(top: str, module_file: str | None) -> str:
    """sha256 of a top-level package's source files and its distribution's version.

    For a package: every ``.py`` file under its folder (path and bytes). For a module that is not
    in a package folder (a ``--plugins-dir`` file, a single-file module): that file.
    """
    digest = hashlib.sha256()
    package = sys.modules.get(top)
    folder = None
    if package is not None and getattr(package, "__path__", None) and getattr(package, "__file__", None):
        folder = Path(package.__file__).parent  # type: ignore[arg-type]
    if folder is not None:
        for path in sorted(folder.rglob("*.py")):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    elif module_file and Path(module_file).is_file():
        digest.update(Path(module_file).read_bytes())
    for dist in sorted(_distributions().get(top, [])):
        try:
            digest.update(f"{dist}=={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            pass
    return digest.hexdigest()


def _module_part(module: ModuleType | None, obj: Any) -> str:
    name = getattr(module, "__name__", "") or ""
    file = getattr(module, "__file__", None)
    if module is None or name == "__main__" or not file:
        # defined in a notebook or script: its own source (or its name when none can be found)
        try:
            return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()
        except (OSError, TypeError):
            return f"{name}:{getattr(obj, '__qualname__', repr(obj))}"
    top = name.split(".")[0]
    if top == "bench_local_plugins":  # a --plugins-dir file: that file alone
        return _package_hash(name, file)
    if top == "bench":
        # a base class of the core (bench.detector.BaseDetector): that module's source alone.
        # The rest of the core (CLI, store, report) does not implement any detector, and a
        # detector that subclasses the core's base must not be keyed differently from one that
        # does not each time the core changes.
        return hashlib.sha256(Path(file).read_bytes()).hexdigest()
    return _package_hash(top, file)


def implementation_hash(factory: Any) -> str:
    """A hash of what implements ``factory`` (a class, a function or an instance)."""
    target = factory if inspect.isclass(factory) or inspect.isfunction(factory) else type(factory)
    parts = []
    chain = inspect.getmro(target) if inspect.isclass(target) else (target,)
    seen: set[str] = set()
    for item in chain:
        module = sys.modules.get(getattr(item, "__module__", "") or "")
        if getattr(item, "__module__", "") == "builtins":
            continue
        part = _module_part(module, item)
        if part not in seen:
            seen.add(part)
            parts.append(part)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _stable(value: Any) -> Any:
    """A parameter value as hashable, deterministic JSON (no memory addresses)."""
    try:
        json.dumps(value, sort_keys=True)
        return value
    except (TypeError, ValueError):
        pass
    if isinstance(value, list | tuple):
        return [_stable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in value.items()}
    text = repr(value)
    if " at 0x" in text or text.startswith("<"):
        kind = type(value)
        text = f"<{kind.__module__}.{kind.__qualname__}>"
        if hasattr(value, "get_params"):
            try:
                text += json.dumps(_stable(value.get_params(deep=False)), sort_keys=True)
            except Exception:
                pass
    return text


def effective_params(detector: Any) -> dict[str, Any]:
    """Every constructor parameter of a built detector, defaults included (``random_state`` left
    out: the seed is part of the key on its own)."""
    params: dict[str, Any] | None = None
    if hasattr(detector, "get_params"):
        try:
            params = dict(detector.get_params(deep=False))
        except TypeError:
            params = dict(detector.get_params())
        except Exception:
            params = None
    if params is None:
        try:
            names = [p.name for p in inspect.signature(type(detector)).parameters.values()
                     if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        except (TypeError, ValueError):
            names = []
        params = {n: getattr(detector, n) for n in names if hasattr(detector, n)}
    params.pop("random_state", None)
    return {k: _stable(v) for k, v in sorted(params.items())}


@dataclass(frozen=True)
class Described:
    """What the key needs to know about one detector spec."""

    spec: DetectorSpec
    params: dict[str, Any]
    params_hash: str
    code_hash: str
    blob: bytes | None = None


def describe(spec: DetectorSpec) -> Described:
    """Build the detector once to read its effective parameters; hash what implements it."""
    factory = spec.resolve()
    detector = spec.build(random_state=None)
    params = effective_params(detector)
    impl = implementation_hash(factory.prototype if isinstance(factory, Prototype) else factory)
    blob = None
    if isinstance(factory, Prototype):
        import cloudpickle

        blob = cloudpickle.dumps(spec)
    return Described(spec, params, params_hash(params), impl, blob)


# -- detectors and datasets that are not in a registry -------------------------------------------


class Prototype:
    """The factory of a detector given as an object: a fresh copy per cell, seeded by the cell."""

    def __init__(self, prototype: Any) -> None:
        self.prototype = prototype

    def __call__(self, random_state: int | None = None) -> Any:
        detector = copy.deepcopy(self.prototype)
        if random_state is not None and hasattr(detector, "get_params") and hasattr(detector, "set_params"):
            try:
                if "random_state" in detector.get_params(deep=False):
                    detector.set_params(random_state=random_state)
            except Exception:
                pass
        elif random_state is not None and hasattr(detector, "random_state"):
            detector.random_state = random_state
        return detector


def object_spec(detector: Any, name: str | None = None, *, family: str = "object",
                tags: Iterable[str] = ()) -> DetectorSpec:
    """A detector spec for an object with ``fit`` and ``decision_function`` (not registered)."""
    for method in ("fit", "decision_function"):
        if not callable(getattr(detector, method, None)):
            raise BenchError(f"{detector!r} is not a detector: it has no {method}() method "
                             "(pass a registered name or an object with fit and decision_function)")
    kind = type(detector)
    label = name
    if label is None:
        label = kind.__name__
        try:  # parameters that differ from the class's defaults name the variant
            defaults = {p.name: p.default for p in inspect.signature(kind).parameters.values()
                        if p.default is not p.empty}
            changed = {k: v for k, v in effective_params(detector).items()
                       if k in defaults and _stable(defaults[k]) != v}
            label = display_name(kind.__name__, changed)
        except (TypeError, ValueError):
            pass
    return DetectorSpec(name=label, factory=Prototype(detector), family=family, tags=tuple(tags),
                        plugin=f"{kind.__module__}", description=f"object {kind.__qualname__}")


class Arrays:
    """The loader of an in-memory dataset: returns the arrays it was given."""

    def __init__(self, X: Any, y: Any) -> None:
        self.X, self.y = X, y

    def __call__(self) -> tuple[Any, Any]:
        return self.X, self.y


def arrays_spec(name: str, X: Any, y: Any) -> DatasetSpec:
    import numpy as np

    if not isinstance(name, str) or not name:
        raise BenchError(f"an in-memory dataset is (name, X, y) with a name, got {name!r}")
    X, y = np.asarray(X), np.asarray(y)
    return DatasetSpec(name=name, loader=Arrays(X, y), source="memory",
                       n_samples=int(len(X)), description="in-memory arrays", plugin="bench.run",
                       n_features=int(np.prod(X.shape[1:])) if X.ndim > 1 else None)


# -- checks and the plan -------------------------------------------------------------------------


def check_seeds(seeds: Iterable[Any]) -> list[int]:
    """Integers in 0 .. 2**32-1, at most :data:`MAX_SEEDS` of them, duplicates dropped."""
    out: list[int] = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            try:
                if float(seed) != int(seed):
                    raise ValueError
                seed = int(seed)
            except (TypeError, ValueError):
                raise BenchError(f"seed {seed!r} is not an integer") from None
        if not 0 <= seed <= MAX_SEED:
            raise BenchError(f"seed {seed} is out of range: seeds are integers from 0 to {MAX_SEED}")
        out.append(int(seed))
        if len(out) > MAX_SEEDS:
            raise BenchError(f"more than {MAX_SEEDS} seeds: that is not a run you want "
                             "(seeds like 1,2,3 or 1-10)")
    return list(dict.fromkeys(out))


def plan(
    detectors: Iterable[DetectorSpec | Described],
    datasets: Iterable[tuple[DatasetSpec, str]],
    protocols: Iterable[str],
    seeds: Iterable[int],
    *,
    max_samples: int | None = None,
    registered: Callable[[DatasetSpec], bool] | None = None,
) -> list[Cell]:
    """Every combination, datasets outermost so a worker reuses the dataset it loaded.

    ``registered(spec)`` says whether a worker finds the dataset in its registry by name; the
    others (files, arrays) travel with their cells. By default: those with source file/memory.
    """
    described = [d if isinstance(d, Described) else describe(d) for d in detectors]
    protocols = list(protocols)
    seeds = check_seeds(seeds)
    if registered is None:
        def registered(spec: DatasetSpec) -> bool:
            return spec.source not in ("file", "memory")
    cells = []
    for dataset, sha in datasets:
        travels = None if registered(dataset) else dataset
        for protocol in protocols:
            for seed in seeds:
                for d in described:
                    spec = d.spec
                    cells.append(
                        Cell(
                            detector=spec.label,
                            dataset=dataset.name,
                            protocol=protocol,
                            seed=int(seed),
                            detector_name=spec.name,
                            overrides=dict(spec.overrides),
                            params=d.params,
                            params_hash=d.params_hash,
                            code_hash=d.code_hash,
                            plugin_version=spec.plugin_version,
                            dataset_sha256=sha,
                            max_samples=max_samples,
                            family=spec.family,
                            plugin=spec.plugin,
                            dataset_spec=travels,
                            detector_blob=d.blob,
                        )
                    )
    return cells
