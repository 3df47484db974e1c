"""Every training method runs end to end through the trainer and resumes exactly."""
import json

import pytest

from minirocket.train import trainer
from tests.train._tiny import (adult_cfg, assert_same_arrays, final_state, fmnist_cfg,
                               needs_fmnist)


@pytest.mark.parametrize("method,nets", [
    ("light_only", ["light"]), ("booster_only", ["booster"]),
    ("kd", ["light", "booster"]), ("rocket_kd", ["light", "booster"]),
    ("two_stage", ["light", "booster"]),
])
def test_method_runs_and_records_its_nets(tmp_path, method, nets):
    cfg = adult_cfg(method={"name": method, "teacher_epochs": 1}, optim={"epochs": 1})
    assert trainer.train(cfg, out=tmp_path / "r", quiet=True) == 0
    recs = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    main = [r for r in recs if r["phase"] == "main"]
    assert sorted(r["net"] for r in main) == sorted(nets)
    teacher_phase = [r for r in recs if r["phase"] == "teacher"]
    assert bool(teacher_phase) == (method in trainer.TEACHER_METHODS)
    assert (tmp_path / "r" / "light" / "light.json").is_file()


@needs_fmnist
def test_attention_transfer_runs(tmp_path):
    cfg = fmnist_cfg(method={"name": "at", "teacher_epochs": 1},
                     optim={"epochs": 1}, data={"augment": False})
    assert trainer.train(cfg, out=tmp_path / "r", quiet=True) == 0
    assert final_state(tmp_path / "r")["phase"] == "main"


def test_resume_across_the_teacher_phase_is_bit_identical(tmp_path):
    cfg = adult_cfg(method={"name": "two_stage", "teacher_epochs": 1}, optim={"epochs": 1})
    trainer.train(cfg, out=tmp_path / "a", quiet=True)
    trainer.train(cfg, out=tmp_path / "b", quiet=True, stop_after_steps=6)   # mid-teacher
    assert final_state(tmp_path / "b")["phase"] == "teacher"
    trainer.resume(tmp_path / "b", quiet=True)
    a, b = final_state(tmp_path / "a"), final_state(tmp_path / "b")
    assert a["step"] == b["step"] == 20
    assert_same_arrays(a["light_model"], b["light_model"])
    assert_same_arrays(a["teacher"], b["teacher"])
