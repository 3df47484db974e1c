"""Checkpoint files: round trip, and every kind of bad file is a clear CheckpointError."""
import io
import json
import zipfile

import numpy as np
import pytest

from minirocket.errors import CheckpointError
from minirocket.train import checkpoint as ckpt


def _tree():
    rng = np.random.default_rng(0)
    return {"model": {"a.W": rng.standard_normal((3, 4)), "a.b": np.zeros(4, np.float32)},
            "step": 7, "rng": np.random.default_rng(5).bit_generator.state,
            "hist": [{"epoch": 1, "loss": 0.25}], "best": None, "flag": True}


def _save(path, tree=None, fingerprint="fp"):
    return ckpt.save_checkpoint(path, tree or _tree(), arch="arch X", fingerprint=fingerprint,
                                config_hash="h")


def test_round_trip_keeps_arrays_dtypes_and_big_ints(tmp_path):
    t = _tree()
    _save(tmp_path / "c.npz", t)
    meta, back = ckpt.load_checkpoint(tmp_path / "c.npz", arch="arch X", fingerprint="fp")
    assert meta["format_version"] == ckpt.FORMAT_VERSION and meta["arch"] == "arch X"
    assert back["model"]["a.b"].dtype == np.float32
    assert np.array_equal(back["model"]["a.W"], t["model"]["a.W"])
    # PCG64 state holds 128-bit integers: they must survive exactly.
    assert back["rng"] == t["rng"]
    assert back["step"] == 7 and back["hist"] == t["hist"] and back["best"] is None


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_detected(tmp_path, keep):
    blob = _save(tmp_path / "c.npz")
    (tmp_path / "c.npz").write_bytes(blob[:int(len(blob) * keep)])
    with pytest.raises(CheckpointError, match=r"checkpoint .*c\.npz is (truncated or )?corrupt"):
        ckpt.read_file(tmp_path / "c.npz")


def test_flipped_byte_in_the_payload_is_detected(tmp_path):
    blob = bytearray(_save(tmp_path / "c.npz"))
    # Corrupt a byte inside the first array's data (after its local zip header).
    at = blob.index(b"a/model/a.W") + 200
    blob[at] ^= 0xFF
    (tmp_path / "c.npz").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupt"):
        ckpt.read_file(tmp_path / "c.npz")


def test_sha_mismatch_without_zip_damage_is_detected(tmp_path):
    # Re-pack the arrays with one value changed but the old manifest: a CRC-valid file
    # whose content is not what was saved.
    path = tmp_path / "c.npz"
    _save(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["a/model/a.W"] = arrays["a/model/a.W"] + 1.0
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="do not match the sha256"):
        ckpt.read_file(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    _save(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["format_version"] = ckpt.FORMAT_VERSION + 1
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match=r"format version 2, newer than this minirocket "
                                              r"reads \(up to 1\); upgrade minirocket"):
        ckpt.read_file(path)


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", W=np.ones(3))
    with pytest.raises(CheckpointError, match="is not a minirocket checkpoint"):
        ckpt.read_file(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ckpt.read_file(tmp_path / "text.npz")
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.read_file(tmp_path / "missing.npz")


def test_other_architecture_is_refused_by_name(tmp_path):
    _save(tmp_path / "c.npz", fingerprint="fp-of-X")
    with pytest.raises(CheckpointError, match="checkpoint .* is for arch 'arch X', the config "
                                              "wants 'arch Y'"):
        ckpt.load_checkpoint(tmp_path / "c.npz", arch="arch Y", fingerprint="fp-of-Y")


def test_write_is_atomic_old_file_survives_a_failed_write(tmp_path):
    path = tmp_path / "c.npz"
    _save(path)
    good = path.read_bytes()

    with pytest.raises(CheckpointError):
        _save(path, {"x": object()})          # refused before anything is written
    assert path.read_bytes() == good
    assert not list(tmp_path.glob(".*.tmp"))
    with zipfile.ZipFile(path) as z:
        assert "__meta__.npy" in z.namelist()
