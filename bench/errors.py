"""User-facing errors. The CLI turns every :class:`BenchError` into a one-line message."""

from __future__ import annotations


class BenchError(Exception):
    """Base class for errors caused by user input, data or plugins (not bugs)."""


class UnknownDetectorError(BenchError):
    """A detector name or pattern matched nothing in the registry."""


class UnknownDatasetError(BenchError):
    """A dataset name or pattern matched nothing in the registry."""


class DuplicateNameError(BenchError):
    """Two plugins registered the same detector or dataset name."""


class PluginLoadError(BenchError):
    """A plugin, or a lazy factory it registered, could not be imported."""


class DatasetError(BenchError):
    """A dataset or data file is missing, corrupt or not a valid anomaly-detection task."""


class DetectorError(BenchError):
    """A detector misbehaved: raised, or returned scores that are not one finite float per row."""


class MissingDependencyError(BenchError):
    """An optional dependency is not installed; the message names the extra to install."""


class DetectorParameterError(BenchError):
    """A detector was selected with a parameter it does not take, or with an invalid value."""
