"""The run folder: one per ``minirocket train``, everything written atomically.

Layout::

    RUN/
      config.json            effective configuration, with config_hash
      metrics.jsonl          one JSON line per epoch per net (light, booster)
      checkpoints/latest.npz the most recent training state (resume from here)
      checkpoints/best.npz   the state with the best light-net test metric
      light/light.npz        the exported light net (weights)
      light/light.json       its manifest (architecture, preprocessing, config, versions)
      curves_loss.png        learning curves: light vs booster, train vs test
      curves_<metric>.png
      summary.txt            a few human-readable lines
      summary.json           the same, for machines

Every file is replaced atomically (temporary file in the same folder, fsync, rename), so a
run killed at any moment leaves each file either in its previous or its new complete state.
``metrics.jsonl`` is rewritten from the history saved inside the checkpoint, so after a
resume it never holds lines from work that was lost.
"""
import json
import time
from pathlib import Path

from minirocket.data._atomic import atomic_write_json, atomic_write_text
from minirocket.errors import ArgumentError, ArgumentTypeError, arg_error
from minirocket.train.config import load_config_json


class RunDir:
    """Paths of one run folder.

    Parameters
    ----------
    path : str or os.PathLike
    """

    def __init__(self, path):
        self.path = Path(path)

    @property
    def config(self):
        return self.path / "config.json"

    @property
    def metrics(self):
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self):
        return self.path / "checkpoints"

    @property
    def latest(self):
        return self.checkpoints / "latest.npz"

    @property
    def best(self):
        return self.checkpoints / "best.npz"

    @property
    def light_dir(self):
        return self.path / "light"

    @property
    def artifact(self):
        return self.light_dir / "light.json"

    @property
    def summary_txt(self):
        return self.path / "summary.txt"

    @property
    def summary_json(self):
        return self.path / "summary.json"

    def is_run(self):
        """True if the folder holds a run (a ``config.json``)."""
        return self.config.is_file()

    # ------------------------------------------------------------------ writers
    def write_config(self, cfg):
        atomic_write_json(self.config, cfg)

    def read_config(self):
        return load_config_json(self.config)

    def write_metrics(self, history):
        """Rewrite ``metrics.jsonl`` from ``history`` (one dict per epoch per net)."""
        text = "".join(json.dumps(rec, sort_keys=True) + "\n" for rec in history)
        atomic_write_text(self.metrics, text)

    def write_summary(self, lines, data):
        atomic_write_text(self.summary_txt, "\n".join(lines) + "\n")
        atomic_write_json(self.summary_json, data)


def new_run_dir(out, preset):
    """Create (or accept an empty) run folder.

    Parameters
    ----------
    out : str or os.PathLike or None
        The requested folder; None makes ``runs/<preset>-<UTC time>`` in the current folder.
    preset : str

    Raises
    ------
    ArgumentError
        ``out`` already holds a run (resume it, or choose another folder) or is a file.
    """
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        base = Path("runs") / f"{preset}-{stamp}"
        path, i = base, 1
        while path.exists():
            i += 1
            path = Path(f"{base}-{i}")
    else:
        if not isinstance(out, (str, Path)) or str(out) == "":
            raise arg_error("--out", "a folder path", out, ArgumentTypeError)
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ArgumentError(f"argument '--out': expected a folder, got the file {path}")
        if RunDir(path).is_run():
            raise ArgumentError(f"argument '--out': {path} already holds a run; continue it with "
                                f"`minirocket train --resume {path}` or choose another folder")
    path.mkdir(parents=True, exist_ok=True)
    return RunDir(path)


def open_run_dir(path, flag="--resume"):
    """An existing run folder (for ``--resume``, ``eval``, ``export``).

    Raises
    ------
    ArgumentError
        The folder does not exist or holds no run.
    """
    p = Path(path)
    if not p.exists():
        raise ArgumentError(f"argument '{flag}': run folder {p} does not exist")
    if not p.is_dir() or not RunDir(p).is_run():
        raise ArgumentError(f"argument '{flag}': {p} is not a run folder (no config.json in it)")
    return RunDir(p)
