"""Run folder contents, learning-curve PNGs, and the no-data fallback of the main job."""
import json

from PIL import Image

from minirocket.train import trainer
from minirocket.train.plots import line_plot, write_learning_curves
from minirocket.train.presets import FALLBACK_PRESET
from tests.train._tiny import adult_cfg


def test_run_folder_holds_everything(tmp_path):
    run = tmp_path / "run"
    assert trainer.train(adult_cfg(), out=run, quiet=True) == 0
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "metrics.jsonl", "checkpoints", "light", "curves_loss.png",
            "curves_auc.png", "summary.txt", "summary.json"} <= names
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"latest.npz", "best.npz"}
    cfg = json.loads((run / "config.json").read_text())
    assert len(cfg["config_hash"]) == 64 and cfg["run"]["backend"] == "numpy"
    recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["net"]) for r in recs] == [(1, "light"), (1, "booster"),
                                                      (2, "light"), (2, "booster")]
    assert all({"train_loss", "test_loss", "test_auc", "elapsed_s", "lr"} <= set(r)
               for r in recs)
    assert "best light net" in (run / "summary.txt").read_text()
    assert not list(run.rglob(".*.tmp"))
    img = Image.open(run / "curves_loss.png")
    assert img.size == (640, 400) and img.format == "PNG"
    # Both nets are drawn: the light colour and the booster colour appear in the image.
    colours = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours


def test_plot_with_nan_points_and_empty_history(tmp_path):
    png = line_plot([("x", (0, 0, 0), [1, 2, 3], [1.0, float("nan"), 2.0], True)], "t", "y")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    paths = write_learning_curves(tmp_path, [], "accuracy")
    assert [p.name for p in paths] == ["curves_loss.png", "curves_accuracy.png"]


def test_no_data_folder_at_all_falls_back_to_embedded_adult(monkeypatch, tmp_path):
    import minirocket.data.locate as locate
    monkeypatch.delenv("MINIROCKET_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "shared_datasets_dir", lambda: tmp_path / "absent")
    cfg, notes = trainer.main_job_config(None, None, {}, {})
    assert cfg["preset"] == FALLBACK_PRESET and cfg["data"]["dataset"] == "adult"
    assert len(notes) == 1 and "embedded in the package" in notes[0]
    # The embedded copy is what the loader then uses, and it says so in one line.
    from minirocket.data import load_adult
    d = load_adult()
    assert d.source.embedded and "embedded" in d.message
    # An explicit preset is never replaced.
    cfg, notes = trainer.main_job_config("quick-fashion-mnist", None, {}, {})
    assert cfg["preset"] == "quick-fashion-mnist" and notes == []


def test_limits_take_a_fixed_random_subset_not_the_first_rows():
    import numpy as np
    from minirocket.train.datasets import DataBundle, _limit, subset_indices
    # Labels sorted by class, as in CIFAR-10's archive: the first 100 rows are all class 0.
    y = np.repeat(np.arange(10), 50)
    x = np.arange(500)[:, None, None, None].astype(np.uint8)
    b = _limit(DataBundle("image", "multiclass", 10, x, y, x, y, {}, ""), 100, 30)
    assert len(np.unique(b.train_y)) >= 8 and len(b.train_y) == 100
    assert len(b.test_y) == 30
    idx = subset_indices(500, 100)
    assert np.array_equal(idx, np.sort(idx)) and np.array_equal(idx, subset_indices(500, 100))
    assert np.array_equal(subset_indices(7, None), np.arange(7))
