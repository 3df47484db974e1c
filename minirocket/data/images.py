"""Image-folder datasets: ``<split>/<class>/<image>`` in a tar archive or a plain folder.

Notation
--------
N : number of images in a split
H, W : image height and width in pixels (the same for every image of a dataset)
K : number of classes

Layout read here (the layout of the CIFAR-10 archive in ``shared/datasets/cifar10``)::

    train/airplane/0000.jpg
    train/automobile/0000.jpg
    ...
    test/truck/0999.jpg

The split is the image's grandparent folder and the class its parent folder (leading
folders, such as a top-level ``cifar10/``, are ignored). JPEG and PNG files are read; other
files and hidden entries (a name starting with ``.``) are skipped. Labels are indexes into
the class names of **all** splits together, sorted by name, so a label means the same class
in every split. Within a split, images are ordered by (class, file name), whatever order the
archive stores them in.

Tar archives (``.tar``, ``.tar.gz``, ``.tar.bz2``, ``.tar.xz``) are read as one sequential
stream: seeking inside an xz stream re-decompresses from the start, so random access would
be very slow. Decoding tens of thousands of small JPEGs takes seconds, so
:func:`load_images` decodes once and caches the uint8 arrays as an ``.npz`` in a cache
folder (see :mod:`minirocket.data.locate`), keyed by the source's path, size and
modification time: a changed source is decoded again. The cache is never written beside
the source.
"""
import hashlib
import io
import json
import lzma
import os
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from minirocket.data._atomic import atomic_save_npz
from minirocket.data.locate import locate_dataset, resolve_cache_dir
from minirocket.errors import ArgumentError, ArgumentTypeError, DataError, arg_error
from minirocket.validate import check_bool, check_int

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
CIFAR10_ARCHIVE = "cifar10_jpg_q75.tar.xz"
CIFAR10_COUNTS = {"train": 50000, "test": 10000}

# Bumped whenever the cached arrays would differ for the same source (ordering, dtype...).
_CACHE_VERSION = 1
_CHUNK = 4096

# Everything a damaged or foreign archive can raise while being streamed.
_STREAM_ERRORS = (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError)


class ImageSet(NamedTuple):
    """One split of an image dataset.

    Attributes
    ----------
    images : numpy.ndarray of uint8, shape (N, H, W, 3)
        RGB pixels, 0-255 (Fashion-MNIST: shape (N, 28, 28), grey).
    labels : numpy.ndarray of int64, shape (N,)
        Class indexes into ``class_names``.
    class_names : tuple of str, length K
        Class names, sorted by name for image folders.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple


class DatasetSplits(dict):
    """Mapping split name (``"train"``, ``"test"``) -> :class:`ImageSet`, with provenance.

    Attributes
    ----------
    source : DataSource or None
        Where the dataset was found (set by the ``load_*`` functions).
    origin : pathlib.Path or None
        The file or folder that was read.
    cache_path : pathlib.Path or None
        The cache file read or written, if any.
    from_cache : bool
        True if the arrays came from the cache rather than from decoding.
    """

    def __init__(self, splits=(), *, source=None, origin=None, cache_path=None,
                 from_cache=False):
        super().__init__(splits)
        self.source = source
        self.origin = origin
        self.cache_path = cache_path
        self.from_cache = from_cache

    @property
    def class_names(self):
        """The class names shared by all splits (empty tuple if there are no splits)."""
        for value in self.values():
            return value.class_names
        return ()


# --------------------------------------------------------------------------- decoding


class _Collector:
    """Decodes images into preallocated chunks, split by split, and assembles the result."""

    def __init__(self, source, splits, max_per_split, max_per_class, class_names):
        self.source = source
        self.splits = None if splits is None else set(splits)
        self.class_names = class_names
        # Every class folder met, decoded or not: labels must not depend on the limits.
        self.seen_classes = set()
        self.seen_splits = set()
        self.max_per_split = max_per_split
        self.max_per_class = max_per_class
        self.hw = None
        self.first_member = None
        self.bufs = {}

    def wants(self, split, cls):
        if self.class_names is not None and cls not in self.class_names:
            raise DataError(f"file '{self.source}': class folder '{cls}' (split '{split}') "
                            f"is not one of the expected classes {', '.join(self.class_names)}")
        self.seen_classes.add(cls)
        self.seen_splits.add(split)
        if self.splits is not None and split not in self.splits:
            return False
        buf = self.bufs.get(split)
        if buf is None:
            return True
        if self.max_per_split is not None and buf.n >= self.max_per_split:
            return False
        if self.max_per_class is not None and buf.per_class.get(cls, 0) >= self.max_per_class:
            return False
        return True

    def done(self):
        # Only a per-split limit on named splits lets reading stop before the end, and only
        # when the class list is known in advance (otherwise later entries could add classes).
        if self.splits is None or self.max_per_split is None or self.class_names is None:
            return False
        return all(s in self.bufs and self.bufs[s].n >= self.max_per_split
                   for s in self.splits)

    def add(self, split, cls, member, fileobj):
        try:
            im = Image.open(fileobj)
            w, h = im.size
            if self.hw is None:
                self.hw = (h, w)
                self.first_member = member
            elif (h, w) != self.hw:
                raise DataError(
                    f"file '{self.source}': image '{member}' is {w}x{h} pixels, expected "
                    f"{self.hw[1]}x{self.hw[0]} like '{self.first_member}' (all images of a "
                    f"dataset must have one size; resize them first)")
            if im.mode != "RGB":
                im = im.convert("RGB")
            else:
                im.load()
            pixels = im.tobytes()
        except DataError:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise DataError(f"file '{self.source}': cannot decode image '{member}' "
                            f"({_why(e)})") from None
        buf = self.bufs.get(split)
        if buf is None:
            buf = self.bufs[split] = _SplitBuffer(self.hw)
        # frombuffer + one copy into the chunk is faster than numpy.asarray(image).
        buf.slot()[...] = np.frombuffer(pixels, np.uint8).reshape(self.hw + (3,))
        buf.classes.append(cls)
        buf.members.append(member)
        buf.per_class[cls] = buf.per_class.get(cls, 0) + 1

    def finish(self, origin):
        if self.splits is not None and not self.splits <= set(self.bufs):
            missing = sorted(self.splits - set(self.bufs))
            found = ", ".join(sorted(self.seen_splits)) or "none"
            raise DataError(f"'{self.source}': expected split(s) {', '.join(missing)}, found "
                            f"splits {found}")
        if not self.bufs:
            raise DataError(f"file '{self.source}': no images found (expected "
                            f"<split>/<class>/<name>.jpg or .png entries)")
        class_names = self.class_names or tuple(sorted(self.seen_classes))
        index = {c: i for i, c in enumerate(class_names)}
        out = DatasetSplits(origin=origin)
        for split in sorted(self.bufs):
            buf = self.bufs[split]
            images = buf.array()
            order = sorted(range(buf.n), key=lambda i: (buf.classes[i], buf.members[i]))
            labels = np.fromiter((index[buf.classes[i]] for i in order), np.int64, buf.n)
            if order != list(range(buf.n)):
                images = images[np.asarray(order, dtype=np.intp)]
            out[split] = ImageSet(images, labels, class_names)
        return out


class _SplitBuffer:
    def __init__(self, hw):
        self.hw = hw
        self.chunks = []
        self.n = 0
        self.classes = []
        self.members = []
        self.per_class = {}

    def slot(self):
        i = self.n % _CHUNK
        if i == 0:
            self.chunks.append(np.empty((_CHUNK,) + self.hw + (3,), np.uint8))
        self.n += 1
        return self.chunks[-1][i]

    def array(self):
        out = np.empty((self.n,) + self.hw + (3,), np.uint8)
        for k, chunk in enumerate(self.chunks):
            lo = k * _CHUNK
            hi = min(lo + _CHUNK, self.n)
            out[lo:hi] = chunk[:hi - lo]
        return out


def _why(exc):
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _split_class(name):
    """Return (split, class) for an image path, None to skip it, or ("", "") if misplaced."""
    # str.split rather than PurePosixPath: this runs once per archive entry.
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p[0] == "." or p == "__MACOSX" for p in parts):
        return None
    if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return None
    if len(parts) < 3:
        return "", ""
    return parts[-3], parts[-2]


def _check_limits(splits, max_per_split, max_per_class, class_names, progress):
    if splits is not None:
        if isinstance(splits, str):
            splits = (splits,)
        splits = tuple(splits)
        if not splits or not all(isinstance(s, str) and s for s in splits):
            raise arg_error("splits", "None or a non-empty sequence of split names", splits)
    if max_per_split is not None:
        max_per_split = check_int("max_per_split", max_per_split, min_value=1)
    if max_per_class is not None:
        max_per_class = check_int("max_per_class", max_per_class, min_value=1)
    if class_names is not None:
        if isinstance(class_names, str) or not all(isinstance(c, str) and c
                                                   for c in class_names):
            raise arg_error("class_names", "None or a sequence of class folder names",
                            class_names)
        class_names = tuple(class_names)
        if not class_names or len(set(class_names)) != len(class_names):
            raise arg_error("class_names", "a non-empty sequence of distinct names",
                            class_names)
    check_bool("progress", progress)
    return splits, max_per_split, max_per_class, class_names


def _progress_bar(progress, total, desc):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False,
                mininterval=0.5)


def _compression(path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    return None


def read_image_archive(path, *, splits=None, max_per_split=None, max_per_class=None,
                       class_names=None, progress=True, expected_total=None):
    """Decode every image of a ``<split>/<class>/<image>`` tar archive, in one pass.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.tar``, ``.tar.gz``, ``.tar.bz2`` or ``.tar.xz`` file (compression is detected
        from the content, not the name).
    splits : sequence of str, optional
        Read only these splits (others are skipped without decoding).
    max_per_split : int, optional
        Keep at most this many images per split: the first ones in archive order. With
        ``splits`` given, reading stops as soon as every named split is full.
    max_per_class : int, optional
        Keep at most this many images per class and split (the first in archive order).
    class_names : sequence of str, optional
        The expected class folders, in label order; another folder is an error. Default:
        every class folder of the archive (all splits), sorted by name. Reading can stop
        early (see ``max_per_split``) only when this is given.
    progress : bool
        Show a tqdm progress bar on stderr.
    expected_total : int, optional
        Number of images expected, only used as the progress bar's total.

    Returns
    -------
    DatasetSplits
        split name -> :class:`ImageSet` with images uint8 (N, H, W, 3), labels int64 (N,)
        and the sorted class names.

    Raises
    ------
    DataError
        If the file is missing, not a tar archive, truncated or corrupt, if an image cannot
        be decoded, if images differ in size, or if no image is found.
    """
    path = _existing_file(path)
    splits, max_per_split, max_per_class, class_names = _check_limits(
        splits, max_per_split, max_per_class, class_names, progress)
    compression = _compression(path)
    collector = _Collector(path, splits, max_per_split, max_per_class, class_names)
    n_members = 0
    try:
        tf = tarfile.open(path, mode="r|*")
    except _STREAM_ERRORS as e:
        raise DataError(f"file '{path}': cannot open it as a tar archive ({_why(e)})") from None
    bar = _progress_bar(progress, expected_total, f"decoding {path.name}")
    stopped_early = False
    with tf, bar:
        members = iter(tf)
        while True:
            try:
                member = next(members)
            except StopIteration:
                break
            except _STREAM_ERRORS as e:
                raise DataError(
                    f"file '{path}': archive is truncated or corrupt after {n_members} "
                    f"entries ({_why(e)})") from None
            n_members += 1
            if not member.isfile():
                continue
            where = _split_class(member.name)
            if where is None:
                continue
            if where == ("", ""):
                raise DataError(f"file '{path}': image '{member.name}' is not inside a "
                                f"<split>/<class>/ folder")
            if not collector.wants(*where):
                continue
            try:
                data = tf.extractfile(member).read()
            except _STREAM_ERRORS as e:
                raise DataError(
                    f"file '{path}': archive is truncated or corrupt in entry "
                    f"'{member.name}' after {n_members - 1} entries ({_why(e)})") from None
            collector.add(where[0], where[1], member.name, io.BytesIO(data))
            bar.update(1)
            if collector.done():
                stopped_early = True
                break
        end = tf.offset
    # tarfile ends a stream quietly when a header is cut short; for an uncompressed file the
    # missing end-of-archive blocks give the truncation away (compressed streams fail above).
    if not stopped_early and compression is None and path.stat().st_size < end + 1024:
        raise DataError(f"file '{path}': archive is truncated (no end-of-archive marker after "
                        f"{n_members} entries)")
    return collector.finish(path)


def read_image_folder(path, *, splits=None, max_per_split=None, max_per_class=None,
                      class_names=None, progress=True):
    """Decode every image of a folder laid out as ``<split>/<class>/<image>``.

    Parameters
    ----------
    path : str or os.PathLike
        The folder holding the split folders.
    splits, max_per_split, max_per_class, class_names, progress
        As in :func:`read_image_archive`.

    Returns
    -------
    DatasetSplits
        split name -> :class:`ImageSet` (images uint8 (N, H, W, 3), labels int64 (N,)).

    Raises
    ------
    DataError
        If the folder is missing, holds no images, an image cannot be decoded, or images
        differ in size.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder '{root}': not found (expected a folder holding "
                        f"<split>/<class>/ image folders)")
    splits, max_per_split, max_per_class, class_names = _check_limits(
        splits, max_per_split, max_per_class, class_names, progress)
    files = _image_files(root)
    collector = _Collector(root, splits, max_per_split, max_per_class, class_names)
    with _progress_bar(progress, len(files), f"decoding {root.name}") as bar:
        for rel in files:
            where = _split_class(rel)
            if where is None:
                continue
            if where == ("", ""):
                raise DataError(f"folder '{root}': image '{rel}' is not inside a "
                                f"<split>/<class>/ folder")
            if not collector.wants(*where):
                continue
            with open(root / rel, "rb") as f:
                collector.add(where[0], where[1], rel, f)
            bar.update(1)
            if collector.done():
                break
    return collector.finish(root)


def _image_files(root):
    """Sorted relative POSIX paths of the image files below ``root``."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("."):
                out.append((rel_dir / name).as_posix())
    out.sort()
    return out


def _existing_file(path):
    if not isinstance(path, (str, os.PathLike)):
        raise arg_error("path", "a file path (str or os.PathLike)", path, ArgumentTypeError)
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"file '{path}': not found")
    return path


# --------------------------------------------------------------------------- caching


def _source_fingerprint(path):
    """Stat-based identity of a file, or of every image file below a folder."""
    if path.is_dir():
        h = hashlib.sha256()
        for rel in _image_files(path):
            st = (path / rel).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"kind": "folder", "path": str(path.resolve()), "listing": h.hexdigest()}
    st = path.stat()
    return {"kind": "file", "path": str(path.resolve()), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}


def cache_file_for(path, cache_dir=None, *, splits=None, max_per_split=None,
                   max_per_class=None, class_names=None):
    """The cache file :func:`load_images` uses for ``path`` with these options.

    Returns
    -------
    (pathlib.Path, str)
        The cache file and the key stored inside it.
    """
    path = Path(path).expanduser()
    opts = {"version": _CACHE_VERSION, "source": _source_fingerprint(path),
            "splits": None if splits is None else sorted(splits),
            "max_per_split": max_per_split, "max_per_class": max_per_class,
            "class_names": None if class_names is None else list(class_names)}
    key = hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.name)[:60]
    return resolve_cache_dir(cache_dir) / f"images-{stem}-{key[:16]}.npz", key


def _write_cache(cache_path, key, result):
    names = sorted(result)
    meta = {"format": "minirocket-image-cache", "version": _CACHE_VERSION, "key": key,
            "splits": names, "class_names": list(result.class_names),
            "origin": str(result.origin)}
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, split in enumerate(names):
        arrays[f"images_{i}"] = result[split].images
        arrays[f"labels_{i}"] = result[split].labels
    atomic_save_npz(cache_path, **arrays)


class _BadCache(Exception):
    pass


def _read_cache(cache_path, key, origin):
    try:
        with np.load(cache_path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != "minirocket-image-cache" or meta.get("key") != key:
                raise _BadCache("it belongs to another source or version")
            class_names = tuple(meta["class_names"])
            out = DatasetSplits(origin=origin, cache_path=cache_path, from_cache=True)
            for i, split in enumerate(meta["splits"]):
                images, labels = z[f"images_{i}"], z[f"labels_{i}"]
                if (images.dtype != np.uint8 or labels.dtype != np.int64
                        or len(images) != len(labels)):
                    raise _BadCache("its arrays are inconsistent")
                out[split] = ImageSet(images, labels, class_names)
            return out
    except _BadCache:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise _BadCache(_why(e)) from None


def load_images(path, *, cache_dir=None, use_cache=True, splits=None, max_per_split=None,
                max_per_class=None, class_names=None, progress=True, expected_total=None):
    """Read an image-folder dataset (tar archive or folder), decoding once and caching.

    Parameters
    ----------
    path : str or os.PathLike
        A tar archive or a folder laid out as ``<split>/<class>/<image>``.
    cache_dir : str or os.PathLike, optional
        Folder for the decoded arrays; default ``$MINIROCKET_CACHE_DIR`` or
        ``~/.cache/minirocket``. It may not be the folder holding ``path``.
    use_cache : bool
        If False, always decode and write nothing.
    splits, max_per_split, max_per_class, class_names, progress, expected_total
        As in :func:`read_image_archive`. The options are part of the cache key.

    Returns
    -------
    DatasetSplits
        split -> :class:`ImageSet` (images uint8 (N, H, W, 3), labels int64 (N,)), with
        ``cache_path`` and ``from_cache`` set.

    Raises
    ------
    DataError
        As in :func:`read_image_archive`. An unreadable cache file is not an error: it is
        decoded again and replaced (with a warning).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise arg_error("path", "a file or folder path (str or os.PathLike)", path,
                        ArgumentTypeError)
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"file '{path}': not found")
    use_cache = check_bool("use_cache", use_cache)
    splits, max_per_split, max_per_class, class_names = _check_limits(
        splits, max_per_split, max_per_class, class_names, progress)
    cache_path = key = None
    if use_cache:
        cache_path, key = cache_file_for(path, cache_dir, splits=splits,
                                         max_per_split=max_per_split,
                                         max_per_class=max_per_class,
                                         class_names=class_names)
        _refuse_cache_beside(cache_path.parent, path)
        if cache_path.is_file():
            try:
                return _read_cache(cache_path, key, path)
            except _BadCache as e:
                warnings.warn(f"cache file '{cache_path}' is unreadable ({e}); decoding "
                              f"'{path}' again", RuntimeWarning, stacklevel=2)
    if path.is_dir():
        result = read_image_folder(path, splits=splits, max_per_split=max_per_split,
                                   max_per_class=max_per_class, class_names=class_names,
                                   progress=progress)
    else:
        result = read_image_archive(path, splits=splits, max_per_split=max_per_split,
                                    max_per_class=max_per_class, class_names=class_names,
                                    progress=progress, expected_total=expected_total)
    if use_cache:
        try:
            _write_cache(cache_path, key, result)
            result.cache_path = cache_path
        except OSError as e:
            warnings.warn(f"could not write cache file '{cache_path}' ({_why(e)}); the data "
                          f"will be decoded again next time", RuntimeWarning, stacklevel=2)
    return result


def _refuse_cache_beside(cache_root, path):
    cache_root = cache_root.resolve()
    src = path.resolve()
    # A cache beside an archive, or anywhere inside an image folder, would write into the
    # data (which may be read-only or shared); a folder elsewhere below the same parent,
    # such as ~/.cache for data in ~, is fine.
    holder = src if src.is_dir() else src.parent
    inside = src.is_dir() and holder in cache_root.parents
    if cache_root == holder or inside:
        raise ArgumentError(f"argument 'cache_dir': expected a folder outside the data "
                            f"folder '{holder}' (data folders are never written to), got "
                            f"'{cache_root}'")


# --------------------------------------------------------------------------- CIFAR-10


def load_cifar10(data_dir=None, cache_dir=None, progress=True, *, use_cache=True,
                 max_per_split=None, max_per_class=None):
    """Load CIFAR-10: 50,000 train and 10,000 test RGB images of 32x32 pixels, 10 classes.

    Looks (see :mod:`minirocket.data.locate`) for ``cifar10_jpg_q75.tar.xz`` (JPEG
    quality 75 re-encoding: slightly lossy), then for the official python version
    (``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``). The JPEG archive is decoded
    once and cached.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The ``--data-dir`` value.
    cache_dir : str or os.PathLike, optional
        Cache folder for the decoded arrays.
    progress : bool
        Show a progress bar while decoding.
    use_cache : bool
        Read and write the decoded-array cache.
    max_per_split, max_per_class : int, optional
        Keep only the first images (per split / per class and split), for quick runs.

    Returns
    -------
    DatasetSplits
        ``{"train": ImageSet, "test": ImageSet}``; images uint8 (N, 32, 32, 3), labels
        int64 (N,) in 0..9 indexing :data:`CIFAR10_CLASSES`; ``.source`` says where the
        files were found.

    Raises
    ------
    DataError
        If no location holds the dataset (the message lists every place looked at), or
        if the files are damaged or do not hold the expected counts.
    """
    from minirocket.data.cifar_batches import (CIFAR_PY_ARCHIVE, CIFAR_PY_FILES,
                                               read_cifar_python)
    source = locate_dataset(
        "cifar10",
        [[CIFAR10_ARCHIVE], [f"cifar-10-batches-py/{f}" for f in CIFAR_PY_FILES],
         [CIFAR_PY_ARCHIVE]],
        data_dir)
    limited = max_per_split is not None or max_per_class is not None
    first = source.files[0]
    if first.name == CIFAR10_ARCHIVE:
        result = load_images(first, cache_dir=cache_dir, use_cache=use_cache,
                             max_per_split=max_per_split, max_per_class=max_per_class,
                             class_names=CIFAR10_CLASSES, progress=progress,
                             expected_total=None if limited else sum(CIFAR10_COUNTS.values()))
    else:
        target = first.parent if first.name != CIFAR_PY_ARCHIVE else first
        result = read_cifar_python(target)
        if limited:
            result = _limit(result, max_per_split, max_per_class)
    result.source = source
    _check_cifar10(result, first, limited)
    return result


def _limit(result, max_per_split, max_per_class):
    out = DatasetSplits(origin=result.origin)
    for split, s in result.items():
        keep = np.arange(len(s.labels))
        if max_per_class is not None:
            rank = np.zeros(len(s.labels), np.int64)
            for c in np.unique(s.labels):
                idx = np.flatnonzero(s.labels == c)
                rank[idx] = np.arange(len(idx))
            keep = keep[rank < max_per_class]
        if max_per_split is not None:
            keep = keep[:max_per_split]
        out[split] = ImageSet(s.images[keep], s.labels[keep], s.class_names)
    return out


def _check_cifar10(result, file, limited):
    if tuple(result.class_names) != CIFAR10_CLASSES:
        raise DataError(f"file '{file}': expected the CIFAR-10 classes "
                        f"{', '.join(CIFAR10_CLASSES)}, got {', '.join(result.class_names)}")
    for split, count in CIFAR10_COUNTS.items():
        if split not in result:
            raise DataError(f"file '{file}': expected a '{split}' split, got splits "
                            f"{', '.join(sorted(result))}")
        images = result[split].images
        if images.shape[1:] != (32, 32, 3):
            raise DataError(f"file '{file}': expected 32x32 RGB images, got shape "
                            f"{images.shape[1:]}")
        if not limited and len(images) != count:
            raise DataError(f"file '{file}': expected {count} {split} images, got "
                            f"{len(images)} (the file is truncated or not CIFAR-10)")
