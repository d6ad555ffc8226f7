"""The ``bench`` command line: a thin click layer over plugins, runner, store and leaderboard.

Heavy libraries (numpy, pandas, scikit-learn, pyod, torch) are imported inside command bodies, so
``bench --help`` and the listing commands stay fast.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bench import __version__, plugins
from bench.errors import BenchError
from bench.options import (
    BY,
    DEFAULT_STORE,
    EXPORT_FORMATS,
    LEADERBOARD_FORMATS,
    METRICS,
    MISSING,
    POSTHOC,
    REPORT_FORMATS,
)
from bench.registry import split_list

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class BenchGroup(click.Group):
    """Turns :class:`BenchError` into a one-line error message instead of a traceback.

    Also remembers the arguments it was called with, so a run records its exact command line
    whether it came from a shell (``sys.argv``) or from ``main(args)`` (tests, other programs).
    """

    argv: list[str] | None = None

    def main(self, args: Any = None, *a: Any, **kw: Any) -> Any:
        self.argv = list(sys.argv[1:] if args is None else args)
        return super().main(args, *a, **kw)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # a read-only folder, a full disk, a missing path: one line
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"cannot access{where}: {exc.strerror or exc}") from exc


def _complete_detectors(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _complete(plugins.get_detectors().names(), incomplete)


def _complete_datasets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _complete(plugins.get_datasets().names(), incomplete)


def _complete(names: list[str], incomplete: str) -> list[str]:
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    return [prefix + n for n in names if n.startswith(last)]


@click.group(cls=BenchGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="anomaly-bench")
@click.option(
    "--plugins-dir",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Load every .py file in DIR as a plugin (repeatable).",
    metavar="DIR",
)
@click.option(
    "--registry-dir",
    type=click.Path(exists=True, file_okay=False),
    help="Folder of your own dataset registry files (*.toml), added to the built-in registry; "
         "default $BENCH_REGISTRY_DIR.",
    metavar="DIR",
)
@click.pass_context
def cli(ctx: click.Context, plugins_dir: tuple[str, ...], registry_dir: str | None) -> None:
    """anomaly-bench: run anomaly detectors across datasets and rank them.

    \b
    bench run                       the default suite (embedded datasets, 3 seeds)
    bench run --detectors iforest,knn --datasets 'adbench:*' --jobs 2
    bench leaderboard               the ranked table of the default store
    bench list detectors            what the plugins registered
    """
    if registry_dir:
        os.environ["BENCH_REGISTRY_DIR"] = os.path.abspath(registry_dir)
        plugins.reset_registries()
    if plugins_dir:
        plugins.load_plugins([os.path.abspath(d) for d in plugins_dir])
        plugins.reset_registries()
    ctx.ensure_object(dict)


# ---------------------------------------------------------------------------------------------
# run


def _parse_seeds(value: str) -> list[int]:
    from bench.planner import MAX_SEEDS

    seeds: list[int] = []
    for part in split_list(value):
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                first, last = int(lo), int(hi)
                if last - first + 1 > MAX_SEEDS:
                    raise click.BadParameter(f"{value!r}: {last - first + 1} seeds; at most "
                                             f"{MAX_SEEDS} in one run")
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise click.BadParameter(f"{value!r}: seeds are integers, e.g. 1,2,3 or 1-5") from None
    return list(dict.fromkeys(seeds))


@cli.command()
@click.option("-d", "--detectors", default=None, shell_complete=_complete_detectors,
              help="Comma list of detector names, globs ('pyod_*') or NAME[param=value,...]. "
                   "Default: every available detector not tagged slow.")
@click.option("-D", "--datasets", default=None, shell_complete=_complete_datasets,
              help="Comma list of dataset names or globs ('adbench:*'). Default: the embedded datasets.")
@click.option("--dataset-file", multiple=True, type=click.Path(dir_okay=False),
              help="Your own data: .npz (X, y), .csv (label column) or .mat; named file:<stem>. Repeatable.")
@click.option("--label-column", default="y", show_default=True, help="Label column of a CSV --dataset-file.")
@click.option("--one-vs-rest", default=None, metavar="all|C1,C2",
              help="Make each --dataset-file with class labels into one task per class (all, or the "
                   "classes given): that class normal, the others anomalies. Named file:<stem>.<class>.")
@click.option("--anomaly-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="With --one-vs-rest: anomalies sampled (fixed seed) to this share. Default 0.1.")
@click.option("-s", "--seeds", default="1,2,3", show_default=True, help="Seeds, e.g. 1,2,3 or 1-5.")
@click.option("-p", "--protocol", default="unsupervised", show_default=True,
              help="unsupervised, novelty, adbench or oneclass (comma list for several).")
@click.option("--store", default="bench-results.sqlite", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite result store (created if missing; reruns resume it).")
@click.option("-j", "--jobs", default=None, type=click.IntRange(1),
              help="Worker processes (with --executor dask: LocalCluster workers). "
                   "Default: one per CPU core available to this process.")
@click.option("--executor", type=click.Choice(["serial", "process", "dask"]), default=None,
              help="serial (in this process), process (isolated workers) or dask (a Dask cluster). "
                   "Default: dask with --scheduler, else process when --jobs > 1, --timeout or "
                   "--max-memory is given, else serial.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler to use, e.g. tcp://host:8786 (implies --executor dask). "
                   "Without it, --executor dask starts a LocalCluster of --jobs workers.")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory limit per worker, e.g. 4GB or 500MiB: a cell that passes it is "
                   "'failed' and its worker replaced (process and dask executors).")
@click.option("--timeout", type=float, default=None,
              help="Seconds a cell may spend fitting and scoring before it is stopped as 'timeout' "
                   "(imports, loading and warm-up are not counted).")
@click.option("--threads-per-job", type=click.IntRange(1), default=None,
              help="BLAS/torch threads per worker (default: cores / jobs).")
@click.option("--max-samples", type=click.IntRange(2), default=None,
              help="Subsample datasets above N rows (stratified, recorded in each cell).")
@click.option("--force", is_flag=True, help="Recompute cells that already finished ok "
                                            "(an ok result is never replaced by a failure).")
@click.option("--skip-missing", is_flag=True,
              help="Run the datasets that are available and record the cells of those that cannot "
                   "be fetched (offline, not cached) as not run.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.option("--no-leaderboard", is_flag=True, help="Do not print the leaderboard at the end.")
@click.option("--config", "config_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="A grid file (TOML, see docs/grids.md): one run per [[grid]] block; options "
                   "given on the command line override the file.")
@click.option("--block", "block_numbers", default=None, metavar="N[,N...]",
              help="With --config: run only these [[grid]] blocks (numbered from 1, as --dry-run "
                   "shows them).")
@click.option("--dry-run", is_flag=True,
              help="Print the plan (cells, how many already ok, datasets not cached); run nothing.")
def run(detectors: str | None, datasets: str | None, dataset_file: tuple[str, ...], label_column: str,
        one_vs_rest: str | None, anomaly_share: float | None, seeds: str, protocol: str,
        store: str, jobs: int | None, executor: str | None, scheduler: str | None,
        max_memory: str | None, timeout: float | None, threads_per_job: int | None,
        max_samples: int | None, force: bool, skip_missing: bool, quiet: bool,
        no_leaderboard: bool, config_file: str | None = None, dry_run: bool = False,
        block_numbers: str | None = None) -> None:
    """Run detectors across datasets and seeds, saving every cell to the store.

    A rerun of the same command skips cells already finished ok and retries the others.
    The exit status is 1 when any cell failed or timed out. The table printed at the end is
    what 'bench leaderboard --store STORE' prints.
    """
    if block_numbers and not config_file:
        raise click.UsageError("--block needs --config")
    if config_file or dry_run:
        return _run_grid(click.get_current_context(), config_file, dry_run, block_numbers)
    from bench import api
    from bench.execution import parse_memory

    try:
        parse_memory(max_memory)
    except BenchError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-memory") from None
    if (one_vs_rest or anomaly_share) and not dataset_file:
        raise click.UsageError("--one-vs-rest and --anomaly-share apply to --dataset-file")
    if anomaly_share and not one_vs_rest:
        raise click.UsageError("--anomaly-share needs --one-vs-rest")
    chosen: list[Any] | None = None
    if datasets or dataset_file:
        chosen = [datasets] if datasets else []
        if one_vs_rest:
            from bench import images

            for path in dataset_file:
                chosen += images.one_vs_rest_specs(
                    path, one_vs_rest, label_column=label_column,
                    anomaly_share=anomaly_share or images.DEFAULT_ANOMALY_SHARE)
        else:
            chosen += [Path(p) for p in dataset_file]
    argv = cli.argv if cli.argv is not None else sys.argv[1:]
    frame = api.run(
        detectors,
        chosen,
        protocols=protocol, seeds=_parse_seeds(seeds), store=store, executor=executor, jobs=jobs,
        timeout=timeout, max_memory=max_memory, max_samples=max_samples,
        threads_per_job=threads_per_job, force=force, progress=not quiet, scheduler=scheduler,
        label_column=label_column, skip_missing=skip_missing,
        config=click.get_current_context().meta.get("bench.config"),
        command="bench " + " ".join(shlex.quote(a) for a in argv))
    if not no_leaderboard and not quiet:
        click.echo(_leaderboard_text(store, "auroc", None, None, "detector", None, None),
                   nl=False)
    counts = frame.attrs["counts"]
    summary = f"{counts['ok']} ok, {counts['failed']} failed, {counts['timeout']} timed out" + (
        f", {counts['skipped']} skipped (already ok)" if counts["skipped"] else "") + (
        f", {counts['missing']} not run (dataset not available)" if counts["missing"] else "")
    click.echo(summary, err=True)
    if counts["failed"] + counts["timeout"]:
        raise click.exceptions.Exit(1)


def _run_grid(ctx: click.Context, config_file: str | None, dry_run: bool,
              block_numbers: str | None = None) -> None:
    """``bench run --config FILE`` and ``--dry-run``: one run per grid block, or the plan."""
    from click.core import ParameterSource

    from bench import config

    params = {k: v for k, v in ctx.params.items()
              if k not in ("config_file", "dry_run", "block_numbers")}
    if config_file:
        given = {k for k in params if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
        blocks = config.resolve(config.load(config_file), config.from_cli(params, given),
                                config.from_cli(params))
    else:
        blocks = [config.from_cli(params)]
    n_blocks = len(blocks)
    numbers = config.pick_blocks(n_blocks, block_numbers, config_file or "the command line")
    blocks = [blocks[i - 1] for i in numbers]
    if dry_run:
        click.echo(config.plan_text(config.plan(blocks, numbers), config_file or "the command line"),
                   nl=False)
        return
    failed = 0
    for i, block in zip(numbers, blocks, strict=True):
        ctx.meta["bench.config"] = {"file": config_file, "block": i, "of": n_blocks, **block}
        if not params["quiet"]:
            click.echo(f"grid block {i} of {n_blocks}", err=True)
        # each block runs through this command's body, a thin layer over bench.run
        try:
            ctx.invoke(ctx.command, **{**params, **config.to_cli(block)})
        except click.exceptions.Exit as exc:
            failed += exc.exit_code != 0
    ctx.meta.pop("bench.config", None)
    if failed:
        raise click.exceptions.Exit(1)


# ---------------------------------------------------------------------------------------------
# listings


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
    return "\n".join(lines)


@cli.group(name="list")
def list_() -> None:
    """List registered detectors or datasets."""


@list_.command(name="detectors")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def list_detectors(as_json: bool) -> None:
    """Detectors: name, family, plugin, tags and whether each is available here."""
    rows = []
    for spec in plugins.get_detectors():
        reason = spec.unavailable_reason()
        rows.append({"name": spec.name, "family": spec.family, "plugin": spec.plugin,
                     "tags": ",".join(spec.tags), "status": "available" if reason is None else
                     f"unavailable: {reason}", "factory": spec.factory_ref,
                     "params": dict(spec.params), "description": spec.description})
    if as_json:
        for row in rows:  # JSON types: tags a list, availability a boolean
            row["tags"] = row["tags"].split(",") if row["tags"] else []
            row["available"] = row["status"] == "available"
        click.echo(json.dumps(rows, indent=2, default=repr))
    else:
        click.echo(_table(rows, ["name", "family", "plugin", "tags", "status"]))


@list_.command(name="datasets")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def list_datasets(as_json: bool) -> None:
    """Datasets: name, size, anomaly ratio, source and whether the file is cached."""
    from bench import data

    rows, text_rows = [], []
    for spec in plugins.get_datasets():
        cached = data.is_cached(spec)
        ratio = spec.anomaly_ratio
        row = {"name": spec.name, "n_samples": spec.n_samples, "n_features": spec.n_features,
               "anomaly_ratio": None if ratio is None else round(ratio, 4),
               "source": spec.source, "embedded": cached is None,
               "cached": True if cached is None else cached, "verified": spec.verified,
               "plugin": spec.plugin}
        rows.append(row)
        text_rows.append({**row, "n_samples": spec.n_samples or "",
                          "n_features": spec.n_features or "",
                          "anomaly_ratio": f"{ratio:.4f}" if ratio is not None else "",
                          "cached": "embedded" if cached is None else ("yes" if cached else "no"),
                          "verified": "yes" if spec.verified else ("-" if spec.loader else
                                                                   "no sha256")})
    if as_json:  # JSON types: numbers and booleans, null when unknown
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(text_rows, ["name", "n_samples", "n_features", "anomaly_ratio", "source",
                                      "cached", "verified"]))


@cli.group(name="detectors")
def detectors_cmd() -> None:
    """Show what a registered detector is before running it."""


@detectors_cmd.command(name="info")
@click.argument("name", shell_complete=_complete_detectors)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def detectors_info(name: str, as_json: bool) -> None:
    """The card of detector NAME: parameters with defaults and types, scoring rule, citation,
    tags, plugin and version. NAME may carry parameters: 'vae[score=iwae]'.

    It imports the detector's module (torch for a deep detector) to read its signature.
    """
    from bench import info

    specs = plugins.get_detectors().select([name])
    if len(specs) != 1:
        raise click.BadParameter(f"{name!r} matches {len(specs)} detectors "
                                 f"({', '.join(s.label for s in specs)}); name one",
                                 param_hint="NAME")
    card = info.card(specs[0])
    click.echo(json.dumps(card, indent=2) if as_json else info.to_text(card), nl=as_json)


@cli.group(name="plugins", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Include the core's default plugins.")
@click.option("--hook", default=None, help="Only plugins that implement this hook.")
@click.pass_context
def plugins_cmd(ctx: click.Context, show_all: bool, hook: str | None) -> None:
    """Show installed plugins as JSON: name, version, hooks, what they registered, load errors."""
    if ctx.invoked_subcommand is not None:
        return
    found = plugins.get_plugins(all=show_all)
    if hook:
        found = [p for p in found if hook in p["hooks"]]
    click.echo(json.dumps(found, indent=2))


@plugins_cmd.command(name="check")
@click.argument("names", nargs=-1, required=True, shell_complete=_complete_detectors)
@click.option("--check", "only", multiple=True, metavar="CHECK",
              help="Run only this check (repeatable); default: all of them.")
@click.option("--json", "as_json", is_flag=True, help="JSON output (one object per detector).")
def plugins_check(names: tuple[str, ...], only: tuple[str, ...], as_json: bool) -> None:
    """Run the detector conformance checks on registered detectors NAMES.

    NAMES are names, globs or NAME[param=value,...] (e.g. 'pyod_alad[epochs=5]' for a quick
    run). Each check's result is printed; the exit status is 1 when any check failed.
    """
    from bench import testing

    unknown = [c for c in only if c not in testing.CHECKS]
    if unknown:
        raise click.BadParameter(f"unknown check(s) {', '.join(unknown)}; choose from "
                                 f"{', '.join(testing.CHECKS)}", param_hint="--check")
    specs = plugins.get_detectors().select(names, validate=False)  # the checks report problems
    reports, failed = [], 0
    for spec in specs:
        if not as_json:
            click.echo(spec.label)
        results = []
        for result in testing.iter_checks(spec, checks=only or None):
            results.append(result)
            if not as_json:
                click.echo(f"  {result}")
        bad = [r.check for r in results if r.status == "failed"]
        failed += bool(bad)
        reports.append({"detector": spec.label, "plugin": spec.plugin, "passed": not bad,
                        "failed": bad, "results": [vars(r) for r in results]})
        if not as_json:
            summary = f"failed {', '.join(bad)}" if bad else "all checks passed"
            click.echo(f"  {spec.label}: {summary}")
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    if failed:
        click.echo(f"{failed} of {len(specs)} detector(s) failed a check", err=True)
        raise click.exceptions.Exit(1)


@plugins_cmd.command(name="new")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False), help="Folder in which to create bench-NAME/.")
def plugins_new(name: str, directory: str) -> None:
    """Write a ready plugin package bench-NAME/ with a working detector NAME to fill in.

    It holds pyproject.toml (the `bench` entry point), bench_NAME/ (the hook and the detector
    class), tests/ (the conformance checks) and a README. Then: pip install -e bench-NAME.
    """
    from bench import scaffold

    root = scaffold.new_plugin(name, directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        click.echo(f"created {path}")
    click.echo(f"next: pip install -e {root} && bench plugins check {name}", err=True)


# ---------------------------------------------------------------------------------------------
# datasets


@cli.group(name="datasets")
def datasets_cmd() -> None:
    """Fetch registered datasets into the cache, or show their data cards."""


@datasets_cmd.command(name="fetch")
@click.argument("names", nargs=-1, required=True, shell_complete=_complete_datasets)
@click.option("--force", is_flag=True, help="Download again even when cached.")
def datasets_fetch(names: tuple[str, ...], force: bool) -> None:
    """Download NAMES (names or globs) into the cache dir ($BENCH_DATA_DIR), checking sha256."""
    from bench import data

    specs = plugins.get_datasets().select(names)
    failed = 0
    for spec in specs:
        if spec.loader is not None:
            click.echo(f"{spec.name}: embedded, nothing to fetch")
            continue
        try:
            path = data.fetch(spec, force=force)
        except BenchError as exc:
            failed += 1
            click.echo(f"{spec.name}: error: {exc}", err=True)
            continue
        note = "" if spec.verified else " (no published sha256: unverified)"
        click.echo(f"{spec.name}: {path}{note}")
    if failed:
        raise click.ClickException(f"{failed} of {len(specs)} dataset(s) could not be fetched")


@datasets_cmd.command(name="info")
@click.argument("name", shell_complete=_complete_datasets)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def datasets_info(name: str, as_json: bool) -> None:
    """The data card of NAME: source, license, citation, shape, sha256, cache path."""
    from bench import data

    spec = plugins.get_datasets().get(name)
    path = data.cached_path(spec)
    card = {
        "name": spec.name, "source": spec.source, "description": spec.description,
        "n_samples": spec.n_samples, "n_features": spec.n_features, "n_anomalies": spec.n_anomalies,
        "anomaly_ratio": spec.anomaly_ratio, "url": spec.url, "filename": spec.filename,
        "sha256": spec.sha256 or ("(none published: unverified)" if spec.url else None),
        "license": spec.license, "citation": spec.citation, "plugin": spec.plugin,
        "cache_path": str(path) if path else None, "cached": data.is_cached(spec),
        "tags": list(spec.tags),
    }
    if as_json:
        click.echo(json.dumps(card, indent=2))
    else:
        for key, value in card.items():
            if value not in (None, "", []):
                click.echo(f"{key + ':':<14} {value}")


# ---------------------------------------------------------------------------------------------
# results


def _load_cells(store: str, protocol: str | None = None) -> Any:
    from bench.store import Store

    with Store(store, create=False) as db:
        return db.query(protocol=protocol)


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _leaderboard_text(store: Any, metric: str, fmt: str | None, protocol: str | None, by: str,
                      reference: str | None, output: str | None) -> str:
    """What `bench leaderboard` prints, and the end of `bench run` (one function for both)."""
    from bench import api
    from bench import leaderboard as lb

    if fmt is None:
        fmt = "table" if output is None and sys.stdout.isatty() else "markdown"
    width = None
    if fmt == "table":
        import shutil

        width = shutil.get_terminal_size((160, 24)).columns
    try:
        return api.render_leaderboard(store, metric=metric, fmt=fmt, protocol=protocol, by=by,
                                      reference=reference, width=width)
    except lb.UnknownReferenceError as exc:
        raise click.BadParameter(str(exc), param_hint="--reference") from None



@cli.command()
@click.option("--store", default=DEFAULT_STORE, show_default=True, type=click.Path(dir_okay=False))
@click.option("--metric", type=click.Choice(METRICS), default="auroc", show_default=True)
@click.option("--format", "fmt", type=click.Choice(LEADERBOARD_FORMATS), default=None,
              help="table (the terminal: a rich table of the summaries), markdown, csv, html, "
                   "latex or json. Default: table on a terminal, else markdown.")
@click.option("--protocol", default=None, help="Only this protocol.")
@click.option("--by", type=click.Choice(BY), default="detector", show_default=True,
              help="Rank detectors, or detector families (all their cells pooled per dataset).")
@click.option("--reference", default=None, metavar="NAME",
              help="Add wins/ties/losses against this detector (or family), paired over datasets.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file.")
def leaderboard(store: str, metric: str, fmt: str | None, protocol: str | None, by: str,
                reference: str | None, output: str | None) -> None:
    """Ranked table: mean ± std over seeds per dataset, average rank and metric per detector.

    Also median fit/score time and the cell's own peak memory, and completeness (cells ok /
    cells planned), with failed, timed-out and never-run cells counted. The columns are
    explained in docs/reading-tables.md.
    """
    _write(_leaderboard_text(store, metric, fmt, protocol, by, reference, output), output)


@cli.command()
@click.option("--store", default=DEFAULT_STORE, show_default=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into (created if missing).")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="html", show_default=True,
              help="html: index.html with PNG figures and the leaderboard as CSV/JSON beside it; "
                   "latex: tables.tex (booktabs).")
@click.option("--metric", type=click.Choice(METRICS), default="auroc", show_default=True)
@click.option("--posthoc", type=click.Choice(POSTHOC), default="nemenyi",
              show_default=True, help="Post-hoc test after Friedman (wilcoxon: Holm-corrected).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Significance level.")
@click.option("--missing", type=click.Choice(MISSING), default="last", show_default=True,
              help="Statistics: a missing result ranks last on its dataset, or the dataset is "
                   "left out of the tests (use drop for a partial grid).")
def report(store: str, out_dir: str, fmt: str, metric: str, posthoc: str, alpha: float,
           missing: str) -> None:
    """A static report of STORE: leaderboard, statistics, figures, failures, provenance.

    The HTML report opens offline: index.html, its PNG figures and the leaderboard as CSV and
    JSON; its tables sort when a header is clicked, with no script from the network.
    """
    from bench import report as rep

    path = rep.build(store, out_dir, fmt=fmt, metric=metric, posthoc=posthoc, alpha=alpha,
                     missing=missing)
    click.echo(f"wrote {path}", err=True)


@cli.command()
@click.option("--store", default=DEFAULT_STORE, show_default=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True,
              help="csv, jsonl (one JSON object a line) or parquet (needs -o).")
@click.option("--protocol", default=None, help="Only this protocol.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file.")
def export(store: str, fmt: str, protocol: str | None, output: str | None) -> None:
    """One row per cell: detector, dataset, protocol, seed, status, metrics, times, error, provenance."""
    from bench.record import export_order

    cells = _load_cells(store, protocol)
    cells = cells[export_order(list(cells.columns))]
    if fmt == "parquet":
        if not output:
            raise click.UsageError("--format parquet writes a binary file: give -o FILE.parquet")
        try:
            cells.to_parquet(output, index=False, engine="pyarrow")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        click.echo(f"wrote {output} ({len(cells)} cells)", err=True)
        return
    if fmt == "csv":
        text = cells.to_csv(index=False)
    else:
        text = cells.to_json(orient="records", lines=True)
        text = text if text.endswith("\n") or not text else text + "\n"
    _write(text, output)


@cli.command()
@click.argument("a")
@click.argument("b")
@click.option("--store", default=None, type=click.Path(dir_okay=False),
              help="Compare two runs of this store: A and B are run ids (see bench report's "
                   "provenance, or the runs table).")
@click.option("--metric", type=click.Choice(METRICS), default="auroc", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file.")
def compare(a: str, b: str, store: str | None, metric: str, as_json: bool,
            output: str | None) -> None:
    """Compare results A and B: two stores, or two runs of one store (--store S RUN_A RUN_B).

    Per dataset the difference B - A of the mean over seeds; per detector wins, ties and
    losses of B and a paired Wilcoxon signed-rank test over datasets; and the cells whose
    parameters, plugin version or dataset file changed between A and B.
    """
    from bench import compare as cmp

    result = cmp.compare(cmp.side(a, store), cmp.side(b, store), metric)
    _write(cmp.to_json(result) if as_json else cmp.to_text(result), output)


@cli.command()
@click.option("--store", default=DEFAULT_STORE, show_default=True, type=click.Path(dir_okay=False))
@click.option("--stale", is_flag=True,
              help="Also remove the cells this installation would compute again (their "
                   "detector's code, plugin version or a default changed, or the dataset's "
                   "registered sha256): the tables show them until a rerun.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before removing.")
def prune(store: str, stale: bool, dry_run: bool, yes: bool) -> None:
    """Remove superseded cells (a later run planned their slot under another key), and with
    --stale the cells no run would resume, then compact the file.

    Lists what it removes per detector first. The cells of a detector not registered here are
    not judged stale, and kept. Removed cells are gone from the file (their attempts and planned
    rows too).
    """
    from bench import prune as pr

    found = pr.find(store, stale=stale)
    n = len(found.remove)
    counts = found.remove["reason"].value_counts().to_dict() if n else {}
    detail = ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items()))
    click.echo(f"{store}: {found.n_cells:,} cells; {n:,} to remove"
               f"{f' ({detail})' if detail else ''}, {found.n_cells - n:,} kept.")
    if n:
        rows = found.summary().to_dict("records")
        click.echo(_table(rows, ["detector", "reason", "why", "cells"]))
    for what, why in found.unjudged.items():
        click.echo(f"kept, not judged: {what}: {why}", err=True)
    if dry_run or not n:
        if dry_run and n:
            click.echo("dry run: nothing removed.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("removing cells cannot be undone: give --yes (or --dry-run)")
        click.confirm(f"Remove these {n:,} cells from {store}?", abort=True)
    removed, before, after = pr.prune(found)
    click.echo(f"removed {removed:,} cells with their attempts; {store}: "
               f"{before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


def _register_plugin_commands(group: click.Group, hook: Callable[..., Any]) -> None:
    try:
        hook(cli=group)
    except Exception as exc:  # a broken plugin command must not break the CLI
        click.echo(f"warning: a plugin failed in register_commands: {exc}", err=True)


plugins.load_plugins()
_register_plugin_commands(cli, plugins.pm.hook.register_commands)
