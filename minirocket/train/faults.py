"""Fault injection for crash-safety tests: kill this process at a named point.

Set the environment variable ``MINIROCKET_FAULT_POINT`` to ``POINT`` or ``POINT:N``; the
N-th time (default 1st) the code passes ``POINT``, the process sends itself SIGKILL, which
nothing can catch or clean up after: the same as a power cut for the files on disk, short
of the page cache. The points are

``ckpt:mid-write``
    half of a checkpoint's bytes written to its temporary file;
``ckpt:before-rename``
    all bytes written, the temporary file not yet renamed over the checkpoint;
``ckpt:after-rename``
    the new ``latest`` checkpoint in place, ``best`` and the logs not yet updated;
``best:mid-write``, ``best:before-rename``, ``best:after-rename``
    the same three points while copying a new best checkpoint to ``best.npz``;
``step:after-update``
    an optimiser step applied, before the next checkpoint (work since the last
    checkpoint is lost and redone on resume).

Unset (the normal case), :func:`fault_point` costs one dict lookup.
"""
import os
import signal

FAULT_ENV = "MINIROCKET_FAULT_POINT"
POINTS = ("ckpt:mid-write", "ckpt:before-rename", "ckpt:after-rename", "best:mid-write",
          "best:before-rename", "best:after-rename", "step:after-update")

_hits = {}


def _parse():
    spec = os.environ.get(FAULT_ENV, "").strip()
    if not spec:
        return None, 0
    # "point" or "point:N" (the point names themselves contain one colon).
    if spec.count(":") >= 2:
        name, _, count = spec.rpartition(":")
        try:
            return name, max(1, int(count))
        except ValueError:
            return spec, 1
    return spec, 1


def fault_point(name):
    """SIGKILL this process if ``MINIROCKET_FAULT_POINT`` names ``name`` and its count is up."""
    want, n = _parse()
    if want != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= n:
        os.kill(os.getpid(), signal.SIGKILL)
