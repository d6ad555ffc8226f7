"""Statistics and leaderboard arithmetic on small inputs whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import friedmanchisquare

from bench import leaderboard as lb
from bench import stats
from bench.errors import BenchError


def scores(rows: dict[str, list[float]], columns: str = "abc") -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(columns))


def test_rank_matrix_averages_ties_and_ranks_higher_first():
    ranked = stats.rank_matrix(scores({"d1": [0.9, 0.9, 0.8], "d2": [0.5, 0.7, 0.7],
                                       "d3": [0.6, 0.6, 0.6]}))
    assert ranked.loc["d1"].tolist() == [1.5, 1.5, 3.0]
    assert ranked.loc["d2"].tolist() == [3.0, 1.5, 1.5]
    assert ranked.loc["d3"].tolist() == [2.0, 2.0, 2.0]
    assert stats.rank_matrix(scores({"d": [3.0, 1.0, 2.0]}), higher_is_better=False).loc[
        "d"].tolist() == [3.0, 1.0, 2.0]


def test_friedman_statistic_equals_scipy_and_the_textbook_formula():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.random((10, 4)), columns=list("abcd"))
    statistic, pvalue = stats.friedman(frame)
    expected = friedmanchisquare(*(frame[c] for c in frame.columns))
    assert statistic == pytest.approx(expected.statistic) and pvalue == pytest.approx(expected.pvalue)
    # Demšar (2006), eq. for chi²_F without ties: 12N / (k(k+1)) * (sum R_j² - k(k+1)²/4)
    n, k = frame.shape
    avg = stats.rank_matrix(frame).mean(axis=0).to_numpy()
    textbook = 12 * n / (k * (k + 1)) * (np.sum(avg**2) - k * (k + 1) ** 2 / 4)
    assert statistic == pytest.approx(textbook)


def test_friedman_with_ties_matches_scipy():
    frame = scores({"d1": [0.9, 0.9, 0.8], "d2": [0.7, 0.5, 0.5], "d3": [0.8, 0.6, 0.7],
                    "d4": [0.9, 0.7, 0.7]})
    statistic, _ = stats.friedman(frame)
    assert statistic == pytest.approx(friedmanchisquare(*(frame[c] for c in "abc")).statistic)


@pytest.mark.parametrize(("k", "q"), [(3, 2.343), (5, 2.728), (10, 3.164)])
def test_nemenyi_critical_difference_matches_demsar_table(k, q):
    n = 20
    assert stats.nemenyi_cd(k, n) == pytest.approx(q * math.sqrt(k * (k + 1) / (6 * n)), abs=2e-3)


def test_compare_finds_a_dominant_detector_and_reports_what_it_left_out():
    rng = np.random.default_rng(1)
    base = rng.random((12, 4)) * 0.1 + 0.5
    frame = pd.DataFrame(base, columns=["good", "b", "c", "d"],
                         index=[f"ds{i}" for i in range(12)])
    frame["good"] += 0.3
    frame["broken"] = np.nan          # failed everywhere: excluded, not fatal
    frame.loc["ds0", "b"] = np.nan    # one missing result: ranks last, or drops ds0
    for method in stats.POSTHOC:
        result = stats.compare(frame, method=method, missing="drop")
        assert result.excluded == ["broken"] and result.dropped == ["ds0"]
        assert result.n_datasets == 11 and result.n_detectors == 4 and result.imputed == 0
        assert result.avg_ranks.index[0] == "good" and result.avg_ranks.iloc[0] == 1.0
        assert result.significant
        post = result.posthoc
        assert list(post.index) == list(post.columns) and np.allclose(post, post.T)
        assert post.loc["good", ["b", "c", "d"]].max() < 0.05
        assert (post.to_numpy() >= 0).all() and (post.to_numpy() <= 1).all()
        assert "Friedman chi²" in result.text()
    assert stats.compare(frame, missing="drop").critical_difference == pytest.approx(
        stats.nemenyi_cd(4, 11))
    last = stats.compare(frame)
    assert last.n_datasets == 12 and last.imputed == 1 and last.dropped == []
    complete = frame.drop(columns="broken").fillna(0.0)  # 0.0 is below every score: ranks last
    assert last.statistic == pytest.approx(stats.friedman(complete)[0])
    assert last.avg_ranks.to_dict() == pytest.approx(
        stats.rank_matrix(complete).mean(axis=0).to_dict())


def test_compare_refuses_too_little_data():
    with pytest.raises(BenchError, match="at least 3 detectors"):
        stats.compare(scores({"d1": [0.9, 0.8], "d2": [0.7, 0.6]}, "ab"))


def test_cd_diagram_writes_an_image(tmp_path):
    rng = np.random.default_rng(3)
    result = stats.compare(pd.DataFrame(rng.random((6, 4)), columns=list("abcd")))
    path = stats.cd_diagram(result, tmp_path / "cd.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def per_dataset_table(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = [{"protocol": "unsupervised", "detector": det, "dataset": ds, "auroc_mean": v}
            for ds, by_det in values.items() for det, v in by_det.items()]
    return pd.DataFrame(rows)


def test_leaderboard_ranks_average_ties_and_put_missing_results_last():
    table = per_dataset_table({
        "d1": {"a": 0.9, "b": 0.9, "c": 0.5, "e": np.nan},
        "d2": {"a": 0.8, "b": np.nan, "c": np.nan, "e": 0.9},
    })
    ranked = lb.ranks(table).set_index(["dataset", "detector"])["rank"]
    assert ranked["d1"].to_dict() == {"a": 1.5, "b": 1.5, "c": 3.0, "e": 4.0}
    assert ranked["d2"].to_dict() == {"a": 2.0, "b": 3.5, "c": 3.5, "e": 1.0}


def test_win_tie_loss_is_paired_over_datasets_with_both_results():
    table = per_dataset_table({
        "d1": {"ref": 0.80, "x": 0.90},
        "d2": {"ref": 0.80, "x": 0.8002},   # within the tie tolerance
        "d3": {"ref": 0.80, "x": 0.70},
        "d4": {"ref": 0.80, "x": 0.85},
        "d5": {"ref": np.nan, "x": 0.99},   # not paired
    })
    wtl = lb.win_tie_loss(table, "ref").set_index("detector")
    assert wtl.loc["x", ["wins", "ties", "losses"]].tolist() == [2, 1, 1]
    assert wtl.loc["ref", ["wins", "ties", "losses"]].tolist() == [0, 4, 0]
    with pytest.raises(lb.UnknownReferenceError, match="reference 'nope'"):
        lb.win_tie_loss(table, "nope")
