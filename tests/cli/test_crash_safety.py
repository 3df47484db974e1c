"""A real training process killed with SIGKILL (several points, including mid-checkpoint
write) resumes from its previous checkpoint and ends bit-identical to an uninterrupted run;
Ctrl-C saves a checkpoint and exits with status 130."""
import os
import signal
import subprocess
import sys
import time

import pytest

from minirocket.cli import main
from minirocket.train import checkpoint as ckpt
from tests.train._tiny import assert_same_arrays, final_state

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Adult, 600 rows, batch 64: 10 steps per epoch, 20 in all; checkpoints at steps 4, 8, 10
# (epoch end, also "best"), 12, 16, 20.
ARGS = ["--quiet", "train", "--preset", "quick-adult", "--limit-train", "600", "--limit-test",
        "300", "--batch-size", "64", "--epochs", "2", "--backend", "numpy", "--dtype",
        "float64", "--checkpoint-every", "4"]


def cli(args, fault=None, timeout=180):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("MINIROCKET_FAULT_POINT", None)
    if fault:
        env["MINIROCKET_FAULT_POINT"] = fault
    return subprocess.run([sys.executable, "-m", "minirocket", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=timeout)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("ref") / "run"
    assert main(ARGS + ["--out", str(run)]) == 0
    return final_state(run)


@pytest.mark.parametrize("fault,step_left", [
    ("ckpt:mid-write:3", 8),       # half of the step-10 checkpoint written
    ("ckpt:before-rename:2", 4),   # the step-8 checkpoint complete but not yet renamed
    ("ckpt:after-rename:4", 12),   # latest renamed, logs and plots not yet updated
    ("best:mid-write:1", 10),      # while copying the new best checkpoint
    ("step:after-update:15", 12),  # between checkpoints: steps 13-15 are redone
])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, reference, fault,
                                                          step_left):
    run = tmp_path / "run"
    killed = cli(ARGS + ["--out", str(run)], fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    meta, tree = ckpt.read_file(run / "checkpoints" / "latest.npz")   # loadable
    assert tree["step"] == step_left
    resumed = cli(["--quiet", "train", "--resume", str(run)])
    assert resumed.returncode == 0, resumed.stderr
    assert not list((run / "checkpoints").glob(".*.tmp"))             # debris removed
    end = final_state(run)
    assert end["step"] == 20
    assert_same_arrays(reference["model"], end["model"])
    assert_same_arrays(reference["optimizer"], end["optimizer"])
    assert (run / "light" / "light.json").is_file()
    assert (run / "checkpoints" / "best.npz").is_file()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4


def test_killed_before_the_first_checkpoint(tmp_path):
    run = tmp_path / "run"
    killed = cli(ARGS + ["--out", str(run)], fault="step:after-update:2")
    assert killed.returncode == -signal.SIGKILL
    # Nothing but the configuration was kept: --resume starts the run again from step 0
    # (the folder holds a run, so --out would refuse it).
    again = cli(["--quiet", "train", "--resume", str(run)])
    assert again.returncode == 0, again.stderr
    assert (run / "checkpoints" / "latest.npz").exists()
    assert (run / "light" / "light.json").exists()
    assert "Traceback" not in again.stderr


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("MINIROCKET_FAULT_POINT", None)
    args = [a if a != "2" else "500" for a in ARGS]            # --epochs 500: still running
    proc = subprocess.Popen([sys.executable, "-m", "minirocket", *args, "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)
    try:
        deadline = time.time() + 120
        while not (run / "checkpoints" / "latest.npz").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    state = final_state(run)
    assert f"interrupted at step {state['step']}: checkpoint saved to " in err
    assert "Traceback" not in err
    resumed = cli(["--quiet", "train", "--resume", str(run), "--stop-after-steps",
                   str(state["step"] + 3)])
    assert resumed.returncode == 0, resumed.stderr
    assert final_state(run)["step"] == state["step"] + 3
