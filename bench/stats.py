"""Statistics over a leaderboard: Friedman test, post-hoc tests and the critical difference diagram.

Follows Demšar (2006), "Statistical comparisons of classifiers over multiple data sets", JMLR 7:
detectors are compared on their per-dataset mean score (over seeds), ranked within each dataset
(1 = best, ties averaged). The Friedman test asks whether any detector differs; the post-hoc test
is Nemenyi (all pairs, with a critical difference of average ranks) or pairwise Wilcoxon
signed-rank tests with Holm's correction (Benavoli et al., 2016). The computations come from
scipy and scikit-posthocs, imported lazily. Detectors without any result are left out; a result
missing on some dataset (failed, timed out, never ran) ranks last there, as in the leaderboard, or,
with ``missing="drop"``, removes that dataset from the tests (see :func:`compare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.options import MISSING, POSTHOC

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: A missing score is imputed this far below the worst score on its dataset (so it ranks last).
IMPUTE_GAP = 1e-9


@dataclass
class Comparison:
    """The outcome of :func:`compare` on one datasets x detectors score matrix."""

    statistic: float
    pvalue: float
    n_datasets: int
    n_detectors: int
    avg_ranks: pd.Series
    posthoc: pd.DataFrame
    posthoc_method: str
    alpha: float
    critical_difference: float | None
    dropped: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    imputed: int = 0

    @property
    def significant(self) -> bool:
        return bool(self.pvalue < self.alpha)

    def text(self) -> str:
        cd = ("" if self.critical_difference is None
              else f"; Nemenyi critical difference {self.critical_difference:.3f}")
        verdict = "differ significantly" if self.significant else "show no significant difference"
        return (f"Friedman chi² = {self.statistic:.3f}, p = {self.pvalue:.3g} over "
                f"{self.n_datasets} datasets and {self.n_detectors} detectors: the detectors "
                f"{verdict} at alpha = {self.alpha}{cd}.")


def score_matrix(table: pd.DataFrame, metric: str = "auroc", *, by: str = "detector",
                 protocol: str | None = None) -> pd.DataFrame:
    """Datasets x detectors of mean scores, from :func:`bench.leaderboard.per_dataset`."""
    if protocol is not None:
        table = table[table["protocol"] == protocol]
    return table.pivot_table(index="dataset", columns=by, values=f"{metric}_mean",
                             aggfunc="first", dropna=False)


def rank_matrix(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """Rank detectors within each dataset (row): 1 = best, ties get their average rank."""
    import pandas as pd
    from scipy.stats import rankdata

    values = -scores.to_numpy(dtype=float) if higher_is_better else scores.to_numpy(dtype=float)
    return pd.DataFrame(rankdata(values, axis=1, method="average"), index=scores.index,
                        columns=scores.columns)


def friedman(scores: pd.DataFrame) -> tuple[float, float]:
    """Friedman chi-square statistic and p-value (scipy), datasets as blocks."""
    from scipy.stats import friedmanchisquare

    result = friedmanchisquare(*(scores[c].to_numpy(dtype=float) for c in scores.columns))
    return float(result.statistic), float(result.pvalue)


def nemenyi_cd(n_detectors: int, n_datasets: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: q_alpha * sqrt(k(k+1) / 6N)."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, n_detectors, math.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_detectors * (n_detectors + 1) / (6 * n_datasets)))


def posthoc(scores: pd.DataFrame, method: str = "nemenyi") -> pd.DataFrame:
    """Pairwise p-values, detectors x detectors (scikit-posthocs)."""
    import scikit_posthocs as sp

    if method == "nemenyi":
        return sp.posthoc_nemenyi_friedman(scores.reset_index(drop=True))
    if method == "wilcoxon":
        long = scores.reset_index(drop=True).melt(var_name="detector", value_name="score")
        out = sp.posthoc_wilcoxon(long, val_col="score", group_col="detector",
                                  p_adjust="holm", zero_method="zsplit")
        return out.loc[list(scores.columns), list(scores.columns)]
    raise ValueError(f"unknown post-hoc test {method!r} (choose from {', '.join(POSTHOC)})")


def compare(scores: pd.DataFrame, *, method: str = "nemenyi", alpha: float = 0.05,
            missing: str = "last") -> Comparison:
    """Friedman test and post-hoc comparisons on a datasets x detectors score matrix.

    Detectors without any result are left out (``excluded``). A missing score otherwise counts,
    with ``missing="last"``, as just below the worst score on that dataset, so it ranks last as
    in the leaderboard (``imputed`` counts them); with ``missing="drop"``, datasets with a missing
    score leave the tests (``dropped``).
    """
    from bench.errors import BenchError

    if method not in POSTHOC:
        raise ValueError(f"unknown post-hoc test {method!r} (choose from {', '.join(POSTHOC)})")
    if missing not in MISSING:
        raise ValueError(f"unknown missing policy {missing!r} (choose from {', '.join(MISSING)})")
    excluded = [str(c) for c in scores.columns[scores.isna().all(axis=0)]]
    present = scores.dropna(axis=1, how="all").dropna(axis=0, how="all")
    imputed = int(present.isna().sum().sum())
    if missing == "last":
        worst = present.min(axis=1) - IMPUTE_GAP
        complete = present.apply(lambda column: column.fillna(worst))
    else:
        complete, imputed = present.dropna(axis=0, how="any"), 0
    dropped = [str(d) for d in scores.index.difference(complete.index)]
    k, n = complete.shape[1], complete.shape[0]
    if k < 3 or n < 2:
        raise BenchError(f"the Friedman test needs at least 3 detectors and 2 datasets with "
                         f"results; have {k} detectors and {n} datasets")
    statistic, pvalue = friedman(complete)
    avg = rank_matrix(complete).mean(axis=0).sort_values()
    return Comparison(
        statistic=statistic,
        pvalue=pvalue,
        n_datasets=n,
        n_detectors=k,
        avg_ranks=avg,
        posthoc=posthoc(complete, method),
        posthoc_method=method,
        alpha=alpha,
        critical_difference=nemenyi_cd(k, n, alpha) if method == "nemenyi" else None,
        dropped=dropped,
        excluded=excluded,
        imputed=imputed,
    )


def cd_diagram(result: Comparison, path: str | Path, title: str = "") -> Path:
    """Draw the critical difference diagram (scikit-posthocs) to ``path`` (PNG, SVG or PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    k = result.n_detectors
    longest = max((len(str(label)) for label in result.avg_ranks.index), default=8)
    # labels sit left and right of the rank axis: give them room (about 0.07 in per character)
    fig, ax = plt.subplots(figsize=(7 + 2 * 0.075 * longest, 1.4 + 0.3 * k))
    kwargs: dict[str, Any] = {"alpha": result.alpha, "ax": ax,
                              "label_props": {"fontsize": 9}}
    sp.critical_difference_diagram(result.avg_ranks, result.posthoc, **kwargs)
    note = f"Friedman p = {result.pvalue:.3g}; {result.posthoc_method} post-hoc, alpha {result.alpha}"
    if result.critical_difference is not None:
        note += f", CD = {result.critical_difference:.2f}"
    ax.set_title(f"{title}\n{note}" if title else note, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.2)
    plt.close(fig)
    return path
