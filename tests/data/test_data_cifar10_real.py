"""CIFAR-10 from the real archive in shared/datasets (skipped only if that folder is absent).

The full decode (60,000 JPEGs, about 14 s on 2 cores) runs once per test session, into a
cache folder under pytest's temporary directory.
"""
import numpy as np
import pytest

from minirocket.data.images import (CIFAR10_ARCHIVE, CIFAR10_CLASSES, load_cifar10,
                                    read_image_archive)
from minirocket.data.locate import DATA_DIR_ENV, shared_datasets_dir
from minirocket.errors import DataError

SHARED = shared_datasets_dir()
ARCHIVE = SHARED / "cifar10" / CIFAR10_ARCHIVE

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the shared datasets folder {SHARED} is absent")


@pytest.fixture(scope="session")
def cifar_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cifar-cache")


@pytest.fixture(scope="session")
def cifar10(cifar_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DATA_DIR_ENV, raising=False)
        return load_cifar10(cache_dir=cifar_cache, progress=False)


def test_full_archive_counts_classes_and_statistics(cifar10):
    assert cifar10.source.folder == SHARED / "cifar10"
    assert cifar10.from_cache is False
    for split, n in (("train", 50000), ("test", 10000)):
        s = cifar10[split]
        assert s.images.shape == (n, 32, 32, 3) and s.images.dtype == np.uint8
        assert s.labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(s.labels, minlength=10),
                                      np.full(10, n // 10))
        assert s.class_names == CIFAR10_CLASSES
    mean = cifar10["train"].images.reshape(-1, 3).mean(axis=0)
    # Documented per-channel means of the decoded train set.
    np.testing.assert_allclose(mean, [125.3, 122.9, 113.9], atol=0.15)


def test_second_load_comes_from_the_cache_and_is_identical(cifar10, cifar_cache,
                                                           monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    again = load_cifar10(cache_dir=cifar_cache, progress=False)
    assert again.from_cache is True
    assert again.cache_path.parent == cifar_cache
    for split in ("train", "test"):
        assert np.array_equal(again[split].images, cifar10[split].images)
        assert np.array_equal(again[split].labels, cifar10[split].labels)


def test_first_members_of_the_stream_are_cheap_and_match_the_full_read(cifar10):
    part = read_image_archive(ARCHIVE, splits=["train"], max_per_split=25,
                              class_names=CIFAR10_CLASSES, progress=False)
    assert list(part) == ["train"]
    np.testing.assert_array_equal(part["train"].images, cifar10["train"].images[:25])
    np.testing.assert_array_equal(part["train"].labels, np.zeros(25, np.int64))


def test_truncated_copy_of_the_real_archive_is_a_data_error(tmp_path):
    bad = tmp_path / CIFAR10_ARCHIVE
    with open(ARCHIVE, "rb") as f:
        bad.write_bytes(f.read(300_000))
    with pytest.raises(DataError) as e:
        read_image_archive(bad, progress=False)
    assert str(bad) in str(e.value) and "truncated or corrupt" in str(e.value)


def test_missing_dataset_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    with pytest.raises(DataError) as e:
        load_cifar10(data_dir=tmp_path / "flag", progress=False)
    msg = str(e.value)
    assert str(tmp_path / "flag" / "cifar10") in msg and "--data-dir" in msg
    assert "\n" not in msg
