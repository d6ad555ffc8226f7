"""Wrappers around PyOD's deep detectors for the benchmark's detector contract.

Each wrapper is a PyOD ``BaseDetector`` whose ``__init__`` only stores PyOD's default
hyper-parameters (so ``get_params``/``clone`` work) plus ``random_state``. ``fit`` builds the PyOD
model from ``get_params()`` (every parameter reaches PyOD: one that PyOD does not take fails at
once instead of being ignored; DeepSVDD also gets ``n_features`` from the data), seeds it, and
trains it; the scores are PyOD's, higher = more anomalous, returned as float64.
``test_config()`` gives each a few epochs for the tests and the runner's warm-up.

Seeding: where PyOD accepts ``random_state`` it is passed through; in every case the Python,
NumPy and torch global generators are seeded for the duration of ``fit`` and
``decision_function`` (AnoGAN's scoring is itself stochastic) and restored afterwards, so the
caller's random state is left as it was. ``random_state=None`` leaves the generators alone (the
PyOD AutoEncoder and VAE then use PyOD's own default seed, 42).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from pyod.models.base import BaseDetector
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted


@contextlib.contextmanager
def _seeded(random_state: int | None) -> Iterator[None]:
    """Seed Python, NumPy and torch (CPU) for the block; restore their states afterwards."""
    if random_state is None:
        yield
        return
    seed = int(random_state)
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class _PyODDeep(BaseDetector):
    """Shared build/fit/score logic; a subclass defines ``__init__`` and the class attributes."""

    #: the PyOD class, ``"module:attr"``
    _pyod_class: str = ""
    #: PyOD's class takes ``random_state`` (passed when not ``None``; else PyOD's default)
    _takes_random_state = False
    #: PyOD's class needs ``n_features`` at construction (DeepSVDD)
    _needs_n_features = False
    #: fixed arguments (silence PyOD's progress output)
    _fixed: dict[str, Any] = {"verbose": 0}
    #: True for models that print progress unconditionally (SO-GAAL)
    _prints = False
    random_state: int | None

    @classmethod
    def test_config(cls) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        """Fast parameters (few epochs) for the tests and the runner's warm-up."""
        return {}

    def _build(self, n_features: int) -> Any:
        params = self.get_params(deep=False)
        seed = params.pop("random_state")
        kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        if self._takes_random_state and seed is not None:
            kwargs["random_state"] = seed
        if self._needs_n_features:
            kwargs["n_features"] = n_features
        module, _, attr = self._pyod_class.partition(":")
        return getattr(importlib.import_module(module), attr)(**kwargs, **self._fixed)

    def _quiet(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.redirect_stdout(io.StringIO()) if self._prints else contextlib.nullcontext()

    def fit(self, X: Any, y: Any = None) -> _PyODDeep:
        """Train the PyOD model on ``X`` (``y`` is ignored) and return ``self``."""
        X = check_array(X, dtype=np.float64)
        self._set_n_classes(None)
        with _seeded(self.random_state), self._quiet():
            detector = self._build(X.shape[1])
            detector.fit(X)
        self.detector_ = detector
        self.n_features_in_ = X.shape[1]
        self.decision_scores_ = np.asarray(detector.decision_scores_, dtype=np.float64).ravel()
        self._process_decision_scores()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """One anomaly score per row of ``X``; higher = more anomalous."""
        check_is_fitted(self, ["detector_"])
        X = check_array(X, dtype=np.float64)
        with _seeded(self.random_state), self._quiet():
            scores = self.detector_.decision_function(X)
        return np.asarray(scores, dtype=np.float64).ravel()


class PyODAutoEncoder(_PyODDeep):
    """PyOD ``AutoEncoder`` (reconstruction error) with PyOD's defaults, silent."""

    _pyod_class = "pyod.models.auto_encoder:AutoEncoder"
    _takes_random_state = True

    def __init__(self, hidden_neuron_list=(64, 32), hidden_activation_name="relu",
                 batch_norm=True, dropout_rate=0.2, epoch_num=10, batch_size=32, lr=1e-3,
                 preprocessing=True, contamination=0.1, device=None, random_state=None):
        super().__init__(contamination=contamination)
        self.hidden_neuron_list = hidden_neuron_list
        self.hidden_activation_name = hidden_activation_name
        self.batch_norm = batch_norm
        self.dropout_rate = dropout_rate
        self.epoch_num = epoch_num
        self.batch_size = batch_size
        self.lr = lr
        self.preprocessing = preprocessing
        self.device = device
        self.random_state = random_state

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        return {"epoch_num": 3}


class PyODVAE(_PyODDeep):
    """PyOD ``VAE`` (reconstruction error of a variational autoencoder) with PyOD's defaults."""

    _pyod_class = "pyod.models.vae:VAE"
    _takes_random_state = True

    def __init__(self, encoder_neuron_list=(128, 64, 32), decoder_neuron_list=(32, 64, 128),
                 latent_dim=2, beta=1.0, capacity=0.0, hidden_activation_name="relu",
                 batch_norm=False, dropout_rate=0.2, epoch_num=30, batch_size=32, lr=1e-3,
                 preprocessing=True, contamination=0.1, device=None, random_state=None):
        super().__init__(contamination=contamination)
        self.encoder_neuron_list = encoder_neuron_list
        self.decoder_neuron_list = decoder_neuron_list
        self.latent_dim = latent_dim
        self.beta = beta
        self.capacity = capacity
        self.hidden_activation_name = hidden_activation_name
        self.batch_norm = batch_norm
        self.dropout_rate = dropout_rate
        self.epoch_num = epoch_num
        self.batch_size = batch_size
        self.lr = lr
        self.preprocessing = preprocessing
        self.device = device
        self.random_state = random_state

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        return {"epoch_num": 3}


class PyODALAD(_PyODDeep):
    """PyOD ``ALAD`` with PyOD's defaults (PyOD takes no seed; the wrapper seeds globally)."""

    _pyod_class = "pyod.models.alad:ALAD"

    def __init__(self, latent_dim=2, dec_layers=(5, 10, 25), enc_layers=(25, 10, 5),
                 disc_xx_layers=(25, 10, 5), disc_zz_layers=(25, 10, 5),
                 disc_xz_layers=(25, 10, 5), activation_hidden_gen="tanh",
                 activation_hidden_disc="tanh", dropout_rate=0.2, learning_rate_gen=1e-4,
                 learning_rate_disc=1e-4, add_recon_loss=False, lambda_recon_loss=0.1,
                 add_disc_zz_loss=True, epochs=200, batch_size=32, preprocessing=False,
                 contamination=0.1, device=None, random_state=None):
        super().__init__(contamination=contamination)
        self.latent_dim = latent_dim
        self.dec_layers = dec_layers
        self.enc_layers = enc_layers
        self.disc_xx_layers = disc_xx_layers
        self.disc_zz_layers = disc_zz_layers
        self.disc_xz_layers = disc_xz_layers
        self.activation_hidden_gen = activation_hidden_gen
        self.activation_hidden_disc = activation_hidden_disc
        self.dropout_rate = dropout_rate
        self.learning_rate_gen = learning_rate_gen
        self.learning_rate_disc = learning_rate_disc
        self.add_recon_loss = add_recon_loss
        self.lambda_recon_loss = lambda_recon_loss
        self.add_disc_zz_loss = add_disc_zz_loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.preprocessing = preprocessing
        self.device = device
        self.random_state = random_state

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        return {"epochs": 5}


class PyODSOGAAL(_PyODDeep):
    """PyOD ``SO_GAAL`` with PyOD's defaults; its unconditional epoch printing is swallowed.

    PyOD returns the discriminator's output ``D(x)``, the probability that ``x`` is *real* data,
    so its scores point the wrong way (PyOD issues #119 and #237). The SO-GAAL paper's outlier
    score is ``1 - D(x)`` (Algorithm 1), which is what this wrapper returns. Measured with PyOD
    3.6.7 defaults on min-max scaled data, seeds 1-3: raw ``D(x)`` gave AUROC 0.00-0.05 on
    ``synthetic:clustered`` and 0.04-0.21 on ``sklearn:breast_cancer``.
    """

    _pyod_class = "pyod.models.so_gaal:SO_GAAL"
    _fixed: dict[str, Any] = {}  # SO_GAAL takes no verbose
    _prints = True

    def __init__(self, stop_epochs=20, lr_d=0.01, lr_g=1e-4, momentum=0.9, contamination=0.1,
                 random_state=None):
        super().__init__(contamination=contamination)
        self.stop_epochs = stop_epochs
        self.lr_d = lr_d
        self.lr_g = lr_g
        self.momentum = momentum
        self.random_state = random_state

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        return {"stop_epochs": 2}

    def fit(self, X: Any, y: Any = None) -> PyODSOGAAL:
        super().fit(X)
        self.decision_scores_ = 1.0 - self.decision_scores_
        self._process_decision_scores()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return 1.0 - super().decision_function(X)


class PyODAnoGAN(_PyODDeep):
    """PyOD ``AnoGAN`` with PyOD's defaults. Scoring optimises a latent code per row: slow."""

    _pyod_class = "pyod.models.anogan:AnoGAN"

    def __init__(self, G_layers=(20, 10, 3, 10, 20), D_layers=(20, 10, 5), latent_dim_G=2,
                 index_D_layer_for_recon_error=1, activation_hidden="tanh", dropout_rate=0.2,
                 epochs=500, batch_size=32, learning_rate=1e-3, epochs_query=20,
                 learning_rate_query=1e-2, preprocessing=False, contamination=0.1, device=None,
                 random_state=None):
        super().__init__(contamination=contamination)
        self.G_layers = G_layers
        self.D_layers = D_layers
        self.latent_dim_G = latent_dim_G
        self.index_D_layer_for_recon_error = index_D_layer_for_recon_error
        self.activation_hidden = activation_hidden
        self.dropout_rate = dropout_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.epochs_query = epochs_query
        self.learning_rate_query = learning_rate_query
        self.preprocessing = preprocessing
        self.device = device
        self.random_state = random_state

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        return {"epochs": 5, "epochs_query": 2}


class PyODDeepSVDD(_PyODDeep):
    """PyOD ``DeepSVDD`` with PyOD's defaults; ``n_features`` is taken from the data in ``fit``."""

    _pyod_class = "pyod.models.deep_svdd:DeepSVDD"
    _takes_random_state = True
    _needs_n_features = True

    def __init__(self, hidden_neurons=None, hidden_activation="relu", output_activation="sigmoid",
                 use_ae=False, dropout_rate=0.2, l2_regularizer=5e-7, epochs=100, batch_size=32,
                 learning_rate=1e-4, validation_size=0.1, preprocessing=True, contamination=0.1,
                 random_state=None):
        super().__init__(contamination=contamination)
        self.hidden_neurons = hidden_neurons
        self.hidden_activation = hidden_activation
        self.output_activation = output_activation
        self.use_ae = use_ae
        self.dropout_rate = dropout_rate
        self.l2_regularizer = l2_regularizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_size = validation_size
        self.preprocessing = preprocessing
        self.random_state = random_state

    @classmethod
    def test_config(cls) -> dict[str, Any]:
        return {"epochs": 3}
