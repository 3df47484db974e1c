"""The official CIFAR-10 "python version": pickled batches ``data_batch_1..5``, ``test_batch``.

Notation
--------
N : images in a batch file (10,000 in the official files)

Each batch file is a pickle (written by Python 2) of a dict with

- ``b"data"``: uint8 array of shape (N, 3072), each row one image stored channel-major:
  1024 red values, then 1024 green, then 1024 blue, each plane row by row;
- ``b"labels"``: N integers in 0..9.

``batches.meta`` (optional here) holds ``b"label_names"``. The files are read from the
``cifar-10-batches-py`` folder or straight from the ``cifar-10-python.tar.gz`` archive.

Unpickling can run arbitrary code, so the loader only allows the few NumPy globals that
these files reference; anything else is refused as a :class:`DataError`.
"""
import io
import os
import pickle
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from minirocket.data.images import (CIFAR10_CLASSES, DatasetSplits, ImageSet, _STREAM_ERRORS,
                                    _why)
from minirocket.errors import ArgumentTypeError, DataError, arg_error

CIFAR_PY_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_PY_TEST = ("test_batch",)
CIFAR_PY_FILES = CIFAR_PY_TRAIN + CIFAR_PY_TEST
CIFAR_PY_META = "batches.meta"
CIFAR_PY_ARCHIVE = "cifar-10-python.tar.gz"

# The globals a pickled NumPy array needs, under NumPy 1 and NumPy 2 module names.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    # Python 3 writes bytes objects in protocol 2 as _codecs.encode(str, 'latin1').
    ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}'")


def _unpickle(data, name):
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as e:
        raise DataError(f"file '{name}': not a readable CIFAR batch pickle ({_why(e)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"file '{name}': expected a pickled dict, got {type(obj).__name__}")
    # Python 2 pickles give bytes keys under encoding='bytes'; files written by Python 3
    # may use str keys. Accept both.
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def parse_batch(data, name):
    """Decode one batch file's bytes.

    Parameters
    ----------
    data : bytes
        The pickle's content.
    name : str
        File name used in error messages.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 32, 32, 3)
        Pixels moved from the file's channel-major rows to height, width, channel.
    labels : numpy.ndarray of int64, shape (N,)
    """
    d = _unpickle(data, name)
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"file '{name}': expected keys b'data' and b'labels', got "
                            f"{sorted(d)}")
    x = d["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        got = (f"shape {x.shape} dtype {x.dtype}" if isinstance(x, np.ndarray)
               else type(x).__name__)
        raise DataError(f"file '{name}': expected b'data' to be a uint8 array of shape "
                        f"(N, 3072), got {got}")
    try:
        y = np.asarray(d["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"file '{name}': expected b'labels' to be a list of integers") from None
    if y.shape != (len(x),):
        raise DataError(f"file '{name}': expected {len(x)} labels (one per image), got "
                        f"{y.size}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"file '{name}': expected labels in 0..9, got values from {y.min()} "
                        f"to {y.max()}")
    images = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, y


def _read_members(path):
    """Bytes of the batch files, from a folder or a tar archive, keyed by base name."""
    wanted = set(CIFAR_PY_FILES) | {CIFAR_PY_META}
    found = {}
    if path.is_dir():
        for name in wanted:
            f = path / name
            if f.is_file():
                found[name] = f.read_bytes()
        return found
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for member in tf:
                base = PurePosixPath(member.name).name
                if member.isfile() and base in wanted:
                    found[base] = tf.extractfile(member).read()
    except _STREAM_ERRORS as e:
        raise DataError(f"file '{path}': archive is truncated or corrupt ({_why(e)})") from None
    return found


def read_cifar_python(path):
    """Read CIFAR-10 in the official python-batch format.

    Parameters
    ----------
    path : str or os.PathLike
        The ``cifar-10-batches-py`` folder, or the ``cifar-10-python.tar.gz`` archive.

    Returns
    -------
    DatasetSplits
        ``{"train": ImageSet, "test": ImageSet}``: images uint8 (N, 32, 32, 3) (50,000 and
        10,000 for the official files), labels int64 (N,), class names from
        ``batches.meta`` when present, else :data:`CIFAR10_CLASSES`.

    Raises
    ------
    DataError
        If a batch file is missing, not a pickle of the expected dict, or inconsistent.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise arg_error("path", "a folder or archive path (str or os.PathLike)", path,
                        ArgumentTypeError)
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"file '{path}': not found")
    members = _read_members(path)
    missing = [n for n in CIFAR_PY_FILES if n not in members]
    if missing:
        raise DataError(f"'{path}': expected CIFAR-10 batch files {', '.join(CIFAR_PY_FILES)}, "
                        f"missing {', '.join(missing)}")
    class_names = CIFAR10_CLASSES
    if CIFAR_PY_META in members:
        meta = _unpickle(members[CIFAR_PY_META], str(path / CIFAR_PY_META))
        names = meta.get("label_names")
        if isinstance(names, (list, tuple)) and len(names) == 10:
            class_names = tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n)
                                for n in names)
    out = DatasetSplits(origin=path)
    for split, files in (("train", CIFAR_PY_TRAIN), ("test", CIFAR_PY_TEST)):
        parts = [parse_batch(members[f], str(path / f)) for f in files]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        out[split] = ImageSet(images, labels, class_names)
    return out
