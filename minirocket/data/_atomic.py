"""Atomic file writes: a reader sees either the old file or the complete new one.

Every helper writes to a temporary file in the destination's own folder (so that the final
``os.replace`` is a rename within one file system, which POSIX and Windows perform
atomically), flushes and fsyncs it, renames it over the destination, and then fsyncs the
folder so the rename itself survives a crash. If anything fails, the temporary file is
removed and the destination is left untouched.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from minirocket.errors import arg_error


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file that replaces ``path`` when the ``with`` block exits cleanly.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. Its folder is created if missing.
    mode : {"wb", "w"}
        Binary or text (UTF-8) mode.

    Yields
    ------
    file
        The open temporary file. Write to it; do not close it.
    """
    if mode not in ("wb", "w"):
        raise arg_error("mode", "'wb' or 'w'", mode)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A leading dot keeps half-written files out of casual listings and globs.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file private (0600); give it the permissions a plain open()
        # would have, so that replacing a file does not silently change who may read it.
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.chmod(tmp_name, 0o666 & ~umask)
        if mode == "w":
            f = open(fd, "w", encoding="utf-8", newline="")
        else:
            f = open(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    # Makes the rename durable on POSIX; folders cannot be opened this way on Windows,
    # where the rename is already durable once it returns.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    data : bytes-like
        The complete new content.
    """
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text):
    """Write the string ``text`` to ``path`` atomically, encoded as UTF-8."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path, obj, *, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically (sorted keys, trailing newline)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")


def atomic_save_npz(path, compressed=False, **arrays):
    """Save arrays to an ``.npz`` archive atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Unlike :func:`numpy.savez`, no ``.npz`` suffix is appended.
    compressed : bool
        Use :func:`numpy.savez_compressed` (smaller, slower to write and to read).
    **arrays : array_like
        The arrays to store, by name. Object arrays are refused so that the file can be read
        back with ``allow_pickle=False``.
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise arg_error(name, "an array with a non-object dtype", np.asarray(value))
    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path, "wb") as f:
        save(f, **arrays)


def atomic_save_npy(path, array):
    """Save one array to an ``.npy`` file atomically (readable with ``mmap_mode``)."""
    array = np.asarray(array)
    if array.dtype == object:
        raise arg_error("array", "an array with a non-object dtype", array)
    with atomic_open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)

