"""The plugin authors' kit: conformance checks, `bench plugins check/new`, and docs/plugins.md.

The bad detectors below each break one rule of the contract; the checks must name that rule.
The scaffold and the guide are exercised the way a user would: `pip install -e` of the generated
package into a throwaway environment layered on this one, then the `bench` command line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import BaseDetector, hookimpl, plugins
from bench.cli import cli
from bench.testing import CHECKS, DetectorCheckError, check_detector, parametrize_checks, run_checks

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# detectors: one good, and one per broken rule (module level, so that they can be pickled)


class Distance(BaseDetector):
    """Distance to the training mean: conforms."""

    def __init__(self, power: float = 1.0, random_state: int | None = None) -> None:
        self.power = power
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.center_ = X.mean(axis=0)
        self.decision_scores_ = self.decision_function(X)
        return self

    def decision_function(self, X):
        return np.linalg.norm(np.asarray(X) - self.center_, axis=1) ** self.power


class Inverted(Distance):
    def decision_function(self, X):
        return -super().decision_function(X)


class NaNScores(Distance):
    def decision_function(self, X):
        scores = super().decision_function(X)
        scores[::7] = np.nan
        return scores


class Column(Distance):
    def decision_function(self, X):
        return super().decision_function(X)[:, None]


class ReturnsNone(Distance):
    def fit(self, X, y=None):
        super().fit(X)


class Noisy(Distance):
    """Uses the global generator instead of one seeded from random_state."""

    def fit(self, X, y=None):
        super().fit(X)
        self.center_ = self.center_ + np.random.normal(0.0, 0.05, size=self.center_.shape)
        return self


class PeeksAtLabels(Distance):
    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        return super().fit(X if y is None else X[np.asarray(y) == 0])


class Unpicklable(Distance):
    def fit(self, X, y=None):
        super().fit(X)
        self.transform_ = lambda Z: Z  # a lambda cannot be pickled
        return self


class ForgetsWhenPickled(Distance):
    """Pickles, but loses its fitted state on the way: fails only in the worker."""

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_")}


class NaiveMahalanobis(Distance):
    """Inverts the covariance: singular with duplicated features."""

    def fit(self, X, y=None):
        super().fit(X)
        self.precision_ = np.linalg.inv(np.cov(np.asarray(X), rowvar=False))
        return self


class DividesByStd(Distance):
    """Standardises without guarding against zero variance."""

    def fit(self, X, y=None):
        self.std_ = np.asarray(X).std(axis=0)
        return super().fit(X)

    def decision_function(self, X):
        return np.abs((np.asarray(X) - self.center_) / self.std_).max(axis=1)


class DoublesParam(Distance):
    def __init__(self, power: float = 1.0, random_state: int | None = None) -> None:
        super().__init__(power, random_state)
        self.power = float(power) * 2  # __init__ must store its arguments unchanged


class Raises(Distance):
    def fit(self, X, y=None):
        raise RuntimeError("not implemented yet")


def failed_checks(factory, **params) -> set[str]:
    return {r.check for r in run_checks(factory, params) if r.status == "failed"}


def test_a_conforming_detector_passes_every_check():
    results = check_detector(Distance, power=2.0)
    assert [r.check for r in results] == list(CHECKS)
    assert all(r.status == "passed" for r in results), results


@pytest.mark.parametrize(
    "factory, check, words, also",
    [
        (Inverted, "higher_is_more_anomalous", "inverted", ()),
        (NaNScores, "scores_shape_and_finite", "non-finite", ()),
        (Column, "scores_shape_and_finite", "shape (44, 1)", ()),
        (ReturnsNone, "fit_returns_self", "fit returned NoneType", ()),
        (Noisy, "deterministic", "different scores", ()),
        (PeeksAtLabels, "ignores_labels", "never read y", ()),
        (Unpicklable, "pickle_to_worker", "cannot be pickled", ()),
        (ForgetsWhenPickled, "pickle_to_worker", "worker process: AttributeError", ()),
        (NaiveMahalanobis, "duplicated_features", "LinAlgError", ("constant_feature",)),
        (DividesByStd, "constant_feature", "non-finite", ()),
        (DoublesParam, "params_round_trip", "changed power", ()),
    ],
)
def test_each_broken_rule_is_caught_and_named(factory, check, words, also):
    with pytest.raises(DetectorCheckError) as info:
        check_detector(factory)
    message = str(info.value)
    assert f"  {check}: " in message and words in message, message
    failed = {r.check for r in info.value.results if r.status == "failed"}
    assert failed == {check, *also}, message


def test_a_detector_that_raises_fails_once_and_the_dependent_checks_are_skipped():
    results = {r.check: r for r in run_checks(Raises)}
    assert {n for n, r in results.items() if r.status == "failed"} == {"fit_returns_self"}
    assert results["builds"].status == results["params_round_trip"].status == "passed"
    for name in ("scores_shape_and_finite", "higher_is_more_anomalous", "pickle_to_worker"):
        assert results[name].status == "skipped"
        assert "see fit_returns_self" in results[name].detail
    with pytest.raises(DetectorCheckError, match="fit raised RuntimeError: not implemented yet"):
        check_detector(Raises)


def test_nondeterminism_skips_the_label_check_instead_of_blaming_labels():
    results = {r.check: r for r in run_checks(Noisy)}
    assert results["ignores_labels"].status == "skipped"


def test_bad_constructor_arguments_fail_the_build_check():
    with pytest.raises(DetectorCheckError, match=r"builds: building Distance\[no_such_param=1\] raised TypeError"):
        check_detector(Distance, no_such_param=1)


def test_the_factory_may_be_a_string_an_instance_or_a_registered_name(kit_plugin):
    assert failed_checks(f"{__name__}:Distance") == set()
    assert failed_checks(Distance(power=2.0)) == set()
    assert failed_checks("kit_good[power=3]") == set()
    assert failed_checks("kit_inverted") == {"higher_is_more_anomalous"}


@parametrize_checks(Distance, power=0.5)
def test_parametrize_checks_gives_one_test_per_check(check):
    assert check().status == "passed"


def test_parametrize_checks_raises_for_the_failing_check_only():
    mark = parametrize_checks(Inverted)
    argname, items = mark.args[0], mark.args[1]
    assert argname == "check" and [c.name for c in items] == list(CHECKS)
    for item in items:
        if item.name == "higher_is_more_anomalous":
            with pytest.raises(DetectorCheckError, match="higher_is_more_anomalous"):
                item()
        else:
            assert item().ok


# ---------------------------------------------------------------------------------------------
# bench plugins check


class _KitPlugin:
    __name__ = "kit"

    @hookimpl
    def register_detectors(self, registry):
        registry.add("kit_good", Distance, family="classical")
        registry.add("kit_inverted", Inverted, family="classical")


@pytest.fixture
def kit_plugin():
    plugin = _KitPlugin()
    plugins.load_plugins()
    plugins.pm.register(plugin, name="kit")
    plugins.reset_registries()
    try:
        yield plugin
    finally:
        plugins.pm.unregister(plugin)
        plugins.reset_registries()


def test_cli_check_prints_every_check_and_passes(kit_plugin):
    result = CliRunner().invoke(cli, ["plugins", "check", "kit_good"])
    assert result.exit_code == 0, result.output
    for name in CHECKS:
        assert re.search(rf"PASSED\s+{name}: ", result.output), name
    assert "kit_good: all checks passed" in result.output


def test_cli_check_exits_non_zero_and_names_the_failed_check(kit_plugin):
    result = CliRunner().invoke(cli, ["plugins", "check", "kit_good", "kit_inverted"])
    assert result.exit_code == 1
    assert re.search(r"FAILED\s+higher_is_more_anomalous: .*AUROC 0\.00", result.output)
    assert "kit_inverted: failed higher_is_more_anomalous" in result.output
    assert "1 of 2 detector(s) failed a check" in result.output


def test_cli_check_json_and_subset(kit_plugin):
    result = CliRunner().invoke(
        cli, ["plugins", "check", "kit_*", "--check", "deterministic", "--json"]
    )
    assert result.exit_code == 0
    reports = json.loads(result.stdout)
    assert [r["detector"] for r in reports] == ["kit_good", "kit_inverted"]
    assert all(r["passed"] for r in reports)  # only 'deterministic' ran
    assert [x["check"] for x in reports[0]["results"]] == ["deterministic"]


def test_cli_check_errors(kit_plugin):
    unknown = CliRunner().invoke(cli, ["plugins", "check", "no_such_detector"])
    assert unknown.exit_code == 1 and "unknown detector 'no_such_detector'" in unknown.output
    bad = CliRunner().invoke(cli, ["plugins", "check", "kit_good", "--check", "nope"])
    assert bad.exit_code == 2 and "unknown check(s) nope" in bad.output


PLUGIN_FILE = '''
import numpy as np
from bench import BaseDetector, hookimpl


class FileDistance(BaseDetector):
    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.center_ = np.asarray(X).mean(axis=0)
        return self

    def decision_function(self, X):
        return np.linalg.norm(np.asarray(X) - self.center_, axis=1)


@hookimpl
def register_detectors(registry):
    registry.add("file_distance", FileDistance, family="classical")
'''


def test_cli_check_a_plugins_dir_detector_pickles_to_the_worker(tmp_path):
    (tmp_path / "mine.py").write_text(PLUGIN_FILE)
    result = CliRunner().invoke(
        cli, ["--plugins-dir", str(tmp_path), "plugins", "check", "file_distance"]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"PASSED\s+pickle_to_worker", result.output)


# ---------------------------------------------------------------------------------------------
# bench plugins new


@pytest.mark.parametrize(
    "name, message",
    [
        ("Bad-Name", "invalid plugin name 'Bad-Name'"),
        ("9lives", "starting with a letter"),
        ("bench_x", "leave out the 'bench' prefix"),
        ("kit_good", "already registered by plugin 'kit'"),
    ],
)
def test_new_rejects_bad_names(kit_plugin, tmp_path, name, message):
    result = CliRunner().invoke(cli, ["plugins", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code == 1 and message in result.output, result.output
    assert not any(tmp_path.iterdir())


def test_new_refuses_to_overwrite(tmp_path):
    (tmp_path / "bench-taken").mkdir()
    (tmp_path / "bench-taken" / "file.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["plugins", "new", "taken", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "already exists and is not empty" in result.output


@pytest.fixture(scope="module")
def user_env(tmp_path_factory):
    """A throwaway virtual environment layered on this one, with `bench`, `pip` and `pytest`.

    `pip install -e` goes into it, never into the project's environment; the project's packages
    stay visible through a .pth file. pip works offline (no index, no build isolation).
    """
    root = tmp_path_factory.mktemp("user-env")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    base = sysconfig.get_paths()["purelib"]
    Path(purelib, "_anomaly_bench_base.pth").write_text(f"import site; site.addsitedir({base!r})\n")
    for command, module in (("bench", "bench"), ("pip", "pip"), ("pytest", "pytest")):
        script = venv / "bin" / command
        script.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n')
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_LOAD_PLUGINS", "VIRTUAL_ENV")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_NO_INDEX="1",
        PIP_NO_BUILD_ISOLATION="0",  # sic: pip reads "0" as "turn build isolation off"
        PIP_NO_CACHE_DIR="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def sh(command: str, cwd: Path, env: dict[str, str], timeout: float = 300):
    """Run a bash command like a user's shell; return (stdout, stderr), fail on a non-zero exit."""
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
    return done.stdout, done.stderr


def test_new_package_installs_checks_and_runs(user_env, tmp_path):
    out, err = sh("bench plugins new tiny_knn --dir work", tmp_path, user_env)
    package = tmp_path / "work" / "bench-tiny-knn"
    assert f"created {Path('work/bench-tiny-knn/pyproject.toml')}" in out
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", "bench_tiny_knn/__init__.py", "bench_tiny_knn/detector.py",
        "tests/test_tiny_knn.py",
    }
    assert '[project.entry-points.bench]\ntiny_knn = "bench_tiny_knn"' in (
        package / "pyproject.toml").read_text()

    sh("pip install --no-deps -q -e work/bench-tiny-knn", tmp_path, user_env)
    listing, _ = sh("bench list detectors --json", tmp_path, user_env)
    (entry,) = [d for d in json.loads(listing) if d["name"] == "tiny_knn"]
    assert entry["plugin"] == "tiny_knn" and entry["status"] == "available"
    assert entry["factory"] == "bench_tiny_knn.detector:TinyKnnDetector"

    check, _ = sh("bench plugins check tiny_knn", tmp_path, user_env)
    assert "tiny_knn: all checks passed" in check
    sh("pytest -q -p no:cacheprovider work/bench-tiny-knn", tmp_path, user_env)
    board, progress = sh("bench run --detectors tiny_knn --datasets synthetic:global --seeds 1 "
                         "--store r.sqlite", tmp_path, user_env)
    assert "1 ok, 0 failed" in progress and "tiny_knn" in board


# ---------------------------------------------------------------------------------------------
# docs/plugins.md runs as written


def doc_script(section: str) -> str:
    """The section's fenced blocks as one bash script: `sh` runs, `python` `# file:` writes."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- doc-test: {section} -->(.*?)<!-- /doc-test -->", text, re.S)
    assert match, f"no doc-test section {section!r} in docs/plugins.md"
    lines = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", match.group(1), re.S):
        if lang == "sh":
            lines.append(body)
        elif lang == "python":
            first, _, rest = body.partition("\n")
            assert first.startswith("# file: "), f"python block without '# file:':\n{body}"
            path = first.removeprefix("# file: ").strip()
            lines.append(f"mkdir -p \"$(dirname {path})\"\ncat > {path} <<'PYTHON_EOF'\n"
                         f"{body}PYTHON_EOF\n")
    assert lines
    return "".join(lines)


def test_docs_worked_example_runs_as_written(user_env, tmp_path):
    out, err = sh(doc_script("worked-example"), tmp_path, user_env, timeout=600)
    assert "mahalanobis: all checks passed" in out
    assert "12 ok, 0 failed" in err
    board = out[out.index("passed in"):]  # what follows pytest's summary: the leaderboard
    for name in ("mahalanobis", "iforest", "knn", "synthetic:global", "synthetic:clustered"):
        assert name in board, board
    detector = (tmp_path / "bench-mahalanobis" / "bench_mahalanobis" / "detector.py").read_text()
    assert "class MahalanobisDetector(BaseDetector)" in detector


def test_docs_plugins_dir_example_runs_as_written(user_env, tmp_path):
    out, err = sh(doc_script("plugins-dir"), tmp_path, user_env)
    assert "toy:blobs" in out and "zscore: all checks passed" in out
    assert "4 ok, 0 failed" in err


def test_docs_list_every_hook_with_its_signature():
    from bench import hookspecs

    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    for name in ("register_detectors", "register_datasets", "register_commands"):
        assert callable(getattr(hookspecs, name))
        assert re.search(rf"^{name}\(\w+: [\w.]+\) -> None$", text, re.M), name


def test_testing_module_imports_no_heavy_package():
    code = textwrap.dedent("""
        import sys, bench.testing, bench.scaffold
        heavy = {'torch', 'numpy', 'pandas', 'sklearn', 'pyod'} & set(sys.modules)
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docs_torch_detector_example_runs_as_written(user_env, tmp_path):
    out, err = sh(doc_script("torch-detector"), tmp_path, user_env)
    assert "linear_ae: all checks passed" in out
    assert "1 ok, 0 failed" in err
