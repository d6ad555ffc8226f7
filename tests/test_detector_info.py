"""`bench detectors info NAME` and JSON output with real JSON types in the listing commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.cli import cli


def invoke_json(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_detector_info_lists_parameters_with_defaults_and_types():
    card = invoke_json("detectors", "info", "iforest", "--json")
    assert card["name"] == "iforest" and card["plugin"] == "pyod" and card["family"] == "classical"
    assert card["plugin_version"] and card["available"] is True and card["seeded"] is True
    assert "Isolation Forest" in card["citation"] and card["tags"] == ["pyod"]
    params = {p["name"]: p for p in card["parameters"]}
    assert params["n_estimators"] == {"name": "n_estimators", "default": 100, "type": "int",
                                      "registered": False}
    assert params["bootstrap"]["default"] is False and params["max_features"]["default"] == 1.0
    assert "random_state" not in params  # the seed sets it
    assert "path length" in card["scoring"]


def test_detector_info_of_a_deep_detector_reads_defaults_set_in_init():
    pytest.importorskip("torch")
    card = invoke_json("detectors", "info", "vae[score=iwae]", "--json")
    params = {p["name"]: p for p in card["parameters"]}
    assert card["name"] == "vae[score=iwae]" and params["score"]["default"] == "iwae"
    assert params["epochs"]["default"] == "auto"  # from get_params (training_defaults)
    assert isinstance(params["n_samples"]["default"], int)
    assert card["scoring"].startswith("score = negative ELBO")
    text = CliRunner().invoke(cli, ["detectors", "info", "ae"]).output
    assert "scoring:" in text and "reconstruction error" in text and "epochs" in text


def test_detector_info_refuses_a_pattern_matching_several():
    result = CliRunner().invoke(cli, ["detectors", "info", "pyod_*"])
    assert result.exit_code == 2 and "matches 6 detectors" in result.output


def test_listing_json_has_json_types(adbench_dir, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(adbench_dir))
    rows = {r["name"]: r for r in invoke_json("list", "datasets", "--json")}
    cached = next(r for r in rows.values() if r["source"] == "adbench" and r["cached"])
    assert cached["cached"] is True and cached["embedded"] is False and cached["verified"] is True
    assert isinstance(cached["anomaly_ratio"], float) and isinstance(cached["n_samples"], int)
    assert cached["anomaly_ratio"] == round(cached["anomaly_ratio"], 4)
    assert rows["synthetic:global"]["embedded"] is True and rows["synthetic:global"]["cached"] is True
    card = invoke_json("datasets", "info", cached["name"], "--json")
    assert card["cached"] is True and isinstance(card["anomaly_ratio"], float)
    detectors = {r["name"]: r for r in invoke_json("list", "detectors", "--json")}
    assert detectors["iforest"]["available"] is True and detectors["ae"]["tags"] == ["torch", "images"]


def test_listing_detectors_imports_no_detector_module():
    code = ("import sys; from bench.cli import cli; cli(['list', 'detectors', '--json'], "
            "standalone_mode=False); print(sorted({'torch', 'pyod', 'sklearn'} & "
            "set(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
