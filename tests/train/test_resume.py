"""Exact resume: N steps straight == N/2 + resume + N/2, bit for bit (NumPy backend)."""
import pytest

from minirocket.train import trainer
from tests.train._tiny import (adult_cfg, assert_same_arrays, final_state, fmnist_cfg,
                               needs_fmnist)


def _straight_and_split(cfg, tmp_path, stop):
    a, b = tmp_path / "straight", tmp_path / "split"
    assert trainer.train(cfg, out=a, quiet=True) == 0
    assert trainer.train(cfg, out=b, quiet=True, stop_after_steps=stop) == 0
    mid = final_state(b)
    assert mid["step"] == stop
    assert trainer.resume(b, quiet=True) == 0
    return final_state(a), final_state(b)


@needs_fmnist
def test_wrn_pair_mid_epoch_resume_is_bit_identical_float64(tmp_path):
    # 48 images, batch 16: 3 steps per epoch, 6 in all; stop after 4 = mid-epoch 2, with
    # augmentation on (its generator state must be restored too).
    cfg = fmnist_cfg()
    straight, split = _straight_and_split(cfg, tmp_path, stop=4)
    assert straight["step"] == split["step"] == 6
    assert_same_arrays(straight["model"], split["model"])
    assert_same_arrays(straight["optimizer"], split["optimizer"])
    assert_same_arrays(straight["augment_rng"], split["augment_rng"])
    # Metrics too (the epoch in progress at the stop had its running sums saved).
    assert_same_arrays(straight["history"], split["history"])
    assert straight["model"]["booster.bn.running_var"].dtype.name == "float64"


def test_ctr_pair_resume_is_bit_identical_adam_sparse(tmp_path):
    # Adam, sparse embedding gradients, 10 steps per epoch; stop after 13 (mid-epoch 2).
    cfg = adult_cfg()
    straight, split = _straight_and_split(cfg, tmp_path, stop=13)
    assert straight["step"] == 20
    assert_same_arrays(straight["model"], split["model"])
    assert_same_arrays(straight["optimizer"], split["optimizer"])
    assert_same_arrays(straight["history"], split["history"])


def test_resume_at_an_epoch_boundary_and_metrics_file_rewritten(tmp_path):
    cfg = adult_cfg()
    straight, split = _straight_and_split(cfg, tmp_path, stop=10)
    assert_same_arrays(straight["model"], split["model"])
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4   # 2 epochs x 2 nets, no duplicate from the resumed epoch


def test_same_seed_same_weights_different_seed_differs(tmp_path):
    cfg = adult_cfg(optim={"epochs": 1})
    trainer.train(cfg, out=tmp_path / "a", quiet=True)
    trainer.train(cfg, out=tmp_path / "b", quiet=True)
    assert_same_arrays(final_state(tmp_path / "a")["model"],
                       final_state(tmp_path / "b")["model"])
    other = adult_cfg(optim={"epochs": 1}, run={"seed": 1})
    trainer.train(other, out=tmp_path / "c", quiet=True)
    with pytest.raises(AssertionError):
        assert_same_arrays(final_state(tmp_path / "a")["model"],
                           final_state(tmp_path / "c")["model"])


def test_run_killed_before_its_first_checkpoint_resumes_from_step_0(tmp_path):
    # A run killed in its first epoch leaves config.json and maybe a checkpoint temporary;
    # --resume starts it again from step 0 and ends where a straight run ends.
    cfg = adult_cfg(optim={"epochs": 1})
    trainer.train(cfg, out=tmp_path / "straight", quiet=True)
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.json").write_bytes((tmp_path / "straight" / "config.json").read_bytes())
    (killed / "checkpoints").mkdir()
    leftover = killed / "checkpoints" / ".latest.npz.1234.tmp"
    leftover.write_bytes(b"partial")
    assert trainer.resume(killed, quiet=True) == 0
    assert not leftover.exists()
    assert_same_arrays(final_state(tmp_path / "straight")["model"],
                       final_state(killed)["model"])


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    cfg = adult_cfg(optim={"epochs": 1})
    trainer.train(cfg, out=tmp_path / "a", quiet=True)
    before = final_state(tmp_path / "a")
    assert trainer.resume(tmp_path / "a", quiet=True) == 0
    assert_same_arrays(before["model"], final_state(tmp_path / "a")["model"])


@pytest.mark.skipif("numba" not in __import__("minirocket").available_backends(),
                    reason="numba is not installed")
def test_numba_backend_repeats_bit_identically(tmp_path):
    # The guarantee stated for numba: same seed, same machine -> same weights.
    cfg = adult_cfg(run={"backend": "numba", "dtype": "float32"})
    trainer.train(cfg, out=tmp_path / "a", quiet=True)
    trainer.train(cfg, out=tmp_path / "b", quiet=True)
    assert_same_arrays(final_state(tmp_path / "a")["model"],
                       final_state(tmp_path / "b")["model"])
