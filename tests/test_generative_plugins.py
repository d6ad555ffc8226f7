"""The generative detector plugins ``gan``, ``bigan`` and ``diffusion``: contract, determinism,
ranking of obvious outliers, score variants, divergence and collapse (small data, CPU)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bench_torchkit import TrainingCollapsedError, TrainingDivergedError  # noqa: E402

from bench import plugins  # noqa: E402


def _classes():
    from bench_bigan.model import BiGANDetector
    from bench_diffusion.model import DiffusionDetector
    from bench_gan.model import GANDetector

    return {"gan": GANDetector, "bigan": BiGANDetector, "diffusion": DiffusionDetector}


VARIANTS = [
    ("gan", {}),
    ("bigan", {}),
    ("bigan", {"disc": "ce"}),
    ("bigan", {"disc": "fm", "a": 0.5}),
    ("diffusion", {}),
    ("diffusion", {"score": "ddpm"}),
]


def _make(name: str, **params):
    cls = _classes()[name]
    return cls(**{**cls.test_config(), **params})


@pytest.fixture(scope="module")
def blobs():
    """300 inliers in two correlated clusters, 6 features; test rows with 4 far outliers."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.3] * 6, [0.7, 0.3, 0.7, 0.3, 0.7, 0.3]])
    X = centres[rng.integers(0, 2, 300)] + 0.04 * rng.standard_normal((300, 6))
    inl = centres[rng.integers(0, 2, 40)] + 0.04 * rng.standard_normal((40, 6))
    out = rng.uniform(-0.6, 1.6, (4, 6))
    out[np.abs(out - 0.5).max(axis=1) < 0.6, 0] = 1.6  # make sure each is far out
    Xt = np.vstack([inl, out])
    y = np.r_[np.zeros(40), np.ones(4)]
    return X, Xt, y


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=lambda v: str(v))
def test_contract_and_outliers(blobs, name, params):
    from sklearn.metrics import roc_auc_score

    X, Xt, y = blobs
    det = _make(name, random_state=0, **params)
    assert det.fit(X) is det
    assert det.decision_scores_.shape == (300,)
    scores = det.decision_function(Xt)
    assert scores.shape == (44,) and np.isfinite(scores).all()
    assert roc_auc_score(y, scores) >= 0.9, (name, params, roc_auc_score(y, scores))
    hist = det.history_
    assert hist and {"epoch", "train_loss", "val_loss", "seconds"} <= set(hist[0])
    assert all(np.isfinite(h["train_loss"]) for h in hist)
    # parameters round-trip (get_params / clone)
    from sklearn.base import clone

    assert clone(det).get_params() == det.get_params()
    for key, value in params.items():
        assert det.get_params()[key] == value


@pytest.mark.parametrize("name", ["gan", "bigan", "diffusion"])
def test_same_seed_same_scores(blobs, name):
    X, Xt, _ = blobs
    a = _make(name, random_state=3).fit(X).decision_function(Xt)
    b = _make(name, random_state=3).fit(X).decision_function(Xt)
    c = _make(name, random_state=4).fit(X).decision_function(Xt)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", ["gan", "bigan", "diffusion"])
def test_divergence_raises(blobs, name):
    X, _, _ = blobs
    det = _make(name, random_state=0, lr=1e30, clip_grad=None)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        det.fit(X)


@pytest.mark.parametrize("name", ["gan", "bigan", "diffusion"])
def test_constant_rows_collapse(name):
    X = np.full((64, 5), 0.5)
    det = _make(name, random_state=0, epochs=2, max_steps=4)
    with pytest.raises(TrainingCollapsedError, match="collapsed"):
        det.fit(X)


@pytest.mark.parametrize(
    ("name", "params"),
    [("bigan", {"disc": "l2"}), ("bigan", {"a": 1.5}), ("diffusion", {"score": "x"})],
)
def test_bad_parameters(blobs, name, params):
    X, _, _ = blobs
    with pytest.raises(ValueError):
        _make(name, **params).fit(X)


def test_gan_scores_average_snapshots(blobs):
    X, _, _ = blobs
    det = _make("gan", random_state=0, n_snapshots=3).fit(X)
    assert len(det._snapshots) == 3


def test_early_stopping_restores_best(blobs):
    X, _, _ = blobs
    det = _make("diffusion", random_state=0, epochs=200, max_steps=None, patience=3).fit(X)
    assert det.stop_reason_ == "early_stopping"
    assert det.best_epoch_ == min(range(1, len(det.history_) + 1),
                                  key=lambda e: det.history_[e - 1]["val_loss"])


def test_registered_lazily_with_torch_unimported():
    code = (
        "import sys; from bench import plugins; plugins.load_plugins();"
        "reg = plugins.get_detectors(); names = set(reg.names());"
        "assert {'gan', 'bigan', 'diffusion'} <= names, names;"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_params_recorded_in_name():
    plugins.load_plugins()
    spec = plugins.get_detectors().get("bigan").with_params({"disc": "fm"})
    assert spec.label == "bigan[disc=fm]"
    assert spec.family == "adversarial" and "torch" in spec.tags
