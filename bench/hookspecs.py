"""Hook specifications: the only contract between the core and its plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:  # pragma: no cover
    import click

    from bench.registry import DatasetRegistry, DetectorRegistry

hookspec = HookspecMarker("bench")
hookimpl = HookimplMarker("bench")


@hookspec
def register_detectors(registry: DetectorRegistry) -> None:
    """Add detectors with ``registry.add(name, factory, *, family, params=None, tags=(), ...)``."""


@hookspec
def register_datasets(registry: DatasetRegistry) -> None:
    """Add datasets with ``registry.add(name, loader=None, *, source, url=None, sha256=None, ...)``."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add extra click commands or groups to the ``bench`` command line."""
