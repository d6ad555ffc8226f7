"""Registries and plugin discovery."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from bench import hookimpl, plugins
from bench.cli import cli
from bench.errors import BenchError, DuplicateNameError, UnknownDetectorError
from bench.registry import DetectorRegistry, display_name, parse_selector, split_list


class MeanDistance:
    def __init__(self, power=2, random_state=None):
        self.power, self.random_state = power, random_state

    def fit(self, X, y=None):
        self.mean_ = X.mean(axis=0)
        return self

    def decision_function(self, X):
        return (abs(X - self.mean_) ** self.power).sum(axis=1)


def test_add_select_and_build():
    reg = DetectorRegistry()
    reg.current_plugin = "p"
    reg.add("mean", MeanDistance, family="classical", params={"power": 2})
    reg.add("mean_l1", MeanDistance, family="classical", params={"power": 1})
    assert reg.names() == ["mean", "mean_l1"]
    assert [s.name for s in reg.select(["mean*"])] == ["mean", "mean_l1"]
    (spec,) = reg.select(["mean[power=3]"])
    assert spec.label == "mean[power=3]" and spec.all_params == {"power": 3}
    det = spec.build(random_state=7)
    assert det.power == 3 and det.random_state == 7
    assert spec.plugin == "p"
    assert spec.params_hash != reg.get("mean").params_hash


def test_random_state_only_when_accepted():
    def factory(k=1):
        return ("built", k)

    reg = DetectorRegistry()
    reg.add("plain", factory, family="classical")
    assert reg.get("plain").build(random_state=3) == ("built", 1)


def test_unknown_and_invalid_names():
    reg = DetectorRegistry()
    reg.add("iforest_like", MeanDistance, family="classical")
    with pytest.raises(UnknownDetectorError, match="unknown detector 'iforest'.*iforest_like"):
        reg.select(["iforest"])
    with pytest.raises(UnknownDetectorError, match="no detector matches 'zzz\\*'"):
        reg.select(["zzz*"])
    with pytest.raises(BenchError, match="invalid detector name"):
        reg.add("Bad Name", MeanDistance, family="classical")
    with pytest.raises(BenchError, match="factory must be callable"):
        reg.add("nofactory", "not-a-ref", family="classical")


def test_duplicate_names_name_both_plugins():
    reg = DetectorRegistry()
    reg.current_plugin = "first"
    reg.add("same", MeanDistance, family="classical")
    reg.current_plugin = "second"
    with pytest.raises(DuplicateNameError, match="'first' and 'second'"):
        reg.add("same", MeanDistance, family="classical")


def test_parametrised_names_are_deterministic():
    assert display_name("vae", {"score": "iwae", "k": 5}) == "vae[k=5,score=iwae]"
    assert parse_selector("vae[score=iwae,k=5]") == ("vae", {"score": "iwae", "k": 5})
    assert split_list("vae[a=1,b=2],ae, knn") == ["vae[a=1,b=2]", "ae", "knn"]


def test_lazy_factory_is_not_imported_until_built():
    reg = DetectorRegistry()
    reg.add("lazy", "json:JSONDecoder", family="classical")
    reg.add("missing", "no_such_module_xyz:Thing", family="classical")
    assert reg.get("lazy").unavailable_reason() is None
    assert "cannot find module" in reg.get("missing").unavailable_reason()
    with pytest.raises(BenchError, match="missing"):
        reg.get("missing").build()


def test_inline_plugin_duplicate_across_plugins_is_an_error():
    class One:
        __name__ = "one"

        @hookimpl
        def register_detectors(self, registry):
            registry.add("dup", MeanDistance, family="classical")

    class Two:
        __name__ = "two"

        @hookimpl
        def register_detectors(self, registry):
            registry.add("dup", MeanDistance, family="classical")

    plugins.pm.register(One(), name="one")
    plugins.pm.register(Two(), name="two")
    plugins.reset_registries()
    with pytest.raises(DuplicateNameError, match="'one' and 'two'"):
        plugins.get_detectors()
    result = CliRunner().invoke(cli, ["list", "detectors"])
    assert result.exit_code == 1
    assert "registered by two plugins" in result.output and "Traceback" not in result.output


def test_plugins_dir_loads_files_and_reports_broken_ones(tmp_path):
    (tmp_path / "good.py").write_text(textwrap.dedent("""
        from bench import hookimpl

        class Centroid:
            def fit(self, X, y=None):
                self.c_ = X.mean(0); return self
            def decision_function(self, X):
                return ((X - self.c_) ** 2).sum(1)

        @hookimpl
        def register_detectors(registry):
            registry.add("centroid_dist", Centroid, family="classical", tags=("demo",))
    """))
    (tmp_path / "broken.py").write_text("import this_module_does_not_exist_qq\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["--plugins-dir", str(tmp_path), "list", "detectors", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["centroid_dist"]["plugin"] == "bench_local_plugins.good"
    result = runner.invoke(cli, ["--plugins-dir", str(tmp_path), "plugins"])
    found = {p["name"]: p for p in json.loads(result.output)}
    assert found["bench_local_plugins.good"]["registered"] == {"detectors": ["centroid_dist"]}
    assert "this_module_does_not_exist_qq" in found["bench_local_plugins.broken"]["error"]


def test_builtin_entry_points_are_declared_and_load():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="bench")}
    assert {"pyod", "synthetic", "sklearn_data", "ae", "vae"} <= names
    listing = {p["name"]: p for p in plugins.get_plugins()}
    for name in ("pyod", "synthetic", "sklearn_data", "ae", "vae"):
        assert listing[name]["error"] is None, listing[name]
        assert listing[name]["registered"], f"plugin {name} registered nothing"


def test_bench_load_plugins_restricts_entry_points():
    code = ("import json; from bench import plugins; "
            "print(json.dumps(sorted(plugins.get_detectors().names())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "BENCH_LOAD_PLUGINS": "pyod"}, check=True)
    names = json.loads(out.stdout)
    assert "iforest" in names and "ae" not in names
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "BENCH_LOAD_PLUGINS": ""}, check=True)
    assert json.loads(out.stdout) == []


def test_cli_import_is_light():
    code = ("import bench.cli, sys; heavy = {'torch', 'pyod', 'sklearn', 'pandas', 'numpy'} "
            "& set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout
    code = ("import sys; from click.testing import CliRunner; from bench.cli import cli; "
            "r = CliRunner().invoke(cli, ['list', 'detectors']); assert r.exit_code == 0, r.output; "
            "heavy = {'torch', 'pyod', 'sklearn'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_init_in_data_only_folders():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert not (root / "datasets" / "__init__.py").exists()
    assert not (root / "plugins" / "__init__.py").exists()
    assert not list((root / "datasets").glob("*.py"))
