"""The torch detectors ae, vae and flow, and the ensemble layers of bench_torchkit (fast)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bench_ae.model import AutoEncoderDetector  # noqa: E402
from bench_flow.model import FlowDetector  # noqa: E402
from bench_torchkit.train import EnsembleLinear, ensemble_mlp  # noqa: E402
from bench_vae.model import VAEDetector  # noqa: E402

FAST = {"epochs": 8, "n_threads": 1}


@pytest.fixture(scope="module")
def data():
    """300 correlated inliers in [0, 1]^6 and, last, one far outlier."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    X = np.clip(0.5 + 0.1 * z @ rng.normal(size=(2, 6)) + 0.01 * rng.normal(size=(300, 6)), 0, 1)
    return np.vstack([X, np.full((1, 6), 1.0)])


def _check(det, X):
    det.fit(X)
    scores = det.decision_function(X)
    assert scores.shape == (len(X),)
    assert np.isfinite(scores).all()
    assert np.argmax(scores) == len(X) - 1, "the obvious outlier is not ranked first"
    # the VAE's scores sample z, so fit-time and later scores agree only closely
    assert np.corrcoef(det.decision_scores_, scores)[0, 1] > 0.99
    return scores


@pytest.mark.parametrize("cls, params", [
    (AutoEncoderDetector, {}),
    (AutoEncoderDetector, {"n_models": 1, "hidden_dropout": 0.0, "denoising": 0.1}),
    (VAEDetector, {}),
    (VAEDetector, {"score": "iwae", "n_samples": 4}),
    (VAEDetector, {"score": "recon", "n_models": 1}),
    (FlowDetector, {}),
])
def test_fits_ranks_outlier_and_is_deterministic(cls, params, data):
    first = _check(cls(**params, **FAST, random_state=3), data)
    again = cls(**params, **FAST, random_state=3).fit(data).decision_function(data)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("cls", [AutoEncoderDetector, VAEDetector, FlowDetector])
def test_defaults_are_a_short_budget_without_hold_out(cls, data):
    det = cls(n_threads=1, random_state=0)
    assert det.validation_fraction == 0.0 and det.patience is None
    det.fit(data)
    epochs = det.effective_params_["epochs"]
    assert det.stop_reason_ == "epochs" and det.n_steps_ <= epochs * 8
    assert det.get_params()["epochs"] == det.epochs  # defaults round-trip through get_params


def test_vae_iwae_is_the_mixture_bound(data):
    """-log p of the mixture (IWAE, many samples) lies below the members' mean -ELBO."""
    elbo = VAEDetector(**FAST, n_samples=64, random_state=1).fit(data)
    iwae = VAEDetector(**FAST, score="iwae", n_samples=64, random_state=1).fit(data)
    assert np.mean(iwae.decision_scores_) < np.mean(elbo.decision_scores_)


@pytest.mark.parametrize("cls", [AutoEncoderDetector, VAEDetector])
def test_n_models_must_be_positive(cls, data):
    with pytest.raises(ValueError, match="n_models"):
        cls(n_models=0, **FAST).fit(data)


def test_ensemble_linear_is_k_independent_linears():
    torch.manual_seed(0)
    layer = EnsembleLinear(3, 5, 4)
    x = torch.randn(3, 7, 5)
    out = layer(x)
    for m in range(3):
        expected = x[m] @ layer.weight[m] + layer.bias[m]
        torch.testing.assert_close(out[m], expected)
    net = ensemble_mlp(3, [5, 8, 2], dropout=0.5)
    assert net(x).shape == (3, 7, 2)
    # a member's output depends on its own parameters only
    loss = net(x)[0].sum()
    loss.backward()
    first = net[0].weight.grad
    assert first[1:].abs().sum() == 0 and first[0].abs().sum() > 0


def _torch_classes():
    from bench_bigan.model import BiGANDetector
    from bench_diffusion.model import DiffusionDetector
    from bench_gan.model import GANDetector

    return [AutoEncoderDetector, VAEDetector, FlowDetector, GANDetector, BiGANDetector,
            DiffusionDetector]


@pytest.mark.parametrize("cls", _torch_classes(), ids=lambda c: c.__name__)
def test_signature_shows_every_effective_default(cls):
    """inspect.signature, get_params and the constructor agree: the cell key sees real defaults."""
    import inspect

    signature = inspect.signature(cls)
    defaults = {name: p.default for name, p in signature.parameters.items()}
    assert defaults == cls().get_params()
    assert set(defaults) == set(cls._param_names())
    assert defaults["epochs"] == cls().epochs and "kwargs" not in defaults
    with pytest.raises(TypeError, match="unexpected parameter"):
        cls(no_such_parameter=1)


def test_class_defaults_override_the_base():
    assert AutoEncoderDetector().get_params()["epochs"] == "auto"
    assert AutoEncoderDetector.auto_defaults["epochs"] == {"mlp": 25, "conv": 12}
    assert AutoEncoderDetector(epochs=3).epochs == 3
    assert VAEDetector().get_params()["patience"] is None
    from bench_torchkit.train import TRAINING_DEFAULTS

    assert FlowDetector().min_delta == TRAINING_DEFAULTS["min_delta"]


def test_a_subclass_gets_the_hooks_and_keeps_no_training_state(data):
    """_build gets the training tensor; _on_step counts to planned_steps_; nothing of the
    optimisers or the training tensor stays on the fitted detector."""
    steps = []

    class Counting(AutoEncoderDetector):
        training_defaults = {"epochs": 5}

        def _build(self, X):
            assert isinstance(X, torch.Tensor) and X.shape == (len(data), data.shape[1])
            return super()._build(X)

        def _on_step(self, step):
            steps.append(step)

    det = Counting(n_threads=1, random_state=0).fit(data)
    assert det.epochs == 5 and det.get_params()["epochs"] == 5
    assert steps == list(range(1, det.planned_steps_ + 1)) and det.n_steps_ == det.planned_steps_
    leftovers = {"optimizers_", "_epoch", "_Xt_train", "_X_setup", "_val_noise"}
    assert not leftovers & set(vars(det))
    assert not any(isinstance(v, torch.optim.Optimizer) for v in vars(det).values())


def test_early_stopping_keeps_the_best_epoch(data):
    det = AutoEncoderDetector(epochs=200, patience=2, validation_fraction=0.2, n_threads=1,
                              random_state=0).fit(data)
    assert det.stop_reason_ == "early_stopping"
    val = [h["val_loss"] for h in det.history_]
    assert det.best_epoch_ == 1 + int(np.argmin(val))
    assert len(det.history_) == det.best_epoch_ + 2


def test_trim_leaves_the_worst_reconstructed_rows_out_of_the_loss(data):
    """Least trimmed squares: the training loss is the mean error of the best-fitting
    (1 - trim) share of the batch; the score still covers every row."""
    det = AutoEncoderDetector(n_models=2, trim=0.25, **FAST, random_state=0).fit(data)
    X = torch.as_tensor(data, dtype=torch.float32)
    model = det.model_.eval()
    with torch.no_grad():
        xs, rec = model(X)
        err = ((rec - xs) ** 2).mean(dim=2)  # (n_models, rows)
        keep = int(np.ceil(0.75 * len(data)))
        expected = torch.sort(err, dim=1).values[:, :keep].mean()
        assert torch.isclose(det._loss(model, X), expected)
        assert det._loss(model, X) < err.mean()  # the far outlier is among the rows left out
    assert np.argmax(det.decision_function(data)) == len(data) - 1


@pytest.mark.parametrize("trim", [-0.1, 1.0])
def test_trim_outside_0_1_is_refused(data, trim):
    with pytest.raises(ValueError, match="trim"):
        AutoEncoderDetector(trim=trim, **FAST).fit(data)


def test_batch_norm_scores_a_row_the_same_alone_or_in_a_batch(data):
    """With batch normalisation (PyOD AutoEncoder's layers, on by default on rows) a row's score
    uses the running statistics of training, not the other rows it is scored with."""
    det = AutoEncoderDetector(**FAST, random_state=0).fit(data)
    assert det.effective_params_["batch_norm"] is True
    norms = [m for m in det.model_.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 4  # after each hidden layer of the encoder and the decoder
    together = det.decision_function(data)
    alone = np.array([det.decision_function(data[i : i + 1])[0] for i in (0, 7, len(data) - 1)])
    np.testing.assert_allclose(alone, together[[0, 7, len(data) - 1]], rtol=1e-5)
    assert np.argmax(together) == len(data) - 1


def test_lr_decay_falls_linearly_to_zero_over_the_planned_steps(data):
    seen = []

    class Recording(AutoEncoderDetector):
        def _on_step(self, step):
            super()._on_step(step)
            seen.append(self._decaying[0].param_groups[0]["lr"])

    det = Recording(lr=0.01, lr_decay=True, **FAST, random_state=0).fit(data)
    n = det.planned_steps_
    assert len(seen) == n > 1
    np.testing.assert_allclose(seen, [0.01 * (1 - s / n) for s in range(1, n + 1)], atol=1e-12)
    assert not any(isinstance(v, torch.optim.Optimizer) for v in vars(det).values())
    assert det._decaying == []


def test_batch_norm_is_refused_on_convolutional_autoencoders():
    images = np.random.default_rng(0).random((40, 1, 8, 8))
    with pytest.raises(ValueError, match="batch_norm"):
        AutoEncoderDetector(batch_norm=True, arch="conv", **FAST).fit(images)


def test_max_batch_size_caps_the_automatic_batch_only():
    rows = np.random.default_rng(0).random((2000, 4))
    auto = AutoEncoderDetector(epochs=1, n_threads=1, random_state=0).fit(rows)
    assert auto.batch_size_ == 256  # an eighth of 2000 rows, rounded up to a power of two
    many = np.random.default_rng(1).random((5000, 4))  # 625 -> 1024 -> the default cap, 512
    assert AutoEncoderDetector(epochs=1, n_threads=1).fit(many).batch_size_ == 512
    capped = AutoEncoderDetector(max_batch_size=64, epochs=1, n_threads=1, random_state=0)
    capped.fit(rows)
    assert capped.batch_size_ == 64 and capped.n_steps_ == 2000 // 64
    given = AutoEncoderDetector(batch_size=500, max_batch_size=64, epochs=1, n_threads=1)
    assert given.fit(rows).batch_size_ == 500
    with pytest.raises(ValueError, match="max_batch_size"):
        AutoEncoderDetector(max_batch_size=0, epochs=1, n_threads=1).fit(rows)
