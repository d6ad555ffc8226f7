"""Grid files: a benchmark grid written once, in TOML, instead of a shell script of commands.

``bench run --config grid.toml`` reads keys that mirror ``bench run``'s options (``detectors``,
``datasets``, ``seeds``, ``protocol``, ``store``, ``jobs``, ``executor``, ``timeout``,
``max-samples``, ...; ``-`` and ``_`` are the same). Top-level keys apply to every block; each
``[[grid]]`` block is one run and may set its own keys (per-block ``max-samples`` and
``timeout``)::

    store = "results/published.sqlite"
    datasets = ["adbench:cardio", "adbench:thyroid"]
    seeds = [1, 2, 3]
    protocol = ["unsupervised", "novelty"]

    [[grid]]
    detectors = ["iforest", "hbos"]

    [[grid]]
    detectors = ["knn", "lof"]
    max-samples = 10000

Options typed on the command line override the file in every block (``bench run --config g.toml
--jobs 4``). :func:`load` turns a file into a list of dicts of :func:`bench.run` keyword
arguments, one per block (contract #5), and the resolved dict is stored with the run (in the
``runs`` table's ``options`` JSON, key ``config``). ``--dry-run`` prints :func:`plan`: for each
block its cells, how many the store already holds ok, and which datasets are not cached (they
would be downloaded); nothing runs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.options import DEFAULT_STORE, EXECUTORS

#: keys of a grid file (and of ``bench.run``): the value's kind, for checking and conversion
KEYS: dict[str, str] = {
    "detectors": "names", "datasets": "names", "dataset_files": "names",
    "label_column": "str", "seeds": "seeds", "protocols": "names", "store": "str",
    "jobs": "int", "executor": "str", "scheduler": "str", "max_memory": "str",
    "timeout": "float", "threads_per_job": "int", "max_samples": "int", "force": "bool",
}
#: spellings of the command line accepted in a file: ``protocol`` is ``protocols``, ...
ALIASES = {"protocol": "protocols", "dataset_file": "dataset_files", "seed": "seeds"}
#: ``bench run`` parameter name for each key (the CLI's own spelling)
CLI_NAMES = {"protocols": "protocol", "dataset_files": "dataset_file"}
#: keys the file may hold besides KEYS, and what ``bench run`` uses them for
CLI_ONLY = {"quiet": "bool", "no_leaderboard": "bool"}


class GridFileError(BenchError):
    """A grid file that cannot be read, or holds a key or value ``bench run`` would refuse."""


def _key(raw: str) -> str:
    key = raw.replace("-", "_")
    return ALIASES.get(key, key)


def _convert(key: str, value: Any, where: str) -> Any:
    kind = KEYS.get(key) or CLI_ONLY[key]
    bad = GridFileError(f"{where}: {key} = {value!r} is not {_KIND_TEXT[kind]}")
    if kind == "names":
        if isinstance(value, str):
            from bench.registry import split_list

            return split_list(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise bad
    if kind == "seeds":
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                           for v in value):
            return list(dict.fromkeys(value))
        if isinstance(value, str):
            return parse_seeds(value, where)
        raise bad
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise bad
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        raise bad
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise bad
    if not isinstance(value, str):
        raise bad
    if key == "executor" and value not in EXECUTORS:
        raise GridFileError(f"{where}: executor = {value!r} is not one of {', '.join(EXECUTORS)}")
    return value


_KIND_TEXT = {
    "names": "a list of names (or one comma-separated string)",
    "seeds": "a list of integers (or a string such as '1-5')",
    "int": "a positive integer", "float": "a positive number", "bool": "true or false",
    "str": "a string",
}


def parse_seeds(text: str, where: str = "seeds") -> list[int]:
    """``"1,2,3"`` or ``"1-5"`` (or both, ``"1-3,7"``) as a list of integers."""
    from bench.registry import split_list

    seeds: list[int] = []
    for part in split_list(text):
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise GridFileError(f"{where}: {text!r}: seeds are integers, e.g. 1,2,3 or 1-5") from None
    return list(dict.fromkeys(seeds))


def _section(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for raw, value in table.items():
        key = _key(raw)
        if key not in KEYS and key not in CLI_ONLY:
            known = ", ".join(sorted(k.replace("_", "-") for k in [*KEYS, *CLI_ONLY]))
            raise GridFileError(f"{where}: unknown key {raw!r} (known keys: {known})")
        out[key] = _convert(key, value, where)
    return out


def parse(text: str, name: str = "grid file") -> list[dict[str, Any]]:
    """The blocks of a grid file's text, each a dict of :func:`bench.run` keyword arguments
    (plus ``dataset_files``/``label_column``/``quiet``/``no_leaderboard`` for the command line)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GridFileError(f"{name}: not valid TOML: {exc}") from None
    blocks = document.pop("grid", None)
    common = _section(document, name)
    if blocks is None:
        blocks = [{}]
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise GridFileError(f"{name}: 'grid' must be [[grid]] blocks (an array of tables)")
    if not blocks:
        raise GridFileError(f"{name}: no [[grid]] block")
    return [{**common, **_section(block, f"{name}, [[grid]] block {i}")}
            for i, block in enumerate(blocks, 1)]


def load(path: str | Path) -> list[dict[str, Any]]:
    """Read a grid file: one dict of :func:`bench.run` keyword arguments per ``[[grid]]`` block."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridFileError(f"grid file {path}: {exc.strerror or exc}") from None
    return parse(text, str(path))


# ---------------------------------------------------------------------------------------------
# the command line: file values, overridden by options typed on the command line


def from_cli(params: Mapping[str, Any], given: set[str] | None = None) -> dict[str, Any]:
    """``bench run``'s parameters as grid keys: all of them, or only those in ``given``."""
    out: dict[str, Any] = {}
    names = {CLI_NAMES.get(k, k): k for k in [*KEYS, *CLI_ONLY]}
    for cli_name, key in names.items():
        if cli_name not in params or (given is not None and cli_name not in given):
            continue
        value = params[cli_name]
        if value is None or (key == "dataset_files" and not value):
            continue
        if key == "dataset_files":
            value = list(value)
        out[key] = _convert(key, value, f"--{cli_name.replace('_', '-')}")
    return out


def to_cli(block: Mapping[str, Any]) -> dict[str, Any]:
    """A block as ``bench run``'s parameters (comma lists, the CLI's names)."""
    out: dict[str, Any] = {}
    for key, value in block.items():
        name = CLI_NAMES.get(key, key)
        if key == "dataset_files":
            out[name] = tuple(value)
        elif KEYS.get(key) in ("names", "seeds"):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def resolve(blocks: list[dict[str, Any]], overrides: Mapping[str, Any],
            defaults: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every block complete: ``bench run``'s defaults, then the block, then the options typed
    on the command line."""
    base = {"store": DEFAULT_STORE, "seeds": [1, 2, 3], "protocols": ["unsupervised"],
            **(defaults or {})}
    return [{**base, **block, **overrides} for block in blocks]


# ---------------------------------------------------------------------------------------------
# --dry-run


@dataclass
class BlockPlan:
    """What one block would do: its cells, those already ok, and datasets not cached."""

    index: int
    block: dict[str, Any]
    n_detectors: int
    n_datasets: int
    n_cells: int
    n_done: int
    not_cached: list[str] = field(default_factory=list)
    #: cells whose key cannot be known before the download (dataset without a published sha256)
    n_unknown: int = 0
    keys: set[str] = field(default_factory=set, repr=False)
    done: set[str] = field(default_factory=set, repr=False)

    @property
    def n_todo(self) -> int:
        return self.n_cells - (0 if self.block.get("force") else self.n_done)


def _select(block: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """The block's detector and dataset specs, resolved exactly as ``bench.run`` resolves them."""
    from bench import api

    detectors = api.resolve_detectors(list(block["detectors"]) if block.get("detectors") else None)
    items = [*block.get("datasets", ()), *(Path(p) for p in block.get("dataset_files", ()))]
    datasets = api.resolve_datasets(items or None, label_column=block.get("label_column", "y"))
    return detectors, datasets


def plan_block(index: int, block: dict[str, Any]) -> BlockPlan:
    """The plan of one block: needs the planned cells, the store's statuses and the cache."""
    from bench import data, planner
    from bench.store import Store

    detectors, datasets = _select(block)
    with_sha, not_cached, unknown = [], [], set()
    for spec in datasets:
        if data.is_cached(spec) is False:
            not_cached.append(spec.name)
            if not spec.sha256:
                unknown.add(spec.name)
                with_sha.append((spec, ""))
                continue
        with_sha.append((spec, data.fingerprint(spec)))
    cells = planner.plan([planner.describe(d) for d in detectors], with_sha, block.get("protocols", ["unsupervised"]),
                        block.get("seeds", [1, 2, 3]), max_samples=block.get("max_samples"))
    store = Path(block.get("store", DEFAULT_STORE))
    done: set[str] = set()
    if store.is_file():
        with Store(store, create=False) as db:
            status = db.status_of(c.key for c in cells if c.dataset not in unknown)
        done = {key for key, s in status.items() if s == "ok"}
    keys = {c.key for c in cells}
    return BlockPlan(index=index, block=block, n_detectors=len(detectors),
                     n_datasets=len(datasets), n_cells=len(keys), n_done=len(done),
                     not_cached=not_cached,
                     n_unknown=sum(1 for c in cells if c.dataset in unknown),
                     keys={f"{store}\0{k}" for k in keys}, done={f"{store}\0{k}" for k in done})


def plan(blocks: list[dict[str, Any]], numbers: list[int] | None = None) -> list[BlockPlan]:
    """The plan of each block (numbered from 1, or by ``numbers``)."""
    numbers = numbers or list(range(1, len(blocks) + 1))
    return [plan_block(i, block) for i, block in zip(numbers, blocks, strict=True)]


def pick_blocks(n_blocks: int, text: str | None, source: str = "grid file") -> list[int]:
    """The block numbers named by ``--block`` ("3" or "1,3"); all of them when ``text`` is None."""
    if not text:
        return list(range(1, n_blocks + 1))
    numbers = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= n_blocks:
            raise GridFileError(f"--block {text}: {source} has blocks 1 to {n_blocks}, "
                                f"got {part!r}")
        numbers.append(int(part))
    return sorted(set(numbers))


def plan_text(plans: list[BlockPlan], source: str = "") -> str:
    """The plan as people read it; the last line is the total."""
    lines = [f"Plan of {source}:" if source else "Plan:"]
    for p in plans:
        b = p.block
        what = ", ".join(b.get("detectors", ["(default suite)"]))
        extra = "".join(f", {k.replace('_', '-')} {b[k]}" for k in
                        ("max_samples", "timeout", "max_memory") if b.get(k) is not None)
        lines.append(
            f"  block {p.index}: {what}{extra}\n"
            f"    {p.n_detectors} detectors x {p.n_datasets} datasets x "
            f"{len(b.get('protocols', ['unsupervised']))} protocols x "
            f"{len(b.get('seeds', [1, 2, 3]))} seeds = {p.n_cells} cells; "
            f"{p.n_done} already ok in {b.get('store', DEFAULT_STORE)}; "
            f"{p.n_todo} to run" + (" (--force: all)" if b.get("force") else ""))
        if p.n_unknown:
            lines.append(f"    {p.n_unknown} cells on datasets without a published sha256 "
                         "that are not cached: counted as to run")
    missing = sorted({name for p in plans for name in p.not_cached})
    lines.append("  datasets not cached (would be downloaded): "
                 + (", ".join(missing) if missing else "none"))
    keys = set().union(*(p.keys for p in plans))
    forced = set().union(*(p.keys for p in plans if p.block.get("force")))
    done = set().union(*(p.done for p in plans)) - forced
    shared = sum(p.n_cells for p in plans) - len(keys)
    lines.append(f"Total: {len(keys)} cells in {len(plans)} block(s)"
                 + (f" ({shared} planned by more than one block, counted once)" if shared else "")
                 + f", {len(done)} already ok, {len(keys) - len(done)} to run. "
                   "Nothing was run (--dry-run).")
    return "\n".join(lines) + "\n"
