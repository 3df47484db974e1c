"""Official CIFAR-10 python-batch format, on small batch files written by the test."""
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from minirocket.data.cifar_batches import CIFAR_PY_FILES, parse_batch, read_cifar_python
from minirocket.data.images import CIFAR10_CLASSES, load_cifar10
from minirocket.data.locate import DATA_DIR_ENV
from minirocket.errors import DataError


def _batch(rng, n):
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    # The file layout: one row per image, red plane, green plane, blue plane.
    rows = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    return images, labels, {b"batch_label": b"x", b"data": rows,
                            b"labels": [int(v) for v in labels], b"filenames": [b"f"] * n}


def _write_batches(folder, seed=0, sizes=(3, 2, 4, 1, 2, 5), meta=True):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for name, n in zip(CIFAR_PY_FILES, sizes):
        images, labels, d = _batch(rng, n)
        truth[name] = (images, labels)
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    if meta:
        names = [c.encode() for c in CIFAR10_CLASSES]
        (folder / "batches.meta").write_bytes(
            pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    return truth


def _check(out, truth):
    train = [truth[f"data_batch_{i}"] for i in range(1, 6)]
    np.testing.assert_array_equal(out["train"].images, np.concatenate([t[0] for t in train]))
    np.testing.assert_array_equal(out["train"].labels, np.concatenate([t[1] for t in train]))
    np.testing.assert_array_equal(out["test"].images, truth["test_batch"][0])
    np.testing.assert_array_equal(out["test"].labels, truth["test_batch"][1])
    assert out["train"].images.dtype == np.uint8 and out["train"].labels.dtype == np.int64
    assert out["test"].class_names == CIFAR10_CLASSES


def test_folder_of_batches(tmp_path):
    truth = _write_batches(tmp_path / "cifar-10-batches-py")
    _check(read_cifar_python(tmp_path / "cifar-10-batches-py"), truth)


def test_channel_major_rows_become_hwc():
    rng = np.random.default_rng(1)
    images, _, d = _batch(rng, 2)
    got, _ = parse_batch(pickle.dumps(d, protocol=2), "b")
    # Pixel (row 5, col 7) of image 1: red at 5*32+7, green at +1024, blue at +2048.
    k = 5 * 32 + 7
    assert tuple(got[1, 5, 7]) == (d[b"data"][1, k], d[b"data"][1, 1024 + k],
                                   d[b"data"][1, 2048 + k])
    np.testing.assert_array_equal(got, images)


def test_archive_of_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    truth = _write_batches(folder, seed=2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
    _check(read_cifar_python(archive), truth)


def test_load_cifar10_falls_back_to_python_batches(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    truth = _write_batches(tmp_path / "cifar10" / "cifar-10-batches-py", seed=3)
    out = load_cifar10(data_dir=tmp_path, progress=False, max_per_split=2)
    assert out.source.source == "--data-dir"
    assert len(out["train"].labels) == 2
    np.testing.assert_array_equal(out["train"].labels, truth["data_batch_1"][1][:2])


def test_missing_batch_file_is_named(tmp_path):
    folder = tmp_path / "b"
    _write_batches(folder)
    os.remove(folder / "data_batch_3")
    with pytest.raises(DataError, match="missing data_batch_3"):
        read_cifar_python(folder)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop(b"labels"), "expected keys"),
    (lambda d: d.__setitem__(b"labels", d[b"labels"][:-1]), "expected 3 labels"),
    (lambda d: d.__setitem__(b"data", d[b"data"][:, :100]), r"shape \(N, 3072\)"),
    (lambda d: d.__setitem__(b"labels", [0, 1, 12]), "labels in 0..9"),
])
def test_inconsistent_batch_is_a_data_error(tmp_path, mutate, match):
    folder = tmp_path / "b"
    _write_batches(folder, sizes=(3, 3, 3, 3, 3, 3))
    d = pickle.loads((folder / "data_batch_2").read_bytes())
    mutate(d)
    (folder / "data_batch_2").write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(DataError, match=match) as e:
        read_cifar_python(folder)
    assert "data_batch_2" in str(e.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


def test_pickles_calling_arbitrary_code_are_refused(tmp_path):
    folder = tmp_path / "b"
    _write_batches(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(DataError, match="refusing to load global"):
        read_cifar_python(folder)


def test_truncated_pickle(tmp_path):
    folder = tmp_path / "b"
    _write_batches(folder)
    data = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="test_batch"):
        read_cifar_python(folder)


def test_numpy1_style_pickle_loads(tmp_path):
    # Pickles written under NumPy 1 reference numpy.core.multiarray._reconstruct.
    rng = np.random.default_rng(4)
    _, _, d = _batch(rng, 2)
    raw = pickle.dumps(d, protocol=2).replace(b"numpy._core.multiarray",
                                              b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw
    images, labels = parse_batch(raw, "x")
    assert images.shape == (2, 32, 32, 3) and labels.shape == (2,)


def test_str_keys_written_by_python3_are_accepted():
    rng = np.random.default_rng(5)
    images, labels, d = _batch(rng, 3)
    d = {k.decode(): v for k, v in d.items()}
    got_images, got_labels = parse_batch(pickle.dumps(d), "s")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_tar_member_reader_ignores_other_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    truth = _write_batches(folder, seed=6)
    archive = tmp_path / "c.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
        info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"hi!"))
    _check(read_cifar_python(archive), truth)
