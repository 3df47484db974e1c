"""Named configurations: the paper's settings, and CPU-sized runs.

``paper-*`` presets reproduce the authors' settings (arXiv 1708.04106 and their released
code): SGD lr 0.1, momentum 0.9 (not Nesterov), weight decay 5e-4 on every parameter,
batch 128, 200 epochs, lr x 0.2 at epochs 60/120/160 (70/130/190 for the bottom layout, as
in the authors' ``rocket_bottom.py``), momentum buffers cleared at each drop (they
re-create the optimiser), lambda = 0.03, gradient block on, BN gamma ~ U[0, 1), flip +
pad-4 crop augmentation. They take days on a CPU; they are here so that a GPU run, or a
patient one, uses exactly those numbers.

``quick-*`` presets are CPU-sized: a subset of the data and a few epochs.

``main`` is what ``minirocket train`` runs with no arguments.

A preset is a partial configuration: keys it leaves out take the schema defaults
(:data:`minirocket.train.config.SCHEMA`).
"""
import copy

from minirocket.errors import ArgumentError

_PAPER_OPTIM = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False,
                "weight_decay": 5e-4, "milestones": [60, 120, 160], "lr_decay": 0.2,
                "reset_momentum": True, "batch_size": 128, "epochs": 200}
_PAPER_METHOD = {"name": "rocket", "lam": 0.03, "grad_block": True, "hint": "logits_mse",
                 "nominal_batch": 128, "temperature": 4.0, "alpha": 0.9, "beta": 1000.0}
_CIFAR = {"dataset": "cifar10", "augment": True, "limit_train": None, "limit_test": None}


def _paper_wrn(light_width, share, milestones=(60, 120, 160)):
    optim = dict(_PAPER_OPTIM, milestones=list(milestones))
    return {
        "data": dict(_CIFAR),
        "model": {"arch": "wrn", "booster_depth": 40, "booster_width": light_width,
                  "light_depth": 16, "light_width": light_width, "share": share,
                  "bn_gamma_init": "uniform"},
        "method": dict(_PAPER_METHOD),
        "optim": optim,
        "run": {"dtype": "float32"},
    }


PRESETS = {
    "main": {
        # Chosen by measurement on a 2-core CPU: real data, both nets trained together, the
        # whole command (loading included) well under 5 minutes. See docs/usage.md.
        "data": {"dataset": "fashion-mnist", "limit_train": 3000, "limit_test": 1000,
                 "augment": False},
        "model": {"arch": "wrn", "booster_depth": 16, "booster_width": 1, "light_depth": 10,
                  "light_width": 1, "share": "interval", "bn_gamma_init": "uniform"},
        "method": dict(_PAPER_METHOD),
        # Batch 64 and lr 0.05 (half the paper's 128 / 0.1, same lr per example): twice the
        # updates in the same time, which is what a 3-epoch run needs; lr x 0.2 for epoch 3.
        "optim": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False,
                  "weight_decay": 5e-4, "milestones": [3], "lr_decay": 0.2,
                  "reset_momentum": True, "batch_size": 64, "epochs": 3},
        "run": {"dtype": "float32"},
    },
    "main-adult": {
        # What ``minirocket train`` falls back to when no data folder exists at all: the
        # UCI Adult copy embedded in the package, with the Table 5 MLP shapes.
        "data": {"dataset": "adult", "limit_train": None, "limit_test": None},
        "model": {"arch": "mlp", "embed_dim": 8, "booster_hidden": [720, 360, 240, 180, 90],
                  "light_hidden": [200, 80], "share": "bottom"},
        "method": dict(_PAPER_METHOD),
        "optim": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "milestones": [],
                  "batch_size": 128, "epochs": 3},
        "run": {"dtype": "float32"},
    },
    "paper-cifar10-wrn16-1-wrn40-1-interval": _paper_wrn(1, "interval"),
    "paper-cifar10-wrn16-1-wrn40-1-bottom": _paper_wrn(1, "bottom", (70, 130, 190)),
    "paper-cifar10-wrn16-2-wrn40-2-interval": _paper_wrn(2, "interval"),
    "paper-ctr-table5": {
        # Table 5 FC shapes: light 576-200-80-2 and booster 576-720-360-240-180-90-2 on the
        # shared embeddings. The paper's CTR data is private; UCI Adult stands in. The paper
        # gives no optimiser for this experiment; Adam 1e-3, batch 128 follows the authors'
        # later CTR code.
        "data": {"dataset": "adult"},
        "model": {"arch": "mlp", "embed_dim": 8, "booster_hidden": [720, 360, 240, 180, 90],
                  "light_hidden": [200, 80], "share": "bottom"},
        "method": dict(_PAPER_METHOD),
        "optim": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "milestones": [],
                  "batch_size": 128, "epochs": 10},
        "run": {"dtype": "float32"},
    },
    "quick-cifar10": {
        "data": {"dataset": "cifar10", "limit_train": 2000, "limit_test": 1000,
                 "augment": True},
        "model": {"arch": "wrn", "booster_depth": 16, "booster_width": 1, "light_depth": 10,
                  "light_width": 1, "share": "interval"},
        "method": dict(_PAPER_METHOD),
        "optim": dict(_PAPER_OPTIM, milestones=[3], epochs=4),
    },
    "quick-fashion-mnist": {
        "data": {"dataset": "fashion-mnist", "limit_train": 2000, "limit_test": 1000},
        "model": {"arch": "wrn", "booster_depth": 16, "booster_width": 1, "light_depth": 10,
                  "light_width": 1, "share": "interval"},
        "method": dict(_PAPER_METHOD),
        "optim": dict(_PAPER_OPTIM, milestones=[2], epochs=2),
    },
    "quick-adult": {
        "data": {"dataset": "adult", "limit_train": 8000, "limit_test": 4000},
        "model": {"arch": "mlp", "embed_dim": 4, "booster_hidden": [128, 64],
                  "light_hidden": [32], "share": "bottom"},
        "method": dict(_PAPER_METHOD),
        "optim": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "milestones": [],
                  "batch_size": 128, "epochs": 2},
    },
}

DEFAULT_PRESET = "main"
#: Used instead of :data:`DEFAULT_PRESET` when no data folder exists at all.
FALLBACK_PRESET = "main-adult"


def preset_names():
    """All preset names, sorted."""
    return sorted(PRESETS)


def get_preset(name):
    """A deep copy of preset ``name`` (a partial configuration).

    Raises
    ------
    ArgumentError
        Unknown name; the message lists the valid ones.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ArgumentError(f"argument 'preset': expected one of {', '.join(preset_names())}, "
                            f"got {name!r}")
    return copy.deepcopy(PRESETS[name])
