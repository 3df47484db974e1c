"""IDX reader on files written by the test, and Fashion-MNIST from shared/datasets."""
import gzip
import struct

import numpy as np
import pytest

from minirocket.data.idx import (FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx,
                                 read_idx_images, read_idx_labels, read_idx_pair)
from minirocket.data.locate import DATA_DIR_ENV, shared_datasets_dir
from minirocket.errors import DataError

SHARED = shared_datasets_dir()


def _idx_bytes(arr, type_code=0x08):
    head = bytes([0, 0, type_code, arr.ndim]) + b"".join(struct.pack(">I", d)
                                                         for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write(path, data, gz):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_images_and_labels_roundtrip(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (7, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    ip = _write(tmp_path / "i.idx", _idx_bytes(imgs), gz)
    lp = _write(tmp_path / "l.idx", _idx_bytes(labels), gz)
    got_i, got_l = read_idx_pair(ip, lp, n_classes=10)
    assert got_i.dtype == np.uint8 and got_i.shape == (7, 4, 3)
    assert got_l.dtype == np.int64
    np.testing.assert_array_equal(got_i, imgs)
    np.testing.assert_array_equal(got_l, labels)


def test_magic_numbers_of_images_and_labels():
    img = _idx_bytes(np.zeros((1, 2, 2), np.uint8))
    lab = _idx_bytes(np.zeros(1, np.uint8))
    assert int.from_bytes(img[:4], "big") == 2051
    assert int.from_bytes(lab[:4], "big") == 2049


def test_other_element_types_are_big_endian(tmp_path):
    arr = np.array([[1.5, -2.0], [3.25, 1e6]], dtype=np.float32)
    p = _write(tmp_path / "f.idx", _idx_bytes(arr, 0x0D), False)
    got = read_idx(p)
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)
    arr16 = np.array([-300, 2, 30000], dtype=np.int16)
    np.testing.assert_array_equal(read_idx(_write(tmp_path / "s.idx", _idx_bytes(arr16, 0x0B),
                                                  True)), arr16)


def test_wrong_magic_names_file_expected_and_actual(tmp_path):
    lab = _write(tmp_path / "labels.idx", _idx_bytes(np.zeros(3, np.uint8)), True)
    with pytest.raises(DataError) as e:
        read_idx_images(lab)
    assert "labels.idx" in str(e.value) and "2051" in str(e.value) and "2049" in str(e.value)
    junk = _write(tmp_path / "junk", b"\x12\x34\x56\x78" + bytes(10), False)
    with pytest.raises(DataError, match="junk.*IDX magic"):
        read_idx(junk)


def test_truncated_file_reports_expected_and_actual_length(tmp_path):
    data = _idx_bytes(np.zeros((5, 4, 4), np.uint8))
    p = _write(tmp_path / "cut.gz", data[:-10], True)
    with pytest.raises(DataError) as e:
        read_idx_images(p)
    msg = str(e.value)
    assert "cut.gz" in msg and "expected 80 data bytes" in msg and "got 70" in msg
    assert "truncated" in msg
    long = _write(tmp_path / "long", data + b"xx", False)
    with pytest.raises(DataError, match="trailing"):
        read_idx_images(long)
    head = _write(tmp_path / "head", data[:9], False)
    with pytest.raises(DataError, match="16-byte header"):
        read_idx_images(head)


def test_truncated_gzip_stream(tmp_path):
    data = gzip.compress(_idx_bytes(np.arange(4000, dtype=np.uint8).reshape(40, 10, 10)
                                    % 251))
    p = tmp_path / "broken.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="broken.gz.*gzip"):
        read_idx_images(p)


def test_label_and_image_count_mismatch(tmp_path):
    ip = _write(tmp_path / "i", _idx_bytes(np.zeros((4, 2, 2), np.uint8)), True)
    lp = _write(tmp_path / "l", _idx_bytes(np.zeros(3, np.uint8)), True)
    with pytest.raises(DataError) as e:
        read_idx_pair(ip, lp)
    assert "(4)" in str(e.value) and "got 3 labels" in str(e.value)
    lp2 = _write(tmp_path / "l2", _idx_bytes(np.array([0, 1, 2, 10], np.uint8)), False)
    with pytest.raises(DataError, match="labels in 0..9"):
        read_idx_pair(ip, lp2, n_classes=10)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.gz.*not found"):
        read_idx_labels(tmp_path / "nope.gz")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared datasets folder {SHARED} is absent")
def test_fashion_mnist_from_shared_datasets(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    out = load_fashion_mnist()
    assert out.source.folder == SHARED / "fashion-mnist"
    for split, n in (("train", 60000), ("test", 10000)):
        s = out[split]
        assert s.images.shape == (n, 28, 28) and s.images.dtype == np.uint8
        assert s.labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(s.labels), np.full(10, n // 10))
        assert s.class_names == FASHION_MNIST_CLASSES
    # Known first labels of the published files (ankle boot, T-shirt, T-shirt, dress, ...).
    np.testing.assert_array_equal(out["train"].labels[:5], [9, 0, 0, 3, 0])
    np.testing.assert_array_equal(out["test"].labels[:5], [9, 2, 1, 1, 6])
    assert 60 < out["train"].images.mean() < 85


def test_fashion_mnist_missing_lists_places(tmp_path):
    with pytest.raises(DataError) as e:
        load_fashion_mnist(data_dir=tmp_path)
    msg = str(e.value)
    assert "fashion-mnist" in msg and str(tmp_path) in msg and "\n" not in msg
