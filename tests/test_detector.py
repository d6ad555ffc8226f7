"""The detector contract's shared helpers: scikit-learn outlier detectors adapted (never scored
upside down), parameters validated when detectors are selected, MRO-aware parameter names."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM

from bench import BaseDetector, plugins, protocols
from bench.cli import cli
from bench.detector import SklearnOutlierDetector, accepts_argument, as_detector, parameter_names
from bench.errors import (
    DetectorError,
    DetectorParameterError,
    UnknownDatasetError,
    UnknownDetectorError,
)
from bench.registry import DetectorRegistry, static_parameter_names

SKLEARN_PLUGIN = '''
from bench import hookimpl
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor


@hookimpl
def register_detectors(registry):
    registry.add("sk_iforest", IsolationForest, family="classical")
    registry.add("sk_lof_novelty", LocalOutlierFactor, family="classical", params={"novelty": True})
    registry.add("sk_lof", LocalOutlierFactor, family="classical")
'''


@pytest.fixture
def real_split(adbench_file):
    with np.load(adbench_file(), allow_pickle=False) as f:
        X, y = f["X"].astype(float), f["y"]
    return protocols.split(X, y, "unsupervised", 1)


# --- item 3: scikit-learn outlier detectors ---------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: IsolationForest(random_state=0), lambda: LocalOutlierFactor(novelty=True),
     lambda: OneClassSVM(), lambda: EllipticEnvelope(random_state=0)],
    ids=["IsolationForest", "LocalOutlierFactor", "OneClassSVM", "EllipticEnvelope"],
)
def test_sklearn_outlier_detector_objects_score_anomalies_higher(real_split, make):
    raw = make().fit(real_split.X_train)
    raw_auroc = roc_auc_score(real_split.y_test, raw.decision_function(real_split.X_test))
    det = as_detector(make())
    assert isinstance(det, SklearnOutlierDetector)
    scores = det.fit(real_split.X_train).decision_function(real_split.X_test)
    auroc = roc_auc_score(real_split.y_test, scores)
    assert auroc > 0.5 > raw_auroc  # scikit-learn's own scores rank anomalies last
    assert auroc == pytest.approx(1 - raw_auroc)


def test_pyod_and_bench_detectors_are_left_alone():
    from pyod.models.iforest import IForest

    pyod_det = IForest()  # PyOD tags it "outlier_detector" too, but its scores are the right way
    assert as_detector(pyod_det) is pyod_det

    class Mine(BaseDetector):
        def __init__(self, k=1):
            self.k = k

    mine = Mine()
    assert as_detector(mine) is mine


def test_lof_without_novelty_is_refused_with_the_fix():
    with pytest.raises(DetectorError, match=r"novelty=False\) cannot score new rows.*novelty=True"):
        as_detector(LocalOutlierFactor())


def test_registered_sklearn_factories_run_the_right_way_round(tmp_path, adbench_file):
    (tmp_path / "plugs").mkdir()
    (tmp_path / "plugs" / "skl.py").write_text(SKLEARN_PLUGIN)
    store = tmp_path / "s.sqlite"
    base = ["--plugins-dir", str(tmp_path / "plugs")]
    result = CliRunner().invoke(cli, [*base, "run", "-d", "sk_iforest,sk_lof_novelty",
                                      "--dataset-file", str(adbench_file()), "-s", "1",
                                      "--store", str(store), "-q"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", "--store", str(store), "--format", "jsonl"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert {r["detector"] for r in rows} == {"sk_iforest", "sk_lof_novelty"}
    assert all(r["status"] == "ok" and r["auroc"] > 0.5 for r in rows), rows
    # LOF without novelty=True: refused when selected, before any cell runs
    result = CliRunner().invoke(cli, [*base, "run", "-d", "sk_lof", "--dataset-file",
                                      str(adbench_file()), "--store", str(tmp_path / "t.sqlite")])
    assert result.exit_code == 1 and "novelty=True" in result.output
    assert "Traceback" not in result.output and "planned" not in result.output


# --- item 10: parameters checked when a detector is selected ---------------------------------


@pytest.fixture
def refused(tmp_path):
    """Run ``bench run ARGS``: it must fail with one clear line before any cell is planned."""

    def run(*args):
        store = tmp_path / "s.sqlite"
        result = CliRunner().invoke(cli, ["run", *args, "--store", str(store)])
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert not store.exists() and "planned" not in result.output  # no cell, no store
        return result.output

    return run


def test_unknown_parameter_names_the_valid_ones(refused):
    out = refused("-d", "ae[epoch=3]", "-D", "synthetic:local")
    assert "no parameter 'epoch'" in out and "did you mean 'epochs'" in out
    assert "batch_size" in out and "hidden" in out  # the MRO: the base TorchDetector's and ae's own
    with pytest.raises(DetectorParameterError, match="'n_trees'.*n_estimators"):
        plugins.get_detectors().select(["iforest[n_trees=3]"])


@pytest.mark.parametrize(
    "selector, where",
    [("iforest[n_estimators=-5]", "'n_estimators' parameter of IsolationForest"),
     ("lof[n_neighbors=0]", "'n_neighbors' parameter of LocalOutlierFactor"),
     ("ocsvm[kernel=rfb]", "'kernel' parameter of OneClassSVM"),
     ("iforest[contamination=0.9]", "contamination must be in (0, 0.5]")],
)
def test_invalid_values_are_refused_before_planning(refused, selector, where):
    out = refused("-d", selector, "-D", "synthetic:local")
    assert where in out and selector in out


def test_valid_values_are_accepted():
    chosen = plugins.get_detectors().select(
        ["iforest[n_estimators=50]", "lof[n_neighbors=10]", "knn[n_neighbors=3]",
         "ocsvm[nu=0.1]", "pca[n_components=2]", "iforest[max_samples=auto]"])
    assert len(chosen) == 6


def test_classical_detectors_accept_their_own_defaults():
    """No false refusal: every classical detector's own default, given explicitly, passes."""
    import bench_pyod

    from bench.detector import parameter_defaults
    from bench.registry import format_value

    registry = plugins.get_detectors()
    selectors = [f"{name}[{key}={format_value(value)}]"
                 for name in bench_pyod.CLASSICAL
                 for key, value in parameter_defaults(registry.get(name).resolve()).items()
                 if isinstance(value, (bool, int, float, str))]
    assert len(selectors) > 40
    assert len(registry.select(selectors)) == len(selectors)


def test_registered_sklearn_estimator_uses_its_own_constraints():
    reg = DetectorRegistry()
    reg.add("sk_iforest", IsolationForest, family="classical")
    with pytest.raises(DetectorParameterError, match="n_estimators"):
        reg.select(["sk_iforest[n_estimators=0]"])
    (spec,) = reg.select(["sk_iforest[n_estimators=10]"])
    assert isinstance(spec.build(random_state=0), SklearnOutlierDetector)


def test_open_kwargs_factory_is_not_refused():
    def factory(**kwargs):
        return kwargs

    reg = DetectorRegistry()
    reg.add("open", factory, family="classical")
    assert reg.select(["open[anything=1]"])[0].all_params == {"anything": 1}


def test_typos_get_suggestions_by_similarity(refused):
    with pytest.raises(UnknownDetectorError, match="did you mean iforest"):
        plugins.get_detectors().select(["iforst"])
    with pytest.raises(UnknownDatasetError, match="did you mean adbench:cardio"):
        plugins.get_datasets().select(["adbench:cardo"])
    out = refused("-d", "iforst", "-D", "synthetic:local")
    assert "did you mean iforest" in out


def test_constructor_error_is_a_detector_error():
    def broken(k=1):
        raise RuntimeError("bad k")

    reg = DetectorRegistry()
    reg.add("broken", broken, family="classical")
    with pytest.raises(DetectorError, match="initializing detector 'broken'.*bad k"):
        reg.get("broken").build()


# --- parameter introspection, written once ----------------------------------------------------


class _Base(BaseDetector):
    def __init__(self, lr=0.1, epochs=5, random_state=None):
        self.lr, self.epochs, self.random_state = lr, epochs, random_state


class _Child(_Base):
    def __init__(self, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden


def test_parameter_names_follow_kwargs_up_the_mro():
    assert parameter_names(_Child) == (["epochs", "hidden", "lr", "random_state"], False)
    det = _Child(hidden=4, epochs=2)
    assert det.get_params() == {"epochs": 2, "hidden": 4, "lr": 0.1, "random_state": None}
    assert accepts_argument(_Child, "random_state") and not accepts_argument(len, "random_state")
    reg = DetectorRegistry()
    reg.add("child", _Child, family="test")
    with pytest.raises(DetectorParameterError, match="'epoch'.*did you mean 'epochs'"):
        reg.select(["child[epoch=2]"])
    assert reg.select(["child[epochs=2]"])[0].build().epochs == 2


def test_plugin_state_snapshot_and_restore(tmp_path):
    (tmp_path / "extra.py").write_text(textwrap.dedent('''
        from bench import hookimpl

        @hookimpl
        def register_detectors(registry):
            registry.add("extra_det", "json:JSONDecoder", family="test")
    '''))
    snapshot = plugins.state.snapshot()
    plugins.load_plugins([tmp_path])
    plugins.reset_registries()
    assert "extra_det" in plugins.get_detectors()
    assert str(tmp_path.resolve()) in plugins.plugins_dirs_loaded()
    plugins.state.restore(snapshot)
    assert "extra_det" not in plugins.get_detectors()
    assert str(tmp_path.resolve()) not in plugins.plugins_dirs_loaded()


def test_a_misspelt_parameter_is_refused_before_any_cell_runs():
    # a TorchDetector model states its signature at import (training defaults), so the static
    # reading of the source says nothing for it and the factory is imported: the refusal stays
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from bench.cli import cli\n"
        "r = CliRunner().invoke(cli, ['run', '-d', 'ae[epoch=3]', '-D', 'synthetic:local'])\n"
        "assert r.exit_code == 1 and \"did you mean 'epochs'\" in r.output, r.output\n"
        "assert 'cells planned' not in r.output\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_static_parameter_names_read_the_source_or_say_nothing(tmp_path, monkeypatch):
    pkg = tmp_path / "staticpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "base.py").write_text(textwrap.dedent('''
        raise ImportError("importing this module is not allowed here")

        class Base:
            def __init__(self, lr=0.1, *, epochs=5):
                pass
    '''))
    (pkg / "model.py").write_text(textwrap.dedent('''
        import dataclasses
        from .base import Base

        class Model(Base):
            def __init__(self, hidden=8, **kwargs):
                super().__init__(**kwargs)

        class Open:
            def __init__(self, **kwargs):
                pass

        @dataclasses.dataclass
        class Decorated(Base):
            width: int = 3
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert static_parameter_names("staticpkg.model:Model") == (["epochs", "hidden", "lr"], False)
    assert static_parameter_names("staticpkg.model:Open") == ([], True)
    assert static_parameter_names("staticpkg.model:Decorated") is None  # the caller imports
    assert static_parameter_names("staticpkg.model:Missing") is None
