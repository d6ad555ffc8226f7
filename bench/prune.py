"""Remove cells that no table shows and no run will resume: ``bench prune``.

A cell's key covers its detector's parameters, code and plugin version (bench.planner), so a
store keeps every cell of every code version it has seen. Two kinds can go:

- **superseded**: a later run planned the same slot (detector label, dataset, protocol, seed,
  max_samples) under another key; the tables already leave them out (bench.leaderboard.current).
- **stale** (``stale=True``): what this installation would plan for the cell's slot has another
  key: the detector's code, plugin version or effective parameters changed since it ran, or the
  dataset's registered sha256 did. A ``bench run`` of that slot would compute it again; until
  then the tables still show the old cell, so removing these is asked for explicitly.

Staleness is judged only on what this installation knows: a detector that is not registered
here (a plugin not installed, a notebook object) is not judged, its cells are kept and it is
named; a dataset without a registered sha256 (a user's file) is judged by its detector alone.
Nothing is removed without being listed first (:func:`find`); :func:`prune` removes the cells,
their attempts and their planned rows in one transaction, then compacts the file (``VACUUM``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class Found:
    """What :func:`find` would remove, per reason, and what it could not judge."""

    store: Path
    n_cells: int
    #: one row per cell to remove: key, detector, dataset, protocol, seed, status, reason, why
    remove: pd.DataFrame
    #: detector labels of kept cells that this installation cannot judge, with why
    unjudged: dict[str, str] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Cells to remove per detector label and reason (with the reason's detail)."""
        return (self.remove.groupby(["detector", "reason", "why"], sort=True).size()
                .rename("cells").reset_index())


def _text(value: Any) -> str:
    """A stored text column's value; a missing one (None, or NaN from pandas) is ``""``."""
    return "" if value is None or value != value else str(value)


def _current_keys(detectors: Iterable[str]) -> tuple[dict[str, tuple[str, str, str]], dict[str, str]]:
    """For each detector label: (params_hash, code_hash, plugin_version) as planned here now;
    and the labels that cannot be resolved here, with why."""
    from bench import plugins
    from bench.planner import describe

    registry = plugins.get_detectors()
    known: dict[str, tuple[str, str, str]] = {}
    unknown: dict[str, str] = {}
    for label in detectors:
        try:
            (spec,) = registry.select([label])
            described = describe(spec)
        except Exception as exc:  # an unregistered plugin or object, a parameter no longer valid
            unknown[label] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            continue
        known[label] = (described.params_hash, described.code_hash, spec.plugin_version)
    return known, unknown


def _registered_sha(datasets: Iterable[str]) -> dict[str, str]:
    """The sha256 the registry declares for each dataset that has one."""
    from bench import plugins

    registry = plugins.get_datasets()
    shas: dict[str, str] = {}
    for name in datasets:
        specs = registry.select([name]) if name in registry.names() else []
        if specs and specs[0].sha256:
            shas[name] = specs[0].sha256
    return shas


def find(store: str | Path, *, stale: bool = False) -> Found:
    """List the store's superseded cells (and, with ``stale``, its stale ones); removes nothing."""
    import pandas as pd

    from bench.leaderboard import current
    from bench.store import Store

    with Store(store, create=False) as db:
        cells = db.query()
        planned = db.planned()
    shown, _ = current(cells, planned)
    kept = set(shown["key"])
    cols = ["key", "detector", "dataset", "protocol", "seed", "status"]
    superseded = cells[~cells["key"].isin(kept)][cols].assign(
        reason="superseded", why="a later run planned its slot under another key")
    parts = [superseded]
    unjudged: dict[str, str] = {}
    if stale and len(shown):
        known, unknown = _current_keys(sorted(shown["detector"].unique()))
        unjudged.update({f"detector {label}": why for label, why in unknown.items()})
        shas = _registered_sha(sorted(shown["dataset"].unique()))
        reasons = []
        for row in shown.itertuples(index=False):
            changed = []
            now = known.get(row.detector)
            if now is not None:
                params_now, code_now, version_now = now
                if _text(row.plugin_version) != _text(version_now):
                    changed.append(f"plugin version {_text(row.plugin_version)} -> {version_now}")
                if _text(row.code_hash) != code_now:
                    changed.append("code changed")
                if _text(row.params_hash) != params_now:
                    changed.append("effective parameters changed (a default)")
            sha = shas.get(row.dataset)
            if sha and _text(row.dataset_sha256) not in ("", sha):
                changed.append("dataset file changed (registered sha256)")
            reasons.append("; ".join(changed))
        flagged = shown.assign(why=reasons)
        flagged = flagged[flagged["why"] != ""]
        parts.append(flagged[cols + ["why"]].assign(reason="stale"))
    remove = pd.concat(parts, ignore_index=True)
    return Found(Path(store), len(cells), remove, unjudged)


def prune(found: Found) -> tuple[int, int, int]:
    """Remove what :func:`find` listed (cells, their attempts and planned rows), then compact
    the file. Returns (cells removed, file bytes before, file bytes after)."""
    from bench.store import Store

    path = found.store
    if not path.is_file():
        raise BenchError(f"store {path} does not exist")
    before = path.stat().st_size
    keys = list(found.remove["key"])
    with Store(path) as db:
        removed = db.delete(keys)
        db.compact()
    return removed, before, path.stat().st_size
