"""Registries of detectors and datasets, filled by plugins through the hooks.

A registry validates what plugins add, remembers which plugin added each entry, resolves lazy
``"module:attr"`` factories only when they are used, and selects entries by name, glob or
parametrised name (``vae[score=iwae]``).
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bench.detector import (
    SklearnOutlierDetector,
    accepts_argument,
    as_detector,
    parameter_defaults,
    parameter_names,
)
from bench.errors import (
    BenchError,
    DetectorError,
    DetectorParameterError,
    DuplicateNameError,
    MissingDependencyError,
    PluginLoadError,
    UnknownDatasetError,
    UnknownDetectorError,
)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*(:[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")

#: tags that name an optional dependency, and the extra that installs it
TAG_EXTRAS = {"torch": ("torch", "deep")}


def resolve_object(ref: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise PluginLoadError(f"{ref!r} is not a 'module:attr' reference")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing in {dep for dep, _ in TAG_EXTRAS.values()}:
            extra = next(extra for dep, extra in TAG_EXTRAS.values() if dep == missing)
            raise MissingDependencyError(
                f"{ref} needs {missing}, which is not installed: "
                f"pip install 'anomaly-bench[{extra}]'"
            ) from exc
        raise PluginLoadError(f"cannot import {module_name!r} for {ref!r}: {exc}") from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise PluginLoadError(f"{module_name!r} has no attribute {attr!r}") from exc
    return obj


def static_parameter_names(ref: str) -> tuple[list[str], bool] | None:
    """Like :func:`bench.detector.parameter_names` for a lazy ``"module:Class"``, read from the
    source files without importing them (so a misspelt ``ae[epoch=3]`` is refused without
    importing torch). None whenever the source does not say it for certain (a decorated class,
    several bases, a base defined elsewhere than a plain ``from x import y``, a compiled module,
    ...): the caller then imports the factory.
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr or "." in attr:
        return None
    return _static_class_parameters(module_name, attr, set())


def _static_class_parameters(module_name: str, name: str, seen: set[str]) -> tuple[list[str], bool] | None:
    import ast
    from pathlib import Path

    key = f"{module_name}:{name}"
    if key in seen or len(seen) > 16:
        return None
    seen.add(key)
    try:
        found = importlib.util.find_spec(module_name)  # imports parent packages only (light)
        if found is None or not (found.origin or "").endswith(".py"):
            return None
        tree = ast.parse(Path(found.origin).read_text(encoding="utf-8"))  # type: ignore[arg-type]
    except (ImportError, ValueError, OSError, SyntaxError):
        return None
    package = found.parent if found.submodule_search_locations is None else found.name
    imported: dict[str, tuple[str, str]] = {}
    classes: dict[str, ast.ClassDef] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            relative = "." * node.level + (node.module or "")
            source = importlib.util.resolve_name(relative, package) if node.level else node.module
            for alias in node.names:
                imported[alias.asname or alias.name] = (str(source), alias.name)
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = node
    if name not in classes:
        return _static_class_parameters(*imported[name], seen) if name in imported else None
    cls = classes[name]
    special = {"__init__", "__new__", "__signature__", "__call__", "__init_subclass__"}
    # a signature set from outside the class body (``Cls.__signature__ = ...``) is not in it
    if any(isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "__signature__" for t in node.targets)
            for node in tree.body):
        return None
    if cls.decorator_list or cls.keywords or any(
            isinstance(n, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(t, ast.Name) and t.id in special
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))
            or isinstance(n, ast.FunctionDef) and n.name in special - {"__init__"}
            for n in cls.body):
        return None
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    names: list[str] = []
    if init is not None:
        args = init.args
        names = [a.arg for a in [*args.posonlyargs, *args.args][1:] + args.kwonlyargs]
        if args.kwarg is None:
            return sorted(names), False
    if not cls.bases:
        return sorted(names), init is not None  # object: nothing past a **kwargs
    if len(cls.bases) != 1 or not isinstance(cls.bases[0], ast.Name):
        return None
    base = cls.bases[0].id
    if base in classes:
        parent = _static_class_parameters(module_name, base, seen)
    elif base in imported:
        parent = _static_class_parameters(*imported[base], seen)
    else:
        return None
    if parent is None:
        return None
    return sorted(set(names) | set(parent[0])), parent[1]


def format_value(value: Any) -> str:
    """Render a parameter value for a display name, deterministically."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def display_name(name: str, params: Mapping[str, Any]) -> str:
    """``name[k=v,...]`` with keys sorted, or ``name`` when there are no params."""
    if not params:
        return name
    inner = ",".join(f"{k}={format_value(params[k])}" for k in sorted(params))
    return f"{name}[{inner}]"


def params_hash(params: Mapping[str, Any]) -> str:
    text = json.dumps(dict(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_value(text: str) -> Any:
    """Parse a parameter value typed on the command line: JSON when it parses, else a string."""
    try:
        return json.loads(text)
    except ValueError:
        lowered = text.lower()
        if lowered in {"true", "false"}:
            return lowered == "true"
        if lowered in {"none", "null"}:
            return None
        return text


def parse_selector(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``vae[score=iwae,k=5]`` into ``("vae", {"score": "iwae", "k": 5})``."""
    text = text.strip()
    match = re.fullmatch(r"([^\[\]]+)(?:\[(.*)\])?", text)
    if not match:
        raise BenchError(f"cannot parse {text!r}: expected NAME or NAME[key=value,...]")
    name, inner = match.group(1).strip(), match.group(2)
    params: dict[str, Any] = {}
    if inner:
        for item in _split_params(inner):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise BenchError(f"cannot parse parameter {item!r} in {text!r}: expected key=value")
            params[key.strip()] = parse_value(value.strip())
    return name, params


def split_list(text: str) -> list[str]:
    """Split a comma list, keeping commas inside ``[...]`` (``vae[a=1,b=2],ae``)."""
    return [part for part in _split_params(text) if part]


def _split_params(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def suggest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Choices that look like ``name``: close by spelling (difflib), then containing it."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    # a namespaced name (adbench:cardo) is also compared without its namespace
    if ":" in name:
        prefix, _, bare = name.partition(":")
        same = {c.partition(":")[2]: c for c in choices if c.startswith(prefix + ":")}
        close += [same[m] for m in difflib.get_close_matches(bare, same, n=n, cutoff=0.6)]
    close += fnmatch.filter(choices, f"*{name}*")
    return list(dict.fromkeys(close))[:n]


def check_constraints(obj: Any, params: Mapping[str, Any]) -> str | None:
    """Why one of ``params`` is an invalid value for the detector ``obj``, or None.

    The rules are scikit-learn's parameter constraints (``_parameter_constraints``, validated by
    scikit-learn's own code), taken from

    - the detector's class itself (a scikit-learn estimator, or a detector that declares them in
      scikit-learn's format), else
    - a scikit-learn estimator that the module of the detector's class (or of a parent class)
      imports, for a parameter of the same name, and only when the detector's own default for it
      passes that estimator's rule (so the name means the same thing in both: PyOD's ``IForest``
      passes ``n_estimators`` to ``IsolationForest``).

    Nothing is checked when scikit-learn is not loaded (no detector can be wrapping it then).
    """
    if not params or "sklearn" not in sys.modules:
        return None
    try:
        from sklearn.base import BaseEstimator
        from sklearn.utils._param_validation import (
            InvalidParameterError,
            validate_parameter_constraints,
        )
    except ImportError:  # pragma: no cover - scikit-learn < 1.2
        return None
    target = obj.estimator if isinstance(obj, SklearnOutlierDetector) else obj
    cls = type(target)
    own = getattr(cls, "_parameter_constraints", None)
    tables: list[tuple[str, Mapping[str, Any], bool]] = []
    if isinstance(own, Mapping):
        tables.append((cls.__name__, own, False))
    else:
        seen: set[type] = set()
        for klass in cls.__mro__:
            module = sys.modules.get(klass.__module__)
            if module is None or klass.__module__.startswith("sklearn."):
                continue
            for value in vars(module).values():
                if (isinstance(value, type) and value not in seen
                        and issubclass(value, BaseEstimator)
                        and value.__module__.startswith("sklearn.")
                        and isinstance(getattr(value, "_parameter_constraints", None), Mapping)):
                    seen.add(value)
                    tables.append((value.__name__, value._parameter_constraints, True))
    defaults = parameter_defaults(cls)

    def passes(owner: str, rule: Any, name: str, value: Any) -> str | None:
        try:
            validate_parameter_constraints({name: rule}, {name: value}, caller_name=owner)
        except InvalidParameterError as exc:
            return str(exc)
        return None

    for name, value in params.items():
        for owner, table, wrapped in tables:
            if name not in table:
                continue
            if wrapped and (name not in defaults or passes(owner, table[name], name, defaults[name])):
                continue  # same name, other meaning: this rule does not apply
            error = passes(owner, table[name], name, value)
            if error:
                return f"invalid value {name}={value!r}: {error}"
            break
    return None


def _missing_dependencies(tags: Iterable[str]) -> list[str]:
    missing = []
    for tag in tags:
        if tag in TAG_EXTRAS:
            module, extra = TAG_EXTRAS[tag]
            if importlib.util.find_spec(module) is None:
                missing.append(f"{module} is not installed (pip install 'anomaly-bench[{extra}]')")
    return missing


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector, possibly with parameters chosen by the user."""

    name: str
    factory: Callable[..., Any] | str
    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str = ""
    citation: str = ""
    plugin: str = ""
    plugin_version: str = ""
    #: parameters the user overrode on top of the registered ones (part of the display name)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Display name used in results: ``name`` or ``name[k=v]`` for overridden params."""
        return display_name(self.name, self.overrides)

    @property
    def all_params(self) -> dict[str, Any]:
        return {**self.params, **self.overrides}

    @property
    def params_hash(self) -> str:
        return params_hash(self.all_params)

    def with_params(self, overrides: Mapping[str, Any]) -> DetectorSpec:
        return replace(self, overrides={**self.overrides, **overrides})

    @property
    def factory_ref(self) -> str:
        if isinstance(self.factory, str):
            return self.factory
        module = getattr(self.factory, "__module__", "?")
        return f"{module}:{getattr(self.factory, '__qualname__', repr(self.factory))}"

    def unavailable_reason(self) -> str | None:
        """Why this detector cannot run here, without importing it; None when it can."""
        missing = _missing_dependencies(self.tags)
        if missing:
            return "; ".join(missing)
        if isinstance(self.factory, str):
            # Only the top-level package: finding a submodule would import its parents.
            module = self.factory.partition(":")[0].split(".")[0]
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError) as exc:
                return f"cannot find module {module!r}: {exc}"
            if found is None:
                return f"cannot find module {module!r}"
        return None

    def resolve(self) -> Callable[..., Any]:
        if isinstance(self.factory, str):
            try:
                return resolve_object(self.factory)
            except BenchError as exc:
                raise type(exc)(f"detector {self.name!r} (plugin {self.plugin}): {exc}") from exc
        return self.factory

    def build(self, random_state: int | None = None) -> Any:
        """Instantiate the detector: ``factory(**params, random_state=seed)`` when accepted.

        The object goes through :func:`bench.detector.as_detector`: a scikit-learn outlier
        detector comes back wrapped so that its scores are negated (higher = more anomalous).
        """
        factory = self.resolve()
        kwargs = self.all_params
        if random_state is not None and accepts_argument(factory, "random_state"):
            kwargs = {**kwargs, "random_state": random_state}
        try:
            obj = factory(**kwargs)
        except Exception as exc:
            raise DetectorError(
                f"error when initializing detector {self.label!r} with {kwargs}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return as_detector(obj, self.label)

    def _check_names(self, params: Mapping[str, Any], names: list[str], open_ended: bool) -> None:
        unknown = [] if open_ended else [k for k in params if k not in names]
        if unknown:
            bad = unknown[0]
            close = difflib.get_close_matches(bad, names, n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise DetectorParameterError(
                f"detector {self.name!r} has no parameter {bad!r}{hint}; "
                f"its parameters are: {', '.join(names) or '(none)'}"
            )

    def validate(self) -> None:
        """Refuse parameters this detector does not take, or values it rejects, before a run.

        Raises :class:`DetectorParameterError` naming the parameter and the valid ones (with
        suggestions by spelling). Checked in order:

        1. names, against the factory's keyword parameters (``__init__`` up the MRO through
           ``**kwargs``; nothing is refused when the chain ends in an open ``**kwargs``);
        2. construction: ``factory(**params)`` must not raise, and a scikit-learn outlier
           detector must be one that can score new rows (:func:`bench.detector.as_detector`);
        3. values, against scikit-learn's parameter constraints (``_parameter_constraints``) of
           the detector itself, or of a scikit-learn estimator it wraps under the same parameter
           names (PyOD's ``IForest`` wraps ``IsolationForest``); see :func:`check_constraints`.

        The factory is imported only when the user chose parameters or when it is already an
        object (not a lazy ``"module:attr"``), so a plain ``bench run -d ae`` imports no torch
        here. An unavailable detector is left to the caller's availability check.
        """
        if not self.overrides and isinstance(self.factory, str):
            return
        if self.unavailable_reason() is not None:
            return
        params = self.all_params
        static = static_parameter_names(self.factory) if isinstance(self.factory, str) else None
        if static is not None:  # refuse a misspelt name before importing (torch, for ae)
            self._check_names(params, *static)
        factory = self.resolve()
        self._check_names(params, *parameter_names(factory))
        try:
            obj = factory(**params)
        except Exception as exc:
            raise DetectorParameterError(
                f"detector {self.label!r}: invalid parameters {dict(params)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        as_detector(obj, self.label)
        problem = check_constraints(obj, params)
        if problem:
            raise DetectorParameterError(f"detector {self.label!r}: {problem}")


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: a loader returning ``(X, y)``, or a file to download."""

    name: str
    loader: Callable[[], tuple[Any, Any]] | str | None = None
    source: str = ""
    url: str | None = None
    sha256: str | None = None
    filename: str | None = None
    n_samples: int | None = None
    n_features: int | None = None
    n_anomalies: int | None = None
    license: str = ""
    citation: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    plugin: str = ""
    plugin_version: str = ""
    #: a local file path (user data given with --dataset-file)
    path: str | None = None
    #: options for reading a local file (e.g. the CSV label column)
    options: Mapping[str, Any] = field(default_factory=dict)
    #: an official train/test split: rows [0:n_train] of the loaded X are the official training
    #: part, the rest the official test part (used by the ``oneclass`` protocol)
    n_train: int | None = None
    #: images: the shape of one sample, (H, W) or (C, H, W); None for a table
    image_shape: tuple[int, ...] | None = None
    #: one-vs-rest tasks whose loaded rows hold every other class: the share of anomalies the
    #: ``unsupervised`` and ``novelty`` protocols sample them down to (see bench.protocols)
    anomaly_share: float | None = None

    @property
    def anomaly_ratio(self) -> float | None:
        if self.n_samples and self.n_anomalies is not None:
            return self.n_anomalies / self.n_samples
        return None

    @property
    def verified(self) -> bool:
        return self.sha256 is not None


class _Registry:
    kind = "entry"
    unknown_error: type[BenchError] = BenchError

    def __init__(self) -> None:
        self._entries: dict[str, Any] = {}
        #: the plugin whose hook is being called; set by the plugin manager
        self.current_plugin: str = ""
        self.current_version: str = ""

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise BenchError(
                f"plugin {self.current_plugin!r}: invalid {self.kind} name {name!r} "
                "(lowercase letters, digits, '_', '.', '-', optionally 'source:' prefix)"
            )
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by two plugins: "
                f"{other!r} and {self.current_plugin!r}"
            )

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Any:
        try:
            return self._entries[name]
        except KeyError:
            close = suggest(name, self._entries)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise self.unknown_error(
                f"unknown {self.kind} {name!r}{hint} (see 'bench list {self.kind}s')"
            ) from None

    def _match(self, pattern: str) -> list[Any]:
        if any(ch in pattern for ch in "*?["):
            found = [self._entries[n] for n in sorted(fnmatch.filter(self._entries, pattern))]
            if not found:
                raise self.unknown_error(f"no {self.kind} matches {pattern!r}")
            return found
        return [self.get(pattern)]


class DetectorRegistry(_Registry):
    """Detectors registered by plugins through ``register_detectors``."""

    kind = "detector"
    unknown_error = UnknownDetectorError

    def add(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        family: str,
        params: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
        description: str = "",
        citation: str = "",
    ) -> DetectorSpec:
        """Register a detector.

        ``factory`` is a class or callable, or a lazy ``"module:attr"`` string so that
        listing detectors imports nothing heavy. The runner calls
        ``factory(**params, random_state=seed)`` (``random_state`` only when accepted).
        """
        self._check_name(name)
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise BenchError(
                f"plugin {self.current_plugin!r}: detector {name!r} factory must be callable "
                f"or a 'module:attr' string, got {factory!r}"
            )
        if not family or not isinstance(family, str):
            raise BenchError(f"plugin {self.current_plugin!r}: detector {name!r} needs a family")
        tags = tuple(tags)
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise BenchError(f"plugin {self.current_plugin!r}: detector {name!r} tags must be strings")
        spec = DetectorSpec(
            name=name,
            factory=factory,
            family=family,
            params=dict(params or {}),
            tags=tags,
            description=description,
            citation=citation,
            plugin=self.current_plugin,
            plugin_version=self.current_version,
        )
        self._entries[name] = spec
        return spec

    def select(self, selectors: Iterable[str], *, validate: bool = True) -> list[DetectorSpec]:
        """Resolve names, globs (``pyod_*``) and parametrised names (``vae[score=iwae]``).

        With ``validate`` (the default) each chosen detector's parameters are checked with
        :meth:`DetectorSpec.validate`: an unknown name or an invalid value raises
        :class:`DetectorParameterError` here, before any cell is planned.
        """
        chosen: dict[str, DetectorSpec] = {}
        for text in selectors:
            name, params = parse_selector(text)
            for spec in self._match(name):
                spec = spec.with_params(params) if params else spec
                chosen.setdefault(spec.label, spec)
        if validate:
            for spec in chosen.values():
                spec.validate()
        return list(chosen.values())


class DatasetRegistry(_Registry):
    """Datasets registered by plugins through ``register_datasets``."""

    kind = "dataset"
    unknown_error = UnknownDatasetError

    def add(
        self,
        name: str,
        loader: Callable[[], tuple[Any, Any]] | str | None = None,
        *,
        source: str = "",
        url: str | None = None,
        sha256: str | None = None,
        filename: str | None = None,
        n_samples: int | None = None,
        n_features: int | None = None,
        n_anomalies: int | None = None,
        license: str = "",
        citation: str = "",
        description: str = "",
        tags: Iterable[str] = (),
        n_train: int | None = None,
        image_shape: Iterable[int] | None = None,
        anomaly_share: float | None = None,
    ) -> DatasetSpec:
        """Register a dataset.

        Either ``loader`` (a callable or ``"module:attr"`` returning ``(X, y)``), or ``url`` (and
        ``filename``, ``sha256``) for a file that the core downloads into the cache directory.
        ``n_train`` marks an official train/test split, ``image_shape`` an image dataset, and
        ``anomaly_share`` a one-vs-rest task (see :class:`DatasetSpec`).
        """
        self._check_name(name)
        if loader is None and url is None:
            raise BenchError(
                f"plugin {self.current_plugin!r}: dataset {name!r} needs a loader or a url"
            )
        if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise BenchError(
                f"plugin {self.current_plugin!r}: dataset {name!r} sha256 is not 64 hex digits"
            )
        if anomaly_share is not None and not 0 < anomaly_share < 1:
            raise BenchError(
                f"plugin {self.current_plugin!r}: dataset {name!r} anomaly_share must be in (0, 1)"
            )
        if n_train is not None and (n_train < 1 or (n_samples is not None and n_train >= n_samples)):
            raise BenchError(
                f"plugin {self.current_plugin!r}: dataset {name!r} n_train must leave rows on both "
                "sides of the official split"
            )
        if url is not None and filename is None:
            filename = url.rstrip("/").rsplit("/", 1)[-1]
        spec = DatasetSpec(
            name=name,
            loader=loader,
            source=source or name.partition(":")[0],
            url=url,
            sha256=sha256,
            filename=filename,
            n_samples=n_samples,
            n_features=n_features,
            n_anomalies=n_anomalies,
            license=license,
            citation=citation,
            description=description,
            tags=tuple(tags),
            plugin=self.current_plugin,
            plugin_version=self.current_version,
            n_train=n_train,
            image_shape=tuple(int(v) for v in image_shape) if image_shape is not None else None,
            anomaly_share=anomaly_share,
        )
        self._entries[name] = spec
        return spec

    def select(self, selectors: Iterable[str]) -> list[DatasetSpec]:
        chosen: dict[str, DatasetSpec] = {}
        for text in selectors:
            for spec in self._match(text.strip()):
                chosen.setdefault(spec.name, spec)
        return list(chosen.values())
