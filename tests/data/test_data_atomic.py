"""Atomic writes: complete replacement or no change at all."""
import json
import os
import stat

import numpy as np
import pytest

from minirocket.data._atomic import (atomic_open, atomic_save_npy, atomic_save_npz,
                                     atomic_write_bytes, atomic_write_json)
from minirocket.errors import ArgumentError


def test_write_bytes_creates_and_replaces(tmp_path):
    p = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(p, b"one")
    assert p.read_bytes() == b"one"
    atomic_write_bytes(p, b"two!")
    assert p.read_bytes() == b"two!"
    assert os.listdir(p.parent) == ["f.bin"]


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"original")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write(b"partial")
            raise RuntimeError("interrupted")
    assert p.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_permissions_follow_umask_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_npz_npy_json_roundtrip(tmp_path):
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    atomic_save_npz(tmp_path / "a.npz", x=a, y=a * 2.5)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["x"], a)
        np.testing.assert_array_equal(z["y"], a * 2.5)
    atomic_save_npz(tmp_path / "c.npz", compressed=True, x=a)
    with np.load(tmp_path / "c.npz") as z:
        np.testing.assert_array_equal(z["x"], a)
    atomic_save_npy(tmp_path / "b.npy", a)
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy", mmap_mode="r"), a)
    atomic_write_json(tmp_path / "s.json", {"b": 1, "a": [1.5]})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": [1.5], "b": 1}
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npy", "c.npz", "s.json"]


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(ArgumentError, match="argument 'bad'"):
        atomic_save_npz(tmp_path / "o.npz", bad=np.array([{}, 1], dtype=object))
    assert not (tmp_path / "o.npz").exists()
    with pytest.raises(ArgumentError, match="mode"):
        with atomic_open(tmp_path / "x", "a"):
            pass
