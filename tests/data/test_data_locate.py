"""Data-folder resolution: flag, environment, shared/datasets, embedded Adult."""
from pathlib import Path

import pytest

import minirocket
from minirocket.data import locate
from minirocket.data.locate import (DATA_DIR_ENV, SOURCE_EMBEDDED, SOURCE_ENV, SOURCE_FLAG,
                                    SOURCE_SHARED, candidate_dirs, locate_dataset,
                                    resolve_data_dir, shared_datasets_dir)
from minirocket.errors import DataError


def test_shared_datasets_dir_is_beside_the_checkout():
    checkout = Path(minirocket.__file__).resolve().parent.parent
    assert shared_datasets_dir() == checkout.parent / "shared" / "datasets"


def test_order_flag_then_env_then_shared(tmp_path, monkeypatch):
    flag, env = tmp_path / "flag", tmp_path / "env"
    flag.mkdir()
    env.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(env))
    assert resolve_data_dir(flag).path == flag
    assert resolve_data_dir(flag).source == SOURCE_FLAG
    got = resolve_data_dir(None)
    assert (got.path, got.source) == (env, SOURCE_ENV)
    monkeypatch.delenv(DATA_DIR_ENV)
    assert [c.source for c in candidate_dirs(None)] == [SOURCE_SHARED]


def test_missing_env_folder_falls_through_to_shared(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "absent"))
    monkeypatch.setattr(locate, "shared_datasets_dir", lambda: tmp_path)
    got = resolve_data_dir(None)
    assert (got.path, got.source) == (tmp_path, SOURCE_SHARED)


def test_no_folder_at_all_lists_each_candidate(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "e"))
    monkeypatch.setattr(locate, "shared_datasets_dir", lambda: tmp_path / "s")
    with pytest.raises(DataError) as e:
        resolve_data_dir(None)
    msg = str(e.value)
    assert str(tmp_path / "e") in msg and str(tmp_path / "s") in msg and "\n" not in msg


def test_flag_is_exclusive(tmp_path, monkeypatch):
    # The env folder holds the dataset, but an explicit flag never silently falls back.
    env = tmp_path / "env" / "toy"
    env.mkdir(parents=True)
    (env / "a.bin").write_bytes(b"1")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert locate_dataset("toy", [["a.bin"]]).source == SOURCE_ENV
    with pytest.raises(DataError) as e:
        locate_dataset("toy", [["a.bin"]], data_dir=tmp_path / "flag")
    assert str(tmp_path / "flag" / "toy") in str(e.value)
    assert str(tmp_path / "env") not in str(e.value)


def test_dataset_in_subfolder_or_directly_and_alternatives(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "b.txt").write_text("x")
    (tmp_path / "toy" / "c.txt").write_text("x")
    got = locate_dataset("toy", [["a.gz", "b.gz"], ["b.txt", "c.txt"]], data_dir=tmp_path)
    assert got.folder == tmp_path / "toy"
    assert got.files == (tmp_path / "toy" / "b.txt", tmp_path / "toy" / "c.txt")
    direct = locate_dataset("other", [["b.txt"]], data_dir=tmp_path / "toy")
    assert direct.folder == tmp_path / "toy" and direct.source == SOURCE_FLAG
    assert str(tmp_path / "toy") in direct.message


def test_missing_dataset_message_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(locate, "shared_datasets_dir", lambda: tmp_path / "shared")
    with pytest.raises(DataError) as e:
        locate_dataset("toy", [["a.gz"]])
    msg = str(e.value)
    for place in (tmp_path / "env" / "toy", tmp_path / "env", tmp_path / "shared" / "toy",
                  tmp_path / "shared"):
        assert str(place) in msg
    assert "a.gz" in msg and DATA_DIR_ENV in msg and "\n" not in msg


def test_embedded_fallback_only_without_flag(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(locate, "shared_datasets_dir", lambda: tmp_path / "none")
    got = locate_dataset("adult", [["adult.data.gz", "adult.test.gz"]], embedded=True)
    assert got.source == SOURCE_EMBEDDED and got.embedded
    assert got.folder == locate.EMBEDDED_DIR
    assert "embedded" in got.message and "\n" not in got.message
    with pytest.raises(DataError, match="adult"):
        locate_dataset("adult", [["adult.data.gz", "adult.test.gz"]], data_dir=tmp_path,
                       embedded=True)


def test_embedded_files_and_attribution_are_present():
    folder = locate.EMBEDDED_DIR
    assert (folder / "adult.data.gz").stat().st_size > 100_000
    assert (folder / "adult.test.gz").stat().st_size > 50_000
    text = (folder / "ATTRIBUTION.md").read_text()
    for needle in ("Becker", "Kohavi", "1996", "UCI Machine Learning Repository",
                   "10.24432/C5XW20", "CC BY 4.0"):
        assert needle in text


def test_bad_flag_type_names_the_argument():
    with pytest.raises(TypeError, match="data_dir"):
        candidate_dirs(42)
