"""IDX files (the MNIST / Fashion-MNIST format), gzipped or raw.

Notation
--------
N : number of items (images or labels)

An IDX file is a big-endian header followed by the data, row-major::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then d big-endian uint32 sizes, then the elements (big-endian)

So the magic number 2051 (``0x00000803``) is a uint8 array with 3 dimensions (images,
N x rows x cols) and 2049 (``0x00000801``) a uint8 vector (labels). The file is read whole
and its length must match the header exactly: a truncated download is an error, never a
shorter array.
"""
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from minirocket.data.images import DatasetSplits, ImageSet, _why
from minirocket.data.locate import locate_dataset
from minirocket.errors import ArgumentTypeError, DataError, arg_error

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
_FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_MNIST_COUNTS = {"train": 60000, "test": 10000}


def _read_bytes(path):
    if not isinstance(path, (str, os.PathLike)):
        raise arg_error("path", "a file path (str or os.PathLike)", path, ArgumentTypeError)
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"file '{path}': not found")
    raw = path.read_bytes()
    # Detect gzip by its magic bytes rather than by the name: files get renamed.
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"file '{path}': gzip stream is truncated or corrupt "
                            f"({_why(e)})") from None
    return path, raw


def read_idx(path, expected_magic=None):
    """Read an IDX file into an array.

    Parameters
    ----------
    path : str or os.PathLike
        The file, gzipped or raw.
    expected_magic : int, optional
        Required magic number (2051 for images, 2049 for labels).

    Returns
    -------
    numpy.ndarray
        Shape from the header, dtype from the magic's third byte in native byte order
        (uint8 for 2051/2049).

    Raises
    ------
    DataError
        If the file is missing, the gzip stream is damaged, the magic is wrong or unknown,
        or the length does not match the header (truncated or trailing bytes).
    """
    path, raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"file '{path}': expected an IDX header of at least 4 bytes, got "
                        f"{len(raw)} bytes")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"file '{path}': expected IDX magic number {expected_magic}, got "
                        f"{magic}")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in _IDX_TYPES or ndim == 0:
        raise DataError(f"file '{path}': expected an IDX magic number (0x0000 then a type "
                        f"code and a dimension count), got {magic} (0x{magic:08X})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"file '{path}': expected a {header}-byte header for {ndim} "
                        f"dimensions, got {len(raw)} bytes (truncated)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != want:
        what = "truncated" if got < want else "trailing bytes"
        raise DataError(f"file '{path}': expected {want} data bytes for shape {shape}, got "
                        f"{got} ({what})")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx_images(path):
    """Read an IDX image file (magic 2051): uint8 array of shape (N, rows, cols)."""
    return read_idx(path, IDX_IMAGES_MAGIC)


def read_idx_labels(path):
    """Read an IDX label file (magic 2049): int64 array of shape (N,)."""
    return read_idx(path, IDX_LABELS_MAGIC).astype(np.int64)


def read_idx_pair(images_path, labels_path, n_classes=None):
    """Read matching image and label files and check that they agree.

    Parameters
    ----------
    images_path, labels_path : str or os.PathLike
        IDX image (2051) and label (2049) files.
    n_classes : int, optional
        If given, labels must lie in ``0..n_classes-1``.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, rows, cols)
    labels : numpy.ndarray of int64, shape (N,)

    Raises
    ------
    DataError
        As :func:`read_idx`, or if the counts differ or a label is out of range.
    """
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(f"files '{images_path}' and '{labels_path}': expected as many labels "
                        f"as images ({len(images)}), got {len(labels)} labels")
    if n_classes is not None and labels.size and (labels.min() < 0
                                                  or labels.max() >= n_classes):
        raise DataError(f"file '{labels_path}': expected labels in 0..{n_classes - 1}, got "
                        f"values from {labels.min()} to {labels.max()}")
    return images, labels


def load_fashion_mnist(data_dir=None):
    """Load Fashion-MNIST: 60,000 train and 10,000 test grey 28x28 images, 10 classes.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The ``--data-dir`` value (see :mod:`minirocket.data.locate`). The four files may be
        gzipped (``*-ubyte.gz``) or raw.

    Returns
    -------
    DatasetSplits
        ``{"train": ImageSet, "test": ImageSet}``; images uint8 (N, 28, 28) (no channel
        axis), labels int64 (N,) indexing :data:`FASHION_MNIST_CLASSES`.

    Raises
    ------
    DataError
        If the files are found nowhere, damaged, or do not hold 60,000 / 10,000 items.
    """
    names = [n for split in ("train", "test") for n in _FASHION_FILES[split]]
    source = locate_dataset("fashion-mnist", [[n + ".gz" for n in names], names], data_dir)
    files = dict(zip(names, source.files))
    out = DatasetSplits(source=source, origin=source.folder)
    for split, (img_name, lab_name) in _FASHION_FILES.items():
        images, labels = read_idx_pair(files[img_name], files[lab_name], n_classes=10)
        if images.shape[1:] != (28, 28) or len(images) != FASHION_MNIST_COUNTS[split]:
            raise DataError(f"file '{files[img_name]}': expected "
                            f"{FASHION_MNIST_COUNTS[split]} images of 28x28, got shape "
                            f"{images.shape}")
        out[split] = ImageSet(images, labels, FASHION_MNIST_CLASSES)
    return out
