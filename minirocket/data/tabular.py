"""Click-style tabular data: UCI Adult as a CTR stand-in, and Criteo-format files.

Notation
--------
N : rows
F : categorical fields (each one embedding lookup per row)
D : dense numeric features

Both readers produce a :class:`TabularSplit`: ``cat`` int64 (N, F) ids, ``num`` float32
(N, D) dense values, ``y`` int64 (N,) labels in {0, 1}.

**Categorical ids are per field.** Column ``j`` of ``cat`` holds ids in
``0 .. field_sizes[j] - 1`` and id 0 always means "missing or unknown" (``?`` in Adult,
an empty field in Criteo, a value never seen in the training split). A model may build one
embedding table per field, or one shared table of ``sum(field_sizes)`` rows indexed by
``cat + field_offsets`` (:func:`field_offsets`); the per-field ids keep both choices open.

**Adult** (:func:`load_adult`): the 8 categorical columns get a vocabulary built on the
training split only (most frequent first); the 6 numeric columns give both

- a bucket id per column (quantile bucket edges from the training split, appended to
  ``cat`` after the 8 categorical fields, so F = 14), and
- a dense value: ``sign(x) * log1p(|x|)``, then standardised with the training split's
  mean and standard deviation (D = 6).

All fitted constants live in a :class:`TabularPreprocessor` whose ``state_dict()`` is plain
JSON; ``TabularPreprocessor.from_state(state)`` rebuilds it, and applying it to the same rows
gives identical arrays, so a served model sees exactly the training transformation.

**Criteo** (:func:`read_criteo`): tab-separated ``label, I1..I13, C1..C26``, empty =
missing. Categorical values are hashed with keyed BLAKE2b (64-bit digest; the seed is the
key; the field name is hashed with the value), taken modulo ``hash_buckets`` and shifted by
one so that 0 stays "missing"; Python's ``hash()`` is never used because it changes from
one process to the next. Integer columns give ``log1p(max(x, 0))`` dense values (missing ->
0) and, by default, a bucket id each (0 = missing; see :func:`criteo_int_bucket`).
"""
import dataclasses
import gzip
import hashlib
import math
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from minirocket.data.locate import DataSource, locate_dataset
from minirocket.errors import (ArgumentError, ArgumentTypeError, CheckpointError, DataError,
                               arg_error)
from minirocket.validate import check_bool, check_choice, check_int

ADULT_COLUMNS = ("age", "workclass", "fnlwgt", "education", "education-num",
                 "marital-status", "occupation", "relationship", "race", "sex",
                 "capital-gain", "capital-loss", "hours-per-week", "native-country")
ADULT_CATEGORICAL = ("workclass", "education", "marital-status", "occupation",
                     "relationship", "race", "sex", "native-country")
ADULT_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss",
                 "hours-per-week")
ADULT_LABELS = {">50K": 1, "<=50K": 0}
ADULT_COUNTS = {"train": 32561, "test": 16281}

CRITEO_INT = tuple(f"I{i}" for i in range(1, 14))
CRITEO_CAT = tuple(f"C{i}" for i in range(1, 27))
CRITEO_INT_BUCKETS = 512

_STATE_FORMAT = "minirocket-tabular-preprocessor"
_STATE_VERSION = 1
_CRITEO_FORMAT = "minirocket-criteo-encoder"


@dataclasses.dataclass(frozen=True)
class TabularSplit:
    """Encoded rows of a tabular dataset.

    Attributes
    ----------
    cat : numpy.ndarray of int64, shape (N, F)
        Per-field categorical ids; column ``j`` lies in ``0 .. field_sizes[j] - 1`` and 0
        means missing or unknown.
    num : numpy.ndarray of float32, shape (N, D)
        Dense numeric features.
    y : numpy.ndarray of int64, shape (N,), or None
        Labels in {0, 1}; None for unlabelled rows.
    """

    cat: np.ndarray
    num: np.ndarray
    y: np.ndarray = None

    def __post_init__(self):
        if not (isinstance(self.cat, np.ndarray) and self.cat.dtype == np.int64
                and self.cat.ndim == 2):
            raise arg_error("cat", "an int64 array of shape (N, F)", self.cat)
        if not (isinstance(self.num, np.ndarray) and self.num.dtype == np.float32
                and self.num.ndim == 2 and len(self.num) == len(self.cat)):
            raise arg_error("num", f"a float32 array of shape ({len(self.cat)}, D)", self.num)
        if self.y is not None and not (isinstance(self.y, np.ndarray)
                                       and self.y.dtype == np.int64
                                       and self.y.shape == (len(self.cat),)):
            raise arg_error("y", f"None or an int64 array of shape ({len(self.cat)},)", self.y)

    def __len__(self):
        return len(self.cat)

    def take(self, index):
        """Rows ``index`` (int array, slice or boolean mask) as a new TabularSplit."""
        return TabularSplit(self.cat[index], self.num[index],
                            None if self.y is None else self.y[index])


def field_offsets(field_sizes):
    """Start of each field in one shared id space: ``[0, s0, s0 + s1, ...]`` (int64, (F,))."""
    sizes = np.asarray(field_sizes, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


# --------------------------------------------------------------------------- text input


def _open_text_lines(path):
    """Yield (line number, line) of a text file, gzipped or not."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            for lineno, line in enumerate(f, 1):
                yield lineno, line
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"file '{path}': gzip stream is truncated or corrupt ({e})") from None


def _existing(path, name="path"):
    if not isinstance(path, (str, os.PathLike)):
        raise arg_error(name, "a file path (str or os.PathLike)", path, ArgumentTypeError)
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"file '{path}': not found")
    return path


def read_adult(path):
    """Read one Adult file (``adult.data`` or ``adult.test``, gzipped or not).

    Lines starting with ``|`` (the test file's ``|1x3 Cross validator``) and blank lines
    are skipped; labels ``>50K`` / ``<=50K`` may carry a trailing period.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    rows : list of list of str
        N rows of the 14 feature fields, stripped, in :data:`ADULT_COLUMNS` order
        (missing values stay ``"?"``).
    y : numpy.ndarray of int64, shape (N,)
        1 for ``>50K``, 0 for ``<=50K``.

    Raises
    ------
    DataError
        Naming the file and line, if a line does not have 15 fields or has another label.
    """
    path = _existing(path)
    rows, labels = [], []
    for lineno, raw in _open_text_lines(path):
        line = raw.decode("utf-8", errors="replace").strip()
        if not line or line.startswith("|"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(ADULT_COLUMNS) + 1:
            raise DataError(f"file '{path}', line {lineno}: expected "
                            f"{len(ADULT_COLUMNS) + 1} comma-separated fields (14 features "
                            f"and the label), got {len(fields)}")
        label = fields[-1].rstrip(".")
        if label not in ADULT_LABELS:
            raise DataError(f"file '{path}', line {lineno}: expected label '>50K' or "
                            f"'<=50K', got {fields[-1]!r}")
        rows.append(fields[:-1])
        labels.append(ADULT_LABELS[label])
    if not rows:
        raise DataError(f"file '{path}': no data rows found")
    return rows, np.asarray(labels, dtype=np.int64)


# --------------------------------------------------------------------------- hashing


def stable_hash(value, seed=0, field=""):
    """A 64-bit hash that is the same in every process, machine and Python version.

    Parameters
    ----------
    value : str or bytes
        The value (str is encoded as UTF-8).
    seed : int
        0 <= seed < 2**64; used as the BLAKE2b key, so different seeds give unrelated hashes.
    field : str
        Field name hashed together with the value, so that equal strings in different
        fields do not collide systematically.

    Returns
    -------
    int
        In ``0 .. 2**64 - 1``.
    """
    if isinstance(value, str):
        value = value.encode("utf-8")
    key = int(seed).to_bytes(8, "little")
    digest = hashlib.blake2b(field.encode("utf-8") + b"\x1f" + value, digest_size=8,
                             key=key).digest()
    return int.from_bytes(digest, "little")


def hash_bucket(value, n_buckets, seed=0, field=""):
    """Bucket id of a categorical value: ``1 + stable_hash(...) % n_buckets`` (0 = missing)."""
    return 1 + stable_hash(value, seed, field) % n_buckets


def _check_seed(seed):
    return check_int("hash_seed", seed, min_value=0, max_value=2 ** 64 - 1)


# --------------------------------------------------------------------------- preprocessor


class TabularPreprocessor:
    """Turns rows of strings into categorical ids and dense floats, fitted on training rows.

    Parameters
    ----------
    columns : sequence of str
        Names of the row fields, in order.
    categorical : sequence of str
        Columns encoded as ids (a vocabulary per column, or hashing when ``hash_buckets``).
    numeric : sequence of str
        Columns parsed as numbers: a dense feature each and, if ``bucketize``, a bucket id.
    n_buckets : int
        Number of quantile buckets per numeric column (fewer when quantiles coincide).
    min_count : int
        Categorical values seen fewer times in the training rows map to 0 (unknown).
    missing_values : sequence of str
        Strings that mean "missing".
    log_numeric : bool
        Apply ``sign(x) * log1p(|x|)`` before standardising the dense values.
    bucketize : bool
        Append one bucket-id field per numeric column to ``cat``.
    hash_buckets : int or None
        If given, categorical values are hashed (:func:`hash_bucket`) into
        ``1 .. hash_buckets`` instead of looked up in a vocabulary.
    hash_seed : int
        Seed of the hash.

    Notes
    -----
    Output fields (the columns of ``cat``) are the categorical columns in the order given,
    then ``<name>_bucket`` for each numeric column. Field sizes: ``len(vocabulary) + 1``
    (or ``hash_buckets + 1``) for categorical fields, ``len(edges) + 2`` for buckets (0 =
    missing, ``1 + searchsorted(edges, x, side="right")`` otherwise). Dense values:
    ``(t(x) - mean) / std`` with ``t`` the optional signed log and mean/std from the
    non-missing training values; a missing value becomes 0 (the mean).
    """

    def __init__(self, columns, categorical, numeric, *, n_buckets=10, min_count=1,
                 missing_values=("?", ""), log_numeric=True, bucketize=True,
                 hash_buckets=None, hash_seed=0):
        self.columns = _names("columns", columns)
        self.categorical = _names("categorical", categorical)
        self.numeric = _names("numeric", numeric)
        for arg, names in (("categorical", self.categorical), ("numeric", self.numeric)):
            unknown = [n for n in names if n not in self.columns]
            if unknown:
                raise arg_error(arg, f"names among columns {list(self.columns)}", unknown)
        both = set(self.categorical) & set(self.numeric)
        if both:
            raise arg_error("numeric", "columns not also listed as categorical", sorted(both))
        self.n_buckets = check_int("n_buckets", n_buckets, min_value=1)
        self.min_count = check_int("min_count", min_count, min_value=1)
        if isinstance(missing_values, str) or not all(isinstance(m, str)
                                                      for m in missing_values):
            raise arg_error("missing_values", "a sequence of strings", missing_values)
        self.missing_values = tuple(missing_values)
        self.log_numeric = check_bool("log_numeric", log_numeric)
        self.bucketize = check_bool("bucketize", bucketize)
        self.hash_buckets = (None if hash_buckets is None
                             else check_int("hash_buckets", hash_buckets, min_value=1))
        self.hash_seed = _check_seed(hash_seed)
        self._index = {c: i for i, c in enumerate(self.columns)}
        self.vocabularies = None
        self.bucket_edges = None
        self.means = None
        self.stds = None

    # ----------------------------------------------------------------- fitting

    @property
    def fitted(self):
        """True once :meth:`fit` or :meth:`from_state` has set the constants."""
        return self.means is not None

    def fit(self, rows):
        """Learn vocabularies, bucket edges, means and standard deviations from ``rows``.

        Parameters
        ----------
        rows : sequence of sequence of str
            Training rows, each with ``len(columns)`` fields.

        Returns
        -------
        TabularPreprocessor
            ``self``.
        """
        rows = self._check_rows(rows)
        missing = set(self.missing_values)
        vocabularies = {}
        if self.hash_buckets is None:
            for name in self.categorical:
                counts = {}
                for r in rows:
                    v = r[self._index[name]]
                    if v not in missing:
                        counts[v] = counts.get(v, 0) + 1
                kept = [v for v, c in counts.items() if c >= self.min_count]
                # Most frequent first (ties by value) so ids are stable and small ids common.
                kept.sort(key=lambda v: (-counts[v], v))
                vocabularies[name] = kept
        edges, means, stds = {}, {}, {}
        for name in self.numeric:
            x = self._parse_numeric(rows, name)
            x = x[~np.isnan(x)]
            if x.size:
                q = np.quantile(x, np.linspace(0.0, 1.0, self.n_buckets + 1)[1:-1])
                edges[name] = [float(e) for e in np.unique(q)]
                t = self._log(x)
                means[name] = float(t.mean())
                std = float(t.std())
                stds[name] = std if std > 0 else 1.0
            else:
                edges[name], means[name], stds[name] = [], 0.0, 1.0
        self.vocabularies, self.bucket_edges = vocabularies, edges
        self.means, self.stds = means, stds
        self._build_lookup()
        return self

    def _build_lookup(self):
        self._lookup = {name: {v: i + 1 for i, v in enumerate(vocab)}
                        for name, vocab in self.vocabularies.items()}

    # ----------------------------------------------------------------- applying

    @property
    def field_names(self):
        """Names of the ``cat`` columns: categorical columns, then ``<numeric>_bucket``."""
        names = list(self.categorical)
        if self.bucketize:
            names += [f"{n}_bucket" for n in self.numeric]
        return names

    @property
    def field_sizes(self):
        """Number of ids of each ``cat`` column (id 0 included)."""
        self._require_fitted()
        if self.hash_buckets is None:
            sizes = [len(self.vocabularies[n]) + 1 for n in self.categorical]
        else:
            sizes = [self.hash_buckets + 1 for _ in self.categorical]
        if self.bucketize:
            sizes += [len(self.bucket_edges[n]) + 2 for n in self.numeric]
        return sizes

    @property
    def num_names(self):
        """Names of the ``num`` columns (the numeric columns)."""
        return list(self.numeric)

    def transform(self, rows, y=None):
        """Encode rows with the fitted constants.

        Parameters
        ----------
        rows : sequence of sequence of str
            N rows, each with ``len(columns)`` fields.
        y : array_like of int, shape (N,), optional
            Labels in {0, 1}, passed through as int64.

        Returns
        -------
        TabularSplit
            ``cat`` int64 (N, F), ``num`` float32 (N, D), ``y`` int64 (N,) or None.
        """
        self._require_fitted()
        rows = self._check_rows(rows)
        n = len(rows)
        missing = set(self.missing_values)
        cat_cols = []
        for name in self.categorical:
            j = self._index[name]
            if self.hash_buckets is None:
                table = self._lookup[name]
                ids = np.fromiter((table.get(r[j], 0) for r in rows), np.int64, n)
            else:
                ids = np.fromiter(
                    (0 if r[j] in missing else
                     hash_bucket(r[j], self.hash_buckets, self.hash_seed, name)
                     for r in rows), np.int64, n)
            cat_cols.append(ids)
        num_cols = []
        for name in self.numeric:
            x = self._parse_numeric(rows, name)
            nan = np.isnan(x)
            if self.bucketize:
                edges = np.asarray(self.bucket_edges[name], dtype=np.float64)
                ids = 1 + np.searchsorted(edges, np.where(nan, 0.0, x), side="right")
                cat_cols.append(np.where(nan, 0, ids).astype(np.int64))
            z = (self._log(np.where(nan, 0.0, x)) - self.means[name]) / self.stds[name]
            num_cols.append(np.where(nan, 0.0, z))
        cat = (np.stack(cat_cols, axis=1) if cat_cols else np.zeros((n, 0), np.int64))
        num = (np.stack(num_cols, axis=1) if num_cols else np.zeros((n, 0))).astype(np.float32)
        if y is not None:
            y = _check_labels(y, n)
        return TabularSplit(cat, num, y)

    def fit_transform(self, rows, y=None):
        """:meth:`fit` on ``rows``, then :meth:`transform` them."""
        return self.fit(rows).transform(rows, y)

    # ----------------------------------------------------------------- state

    def state_dict(self):
        """All settings and fitted constants as a JSON-serialisable dict.

        Returns
        -------
        dict
            Keys ``format``, ``version``, the constructor settings, ``vocabularies``
            (per column, values in id order from id 1), ``bucket_edges``, ``means``,
            ``stds``.
        """
        self._require_fitted()
        return {
            "format": _STATE_FORMAT, "version": _STATE_VERSION,
            "columns": list(self.columns), "categorical": list(self.categorical),
            "numeric": list(self.numeric), "n_buckets": self.n_buckets,
            "min_count": self.min_count, "missing_values": list(self.missing_values),
            "log_numeric": self.log_numeric, "bucketize": self.bucketize,
            "hash_buckets": self.hash_buckets, "hash_seed": self.hash_seed,
            "vocabularies": {k: list(v) for k, v in self.vocabularies.items()},
            "bucket_edges": {k: list(v) for k, v in self.bucket_edges.items()},
            "means": dict(self.means), "stds": dict(self.stds),
        }

    @classmethod
    def from_state(cls, state):
        """Rebuild a fitted preprocessor from :meth:`state_dict` output.

        Raises
        ------
        CheckpointError
            If ``state`` is not a preprocessor state, is from a newer version, or lacks
            a field.
        """
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"argument 'state': expected a '{_STATE_FORMAT}' dict, got "
                                  f"{got!r}")
        version = state.get("version")
        if not isinstance(version, int) or version > _STATE_VERSION:
            raise CheckpointError(f"argument 'state': expected version <= {_STATE_VERSION}, "
                                  f"got {version!r} (written by a newer minirocket?)")
        try:
            pre = cls(state["columns"], state["categorical"], state["numeric"],
                      n_buckets=state["n_buckets"], min_count=state["min_count"],
                      missing_values=state["missing_values"],
                      log_numeric=state["log_numeric"], bucketize=state["bucketize"],
                      hash_buckets=state["hash_buckets"], hash_seed=state["hash_seed"])
            pre.vocabularies = {k: list(state["vocabularies"][k]) for k in pre.categorical
                                if pre.hash_buckets is None}
            pre.bucket_edges = {k: [float(e) for e in state["bucket_edges"][k]]
                                for k in pre.numeric}
            pre.means = {k: float(state["means"][k]) for k in pre.numeric}
            pre.stds = {k: float(state["stds"][k]) for k in pre.numeric}
        except KeyError as e:
            raise CheckpointError(f"argument 'state': expected key {e}, which is missing") from None
        pre._build_lookup()
        return pre

    # ----------------------------------------------------------------- helpers

    def _require_fitted(self):
        if not self.fitted:
            raise ArgumentError("TabularPreprocessor: expected fit() or from_state() before "
                                "use, got an unfitted preprocessor")

    def _check_rows(self, rows):
        if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__"):
            raise arg_error("rows", "a sequence of rows (sequences of strings)", rows,
                            ArgumentTypeError)
        width = len(self.columns)
        for i, r in enumerate(rows):
            if len(r) != width:
                raise ArgumentError(f"argument 'rows': expected {width} fields per row, got "
                                    f"{len(r)} in row {i}")
        return rows

    def _parse_numeric(self, rows, name):
        j = self._index[name]
        missing = set(self.missing_values)
        nan = float("nan")
        try:
            out = np.fromiter((nan if r[j] in missing else float(r[j]) for r in rows),
                              np.float64, len(rows))
        except ValueError:
            for i, r in enumerate(rows):
                if r[j] not in missing:
                    try:
                        float(r[j])
                    except ValueError:
                        raise DataError(f"column '{name}', row {i}: expected a number or one "
                                        f"of {list(self.missing_values)}, got {r[j]!r}") from None
            raise
        # Infinite values carry no usable magnitude: treat them as missing.
        out[~np.isfinite(out)] = np.nan
        return out

    def _log(self, x):
        return np.sign(x) * np.log1p(np.abs(x)) if self.log_numeric else x


def _names(arg, names):
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise arg_error(arg, "a sequence of column names (str)", names)
    names = tuple(names)
    if len(set(names)) != len(names):
        raise arg_error(arg, "distinct column names", names)
    return names


def _check_labels(y, n):
    y = np.asarray(y)
    if y.shape != (n,):
        raise ArgumentError(f"argument 'y': expected shape ({n},), got {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ArgumentError("argument 'y': expected labels in {0, 1}, got other values")
    return y.astype(np.int64)


# --------------------------------------------------------------------------- Adult


@dataclasses.dataclass
class TabularDataset:
    """Train and test splits of a tabular dataset, with the fitted preprocessor.

    Attributes
    ----------
    train, test : TabularSplit
    preprocessor : TabularPreprocessor
        Fitted on ``train``; save ``preprocessor.state_dict()`` with a model.
    source : DataSource
        Where the files were found (``source.embedded`` is True for the packaged copy).
    """

    train: TabularSplit
    test: TabularSplit
    preprocessor: TabularPreprocessor
    source: DataSource

    @property
    def field_sizes(self):
        """Ids per ``cat`` column (id 0 included)."""
        return self.preprocessor.field_sizes

    @property
    def field_names(self):
        """Names of the ``cat`` columns."""
        return self.preprocessor.field_names

    @property
    def num_names(self):
        """Names of the ``num`` columns."""
        return self.preprocessor.num_names

    @property
    def message(self):
        """One line saying where the data came from."""
        return self.source.message


def adult_preprocessor(n_buckets=10, min_count=1, log_numeric=True, bucketize=True):
    """An unfitted :class:`TabularPreprocessor` for the Adult columns."""
    return TabularPreprocessor(ADULT_COLUMNS, ADULT_CATEGORICAL, ADULT_NUMERIC,
                               n_buckets=n_buckets, min_count=min_count,
                               log_numeric=log_numeric, bucketize=bucketize)


def load_adult(data_dir=None, *, n_buckets=10, min_count=1, log_numeric=True,
               bucketize=True, state=None):
    """Load UCI Adult as click-style data: 32,561 train and 16,281 test rows, ~24% positive.

    Looks for ``adult.data.gz`` and ``adult.test.gz`` (or the plain ``adult.data`` and
    ``adult.test``) as described in :mod:`minirocket.data.locate`; when no data folder
    holds them (and ``data_dir`` is None), the copy embedded in the package is used and
    ``result.source.embedded`` is True (``result.message`` says so in one line).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The ``--data-dir`` value.
    n_buckets, min_count, log_numeric, bucketize
        See :class:`TabularPreprocessor`.
    state : dict, optional
        A saved ``preprocessor.state_dict()``: reuse it instead of fitting on train.

    Returns
    -------
    TabularDataset
        ``train``/``test`` :class:`TabularSplit` (cat int64 (N, 14), num float32 (N, 6),
        y int64 (N,)), the preprocessor, ``field_sizes`` and the source.
    """
    source = locate_dataset("adult", [["adult.data.gz", "adult.test.gz"],
                                      ["adult.data", "adult.test"]],
                            data_dir, embedded=True)
    train_rows, train_y = read_adult(source.files[0])
    test_rows, test_y = read_adult(source.files[1])
    for (split, count), n in zip(ADULT_COUNTS.items(), (len(train_y), len(test_y))):
        if n != count:
            raise DataError(f"file '{source.files[0 if split == 'train' else 1]}': expected "
                            f"{count} {split} rows, got {n}")
    if state is None:
        pre = adult_preprocessor(n_buckets, min_count, log_numeric, bucketize).fit(train_rows)
    else:
        pre = TabularPreprocessor.from_state(state)
    return TabularDataset(pre.transform(train_rows, train_y), pre.transform(test_rows, test_y),
                          pre, source)


# --------------------------------------------------------------------------- Criteo


def criteo_int_bucket(x):
    """Bucket id of a Criteo integer value (``None`` = missing).

    0 missing; 1 negative; 2, 3, 4 for 0, 1, 2; ``4 + floor(ln(x) ** 2)`` for x > 2,
    capped at ``CRITEO_INT_BUCKETS - 1`` (so the field size is ``CRITEO_INT_BUCKETS``).
    Squared logarithms keep small counts apart and merge large ones.
    """
    if x is None:
        return 0
    if x < 0:
        return 1
    if x <= 2:
        return 2 + x
    return min(4 + int(math.log(x) ** 2), CRITEO_INT_BUCKETS - 1)


@dataclasses.dataclass(frozen=True)
class CriteoFile:
    """Result of :func:`read_criteo`.

    Attributes
    ----------
    data : TabularSplit
        ``cat`` int64 (N, 26) or (N, 39) with integer buckets, ``num`` float32 (N, 13),
        ``y`` int64 (N,) or None.
    n_skipped : int
        Bad lines skipped (``on_bad_line="skip"``).
    skipped_lines : tuple of int
        Line numbers of the first skipped lines (at most 20).
    encoder : CriteoEncoder
        The settings used, for :meth:`CriteoEncoder.state_dict`.
    """

    data: TabularSplit
    n_skipped: int
    skipped_lines: tuple
    encoder: "CriteoEncoder"


class CriteoEncoder:
    """Stateless Criteo-format encoder: the settings are the whole state.

    Parameters
    ----------
    hash_buckets : int
        Ids per categorical field, besides 0 (missing).
    hash_seed : int
        Seed (BLAKE2b key) of :func:`stable_hash`.
    int_buckets : bool
        Append the 13 integer-bucket fields (:func:`criteo_int_bucket`) to ``cat``.
    """

    def __init__(self, hash_buckets=1 << 20, hash_seed=0, int_buckets=True):
        self.hash_buckets = check_int("hash_buckets", hash_buckets, min_value=1)
        self.hash_seed = _check_seed(hash_seed)
        self.int_buckets = check_bool("int_buckets", int_buckets)

    @property
    def field_names(self):
        """Names of the ``cat`` columns: C1..C26, then I1_bucket..I13_bucket."""
        return list(CRITEO_CAT) + ([f"{n}_bucket" for n in CRITEO_INT] if self.int_buckets
                                   else [])

    @property
    def field_sizes(self):
        """Ids per ``cat`` column (id 0 included)."""
        return ([self.hash_buckets + 1] * len(CRITEO_CAT)
                + ([CRITEO_INT_BUCKETS] * len(CRITEO_INT) if self.int_buckets else []))

    @property
    def num_names(self):
        """Names of the ``num`` columns: I1..I13."""
        return list(CRITEO_INT)

    def state_dict(self):
        """The settings as a JSON-serialisable dict."""
        return {"format": _CRITEO_FORMAT, "version": _STATE_VERSION,
                "hash_buckets": self.hash_buckets, "hash_seed": self.hash_seed,
                "int_buckets": self.int_buckets, "int_bucket_size": CRITEO_INT_BUCKETS,
                "hash": "blake2b-64, key = seed (8 bytes LE), data = field + 0x1f + value"}

    @classmethod
    def from_state(cls, state):
        """Rebuild from :meth:`state_dict` output (CheckpointError if foreign or newer)."""
        if not isinstance(state, dict) or state.get("format") != _CRITEO_FORMAT:
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"argument 'state': expected a '{_CRITEO_FORMAT}' dict, "
                                  f"got {got!r}")
        if not isinstance(state.get("version"), int) or state["version"] > _STATE_VERSION:
            raise CheckpointError(f"argument 'state': expected version <= {_STATE_VERSION}, "
                                  f"got {state.get('version')!r}")
        try:
            return cls(state["hash_buckets"], state["hash_seed"], state["int_buckets"])
        except KeyError as e:
            raise CheckpointError(f"argument 'state': expected key {e}, which is missing") from None

    def read(self, path, *, has_label=True, on_bad_line="error", max_rows=None):
        """Read and encode a Criteo-format file; see :func:`read_criteo`."""
        path = _existing(path)
        check_bool("has_label", has_label)
        check_choice("on_bad_line", on_bad_line, ("error", "skip"))
        if max_rows is not None:
            max_rows = check_int("max_rows", max_rows, min_value=1)
        n_fields = len(CRITEO_INT) + len(CRITEO_CAT) + (1 if has_label else 0)
        first_int = 1 if has_label else 0
        first_cat = first_int + len(CRITEO_INT)
        seed, nb = self.hash_seed, self.hash_buckets
        key = seed.to_bytes(8, "little")
        fields = [f.encode("utf-8") + b"\x1f" for f in CRITEO_CAT]
        # Criteo values repeat a lot: remember each field's hashed values.
        memo = [dict() for _ in CRITEO_CAT]
        labels, ints, cats = [], [], []
        skipped, n_skipped = [], 0
        for lineno, raw in _open_text_lines(path):
            parts = raw.rstrip(b"\r\n").split(b"\t")
            problem = None
            if len(parts) != n_fields:
                problem = (f"expected {n_fields} tab-separated fields ("
                           f"{'label, ' if has_label else ''}13 integer, 26 categorical), "
                           f"got {len(parts)}")
            else:
                if has_label and parts[0] not in (b"0", b"1"):
                    problem = f"expected label 0 or 1, got {parts[0].decode(errors='replace')!r}"
                row_ints = []
                for k in range(len(CRITEO_INT)):
                    v = parts[first_int + k]
                    if problem is not None:
                        break
                    if v == b"":
                        row_ints.append(None)
                        continue
                    try:
                        row_ints.append(int(v))
                    except ValueError:
                        problem = (f"expected an integer or nothing in column {CRITEO_INT[k]}, "
                                   f"got {v.decode(errors='replace')!r}")
            if problem is not None:
                if on_bad_line == "error":
                    raise DataError(f"file '{path}', line {lineno}: {problem}")
                n_skipped += 1
                if len(skipped) < 20:
                    skipped.append(lineno)
                continue
            row_cat = []
            for k in range(len(CRITEO_CAT)):
                v = parts[first_cat + k]
                if v == b"":
                    row_cat.append(0)
                    continue
                h = memo[k].get(v)
                if h is None:
                    digest = hashlib.blake2b(fields[k] + v, digest_size=8, key=key).digest()
                    h = memo[k][v] = 1 + int.from_bytes(digest, "little") % nb
                row_cat.append(h)
            if has_label:
                labels.append(parts[0] == b"1")
            ints.append(row_ints)
            cats.append(row_cat)
            if max_rows is not None and len(cats) >= max_rows:
                break
        n = len(cats)
        cat = np.asarray(cats, dtype=np.int64).reshape(n, len(CRITEO_CAT))
        raw_ints = np.asarray([[np.nan if v is None else v for v in r] for r in ints],
                              dtype=np.float64).reshape(n, len(CRITEO_INT))
        missing = np.isnan(raw_ints)
        num = np.where(missing, 0.0, np.log1p(np.maximum(np.nan_to_num(raw_ints), 0.0)))
        if self.int_buckets:
            buckets = np.asarray([[criteo_int_bucket(v) for v in r] for r in ints],
                                 dtype=np.int64).reshape(n, len(CRITEO_INT))
            cat = np.concatenate([cat, buckets], axis=1)
        y = np.asarray(labels, dtype=np.int64) if has_label else None
        if n_skipped:
            warnings.warn(f"file '{path}': skipped {n_skipped} bad line(s) (first at line "
                          f"{skipped[0]})", RuntimeWarning, stacklevel=3)
        return CriteoFile(TabularSplit(cat, num.astype(np.float32), y), n_skipped,
                          tuple(skipped), self)


def read_criteo(path, *, hash_buckets=1 << 20, hash_seed=0, int_buckets=True, has_label=True,
                on_bad_line="error", max_rows=None):
    """Read a Criteo-format file (tab-separated label, I1..I13, C1..C26; empty = missing).

    Parameters
    ----------
    path : str or os.PathLike
        The file, gzipped or plain.
    hash_buckets : int
        Ids per categorical field besides 0 (missing); values are hashed with
        :func:`stable_hash` (seeded, process-independent) modulo ``hash_buckets``, plus 1.
    hash_seed : int
        Hash seed.
    int_buckets : bool
        Also encode each integer column as a bucket id (:func:`criteo_int_bucket`).
    has_label : bool
        False for files without the label column (39 fields).
    on_bad_line : {"error", "skip"}
        A line with the wrong number of fields, a label other than 0/1, or a non-integer
        in an integer column raises a :class:`DataError` naming the file and line, or is
        skipped and counted (a RuntimeWarning gives the count).
    max_rows : int, optional
        Stop after this many good rows.

    Returns
    -------
    CriteoFile
        ``data`` (:class:`TabularSplit`: cat int64 (N, 26 or 39), num float32 (N, 13) =
        ``log1p(max(x, 0))`` with missing -> 0, y int64 (N,)), ``n_skipped``,
        ``skipped_lines``, ``encoder``.
    """
    enc = CriteoEncoder(hash_buckets, hash_seed, int_buckets)
    return enc.read(path, has_label=has_label, on_bad_line=on_bad_line, max_rows=max_rows)
