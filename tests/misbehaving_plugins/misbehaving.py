"""A plugin of misbehaving detectors beside a good one, loaded by the runner tests with
``bench --plugins-dir tests/misbehaving_plugins``: each breaks the contract in one way that the
runner must turn into a recorded cell, never into a crashed run."""

import os
import time

import numpy as np

from bench import hookimpl


class Good:
    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        assert y is None  # the runner never hands labels to fit
        self.mu_ = X.mean(0)
        return self

    def decision_function(self, X):
        return ((X - self.mu_) ** 2).sum(1)


class Raises(Good):
    def fit(self, X, y=None):
        raise RuntimeError("deliberate failure in fit")


class ReturnsNan(Good):
    def decision_function(self, X):
        s = super().decision_function(X)
        s[0] = np.nan
        return s


class WrongLength(Good):
    def decision_function(self, X):
        return super().decision_function(X)[:-1]


class Sleeps(Good):
    def fit(self, X, y=None):
        time.sleep(60)
        return self


class Exits(Good):
    def fit(self, X, y=None):
        os._exit(7)


class Slowish(Good):
    def fit(self, X, y=None):
        time.sleep(0.3)
        return super().fit(X)


class Hog(Good):
    def fit(self, X, y=None):
        # 100 MB blocks, touched, up to 3 GB: far past the limit the tests set
        self.keep_ = [np.ones(12_500_000) for _ in range(30)]
        return super().fit(X)


class Spike(Good):
    def fit(self, X, y=None):
        block = np.ones(40_000_000)  # 320 MB, touched, freed before fit returns
        del block
        return super().fit(X)


class Mutates(Good):
    def fit(self, X, y=None):
        X[:] = 0.0  # overwrites its input in place: must not reach the next cell
        return super().fit(X)

    def decision_function(self, X):
        s = super().decision_function(X)
        X[:] = 0.0
        return s


@hookimpl
def register_detectors(registry):
    for name, cls in [("good", Good), ("raises", Raises), ("returns_nan", ReturnsNan),
                      ("wrong_length", WrongLength), ("sleeps", Sleeps), ("exits", Exits),
                      ("slowish", Slowish), ("hog", Hog), ("spike", Spike),
                      ("mutates", Mutates)]:
        registry.add(name, cls, family="test")
