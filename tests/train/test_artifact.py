"""The exported light net: parity with the trained light net, reload, and bad files."""
import json

import numpy as np
import pytest

from minirocket import load_artifact
from minirocket.backend import available_backends
from minirocket.errors import CheckpointError
from minirocket.train import trainer
from minirocket.train.artifact import export_run
from minirocket.train.datasets import load_bundle
from minirocket.train.rundir import RunDir
from tests.train._tiny import adult_cfg, fmnist_cfg, needs_fmnist


def _trained_light_logits(run, x_prepared_fn):
    """Logits of the light net rebuilt from the best checkpoint through the pair."""
    from minirocket.train import checkpoint as ckpt
    from minirocket.train.artifact import _pair_from_tree
    rd = RunDir(run)
    cfg = rd.read_config()
    _, tree = ckpt.read_file(rd.best)
    pair = _pair_from_tree(cfg, tree)
    return pair.light.predict(x_prepared_fn(pair)), pair


@pytest.fixture(scope="module")
def adult_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("adult") / "run"
    cfg = adult_cfg(run={"dtype": "float32"}, optim={"lr": 0.01}, data={"limit_train": 2000})
    assert trainer.train(cfg, out=run, quiet=True) == 0
    return run


def test_export_is_written_by_train_and_logits_equal_the_trained_light_net(adult_run):
    pred = load_artifact(adult_run / "light" / "light.json")
    cfg = RunDir(adult_run).read_config()
    bundle = load_bundle(dict(cfg["data"], limit_test=200), progress=False,
                         state=pred.preprocessing)
    cat, num = bundle.test_x
    got = pred.logits((cat, num))
    want, pair = _trained_light_logits(adult_run, lambda p: (cat, num.astype(np.float32)))
    assert np.array_equal(got, np.asarray(want)[:, 0])
    # Nothing booster-specific: the artifact's net is exactly the light net's size.
    assert pred.net.num_parameters() == pair.light.num_parameters()
    assert pred.net.num_parameters() < pair.num_parameters()


def test_raw_adult_rows_go_through_the_saved_preprocessor(adult_run):
    from minirocket.data import read_adult
    from minirocket.data.locate import locate_dataset
    pred = load_artifact(adult_run / "light")
    src = locate_dataset("adult", [["adult.data.gz", "adult.test.gz"],
                                   ["adult.data", "adult.test"]], embedded=True)
    rows, y = read_adult(src.files[1])
    rows = rows[:50]
    from minirocket.data import TabularPreprocessor
    enc = TabularPreprocessor.from_state(pred.preprocessing["preprocessor"]).transform(rows)
    assert np.array_equal(pred.logits(rows), pred.logits((enc.cat, enc.num)))
    assert set(np.unique(pred.predict(rows))) <= {0, 1}
    p = pred.predict_proba(rows)
    assert p.shape == (50,) and ((p > 0) & (p < 1)).all()


@pytest.mark.skipif("numba" not in available_backends(), reason="numba is not installed")
def test_reload_on_the_numba_backend_matches(adult_run):
    a = load_artifact(adult_run / "light", backend="numpy")
    b = load_artifact(adult_run / "light", backend="numba")
    rng = np.random.default_rng(0)
    sizes = a.preprocessing["field_sizes"]
    cat = np.stack([rng.integers(0, s, 300) for s in sizes], axis=1).astype(np.int64)
    num = rng.standard_normal((300, len(a.preprocessing["num_names"]))).astype(np.float32)
    # float32, different summation order in the kernels: 1e-5 relative.
    np.testing.assert_allclose(b.logits((cat, num)), a.logits((cat, num)), rtol=1e-5,
                               atol=1e-5)


@needs_fmnist
def test_wrn_light_net_parity_numpy_exact_and_numba_close(tmp_path):
    run = tmp_path / "run"
    assert trainer.train(fmnist_cfg(optim={"epochs": 1}), out=run, quiet=True) == 0
    pred = load_artifact(run)              # a run folder resolves to run/light/light.json
    cfg = RunDir(run).read_config()
    bundle = load_bundle(dict(cfg["data"], limit_test=40), progress=False)
    raw = bundle.test_x[..., 0]            # (N, 28, 28) uint8, as a user would have them
    got = pred.logits(raw)
    from minirocket.train.datasets import image_batch
    x = image_batch(bundle.test_x, np.arange(40), bundle.preprocessing).astype(np.float64)
    want, _ = _trained_light_logits(run, lambda p: x)
    assert np.array_equal(got, want)
    if "numba" in available_backends():
        nb = load_artifact(run, backend="numba")
        np.testing.assert_allclose(nb.logits(raw), got, rtol=1e-9, atol=1e-9)  # float64
    # The serving path (BN folded into the preceding convs) gives the same logits up to
    # float64 rounding of the folded weights.
    fast = load_artifact(run, fast=True)
    assert fast._served is not None
    np.testing.assert_allclose(fast.logits(raw), got, rtol=1e-10, atol=1e-10)


@needs_fmnist
def test_images_scaled_to_unit_range_are_refused(tmp_path):
    run = tmp_path / "run"
    assert trainer.train(fmnist_cfg(optim={"epochs": 1}), out=run, quiet=True) == 0
    pred = load_artifact(run)
    raw = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28)).astype(np.float32)
    assert pred.logits(raw).shape == (3, 10)
    with pytest.raises(ValueError, match=r"expected pixels on the 0-255 scale .* multiply "
                                         r"them by 255"):
        pred.logits(raw / 255.0)


def test_fast_flag_must_be_a_bool(adult_run):
    with pytest.raises(TypeError, match="argument 'fast': expected a bool"):
        load_artifact(adult_run, fast="False")


def test_export_command_and_manifest_contents(adult_run, tmp_path):
    path = export_run(adult_run, out=tmp_path / "exp", which="latest")
    m = json.loads(path.read_text())
    assert m["format"] == "minirocket-light-artifact" and m["format_version"] == 1
    assert m["arch"]["kind"] == "mlp" and m["output"] == "sigmoid"
    assert m["config_hash"] == RunDir(adult_run).read_config()["config_hash"]
    assert {"minirocket", "numpy", "python"} <= set(m["versions"])
    assert m["preprocessing"]["preprocessor"]["format"] == "minirocket-tabular-preprocessor"
    assert m["source"]["checkpoint"] == "latest"
    assert len(m["weights_sha256"]) == 64
    with np.load(tmp_path / "exp" / "light.npz") as z:
        assert not any(k.startswith("booster") for k in z.files)


def test_truncated_foreign_and_newer_artifacts_are_refused(adult_run, tmp_path):
    import shutil
    d = tmp_path / "a"
    shutil.copytree(adult_run / "light", d)
    blob = (d / "light.npz").read_bytes()
    (d / "light.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt: sha256 does not match"):
        load_artifact(d)
    (d / "light.npz").write_bytes(blob)
    m = json.loads((d / "light.json").read_text())
    m["format_version"] = 2
    (d / "light.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="format version 2, newer than this minirocket"):
        load_artifact(d)
    (d / "light.json").write_text(json.dumps(m)[:40])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        load_artifact(d)
    with pytest.raises(CheckpointError, match="no light.json in"):
        load_artifact(tmp_path)
    with pytest.raises(CheckpointError, match="an .npz without a manifest beside it"):
        load_artifact(adult_run / "checkpoints" / "best.npz")


def test_artifact_from_another_architecture_is_refused(adult_run, tmp_path):
    import shutil
    d = tmp_path / "a"
    shutil.copytree(adult_run / "light", d)
    m = json.loads((d / "light.json").read_text())
    m["arch"]["hidden"] = [9]            # the manifest claims another architecture
    (d / "light.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="state does not match this architecture|expected "
                                              "shape"):
        load_artifact(d)


def test_eval_command_on_run_and_artifact(adult_run, capsys):
    from minirocket.cli import main
    assert main(["--quiet", "eval", str(adult_run), "--limit", "2000"]) == 0
    out = capsys.readouterr().out
    assert "light    net: AUC" in out and "booster  net: AUC" in out and "logloss" in out
    assert main(["--quiet", "eval", str(adult_run / "light"), "--group-field", "relationship",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    s = res["nets"]["light"]
    assert 0.75 < s["auc"] <= 1 and 0.6 < s["gauc"] <= 1 and s["gauc"] != s["auc"]
    assert s["loss"] > 0
    assert res["n"] == 16281
    assert main(["--quiet", "eval", str(adult_run), "--group-field", "shoe_size"]) == 2
    assert "argument '--group-field': expected one of" in capsys.readouterr().err


def test_export_to_an_existing_file_names_out(tmp_path):
    from minirocket.errors import ArgumentError
    from minirocket.train.artifact import export_run
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(ArgumentError, match="argument '--out': expected a folder"):
        export_run(tmp_path / "any-run", out=target)
    assert target.read_text() == "keep me"
