"""Datasets as the trainer sees them: raw arrays, labels, and how to turn rows into inputs.

Notation
--------
N examples, H x W pixels, C channels, F categorical fields, M numeric features.

Images stay uint8 (N, H, W, C) in memory; each batch is normalised (and, in training,
augmented) when it is drawn, so a 60,000-image set costs 47 MB, not 188 MB of float32.
Click data is kept encoded: ``cat`` int64 (N, F) and ``num`` float32 (N, M).

The ``preprocessing`` dict of a bundle is what an exported light net needs to accept the
same raw input: per-channel mean/std for images, the fitted preprocessor's state for
click data.
"""
import dataclasses

import numpy as np

from minirocket.errors import ArgumentError, DataError

#: Per-channel statistics on the 0-255 scale. Fashion-MNIST's are those of its training set
#: (mean 0.2860, std 0.3530 on the 0-1 scale).
FASHION_MNIST_MEAN = (72.94,)
FASHION_MNIST_STD = (90.02,)


@dataclasses.dataclass
class DataBundle:
    """Train and test data plus what the model and the exported artifact need to know.

    Attributes
    ----------
    kind : {"image", "tabular"}
    task : {"multiclass", "binary"}
    num_classes : int
    train_x, test_x : uint8 array (N, H, W, C), or (cat, num) tuple
    train_y, test_y : int64 array (N,)
    preprocessing : dict
        JSON-able; see the module docstring.
    message : str
        One line saying where the data came from.
    embedded : bool
        The data is the copy shipped inside the package.
    groups : dict of str -> int array, optional
        Per-split grouping ids for GAUC (click data).
    """
    kind: str
    task: str
    num_classes: int
    train_x: object
    train_y: np.ndarray
    test_x: object
    test_y: np.ndarray
    preprocessing: dict
    message: str
    embedded: bool = False
    field_names: tuple = ()

    @property
    def metric(self):
        """The task metric: ``accuracy`` (classes) or ``auc`` (clicks)."""
        return "accuracy" if self.task == "multiclass" else "auc"

    def n(self, split):
        return len(self.train_y if split == "train" else self.test_y)

    def x(self, split):
        return self.train_x if split == "train" else self.test_x

    def y(self, split):
        return self.train_y if split == "train" else self.test_y


def _take(x, idx):
    if isinstance(x, tuple):
        return tuple(a[idx] for a in x)
    return x[idx]


SUBSET_SEED = 0


def subset_indices(n, limit):
    """The examples a ``limit`` keeps out of ``n``: a fixed random subset, in file order.

    Random, because files are often sorted by class (CIFAR-10's archive holds 5,000
    airplanes first): the first N rows could be one class. Fixed (its own seed, not the
    run's), so that a "--limit-train 2000" run uses the same 2000 examples whatever
    ``--seed`` says, which keeps comparisons between methods and seeds fair.

    Returns
    -------
    numpy.ndarray of int64, shape (min(n, limit),), sorted
    """
    if limit is None or limit >= n:
        return np.arange(n, dtype=np.int64)
    keep = np.random.default_rng(SUBSET_SEED).permutation(n)[:limit]
    return np.sort(keep).astype(np.int64)


def _limit(bundle, limit_train, limit_test):
    if limit_train is not None and limit_train < bundle.n("train"):
        idx = subset_indices(bundle.n("train"), limit_train)
        bundle.train_x = _take(bundle.train_x, idx)
        bundle.train_y = bundle.train_y[idx]
    if limit_test is not None and limit_test < bundle.n("test"):
        idx = subset_indices(bundle.n("test"), limit_test)
        bundle.test_x = _take(bundle.test_x, idx)
        bundle.test_y = bundle.test_y[idx]
    return bundle


def load_bundle(data_cfg, *, progress=True, data_dir=None, cache_dir=None, state=None):
    """Load the dataset a configuration names.

    Parameters
    ----------
    data_cfg : dict
        The ``[data]`` section.
    progress : bool
        Progress bar while decoding (CIFAR-10's first load).
    data_dir, cache_dir : str, optional
        Override the section's locations (a resumed run on another machine).
    state : dict, optional
        A saved preprocessing dict: reuse its fitted constants (click data).

    Returns
    -------
    DataBundle
    """
    name = data_cfg["dataset"]
    data_dir = data_dir if data_dir is not None else data_cfg.get("data_dir")
    cache_dir = cache_dir if cache_dir is not None else data_cfg.get("cache_dir")
    if name == "fashion-mnist":
        from minirocket.data import FASHION_MNIST_CLASSES, load_fashion_mnist
        d = load_fashion_mnist(data_dir)
        bundle = DataBundle(
            "image", "multiclass", 10, d["train"].images[..., None], d["train"].labels,
            d["test"].images[..., None], d["test"].labels,
            {"kind": "image", "dataset": name, "height": 28, "width": 28, "channels": 1,
             "mean": list(FASHION_MNIST_MEAN), "std": list(FASHION_MNIST_STD),
             "classes": list(FASHION_MNIST_CLASSES)},
            d.source.message if d.source is not None else f"{name}: loaded")
    elif name == "cifar10":
        from minirocket.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, load_cifar10
        d = load_cifar10(data_dir, cache_dir, progress=progress)
        bundle = DataBundle(
            "image", "multiclass", 10, d["train"].images, d["train"].labels,
            d["test"].images, d["test"].labels,
            {"kind": "image", "dataset": name, "height": 32, "width": 32, "channels": 3,
             "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD),
             "classes": list(CIFAR10_CLASSES)},
            d.source.message if d.source is not None else f"{name}: loaded")
    elif name == "adult":
        from minirocket.data import load_adult
        pre_state = state.get("preprocessor") if state else None
        d = load_adult(data_dir, state=pre_state)
        bundle = DataBundle(
            "tabular", "binary", 2, (d.train.cat, d.train.num), d.train.y,
            (d.test.cat, d.test.num), d.test.y,
            {"kind": "tabular", "dataset": name, "reader": "adult",
             "preprocessor": d.preprocessor.state_dict(),
             "field_sizes": [int(s) for s in d.field_sizes],
             "field_names": list(d.field_names), "num_names": list(d.num_names)},
            d.message, embedded=bool(d.source.embedded), field_names=tuple(d.field_names))
    elif name == "criteo":
        bundle = _load_criteo(data_cfg, state)
    else:  # the schema lists the names; this is a programming error
        raise ArgumentError(f"argument 'data.dataset': unknown dataset {name!r}")
    return _limit(bundle, data_cfg.get("limit_train"), data_cfg.get("limit_test"))


def _load_criteo(data_cfg, state):
    import warnings

    from minirocket.data import CriteoEncoder
    path = data_cfg["criteo_path"]
    on_bad = "error" if data_cfg.get("on_bad_line", "stop") == "stop" else "skip"
    enc = (CriteoEncoder.from_state(state["encoder"]) if state and "encoder" in state
           else CriteoEncoder(hash_buckets=data_cfg.get("hash_buckets", 1 << 16)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = enc.read(path, on_bad_line=on_bad)
    split = f.data
    n = len(split)
    if n < 4:
        raise DataError(f"file '{path}': expected at least 4 valid rows (train and test need "
                        f"both), got {n}")
    # The last tenth is the test split: click logs are in time order, so the model is
    # tested on later traffic than it saw.
    cut = n - max(1, n // 10)
    msg = f"criteo: using {path} ({n} rows"
    skipped = f.n_skipped
    if skipped:
        msg += f", {skipped} bad line(s) skipped"
    msg += ")"
    del caught
    return DataBundle(
        "tabular", "binary", 2, (split.cat[:cut], split.num[:cut]), split.y[:cut],
        (split.cat[cut:], split.num[cut:]), split.y[cut:],
        {"kind": "tabular", "dataset": "criteo", "reader": "criteo",
         "encoder": enc.state_dict(), "field_sizes": [int(s) for s in enc.field_sizes],
         "field_names": list(enc.field_names), "num_names": list(enc.num_names)},
        msg, field_names=tuple(enc.field_names))


def image_batch(images, idx, preprocessing, rng=None, augment=False):
    """Normalised NCHW float32 batch from uint8 NHWC ``images[idx]``.

    With ``augment`` (training only), random flip + symmetric pad-4 + crop first, drawing
    from ``rng`` in a fixed order (so a saved generator state replays the same batch).
    """
    from minirocket.data import augment_batch, normalize
    raw = images[idx]
    if augment:
        return augment_batch(raw, rng, crop=(raw.shape[1], raw.shape[2]),
                             mean=preprocessing["mean"], std=preprocessing["std"])
    return normalize(raw, preprocessing["mean"], preprocessing["std"])


def model_input(bundle_or_kind, x, idx, preprocessing, ops, dtype, rng=None, augment=False):
    """The batch ``idx`` of ``x`` as the model takes it, on ``ops``'s device, in ``dtype``."""
    kind = bundle_or_kind if isinstance(bundle_or_kind, str) else bundle_or_kind.kind
    if kind == "image":
        xb = image_batch(x, idx, preprocessing, rng, augment)
        return ops.asarray(xb.astype(dtype, copy=False))
    cat, num = x
    return (ops.asarray(cat[idx]), ops.asarray(num[idx].astype(dtype, copy=False)))
