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


# -- convolutional architectures (images (n, C, H, W)) -----------------------------------------

CONV = [
    ("ae", "bench_ae.model:AutoEncoderDetector", {"n_models": 2}),
    ("vae", "bench_vae.model:VAEDetector", {"n_models": 2}),
    ("vae", "bench_vae.model:VAEDetector", {"n_models": 1, "score": "iwae", "n_samples": 4}),
    ("gan", "bench_gan.model:GANDetector", {}),
    ("bigan", "bench_bigan.model:BiGANDetector", {}),
    ("flow", "bench_flow.model:FlowDetector", {}),
    ("diffusion", "bench_diffusion.model:DiffusionDetector", {}),
    ("diffusion", "bench_diffusion.model:DiffusionDetector", {"score": "ddpm", "n_samples": 2}),
]


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits in [0, 1]: 120 zeros to train on, zeros and ones to score."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    zeros, ones = X[y == 0], X[y == 1]
    return zeros[:120], np.concatenate([zeros[120:150], ones[:10]])


def _conv(ref: str, **params):
    from bench.registry import resolve_object

    cls = resolve_object(ref)
    fast = {"epochs": 2, "max_steps": 6, "patience": None, "n_threads": 1, "random_state": 0}
    return cls(**{**fast, **params})


@pytest.mark.parametrize(("name", "ref", "params"), CONV, ids=lambda v: str(v))
def test_conv_detector_on_tiny_images(digits, name, ref, params):
    import pickle

    X, Xt = digits
    det = _conv(ref, **params).fit(X)
    assert det.arch_ == "conv" and det.input_shape_ == (1, 8, 8)
    assert det.get_params()["arch"] == "auto" and det.effective_params_["arch"] == "conv"
    assert "auto" not in det.effective_params_.values()
    scores = det.decision_function(Xt)
    assert scores.shape == (len(Xt),) and np.isfinite(scores).all()
    assert det.decision_scores_.shape == (len(X),) and np.isfinite(det.decision_scores_).all()
    # the same seed gives the same scores; flattened pixels of the same images score the same
    again = _conv(ref, **params).fit(X).decision_function(Xt)
    np.testing.assert_array_equal(scores, again)
    np.testing.assert_array_equal(det.decision_function(Xt.reshape(len(Xt), -1)), scores)
    # it pickles (to a worker) and scores the same there
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(det)).decision_function(Xt), scores)
    assert not any(isinstance(v, torch.optim.Optimizer) for v in vars(det).values())
    with pytest.raises(ValueError, match="images of shape"):
        det.decision_function(np.zeros((3, 1, 6, 6)))


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3)])
@pytest.mark.parametrize(("name", "ref", "params"), CONV[::2] + [CONV[5]], ids=lambda v: str(v))
def test_conv_sizes_follow_the_image(name, ref, params, size, channels):
    """28x28 (MNIST) and 32x32 RGB (CIFAR-10) images build and score (one step)."""
    rng = np.random.default_rng(0)
    X = rng.random((40, channels, size, size))
    det = _conv(ref, **params, epochs=1, max_steps=1).fit(X)
    assert det.input_shape_ == (channels, size, size)
    assert np.isfinite(det.decision_function(X[:5])).all()


def test_arch_parameter(digits):
    X, _ = digits
    ref = "bench_ae.model:AutoEncoderDetector"
    flat = _conv(ref, arch="mlp").fit(X)  # images, flattened for the MLP
    assert flat.arch_ == "mlp" and flat.input_shape_ == (64,)
    rows = _conv(ref).fit(X.reshape(len(X), -1))  # auto on rows: the MLP, as before
    assert rows.arch_ == "mlp"
    with pytest.raises(ValueError, match="arch='conv' needs images"):
        _conv(ref, arch="conv").fit(X.reshape(len(X), -1))
    with pytest.raises(ValueError, match="arch must be"):
        _conv(ref, arch="cnn").fit(X)


@pytest.mark.parametrize("ref", [r for _, r, p in CONV if not p or "n_models" in p][:3])
def test_conv_detector_passes_the_checks_on_flat_rows(ref):
    """With rows, arch='auto' is the MLP: bench.testing's checks apply unchanged."""
    from bench.testing import run_checks

    results = run_checks(ref, {"n_threads": 1}, checks=["scores_shape_and_finite",
                                                        "params_round_trip"])
    assert all(r.ok for r in results), [str(r) for r in results]


def test_image_detectors_are_tagged_images():
    """contracts #2: the runner hands (n, C, H, W) to detectors tagged "images"."""
    import importlib

    from bench.registry import DetectorRegistry

    for name in ("ae", "vae", "gan", "bigan", "flow", "diffusion"):
        registry = DetectorRegistry()
        importlib.import_module(f"bench_{name}").register_detectors(registry=registry)
        assert "images" in registry.get(name).tags, name


def test_auto_parameters_resolve_by_architecture(digits):
    """'auto' defaults: rows get the values chosen out of fold (results/defaults_selection.md),
    images keep the budgets measured on MNIST (results/mnist_sample.md)."""
    from bench_ae.model import AutoEncoderDetector
    from bench_bigan.model import BiGANDetector
    from bench_flow.model import FlowDetector
    from bench_gan.model import GANDetector
    from bench_vae.model import VAEDetector

    X, _ = digits
    rows = X.reshape(len(X), -1)
    cases = [
        (FlowDetector, "epochs", 30, 10), (VAEDetector, "epochs", 100, 40),
        (AutoEncoderDetector, "epochs", 25, 12), (AutoEncoderDetector, "n_models", 1, 5),
        (AutoEncoderDetector, "trim", 0.2, 0.0), (AutoEncoderDetector, "hidden", [64, 32], None),
        (AutoEncoderDetector, "latent", 32, None), (AutoEncoderDetector, "batch_norm", True, False),
        (AutoEncoderDetector, "lr", 3e-3, 1e-3), (AutoEncoderDetector, "lr_decay", True, False),
        (GANDetector, "max_steps", 1000, 200), (GANDetector, "n_snapshots", 10, 5),
        (BiGANDetector, "disc", "ce", "fm"),
    ]
    for cls, name, on_rows, on_images in cases:
        assert cls().get_params()[name] == "auto"
        budget = {"max_steps": 2} if name == "epochs" else {"epochs": 1}  # keep the fits short
        det = cls(**budget, n_threads=1, random_state=0)
        assert det.fit(rows).effective_params_[name] == on_rows
        assert det.fit(X).effective_params_[name] == on_images
        assert det.get_params()[name] == "auto"
