"""Plugin discovery and loading (pluggy project ``bench``).

Plugins come from three places: the core's own default plugins, the ``bench`` entry-point
group (the built-in detectors are declared there exactly as a third party's would be), and
``.py`` files in a ``--plugins-dir``. ``BENCH_LOAD_PLUGINS`` (a comma list of entry-point names;
empty means none) restricts which entry points load. A plugin that fails to import is recorded
and shown by ``bench plugins``; it never breaks the CLI.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from bench import hookspecs
from bench.errors import BenchError, PluginLoadError
from bench.registry import DatasetRegistry, DetectorRegistry

DEFAULT_PLUGINS = ("bench.default_plugins.adbench_registry",)
LOCAL_PREFIX = "bench_local_plugins"

pm = pluggy.PluginManager("bench")
pm.add_hookspecs(hookspecs)


@dataclass
class PluginInfo:
    name: str
    version: str | None = None
    distribution: str | None = None
    source: str = "entry point"  # "default", "entry point" or "plugins dir"
    module: str | None = None
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """What :meth:`PluginState.restore` puts back (see :meth:`PluginState.snapshot`)."""

    plugins: frozenset[Any]
    infos: dict[str, PluginInfo]
    loaded_dirs: frozenset[str]


@dataclass
class PluginState:
    """This process's plugin bookkeeping: what was loaded, from where, and the built registries.

    One object instead of module-level dicts, so that a test (or a long-lived program) can take a
    :meth:`snapshot` and :meth:`restore` it, or drop the built registries with
    :meth:`reset_registries`, without reaching into private names.
    """

    loaded: bool = False
    tracing: bool = False
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    loaded_dirs: set[str] = field(default_factory=set)
    registries: dict[str, Any] = field(default_factory=dict)

    def reset_registries(self) -> None:
        """Forget built registries (after registering or unregistering a plugin)."""
        self.registries.clear()

    def snapshot(self) -> Snapshot:
        """The registered plugins, their descriptions and the loaded ``--plugins-dir`` folders."""
        return Snapshot(frozenset(pm.get_plugins()), dict(self.infos), frozenset(self.loaded_dirs))

    def restore(self, snapshot: Snapshot) -> None:
        """Unregister plugins registered since ``snapshot`` and put its bookkeeping back."""
        for plugin in set(pm.get_plugins()) - snapshot.plugins:
            pm.unregister(plugin)
        self.infos.clear()
        self.infos.update(snapshot.infos)
        self.loaded_dirs.clear()
        self.loaded_dirs.update(snapshot.loaded_dirs)
        self.reset_registries()


#: the process's plugin state
state = PluginState()


def _register(module: ModuleType, info: PluginInfo) -> None:
    if pm.is_registered(module) or pm.has_plugin(info.name):
        return
    # A plugin module's own __version__ wins over its distribution's: one distribution may ship
    # several plugins, and the version is part of every cell's key (bump it when a detector's
    # code or defaults change, so that a rerun computes new cells instead of resuming old ones).
    own = getattr(module, "__version__", None)
    if isinstance(own, str) and own.strip():
        info.version = own.strip()
    try:
        pm.register(module, name=info.name)
    except Exception as exc:  # pluggy validation errors: wrong hook signature, ...
        info.error = f"{type(exc).__name__}: {exc}"
    state.infos[info.name] = info


def load_plugins(plugins_dir: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Load default, entry-point and ``--plugins-dir`` plugins. Safe to call repeatedly."""
    if not state.loaded:
        state.loaded = True
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            _register(module, PluginInfo(name=module_name, source="default", module=module_name,
                                         version=_core_version()))
        _load_entry_points()
        if os.environ.get("BENCH_TRACE_PLUGINS") and not state.tracing:
            state.tracing = True
            pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
            pm.enable_tracing()
    for directory in plugins_dir:
        load_plugins_dir(directory)
    pm.check_pending()


def _core_version() -> str:
    from bench import __version__

    return __version__


def _load_entry_points() -> None:
    allowed: set[str] | None = None
    if "BENCH_LOAD_PLUGINS" in os.environ:
        allowed = {n.strip() for n in os.environ["BENCH_LOAD_PLUGINS"].split(",") if n.strip()}
    seen: dict[str, str] = {}
    for ep in sorted(entry_points(group="bench"), key=lambda e: e.name):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        info = PluginInfo(name=ep.name, version=version, distribution=dist, module=ep.value)
        if ep.name in seen:
            info.error = (
                f"entry point name {ep.name!r} is declared by two distributions: "
                f"{seen[ep.name]!r} and {dist!r}"
            )
            state.infos[f"{ep.name} ({dist})"] = info
            continue
        seen[ep.name] = dist or "?"
        try:
            module = ep.load()
        except Exception as exc:
            info.error = f"{type(exc).__name__}: {exc}"
            state.infos[ep.name] = info
            continue
        _register(module, info)


def load_plugins_dir(directory: str | os.PathLike[str]) -> None:
    """Load each ``.py`` file in ``directory`` as ``bench_local_plugins.<stem>``."""
    path = Path(directory).resolve()
    if str(path) in state.loaded_dirs:
        return
    if not path.is_dir():
        raise PluginLoadError(f"--plugins-dir {directory}: not a directory")
    state.loaded_dirs.add(str(path))
    parent = _local_package()
    for file in sorted(path.glob("*.py")):
        name = f"{LOCAL_PREFIX}.{file.stem}"
        info = PluginInfo(name=name, source="plugins dir", module=str(file))
        try:
            spec = importlib.util.spec_from_file_location(name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            info.error = f"{type(exc).__name__}: {exc}"
            state.infos[name] = info
            continue
        setattr(parent, file.stem, module)
        _register(module, info)


def _local_package() -> ModuleType:
    """The synthetic parent package of ``--plugins-dir`` modules.

    Without it in ``sys.modules``, pickle cannot import ``bench_local_plugins.<stem>`` to find a
    detector class defined in such a file (a worker process loads the same directories first).
    """
    parent = sys.modules.get(LOCAL_PREFIX)
    if parent is None:
        parent = ModuleType(LOCAL_PREFIX, "Modules loaded from --plugins-dir files.")
        parent.__path__ = []
        sys.modules[LOCAL_PREFIX] = parent
    return parent


def plugins_dirs_loaded() -> list[str]:
    """Directories loaded with ``--plugins-dir`` (worker processes load the same ones)."""
    return sorted(state.loaded_dirs)


def _call_register(hook_name: str, registry: DetectorRegistry | DatasetRegistry) -> None:
    """Call one ``register_*`` hook plugin by plugin, attributing each entry to its plugin."""
    for plugin_name, plugin in sorted(pm.list_name_plugin(), key=lambda item: str(item[0])):
        impl = getattr(plugin, hook_name, None)
        if impl is None or not pm.is_registered(plugin):
            continue
        info = state.infos.get(str(plugin_name))
        registry.current_plugin = str(plugin_name)
        registry.current_version = (info.version if info else None) or ""
        before = set(registry.names())
        try:
            # Call through pluggy's hook caller restricted to this plugin so that tracing and
            # hookwrappers still apply.
            caller = pm.subset_hook_caller(
                hook_name, remove_plugins=[p for p in pm.get_plugins() if p is not plugin]
            )
            caller(registry=registry)
        except BenchError:
            raise
        except Exception as exc:
            raise PluginLoadError(
                f"plugin {plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}"
            ) from exc
        if info is not None:
            added = sorted(set(registry.names()) - before)
            if added:
                info.registered[hook_name.removeprefix("register_")] = added
    registry.current_plugin = ""


def get_detectors(refresh: bool = False) -> DetectorRegistry:
    """The detector registry, built once from every loaded plugin."""
    if refresh or "detectors" not in state.registries:
        load_plugins()
        registry = DetectorRegistry()
        _call_register("register_detectors", registry)
        state.registries["detectors"] = registry
    return state.registries["detectors"]  # type: ignore[no-any-return]


def get_datasets(refresh: bool = False) -> DatasetRegistry:
    """The dataset registry, built once from every loaded plugin."""
    if refresh or "datasets" not in state.registries:
        load_plugins()
        registry = DatasetRegistry()
        _call_register("register_datasets", registry)
        state.registries["datasets"] = registry
    return state.registries["datasets"]  # type: ignore[no-any-return]


def reset_registries() -> None:
    """Forget built registries (after registering or unregistering a plugin)."""
    state.reset_registries()


def get_plugins(all: bool = False) -> list[dict[str, Any]]:
    """Describe loaded plugins for ``bench plugins``: name, version, hooks, registered, error."""
    get_detectors()
    get_datasets()
    result = []
    names = {str(n) for n, _ in pm.list_name_plugin()} | set(state.infos)
    for name in sorted(names):
        info = state.infos.get(name) or PluginInfo(name=name, source="registered in code")
        if info.source == "default" and not all:
            continue
        plugin = pm.get_plugin(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or []) if plugin else []
        result.append(
            {
                "name": name,
                "version": info.version,
                "distribution": info.distribution,
                "source": info.source,
                "module": info.module,
                "hooks": hooks,
                "registered": info.registered,
                "error": info.error,
            }
        )
    return result
