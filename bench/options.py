"""Choice lists shared by the command line and the library, importable without numpy or pandas.

The CLI builds its ``click.Choice`` options from these tuples, and the modules that validate the
same values (leaderboard, report, stats, export) import them from here, so a new choice is added
in one place.
"""

from __future__ import annotations

#: metrics a leaderboard can rank by
METRICS = ("auroc", "auprc")
#: leaderboard output formats; ``table`` is the terminal table (rich), the others are files
LEADERBOARD_FORMATS = ("table", "markdown", "csv", "html", "latex", "json")
#: what a leaderboard ranks
BY = ("detector", "family")
#: ``bench report`` formats
REPORT_FORMATS = ("html", "latex")
#: post-hoc tests after Friedman
POSTHOC = ("nemenyi", "wilcoxon")
#: what the statistics do with a missing result
MISSING = ("last", "drop")
#: ``bench export`` formats
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
#: executors of ``bench run``
EXECUTORS = ("serial", "process", "dask")
#: the store a command uses when --store is not given
DEFAULT_STORE = "bench-results.sqlite"
