"""Shared pytest configuration: markers, GPU skipping and small fixtures.

Markers
-------
``gpu``
    The test needs CuPy and an NVIDIA GPU. On a machine without one it is skipped with the
    reason reported by :mod:`minirocket.backend._compat` (the whole suite must pass on a
    CPU-only machine).
``slow``
    Exhaustive checks; ``pytest -m "not slow"`` leaves them out.
"""
import numpy as np
import pytest

from minirocket.backend import _compat


MARKERS = {
    "gpu": "gpu: needs an NVIDIA GPU with CuPy (skipped, with the reason, on CPU-only machines)",
    "slow": "slow: exhaustive checks; deselect with -m 'not slow'",
}


def pytest_configure(config):
    # Registered here as well as in pytest.ini so that the markers exist whichever
    # configuration file pytest picks up (running a single file from another folder);
    # skipped when the ini file already declared them, so `pytest --markers` lists each once.
    declared = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, line in MARKERS.items():
        if name not in declared:
            config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config, items):
    if _compat.has_gpu:
        return
    skip_gpu = pytest.mark.skip(reason=f"no usable GPU on this machine: {_compat.gpu_reason}")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip_gpu)


@pytest.fixture
def rng():
    """A fresh seeded generator per test (tests never depend on each other's draws)."""
    return np.random.default_rng(1234)
