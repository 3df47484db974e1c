"""Adult as click-style data, and the fitted preprocessor's state."""
import gzip
import json

import numpy as np
import pytest

from minirocket.data import locate
from minirocket.data.locate import DATA_DIR_ENV, SOURCE_EMBEDDED, shared_datasets_dir
from minirocket.data.tabular import (ADULT_CATEGORICAL, ADULT_COLUMNS, ADULT_NUMERIC,
                                     TabularPreprocessor, TabularSplit, adult_preprocessor,
                                     field_offsets, load_adult, read_adult)
from minirocket.errors import ArgumentError, CheckpointError, DataError

SHARED = shared_datasets_dir()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"the shared datasets folder {SHARED} is absent")

ROW = ("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, "
       "White, Male, 2174, 0, 40, United-States, <=50K")


@pytest.fixture(scope="module")
def adult():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DATA_DIR_ENV, raising=False)
        return load_adult()


@needs_shared
def test_adult_counts_positive_rate_and_shapes(adult):
    assert adult.source.folder == SHARED / "adult" and not adult.source.embedded
    assert len(adult.train) == 32561 and len(adult.test) == 16281
    assert 0.235 < adult.train.y.mean() < 0.245
    assert 0.23 < adult.test.y.mean() < 0.245
    for split in (adult.train, adult.test):
        assert split.cat.dtype == np.int64 and split.cat.shape[1] == 14
        assert split.num.dtype == np.float32 and split.num.shape[1] == 6
        assert split.y.dtype == np.int64
        assert (split.cat >= 0).all() and (split.cat < np.array(adult.field_sizes)).all()
    assert adult.field_names[:8] == list(ADULT_CATEGORICAL)
    assert adult.field_names[8:] == [f"{n}_bucket" for n in ADULT_NUMERIC]
    # Train statistics define the standardisation.
    np.testing.assert_allclose(adult.train.num.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(adult.train.num.std(axis=0), 1.0, atol=1e-4)


@needs_shared
def test_adult_vocabulary_comes_from_train_only(adult):
    pre = adult.preprocessor
    sex = pre.vocabularies["sex"]
    assert sorted(sex) == ["Female", "Male"] and sex[0] == "Male"  # most frequent first
    assert "?" not in pre.vocabularies["workclass"]
    # 'Holand-Netherlands' occurs once in train and never in test: id exists but is rare.
    assert "Holand-Netherlands" in pre.vocabularies["native-country"]
    assert adult.field_sizes[:8] == [len(pre.vocabularies[n]) + 1 for n in ADULT_CATEGORICAL]


@needs_shared
def test_adult_missing_values_get_id_zero(adult):
    rows, _ = read_adult(SHARED / "adult" / "adult.data.gz")
    j = ADULT_COLUMNS.index("workclass")
    missing = np.array([r[j] == "?" for r in rows])
    assert 1000 < missing.sum() < 2500
    col = adult.field_names.index("workclass")
    np.testing.assert_array_equal(adult.train.cat[:, col] == 0, missing)


@needs_shared
def test_state_roundtrip_gives_identical_arrays(adult):
    state = json.loads(json.dumps(adult.preprocessor.state_dict()))
    assert state["version"] == 1 and "vocabularies" in state and "bucket_edges" in state
    assert "hash_seed" in state and "means" in state and "stds" in state
    again = TabularPreprocessor.from_state(state)
    rows, y = read_adult(SHARED / "adult" / "adult.test.gz")
    out = again.transform(rows, y)
    assert np.array_equal(out.cat, adult.test.cat)
    assert np.array_equal(out.num, adult.test.num)
    assert np.array_equal(out.y, adult.test.y)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DATA_DIR_ENV, raising=False)
        reloaded = load_adult(state=state)
    assert np.array_equal(reloaded.train.cat, adult.train.cat)


def test_embedded_copy_is_used_and_reported_when_no_folder_has_adult(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(locate, "shared_datasets_dir", lambda: tmp_path / "nothing")
    data = load_adult()
    assert data.source.source == SOURCE_EMBEDDED
    assert "embedded" in data.message
    assert len(data.train) == 32561 and len(data.test) == 16281


def test_read_adult_parses_comments_periods_blanks_and_missing(tmp_path):
    text = ("|1x3 Cross validator\n"
            + ROW + "\n\n"
            + ROW.replace("State-gov", "?").replace("<=50K", ">50K.") + "\n   \n")
    p = tmp_path / "a.test.gz"
    p.write_bytes(gzip.compress(text.encode()))
    rows, y = read_adult(p)
    assert len(rows) == 2 and rows[1][1] == "?" and rows[0][0] == "39"
    np.testing.assert_array_equal(y, [0, 1])
    assert y.dtype == np.int64


def test_read_adult_bad_lines_name_file_and_line(tmp_path):
    p = tmp_path / "bad.data"
    p.write_text(ROW + "\n" + "1, 2, 3\n")
    with pytest.raises(DataError, match=r"bad.data', line 2: expected 15 .* got 3"):
        read_adult(p)
    p.write_text(ROW.replace("<=50K", "maybe") + "\n")
    with pytest.raises(DataError, match=r"line 1: expected label"):
        read_adult(p)


def _toy_rows():
    return [["a", "1", "x"], ["b", "2", "x"], ["a", "3", "?"], ["c", "100", "y"],
            ["a", "?", "x"], ["b", "5", "y"]]


def test_preprocessor_on_toy_rows():
    pre = TabularPreprocessor(["c1", "n1", "c2"], ["c1", "c2"], ["n1"], n_buckets=2)
    out = pre.fit_transform(_toy_rows(), [0, 1, 0, 1, 0, 1])
    assert pre.vocabularies == {"c1": ["a", "b", "c"], "c2": ["x", "y"]}
    np.testing.assert_array_equal(out.cat[:, 0], [1, 2, 1, 3, 1, 2])
    np.testing.assert_array_equal(out.cat[:, 1], [1, 1, 0, 2, 1, 2])
    # Median of 1, 2, 3, 5, 100 is 3: buckets 1 (< 3), 2 (>= 3), 0 for missing.
    assert pre.bucket_edges["n1"] == [3.0]
    np.testing.assert_array_equal(out.cat[:, 2], [1, 1, 2, 2, 0, 2])
    assert pre.field_sizes == [4, 3, 3]
    t = np.log1p(np.array([1, 2, 3, 100, 5.0]))
    expect = (np.log1p(np.array([1, 2, 3, 100, 0, 5.0])) - t.mean()) / t.std()
    expect[4] = 0.0
    np.testing.assert_allclose(out.num[:, 0], expect, rtol=1e-6)
    unseen = pre.transform([["zzz", "4", "new"]])
    np.testing.assert_array_equal(unseen.cat, [[0, 0, 2]])
    assert unseen.y is None


def test_min_count_and_hashing_modes():
    pre = TabularPreprocessor(["c1", "n1", "c2"], ["c1", "c2"], ["n1"], min_count=2)
    pre.fit(_toy_rows())
    assert pre.vocabularies["c1"] == ["a", "b"]  # 'c' seen once
    hashed = TabularPreprocessor(["c1", "n1", "c2"], ["c1", "c2"], ["n1"], hash_buckets=7,
                                 hash_seed=3, bucketize=False).fit(_toy_rows())
    out = hashed.transform(_toy_rows())
    assert out.cat.shape == (6, 2) and hashed.field_sizes == [8, 8]
    assert out.cat[2, 1] == 0 and (out.cat[[0, 1, 3], 1] >= 1).all()
    assert out.cat[0, 0] == out.cat[2, 0]  # same value, same id
    again = TabularPreprocessor.from_state(json.loads(json.dumps(hashed.state_dict())))
    assert np.array_equal(again.transform(_toy_rows()).cat, out.cat)


def test_field_offsets_give_a_shared_id_space():
    np.testing.assert_array_equal(field_offsets([4, 3, 3]), [0, 4, 7])
    assert field_offsets([4, 3, 3]).dtype == np.int64


def test_bad_state_and_unfitted_use():
    pre = adult_preprocessor()
    with pytest.raises(ArgumentError, match="unfitted"):
        pre.transform([])
    with pytest.raises(CheckpointError, match="format|expected a"):
        TabularPreprocessor.from_state({"format": "something-else"})
    fitted = TabularPreprocessor(["c1", "n1", "c2"], ["c1", "c2"], ["n1"]).fit(_toy_rows())
    state = fitted.state_dict()
    state["version"] = 99
    with pytest.raises(CheckpointError, match="version"):
        TabularPreprocessor.from_state(state)
    state = fitted.state_dict()
    del state["means"]
    with pytest.raises(CheckpointError, match="means"):
        TabularPreprocessor.from_state(state)


def test_bad_rows_and_labels():
    pre = TabularPreprocessor(["c1", "n1", "c2"], ["c1", "c2"], ["n1"]).fit(_toy_rows())
    with pytest.raises(ArgumentError, match="expected 3 fields per row, got 2 in row 1"):
        pre.transform([["a", "1", "x"], ["a", "1"]])
    with pytest.raises(DataError, match="column 'n1', row 0"):
        pre.transform([["a", "one", "x"]])
    with pytest.raises(ArgumentError, match="labels in"):
        pre.transform([["a", "1", "x"]], [2])
    with pytest.raises(ArgumentError, match="numeric"):
        TabularPreprocessor(["a", "b"], ["a"], ["zz"])


def test_tabular_split_checks_and_take():
    s = TabularSplit(np.zeros((3, 2), np.int64), np.zeros((3, 1), np.float32),
                     np.array([0, 1, 0]))
    sub = s.take(np.array([2, 0]))
    assert len(sub) == 2 and sub.y.tolist() == [0, 0]
    with pytest.raises(ArgumentError, match="argument 'num'"):
        TabularSplit(np.zeros((3, 2), np.int64), np.zeros((3, 1), np.float64))
    with pytest.raises(ArgumentError, match="argument 'cat'"):
        TabularSplit(np.zeros((3, 2), np.int32), np.zeros((3, 1), np.float32))
