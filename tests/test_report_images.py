"""Image datasets in the record and the report: each cell keeps its most and least anomalous test
rows (and reconstructions where the detector makes them), and the report draws them from the
dataset reloaded and split as the cell split it."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

import bench
from bench import examples, plugins, report
from bench.protocols import split_dataset
from bench.store import MIGRATIONS, SCHEMA_VERSION, Store, _statements

DIGITS = "sklearn:digits_images"


def fast(name: str, **params):
    """A registered torch detector with its fast test configuration (and ``params``)."""
    spec = plugins.get_detectors().get(name)
    return spec.with_params({**spec.resolve().test_config(), **params})


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A real run on the 8x8 digits: hbos (flattened pixels) and a small conv ae."""
    path = tmp_path_factory.mktemp("images") / "store.sqlite"
    frame = bench.run([plugins.get_detectors().get("hbos"), fast("ae", epochs=5, n_models=1)],
                      [DIGITS], seeds=(1,), store=path, executor="serial")
    return path, frame


def test_an_image_cell_keeps_its_extreme_test_rows_and_the_ae_its_reconstructions(image_run):
    _, frame = image_run
    assert list(frame["status"]) == ["ok", "ok"], frame["error"].tolist()
    by_name = {row.detector_name: row for row in frame.itertuples()}
    spec = plugins.get_datasets().get(DIGITS)
    X, y = bench.data.load(spec)
    part = split_dataset(X, y, spec, "unsupervised", 1)
    for name, row in by_name.items():
        found = json.loads(row.examples)
        k = found["k"]
        assert k == examples.K
        top, bottom = found["top"], found["bottom"]
        assert len(set(top) | set(bottom)) == 2 * k  # the two ends never share a row
        assert max(top + bottom) < row.n_test == len(part.y_test)
        assert found["top_scores"] == sorted(found["top_scores"], reverse=True)
        assert found["bottom_scores"] == sorted(found["bottom_scores"])
        assert min(found["top_scores"]) > max(found["bottom_scores"])
        # the labels kept are those of the same rows in the split made again
        assert found["top_labels"] == part.y_test[top].astype(int).tolist(), name
        assert found["bottom_labels"] == part.y_test[bottom].astype(int).tolist(), name
    assert "recon" not in json.loads(by_name["hbos"].examples)
    assert "images" not in json.loads(by_name["hbos"].examples)  # the report reloads them
    assert "no reconstruct" in json.loads(by_name["hbos"].examples)["recon_error"]
    recon = examples.decode(json.loads(by_name["ae"].examples)["recon"])
    assert recon.shape == (2 * examples.K, 1, 8, 8)
    assert 0 <= recon.min() and recon.max() <= 1 and recon.std() > 0


def test_a_table_cell_keeps_no_examples(tmp_path):
    frame = bench.run(["hbos"], ["synthetic:global"], seeds=(1,), store=None, executor="serial")
    assert frame["status"].tolist() == ["ok"]
    assert frame["examples"].isna().all()


def test_the_report_shows_each_detectors_images(image_run, tmp_path):
    path, _ = image_run
    index = report.build(path, tmp_path / "report")
    page = index.read_text(encoding="utf-8")
    assert '<h2 id="images">Images</h2>' in page
    assert f"<h3>{DIGITS}, protocol unsupervised</h3>" in page
    figures = sorted((tmp_path / "report").glob("examples-*.png"))
    assert len(figures) == 2
    for figure in figures:
        assert f'src="{figure.name}"' in page
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no reconstructions: the detector offers no reconstruct(X)" in page  # hbos


def test_reconstruct_returns_the_inputs_shape_and_matches_the_ae_score():
    """ae's reconstruct is the reconstruction its score measures (one member, standardized
    units): the score is the mean squared difference in those units."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 8, 8)).astype(np.float32)
    for arch in ("conv", "mlp"):
        det = fast("ae", epochs=2, n_models=1, arch=arch).build(random_state=0)
        det.fit(X)
        recon = det.reconstruct(X[:5])
        assert recon.shape == X[:5].shape
        scale = det.model_.scale
        mean, std = (scale.mean.numpy().reshape(-1), scale.std.numpy().reshape(-1))
        diff = (recon.reshape(5, -1) - X[:5].reshape(5, -1)) / std
        np.testing.assert_allclose((diff ** 2).mean(axis=1), det.decision_function(X[:5]),
                                   rtol=1e-4)
        assert det.reconstruct(X[:5].reshape(5, -1)).shape == (5, 64)  # flattened in, out
        assert mean.size in (1, 64)
    vae = fast("vae", epochs=2).build(random_state=0)
    vae.fit(X)
    assert vae.reconstruct(X[:3]).shape == (3, 1, 8, 8)
    assert np.isfinite(vae.reconstruct(X[:3])).all()


class Broken:
    """A detector whose scores are fine and whose reconstruct raises."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.center_ = X.reshape(len(X), -1).mean(axis=0)
        return self

    def decision_function(self, X):
        return ((X.reshape(len(X), -1) - self.center_) ** 2).sum(axis=1)

    def reconstruct(self, X):
        raise RuntimeError("no decoder here")


def test_a_failing_reconstruct_leaves_the_cell_ok_and_says_why(tmp_path):
    """An in-memory image dataset: the cell stays ok with the reason kept; the images travel in
    the record (no registry could give them back), so the report shows them."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 120, size=(120, 8, 8)).astype(np.uint8)
    y = np.zeros(120, dtype=int)
    y[:12] = 1
    X[:12] += 100  # brighter anomalies
    store = tmp_path / "s.sqlite"
    frame = bench.run([Broken()], [("bright", X, y)], seeds=(1,), store=store,
                      executor="serial")
    assert frame["status"].tolist() == ["ok"]
    found = json.loads(frame["examples"][0])
    assert found["recon_error"] == "reconstruct failed: RuntimeError: no decoder here"
    labels = found["top_labels"]  # the brighter anomalies of the test part (about 4) first
    assert labels == sorted(labels, reverse=True) and sum(labels) >= 3
    kept = examples.decode(found["images"])
    assert kept.shape == (2 * examples.K, 1, 8, 8)
    assert kept[:sum(labels)].mean() > kept[examples.K:].mean()  # the bright ones on top
    page = report.build(store, tmp_path / "report").read_text(encoding="utf-8")
    assert "reconstruct failed: RuntimeError: no decoder here" in page
    assert len(list((tmp_path / "report").glob("examples-*.png"))) == 1


def test_the_report_says_why_when_it_cannot_reload_the_images(image_run, tmp_path):
    """A registered dataset's images are not stored: when the dataset is unknown here, or not
    the version the cells ran on, the report says so in place of the figures."""
    path, _ = image_run
    gone, changed = tmp_path / "gone.sqlite", tmp_path / "changed.sqlite"
    for copy, sql in ((gone, "UPDATE cells SET dataset = 'sklearn:nowhere'"),
                      (changed, "UPDATE cells SET dataset_sha256 = 'ab' || dataset_sha256")):
        with Store(path, create=False) as db:
            db.conn.backup(conn := sqlite3.connect(copy))
        conn.execute(sql)
        conn.commit()
        conn.close()
    page = report.build(gone, tmp_path / "gone").read_text(encoding="utf-8")
    assert page.count("images not shown: dataset &#39;sklearn:nowhere&#39; cannot be loaded") == 2
    page = report.build(changed, tmp_path / "changed").read_text(encoding="utf-8")
    assert page.count("is not the version the cells ran on") == 2
    assert not list((tmp_path / "changed").glob("examples-*.png"))


def test_a_store_of_the_previous_schema_gains_the_examples_column(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:SCHEMA_VERSION - 1], start=1):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO cells (key, detector, detector_name, dataset, protocol, seed, "
                 "status, auroc) VALUES ('k', 'hbos', 'hbos', 'd', 'unsupervised', 1, 'ok', 0.9)")
    conn.close()
    with Store(path, create=False) as db:  # reading migrates a copy in memory
        (row,) = db.current().to_dict("records")
        assert row["examples"] is None and row["auroc"] == 0.9
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
    with Store(path) as db:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "examples" in {r[1] for r in db.conn.execute("PRAGMA table_info(cells)")}


def test_the_image_figures_load_in_headless_chromium(image_run, tmp_path):
    from test_report_browser import CHROMIUM, load_page

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    path, _ = image_run
    index = report.build(path, tmp_path / "report")
    page = load_page(index.as_uri(), tmp_path / "profile",
                     script="Array.from(document.querySelectorAll('#images ~ .gallery img'))"
                            ".map(i => i.naturalWidth)")
    assert page["errors"] == []
    assert all(image["complete"] and image["width"] > 0 for image in page["images"]), page
    widths = page["value"]
    assert len(widths) == 2 and all(w > 500 for w in widths), widths  # 8 images a row, legible
