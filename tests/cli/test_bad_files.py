"""Corrupt and foreign files reach the user as one line and exit status 2."""
import shutil

import pytest

from minirocket.cli import main
from minirocket.data.locate import shared_datasets_dir
from tests.train._tiny import adult_cfg


def _one_line(capsys):
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("\r")]
    assert len(lines) == 1 and lines[0].startswith("minirocket: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_idx_file_with_the_wrong_magic_number(tmp_path, capsys):
    d = tmp_path / "fashion-mnist"
    d.mkdir()
    # A label file's header (magic 2049) where the images (2051) are expected.
    (d / "train-images-idx3-ubyte").write_bytes((2049).to_bytes(4, "big") +
                                                (3).to_bytes(4, "big") + b"\x00\x01\x02")
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (d / name).write_bytes(b"")
    code = main(["--quiet", "train", "--preset", "quick-fashion-mnist", "--data-dir",
                 str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 2
    line = _one_line(capsys)
    assert f"file '{d / 'train-images-idx3-ubyte'}': expected IDX magic number 2051, got " \
           f"2049" in line


@pytest.mark.skipif(not (shared_datasets_dir() / "cifar10").is_dir(),
                    reason="CIFAR-10 not found: no shared/datasets folder")
def test_truncated_cifar_archive(tmp_path, capsys):
    d = tmp_path / "data" / "cifar10"
    d.mkdir(parents=True)
    src = shared_datasets_dir() / "cifar10" / "cifar10_jpg_q75.tar.xz"
    with open(src, "rb") as f:
        (d / src.name).write_bytes(f.read(200_000))
    code = main(["--quiet", "train", "--preset", "quick-cifar10", "--data-dir",
                 str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"), "--out",
                 str(tmp_path / "r")])
    assert code == 2
    line = _one_line(capsys)
    assert str(d / src.name) in line


def test_checkpoint_swapped_in_from_another_run(tmp_path, capsys):
    from minirocket.train import trainer
    a, b = tmp_path / "a", tmp_path / "b"
    trainer.train(adult_cfg(optim={"epochs": 1}), out=a, quiet=True, stop_after_steps=3)
    trainer.train(adult_cfg(optim={"epochs": 1}, model={"light_hidden": [5]}), out=b,
                  quiet=True)
    shutil.copy(b / "checkpoints" / "latest.npz", a / "checkpoints" / "latest.npz")
    assert main(["--quiet", "train", "--resume", str(a)]) == 2
    assert "belongs to another configuration" in _one_line(capsys)
    # A truncated checkpoint is named as such.
    blob = (b / "checkpoints" / "latest.npz").read_bytes()
    (a / "checkpoints" / "latest.npz").write_bytes(blob[: len(blob) // 3])
    assert main(["--quiet", "train", "--resume", str(a)]) == 2
    assert "is truncated or corrupt" in _one_line(capsys)
    assert main(["--quiet", "eval", str(a), "--checkpoint", "latest"]) == 2
    assert "is truncated or corrupt" in _one_line(capsys)
