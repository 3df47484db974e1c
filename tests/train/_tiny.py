"""Tiny real-data configurations shared by the training tests (seconds on two cores).

Adult needs no data folder (the package embeds a copy); Fashion-MNIST needs
``shared/datasets`` and its tests skip, with the reason, when that folder is absent.
"""
import numpy as np
import pytest

from minirocket.data.locate import candidate_dirs
from minirocket.train import checkpoint as ckpt
from minirocket.train.config import build_config


def adult_cfg(**over):
    """Adult MLP pair: 600 train / 300 test rows, batch 64 (10 steps per epoch), float64."""
    o = {"data": {"limit_train": 600, "limit_test": 300},
         "model": {"booster_hidden": [16, 8], "light_hidden": [8], "embed_dim": 3},
         "optim": {"batch_size": 64, "epochs": 2},
         "run": {"backend": "numpy", "dtype": "float64"}}
    for sec, kv in over.items():
        o.setdefault(sec, {}).update(kv)
    return build_config("quick-adult", overrides=o)


def fmnist_available():
    return any((c.path / "fashion-mnist").is_dir() or
               (c.path / "train-images-idx3-ubyte.gz").exists() for c in candidate_dirs())


needs_fmnist = pytest.mark.skipif(not fmnist_available(),
                                  reason="Fashion-MNIST not found: no shared/datasets folder")


def fmnist_cfg(**over):
    """WRN-16-1 booster / WRN-10-1 light on 48 Fashion-MNIST images, batch 16, float64,
    augmentation on (so the augmentation generator's state matters for resume)."""
    o = {"data": {"limit_train": 48, "limit_test": 32, "augment": True},
         "optim": {"batch_size": 16, "epochs": 2, "milestones": [2]},
         "run": {"backend": "numpy", "dtype": "float64"}}
    for sec, kv in over.items():
        o.setdefault(sec, {}).update(kv)
    return build_config("quick-fashion-mnist", overrides=o)


def final_state(run_dir):
    """The latest checkpoint's state tree of a run folder."""
    _, tree = ckpt.read_file(run_dir / "checkpoints" / "latest.npz")
    return tree


def assert_same_arrays(a, b, path=""):
    """Recursively assert two state trees are identical (arrays bit for bit)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(a, b), f"arrays differ at {path}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {path}: {set(a) ^ set(b)}"
        for k in a:
            if k in ("elapsed", "elapsed_s"):
                continue   # wall-clock time, legitimately different
            assert_same_arrays(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_arrays(x, y, f"{path}/{i}")
    else:
        assert a == b, f"values differ at {path}: {a!r} != {b!r}"
