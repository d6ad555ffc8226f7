"""A one-detector test plugin whose tests rewrite its default and version (a copy is written to a
temporary --plugins-dir folder; this file itself is never loaded as a plugin)."""

__version__ = "1.0"
import numpy as np

from bench import hookimpl


class Shift:
    """Distance to the training mean; power is the exponent."""

    def __init__(self, power=1, random_state=None):
        self.power, self.random_state = power, random_state

    def fit(self, X, y=None):
        self.mu_ = X.mean(0)
        return self

    def decision_function(self, X):
        return (np.abs(X - self.mu_) ** self.power).sum(1)


@hookimpl
def register_detectors(registry):
    registry.add("shift", Shift, family="test")
