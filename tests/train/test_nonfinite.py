"""Non-finite losses stop the run (naming step, net and term) or are skipped and counted."""
import json

import numpy as np
import pytest

from minirocket.cli import main
from minirocket.errors import NumericalError
from minirocket.rocket import RocketObjective
from minirocket.train import trainer
from tests.train._tiny import adult_cfg, final_state


@pytest.fixture
def nan_hint_at(monkeypatch):
    """Make the hint loss NaN on the given training-step calls (1-based)."""
    def install(*calls):
        real = RocketObjective.hint_loss
        count = {"n": 0}

        def hint_loss(self, l, z):
            count["n"] += 1
            value, gl, gz = real(self, l, z)
            if count["n"] in calls:
                value = value * np.nan
            return value, gl, gz
        monkeypatch.setattr(RocketObjective, "hint_loss", hint_loss)
        return count
    return install


def test_stop_names_step_net_and_term_and_keeps_the_last_checkpoint(tmp_path, nan_hint_at):
    cfg = adult_cfg(run={"checkpoint_every": 2})
    nan_hint_at(5)
    with pytest.raises(NumericalError) as e:
        trainer.train(cfg, out=tmp_path / "r", quiet=True)
    msg = str(e.value)
    assert "loss term 'hint' of the light net is nan at step 5" in msg
    assert f"last good checkpoint kept at {tmp_path / 'r' / 'checkpoints' / 'latest.npz'}" in msg
    assert final_state(tmp_path / "r")["step"] == 4      # the step-4 checkpoint, untouched


def test_cli_exit_status_3_one_line_then_resume_finishes(tmp_path, nan_hint_at, capsys):
    nan_hint_at(5)
    argv = ["--quiet", "train", "--preset", "quick-adult", "--limit-train", "600",
            "--limit-test", "300", "--batch-size", "64", "--epochs", "2", "--backend", "numpy",
            "--checkpoint-every", "2", "--out", str(tmp_path / "r")]
    assert main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minirocket: error: loss term 'hint' of the "
                                               "light net is nan at step 5")
    nan_hint_at()            # the fault is gone (counter restarts, no NaN call listed)
    assert main(["--quiet", "train", "--resume", str(tmp_path / "r")]) == 0
    assert final_state(tmp_path / "r")["step"] == 20


def test_skip_counts_and_finishes(tmp_path, nan_hint_at):
    cfg = adult_cfg(run={"on_nonfinite": "skip"})
    nan_hint_at(3, 7)
    assert trainer.train(cfg, out=tmp_path / "r", quiet=True) == 0
    state = final_state(tmp_path / "r")
    assert state["skipped"] == 2
    assert state["step"] == 20                 # skipped steps still consume their batch
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["skipped_steps"] == 2
    lines = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["skipped_steps"] == 2
    for name, arr in state["model"].items():
        assert np.isfinite(arr).all(), name


def test_skip_gives_up_after_many_consecutive_faults(tmp_path, nan_hint_at):
    cfg = adult_cfg(run={"on_nonfinite": "skip"})
    nan_hint_at(*range(1, 100))
    with pytest.raises(NumericalError, match="20 consecutive non-finite steps skipped"):
        trainer.train(cfg, out=tmp_path / "r", quiet=True)


def test_exploding_learning_rate_is_caught(tmp_path):
    # A real divergence, no injection: SGD with an absurd learning rate.
    cfg = adult_cfg(optim={"optimizer": "sgd", "lr": 1e12, "momentum": 0.9})
    with pytest.raises(NumericalError, match=r"(non-finite|not finite|is (nan|inf))"):
        trainer.train(cfg, out=tmp_path / "r", quiet=True)
