"""A Criteo-format file: a bad line stops with file and line number, or is skipped and
counted, as the user chose; good files train the click pair."""
import numpy as np

from minirocket.cli import main


def _write(path, n=120, bad_at=None, seed=0):
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        y = int(rng.random() < 0.3)
        ints = [str(int(rng.integers(0, 50))) if rng.random() > 0.1 else "" for _ in range(13)]
        cats = [f"{rng.integers(0, 20):08x}" if rng.random() > 0.1 else "" for _ in range(26)]
        lines.append("\t".join([str(y)] + ints + cats))
    if bad_at is not None:
        lines[bad_at - 1] = "\t".join(lines[bad_at - 1].split("\t")[:30])
    path.write_text("\n".join(lines) + "\n")


ARGS = ["--quiet", "train", "--preset", "quick-adult", "--dataset", "criteo", "--hash-buckets",
        "64", "--batch-size", "32", "--epochs", "1", "--backend", "numpy"]


def test_bad_line_stops_with_file_and_line(tmp_path, capsys):
    f = tmp_path / "clicks.tsv"
    _write(f, bad_at=57)
    code = main(ARGS + ["--criteo-path", str(f), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (f"minirocket: error: file '{f}', line 57: expected 40 tab-separated fields "
                   f"(label, 13 integer, 26 categorical), got 30")


def test_bad_line_skipped_and_counted(tmp_path, capsys):
    f = tmp_path / "clicks.tsv"
    _write(f, bad_at=57)
    not_quiet = ARGS[1:]              # the data line is printed only without --quiet
    code = main(not_quiet + ["--criteo-path", str(f), "--on-bad-line", "skip", "--out",
                             str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 0
    assert "criteo: using" in out and "(119 rows, 1 bad line(s) skipped)" in out
    assert (tmp_path / "r" / "light" / "light.json").is_file()
