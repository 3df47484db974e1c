"""Image-folder reader on small archives and folders built by the tests themselves."""
import io
import os
import random
import tarfile

import numpy as np
import pytest
from PIL import Image

from minirocket.data import images as images_mod
from minirocket.data.images import (load_images, read_image_archive, read_image_folder)
from minirocket.errors import ArgumentError, DataError

CLASSES = ("cat", "dog", "emu")


def _png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _make_entries(seed=0, size=(6, 5), counts=None):
    """{member name: (pixels uint8 (H, W, 3), png bytes)} in split/class/name layout."""
    rng = np.random.default_rng(seed)
    counts = counts or {"train": {"cat": 3, "dog": 2, "emu": 4}, "test": {"cat": 1, "dog": 2,
                                                                         "emu": 1}}
    entries = {}
    for split, per_class in counts.items():
        for cls, k in per_class.items():
            for i in range(k):
                arr = rng.integers(0, 256, size + (3,), dtype=np.uint8)
                entries[f"{split}/{cls}/{i:03d}.png"] = (arr, _png(arr))
    return entries


def _write_tar(path, entries, mode="w:xz", shuffle_seed=None, extra=None):
    names = list(entries)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(names)
    with tarfile.open(path, mode) as tf:
        for name in names:
            data = entries[name][1] if isinstance(entries[name], tuple) else entries[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _expected(entries, split):
    """Images and labels of a split in (class, name) order, labels by sorted class names."""
    classes = sorted({n.split("/")[1] for n in entries})
    names = sorted((n for n in entries if n.startswith(split + "/")),
                   key=lambda n: (n.split("/")[1], n))
    imgs = np.stack([entries[n][0] for n in names])
    labels = np.array([classes.index(n.split("/")[1]) for n in names], dtype=np.int64)
    return imgs, labels, tuple(classes)


@pytest.mark.parametrize("mode,suffix", [("w", ".tar"), ("w:gz", ".tar.gz"),
                                         ("w:xz", ".tar.xz"), ("w:bz2", ".tar.bz2")])
def test_archive_decodes_exact_pixels_labels_and_order(tmp_path, mode, suffix):
    entries = _make_entries()
    path = _write_tar(tmp_path / f"data{suffix}", entries, mode, shuffle_seed=3)
    out = read_image_archive(path, progress=False)
    assert sorted(out) == ["test", "train"]
    for split in ("train", "test"):
        imgs, labels, classes = _expected(entries, split)
        got = out[split]
        assert got.images.dtype == np.uint8 and got.images.shape == imgs.shape
        assert got.labels.dtype == np.int64
        np.testing.assert_array_equal(got.images, imgs)
        np.testing.assert_array_equal(got.labels, labels)
        assert got.class_names == classes == CLASSES


def test_folder_reader_matches_archive_reader(tmp_path):
    entries = _make_entries(seed=1)
    root = tmp_path / "imgs"
    for name, (_, data) in entries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    (root / "train" / "cat" / ".hidden.png").write_bytes(b"junk")
    from_folder = read_image_folder(root, progress=False)
    from_tar = read_image_archive(_write_tar(tmp_path / "a.tar", entries, "w"), progress=False)
    assert sorted(from_folder) == sorted(from_tar)
    for split in from_tar:
        np.testing.assert_array_equal(from_folder[split].images, from_tar[split].images)
        np.testing.assert_array_equal(from_folder[split].labels, from_tar[split].labels)


def test_labels_index_the_union_of_classes_over_splits(tmp_path):
    # The test split has no 'cat': 'dog' must still be label 1 there, as in train.
    entries = _make_entries(counts={"train": {"cat": 1, "dog": 1, "emu": 1},
                                    "test": {"dog": 2, "emu": 1}})
    out = read_image_archive(_write_tar(tmp_path / "a.tar.xz", entries), progress=False)
    assert out["test"].class_names == CLASSES
    np.testing.assert_array_equal(out["test"].labels, [1, 1, 2])


def test_jpeg_and_non_rgb_modes_are_decoded_to_rgb(tmp_path):
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    rgba = rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)
    smooth = np.full((4, 4, 3), 120, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(smooth).save(buf, format="JPEG", quality=95)
    raw = {"train/a/grey.png": _png(grey), "train/a/rgba.png": _png(rgba),
           "train/b/x.JPG": buf.getvalue()}
    out = read_image_archive(_write_tar(tmp_path / "m.tar", raw, "w"), progress=False)
    imgs = out["train"].images
    assert imgs.shape == (3, 4, 4, 3)
    np.testing.assert_array_equal(imgs[0], np.repeat(grey[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(imgs[1], rgba[:, :, :3])
    assert np.abs(imgs[2].astype(int) - 120).max() <= 3
    np.testing.assert_array_equal(out["train"].labels, [0, 0, 1])


def test_inconsistent_image_size_is_a_clear_error(tmp_path):
    entries = _make_entries(size=(6, 5))
    odd = np.zeros((7, 5, 3), np.uint8)
    entries["train/dog/zzz.png"] = (odd, _png(odd))
    path = _write_tar(tmp_path / "mixed.tar.xz", entries)
    with pytest.raises(DataError) as e:
        read_image_archive(path, progress=False)
    msg = str(e.value)
    assert "mixed.tar.xz" in msg and "train/dog/zzz.png" in msg
    assert "5x7" in msg and "5x6" in msg and "\n" not in msg


def test_undecodable_image_names_the_member(tmp_path):
    entries = _make_entries()
    entries["train/cat/bad.png"] = b"\x89PNG\r\n\x1a\n this is not a png"
    with pytest.raises(DataError, match=r"cannot decode image 'train/cat/bad.png'"):
        read_image_archive(_write_tar(tmp_path / "b.tar", entries, "w"), progress=False)


def test_truncated_tar_xz_is_a_data_error_naming_the_file(tmp_path):
    entries = _make_entries(seed=4, size=(16, 16),
                            counts={"train": {"cat": 30, "dog": 30}, "test": {"cat": 5}})
    good = _write_tar(tmp_path / "good.tar.xz", entries)
    data = good.read_bytes()
    bad = tmp_path / "cut.tar.xz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        read_image_archive(bad, progress=False)
    assert "cut.tar.xz" in str(e.value) and "truncated or corrupt" in str(e.value)
    # The intact archive reads fine, so the error above is caused by the truncation.
    assert len(read_image_archive(good, progress=False)["train"].labels) == 60


def test_truncated_plain_tar_at_an_entry_boundary_is_detected(tmp_path):
    entries = _make_entries()
    good = _write_tar(tmp_path / "good.tar", entries, "w")
    with tarfile.open(good) as tf:
        members = tf.getmembers()
    # Cut exactly where the 5th entry's header starts: tarfile itself would stop quietly.
    cut = members[4].offset
    bad = tmp_path / "cut.tar"
    bad.write_bytes(good.read_bytes()[:cut])
    with pytest.raises(DataError, match="cut.tar.*truncated"):
        read_image_archive(bad, progress=False)


def test_not_a_tar_and_missing_file(tmp_path):
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"hello, not an archive" * 20)
    with pytest.raises(DataError, match="junk.tar.xz"):
        read_image_archive(junk, progress=False)
    with pytest.raises(DataError, match="nothere.tar"):
        read_image_archive(tmp_path / "nothere.tar", progress=False)


def test_image_outside_split_class_layout_is_an_error(tmp_path):
    entries = _make_entries()
    entries["loose.png"] = entries["train/cat/000.png"]
    with pytest.raises(DataError, match="'loose.png' is not inside"):
        read_image_archive(_write_tar(tmp_path / "l.tar", entries, "w"), progress=False)


def test_empty_archive_is_an_error(tmp_path):
    path = _write_tar(tmp_path / "e.tar", {}, "w", extra={"readme.txt": b"hi"})
    with pytest.raises(DataError, match="no images found"):
        read_image_archive(path, progress=False)


def test_limits_splits_and_class_names(tmp_path):
    entries = _make_entries(counts={"train": {"cat": 3, "dog": 3, "emu": 3},
                                    "test": {"cat": 2, "dog": 2, "emu": 2}})
    path = _write_tar(tmp_path / "lim.tar.xz", entries)
    per_class = read_image_archive(path, max_per_class=2, progress=False)
    np.testing.assert_array_equal(per_class["train"].labels, [0, 0, 1, 1, 2, 2])
    assert len(per_class["test"].labels) == 6
    per_split = read_image_archive(path, max_per_split=4, progress=False)
    assert [len(per_split[s].labels) for s in ("train", "test")] == [4, 4]
    only = read_image_archive(path, splits=["test"], progress=False)
    assert list(only) == ["test"] and only["test"].class_names == CLASSES
    imgs, labels, _ = _expected(entries, "test")
    np.testing.assert_array_equal(only["test"].images, imgs)
    # A declared class list fixes the label order (here reversed).
    rev = read_image_archive(path, splits=["test"], class_names=CLASSES[::-1],
                             progress=False)
    np.testing.assert_array_equal(rev["test"].labels, 2 - labels)
    with pytest.raises(DataError, match="class folder 'emu'"):
        read_image_archive(path, class_names=("cat", "dog"), progress=False)
    with pytest.raises(DataError, match="expected split.s. val, found splits test, train"):
        read_image_archive(path, splits=["val", "test"], progress=False)


def test_bad_arguments_name_the_argument(tmp_path):
    path = _write_tar(tmp_path / "x.tar", _make_entries(), "w")
    with pytest.raises(ArgumentError, match="max_per_split"):
        read_image_archive(path, max_per_split=0, progress=False)
    with pytest.raises(TypeError, match="progress"):
        read_image_archive(path, progress="no")
    with pytest.raises(ArgumentError, match="class_names"):
        read_image_archive(path, class_names=("a", "a"), progress=False)


# ----------------------------------------------------------------------------- cache


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_cache_roundtrip_and_never_beside_the_source(tmp_path):
    entries = _make_entries(seed=5)
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    path = _write_tar(src_dir / "d.tar.xz", entries)
    cache = tmp_path / "cache"
    first = load_images(path, cache_dir=cache, progress=False)
    assert first.from_cache is False and first.cache_path.parent == cache
    assert first.cache_path.is_file()
    assert _listing(src_dir) == ["d.tar.xz"]
    second = load_images(path, cache_dir=cache, progress=False)
    assert second.from_cache is True
    for split in first:
        np.testing.assert_array_equal(first[split].images, second[split].images)
        np.testing.assert_array_equal(first[split].labels, second[split].labels)
        assert second[split].class_names == first[split].class_names
    assert _listing(src_dir) == ["d.tar.xz"]
    assert not any(n.endswith(".tmp") for n in _listing(cache))


def test_changed_source_invalidates_the_cache(tmp_path):
    cache = tmp_path / "cache"
    path = _write_tar(tmp_path / "d.tar.xz", _make_entries(seed=6))
    load_images(path, cache_dir=cache, progress=False)
    entries = _make_entries(seed=7)
    _write_tar(path, entries)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    again = load_images(path, cache_dir=cache, progress=False)
    assert again.from_cache is False
    np.testing.assert_array_equal(again["train"].images, _expected(entries, "train")[0])


def test_unreadable_cache_is_replaced_with_a_warning(tmp_path):
    cache = tmp_path / "cache"
    path = _write_tar(tmp_path / "d.tar", _make_entries(seed=8), "w")
    first = load_images(path, cache_dir=cache, progress=False)
    first.cache_path.write_bytes(first.cache_path.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = load_images(path, cache_dir=cache, progress=False)
    assert again.from_cache is False
    np.testing.assert_array_equal(again["train"].images, first["train"].images)
    assert load_images(path, cache_dir=cache, progress=False).from_cache is True


def test_cache_options_are_part_of_the_key(tmp_path):
    cache = tmp_path / "cache"
    path = _write_tar(tmp_path / "d.tar", _make_entries(seed=9), "w")
    full = load_images(path, cache_dir=cache, progress=False)
    part = load_images(path, cache_dir=cache, max_per_split=2, progress=False)
    assert part.from_cache is False and part.cache_path != full.cache_path
    assert len(part["train"].labels) == 2


def test_cache_folder_in_the_data_folder_is_refused(tmp_path):
    path = _write_tar(tmp_path / "d.tar", _make_entries(), "w")
    with pytest.raises(ArgumentError, match="cache_dir"):
        load_images(path, cache_dir=tmp_path, progress=False)
    assert _listing(tmp_path) == ["d.tar"]


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIROCKET_CACHE_DIR", str(tmp_path / "envcache"))
    path = _write_tar(tmp_path / "src.tar", _make_entries(), "w")
    out = load_images(path, progress=False)
    assert out.cache_path.parent == tmp_path / "envcache"


def test_use_cache_false_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    path = _write_tar(tmp_path / "d.tar", _make_entries(), "w")
    out = load_images(path, cache_dir=cache, use_cache=False, progress=False)
    assert out.cache_path is None and not cache.exists()


def test_folder_source_cache_sees_file_changes(tmp_path):
    entries = _make_entries(seed=10)
    root = tmp_path / "imgs"
    for name, (_, data) in entries.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    cache = tmp_path / "cache"
    assert load_images(root, cache_dir=cache, progress=False).from_cache is False
    assert load_images(root, cache_dir=cache, progress=False).from_cache is True
    new = np.zeros((6, 5, 3), np.uint8)
    (root / "train" / "cat" / "999.png").write_bytes(_png(new))
    again = load_images(root, cache_dir=cache, progress=False)
    assert again.from_cache is False and len(again["train"].labels) == 10


def test_chunked_buffers_cross_chunk_boundaries(tmp_path, monkeypatch):
    # Small chunks so that assembling several chunks (and a partial last one) is exercised.
    monkeypatch.setattr(images_mod, "_CHUNK", 4)
    entries = _make_entries(seed=11)
    out = read_image_archive(_write_tar(tmp_path / "c.tar", entries, "w", shuffle_seed=1),
                             progress=False)
    np.testing.assert_array_equal(out["train"].images, _expected(entries, "train")[0])
