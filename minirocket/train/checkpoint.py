"""Checkpoint files: one ``.npz`` holding every array plus a JSON manifest, verified on load.

Layout of a checkpoint file (a plain, uncompressed NumPy ``.npz``)::

    __meta__        uint8 array: UTF-8 JSON manifest (below)
    a/<path>        one entry per array of the saved state tree

The manifest holds::

    format           "minirocket-checkpoint"
    format_version   FORMAT_VERSION (a newer file is refused, never half-read)
    arch             human description of the architecture ("wrn 16x1 / 10x1, share interval")
    arch_fingerprint sha256 of the sorted (parameter name, shape) list
    config_hash      hash of the run's effective configuration
    payload_sha256   sha256 over every array's name, dtype, shape and bytes
    tree             the saved state with each array replaced by {"__array__": key}

On load, a truncated or corrupt file (bad zip, short read, payload hash mismatch), a foreign
file (not a minirocket checkpoint, another architecture) and a newer format version are all
a :class:`~minirocket.errors.CheckpointError` with a one-line message; nothing is loaded
partially.

Writes are atomic (temporary file in the same folder, fsync, rename), so a process killed
at any moment leaves the previous checkpoint intact.
"""
import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from minirocket.data._atomic import atomic_open
from minirocket.errors import CheckpointError
from minirocket.train.faults import fault_point

FORMAT = "minirocket-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__meta__"


# ---------------------------------------------------------------------------- tree <-> arrays
def flatten_tree(tree):
    """Split a nested state into JSON-able data and a dict of arrays.

    Parameters
    ----------
    tree : object
        dicts (string keys), lists, tuples, numpy arrays, numpy scalars, int, float, str,
        bool, None.

    Returns
    -------
    (object, dict of str -> numpy.ndarray)
        The tree with arrays replaced by ``{"__array__": key}``, and the arrays by key.
    """
    arrays = {}

    def walk(obj, path):
        if isinstance(obj, np.ndarray) or (hasattr(obj, "__array__") and hasattr(obj, "dtype")
                                           and hasattr(obj, "shape") and obj.shape != ()):
            key = "a/" + path
            arr = np.ascontiguousarray(_to_host(obj))
            if arr.dtype == object:
                raise CheckpointError(f"cannot save object array at '{path}'")
            arrays[key] = arr
            return {"__array__": key}
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if not isinstance(k, str):
                    raise CheckpointError(f"state key {k!r} at '{path}' is not a string")
                if k == "__array__":
                    raise CheckpointError(f"state key '__array__' at '{path}' is reserved")
                out[k] = walk(v, f"{path}/{k}" if path else k)
            return out
        if isinstance(obj, (list, tuple)):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(obj)]
        if isinstance(obj, (np.bool_,)):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if hasattr(obj, "shape") and getattr(obj, "shape", None) == ():
            return _to_host(obj).item()  # 0-d device array
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise CheckpointError(f"cannot save a {type(obj).__name__} at '{path}'")

    return walk(tree, ""), arrays


def unflatten_tree(data, arrays):
    """Inverse of :func:`flatten_tree`."""
    if isinstance(data, dict):
        if set(data) == {"__array__"}:
            return arrays[data["__array__"]]
        return {k: unflatten_tree(v, arrays) for k, v in data.items()}
    if isinstance(data, list):
        return [unflatten_tree(v, arrays) for v in data]
    return data


def _to_host(x):
    from minirocket.backend import to_numpy
    return to_numpy(x)


def payload_sha256(arrays):
    """sha256 over every array's name, dtype, shape and bytes, in sorted name order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode("utf-8"))
        h.update(a.dtype.str.encode("ascii"))
        h.update(repr(tuple(a.shape)).encode("ascii"))
        h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def arch_fingerprint(state_dict):
    """sha256 of the sorted ``(name, shape)`` pairs of a model state dict."""
    items = sorted((k, list(np.shape(v))) for k, v in state_dict.items())
    return hashlib.sha256(json.dumps(items).encode("ascii")).hexdigest()


# ---------------------------------------------------------------------------- save / load
def to_bytes(tree, *, arch, fingerprint, config_hash, kind=FORMAT, extra=None):
    """Serialise ``tree`` into the bytes of a checkpoint file (see the module docstring)."""
    data, arrays = flatten_tree(tree)
    meta = {"format": kind, "format_version": FORMAT_VERSION, "arch": arch,
            "arch_fingerprint": fingerprint, "config_hash": config_hash,
            "payload_sha256": payload_sha256(arrays), "tree": data}
    if extra:
        meta.update(extra)
    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **{META_KEY: meta_bytes}, **arrays)
    return buf.getvalue()


def write_bytes_atomic(path, blob, fault_prefix="ckpt"):
    """Write ``blob`` to ``path`` atomically, passing the named fault-injection points."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        half = len(blob) // 2
        f.write(blob[:half])
        f.flush()
        fault_point(f"{fault_prefix}:mid-write")
        f.write(blob[half:])
        f.flush()
        fault_point(f"{fault_prefix}:before-rename")
    fault_point(f"{fault_prefix}:after-rename")


def save_checkpoint(path, tree, *, arch, fingerprint, config_hash, extra=None):
    """Save a training state atomically; return the bytes written (to copy as ``best``)."""
    blob = to_bytes(tree, arch=arch, fingerprint=fingerprint, config_hash=config_hash,
                    extra=extra)
    write_bytes_atomic(path, blob)
    return blob


def check_header(meta, kind, what, path, max_version):
    """Refuse a manifest of another format, or of a version newer than ``max_version``.

    Shared by checkpoints and light-net artifacts: a foreign or newer file is an error,
    never half-read.

    Raises
    ------
    CheckpointError
    """
    if not isinstance(meta, dict) or meta.get("format") != kind:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path} is not a minirocket {what}: format {got!r}, expected "
                              f"{kind!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{what} {path} has an invalid format version {version!r}")
    if version > max_version:
        raise CheckpointError(f"{what} {path} has format version {version}, newer than this "
                              f"minirocket reads (up to {max_version}); upgrade minirocket")


def read_file(path, *, kind=FORMAT, what="checkpoint"):
    """Read and verify a checkpoint-format file; return ``(meta, tree)``.

    Verifies that the file is a readable ``.npz``, that its manifest names ``kind``, that its
    format version is not newer than this code's, and that the payload hash matches.

    Raises
    ------
    CheckpointError
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} {path} not found")
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a folder, expected a file")
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if META_KEY not in names:
                raise CheckpointError(f"{path} is not a minirocket {what} (no manifest inside)")
            meta_raw = bytes(z[META_KEY].tobytes())
            arrays = {k: z[k] for k in names if k != META_KEY}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{what} {path} is truncated or corrupt ({type(exc).__name__}: "
                              f"{exc}); use an earlier copy or start again") from None
    try:
        meta = json.loads(meta_raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{what} {path} has a corrupt manifest ({exc})") from None
    check_header(meta, kind, what, path, FORMAT_VERSION)
    if payload_sha256(arrays) != meta.get("payload_sha256"):
        raise CheckpointError(f"{what} {path} is corrupt: its arrays do not match the sha256 "
                              f"recorded in its manifest")
    try:
        tree = unflatten_tree(meta["tree"], arrays)
    except KeyError as exc:
        raise CheckpointError(f"{what} {path} is corrupt: array {exc} is missing") from None
    return meta, tree


def load_checkpoint(path, *, arch=None, fingerprint=None):
    """Read a checkpoint and check it is for the expected architecture.

    Parameters
    ----------
    path : str or os.PathLike
    arch : str, optional
        The description of the architecture the caller will load into.
    fingerprint : str, optional
        Its :func:`arch_fingerprint`.

    Returns
    -------
    (dict, dict)
        The manifest and the state tree.

    Raises
    ------
    CheckpointError
        Truncated, corrupt, foreign, newer format, or another architecture.
    """
    meta, tree = read_file(path)
    if fingerprint is not None and meta.get("arch_fingerprint") != fingerprint:
        raise CheckpointError(f"checkpoint {path} is for arch '{meta.get('arch')}', the config "
                              f"wants '{arch}'")
    return meta, tree
