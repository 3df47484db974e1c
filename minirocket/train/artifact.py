"""The exported light net: ``light.npz`` (weights) + ``light.json`` (manifest).

Only the light net is served (the booster is the rocket's first stage, dropped after
training). The artifact holds nothing booster-specific: the shared layers' weights are
stored as the light net's own, under its own parameter names.

``light.npz``
    One array per parameter and BN running statistic of the light net, keyed by its dotted
    name (``group0.block0.conv0.W``). Readable with ``numpy.load`` alone.
``light.json``
    ``format``, ``format_version``, ``arch`` (the dict :func:`minirocket.models.build`
    takes), ``dtype``, ``output`` (softmax or sigmoid), ``preprocessing`` (image mean/std
    and classes, or the click data's fitted preprocessor state), the run's effective
    ``config`` and ``config_hash``, where it came from (run folder, checkpoint, epoch, step),
    ``weights`` (file name) and ``weights_sha256``, ``arch_fingerprint``, and the package
    ``versions`` it was written with.

:func:`load_artifact` verifies all of it and refuses a truncated, foreign or newer file.
"""
import hashlib
import io
import json
import platform
from pathlib import Path

import numpy as np

from minirocket.data._atomic import atomic_write_bytes, atomic_write_json
from minirocket.errors import ArgumentError, ArgumentTypeError, CheckpointError, arg_error
from minirocket.train import checkpoint as ckpt
from minirocket.validate import check_bool

FORMAT = "minirocket-light-artifact"
FORMAT_VERSION = 1


def _versions():
    from minirocket import __version__
    from minirocket.backend import _compat
    out = {"minirocket": __version__, "numpy": np.__version__,
           "python": platform.python_version()}
    if _compat.numba_available:
        out["numba"] = _compat.numba.__version__
    return out


def write_artifact(folder, light_net, *, preprocessing, cfg, source):
    """Write ``light.npz`` and ``light.json`` into ``folder`` atomically; return the json path.

    The npz is written first and the manifest (which holds the npz's sha256) last, so a
    crash in between leaves either the previous pair or a manifest-less npz, which
    :func:`load_artifact` never reads as valid.
    """
    folder = Path(folder)
    state = light_net.state_dict()
    buf = io.BytesIO()
    np.savez(buf, **state)
    blob = buf.getvalue()
    atomic_write_bytes(folder / "light.npz", blob)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "arch": light_net.arch, "dtype": str(light_net.dtype),
        "output": getattr(light_net, "output", "softmax"),
        "num_parameters": light_net.num_parameters(),
        "preprocessing": preprocessing,
        "config": cfg, "config_hash": cfg.get("config_hash"),
        "source": source,
        "weights": "light.npz", "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "arch_fingerprint": ckpt.arch_fingerprint(state),
        "versions": _versions(),
    }
    path = folder / "light.json"
    atomic_write_json(path, manifest)
    return path


def _pair_from_tree(cfg, tree):
    from minirocket.train.trainer import build_pair
    pre = tree["preprocessing"]
    cpu = dict(cfg, run=dict(cfg["run"], backend="numpy"))
    pair = build_pair(cpu, preprocessing=pre)
    pair.load_state_dict(tree["model"])
    return pair


def light_from_checkpoint(cfg, tree):
    """The served light net (a stand-alone module, NumPy backend) from a checkpoint tree."""
    from minirocket.models import build, build_light
    method = cfg["method"]["name"]
    dtype = np.dtype(cfg["run"]["dtype"])
    pair = _pair_from_tree(cfg, tree)
    if method == "two_stage":
        light = build_light(pair.arch, dtype=dtype)
        light.load_state_dict(tree["light_model"])
        return light
    if method == "booster_only":
        net = build(pair.arch["booster"], dtype=dtype)
        net.load_state_dict(pair.booster.state_dict())
        return net
    light = build_light(pair.arch, dtype=dtype)
    light.load_state_dict(pair.light.state_dict())
    return light


def export_checkpoint(run_dir, cfg, checkpoint_path, out=None, which="best"):
    """Export the light net of a checkpoint file; return the manifest path."""
    meta, tree = ckpt.read_file(checkpoint_path)
    if meta.get("config_hash") != cfg["config_hash"]:
        raise CheckpointError(f"checkpoint {checkpoint_path} belongs to another configuration "
                              f"than {Path(run_dir) / 'config.json'}")
    light = light_from_checkpoint(cfg, tree)
    best = tree.get("best") or {}
    source = {"run_dir": str(run_dir), "checkpoint": which, "step": tree["step"],
              "epoch": tree["epoch"], "phase": tree["phase"],
              "best_light_metric": best.get("value")}
    return write_artifact(Path(out) if out else Path(run_dir) / "light", light,
                          preprocessing=tree["preprocessing"], cfg=cfg, source=source)


def export_trainer(tr, which="best"):
    """Export from a finished trainer's run folder (best checkpoint, else latest)."""
    path = tr.rd.best if which == "best" and tr.rd.best.exists() else tr.rd.latest
    return export_checkpoint(tr.rd.path, tr.cfg, path, which=which if path == tr.rd.best
                             else "latest")


def export_run(run_dir, out=None, which="best"):
    """``minirocket export``: the light net of a run folder's best (or latest) checkpoint."""
    from minirocket.train.rundir import open_run_dir
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise ArgumentError(f"argument '--out': expected a folder for light.json and "
                            f"light.npz, got the file {out}")
    rd = open_run_dir(run_dir, flag="RUN_DIR")
    cfg = rd.read_config()
    path = rd.best if which == "best" else rd.latest
    if which == "best" and not path.exists():
        path = rd.latest
    if not path.exists():
        raise CheckpointError(f"run folder {rd.path} has no checkpoint yet ({path} is missing)")
    return export_checkpoint(rd.path, cfg, path, out=out, which=which)


# ---------------------------------------------------------------------------- loading
def _manifest_path(path):
    if not isinstance(path, (str, Path)):
        raise arg_error("path", "a path to light.json or its folder", path, ArgumentTypeError)
    p = Path(path)
    if p.is_dir():
        if (p / "light.json").is_file():
            return p / "light.json"
        if (p / "light" / "light.json").is_file():   # a run folder
            return p / "light" / "light.json"
        raise CheckpointError(f"no light.json in {p}: not an exported light net (export one "
                              f"with `minirocket export RUN_DIR`)")
    if p.suffix == ".npz" and p.with_suffix(".json").is_file():
        return p.with_suffix(".json")
    if not p.exists():
        raise CheckpointError(f"artifact {p} not found")
    if p.suffix == ".npz":
        # A weights file alone (a training checkpoint, say) carries no manifest: say so
        # rather than report it as a truncated JSON file.
        raise CheckpointError(f"{p} is an .npz without a manifest beside it (a training "
                              f"checkpoint?): pass the run folder, or an exported light.json")
    return p


def read_manifest(path):
    """Read and check an artifact manifest; return ``(manifest, weights path)``."""
    mpath = _manifest_path(path)
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"artifact manifest {mpath} is unreadable or truncated "
                              f"({exc})") from None
    ckpt.check_header(manifest, FORMAT, "light-net artifact", mpath, FORMAT_VERSION)
    for key in ("arch", "weights", "weights_sha256", "preprocessing", "dtype"):
        if key not in manifest:
            raise CheckpointError(f"artifact manifest {mpath} lacks '{key}'")
    wpath = mpath.parent / manifest["weights"]
    return manifest, wpath


def load_artifact(path, backend="numpy", fast=False):
    """Load an exported light net; return a :class:`LightPredictor`.

    Needs only minirocket and NumPy; builds the light net alone (nothing booster-specific is
    built or computed).

    Parameters
    ----------
    path : str or os.PathLike
        ``light.json``, ``light.npz`` beside it, their folder, or a run folder.
    backend : {"numpy", "numba", "cupy"}
    fast : bool
        Serve through :func:`minirocket.serve.compile_light` (batch norm folded where exact,
        no context kept, scratch reused). Its logits equal the plain net's within float
        rounding; False (default) runs the light net's own evaluation-mode forward.

    Raises
    ------
    CheckpointError
        Truncated or corrupt weights (sha256 mismatch), a foreign file, a newer format, or
        weights that do not fit the recorded architecture.
    """
    from minirocket.backend import get_backend
    from minirocket.models import build
    ops = get_backend(backend)
    manifest, wpath = read_manifest(path)
    try:
        blob = wpath.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"artifact weights {wpath} cannot be read ({exc})") from None
    if hashlib.sha256(blob).hexdigest() != manifest["weights_sha256"]:
        raise CheckpointError(f"artifact weights {wpath} are truncated or corrupt: sha256 does "
                              f"not match the manifest")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any decoding failure means a bad file
        raise CheckpointError(f"artifact weights {wpath} cannot be decoded ({exc})") from None
    if ckpt.arch_fingerprint(state) != manifest.get("arch_fingerprint"):
        raise CheckpointError(f"artifact weights {wpath} do not match the architecture in its "
                              f"manifest")
    try:
        net = build(manifest["arch"], dtype=np.dtype(manifest["dtype"]))
    except (ArgumentError, TypeError, KeyError) as exc:
        raise CheckpointError(f"artifact {wpath.parent}: cannot build its architecture "
                              f"({exc})") from None
    net.load_state_dict(state)
    net.to(ops)
    fast = check_bool("fast", fast)
    return LightPredictor(net, manifest, fast=fast)


class LightPredictor:
    """An exported light net plus the preprocessing that turns raw input into its input.

    Attributes
    ----------
    net : Module
        The light net (a WRN or an MLP), nothing else.
    manifest : dict
    """

    def __init__(self, net, manifest, fast=False):
        self.net = net
        self.manifest = manifest
        self.preprocessing = manifest["preprocessing"]
        self.dtype = np.dtype(manifest["dtype"])
        self._pre = None
        # The serving path is a weight snapshot built once; the net stays the reference.
        self._served = None
        if fast:
            from minirocket.serve import compile_light
            self._served = compile_light(net)

    @property
    def ops(self):
        return self.net.ops

    def __repr__(self):
        return (f"LightPredictor({self.net.extra_repr()}, {self.net.num_parameters():,} "
                f"parameters, backend {self.ops.name})")

    # ------------------------------------------------------------------ preprocessing
    def prepare(self, x):
        """Raw input -> the net's input (on the net's backend).

        Images: an array (N, H, W) or (N, H, W, C) of pixels on the 0-255 scale (uint8 or
        float), normalised with the training mean/std. Click data: a ``(cat, num)`` pair as
        encoded at training time, or a list of raw rows (lists of strings, Adult columns)
        encoded with the saved preprocessor.
        """
        pre = self.preprocessing
        if pre["kind"] == "image":
            from minirocket.data import normalize
            from minirocket.validate import check_array
            check_array("x", x, ndim=(3, 4), dtype_kind="uif", finite=True)
            x = np.asarray(x)
            if x.ndim == 3:
                x = x[..., None]
            want = (pre["height"], pre["width"], pre["channels"])
            if tuple(x.shape[1:]) != want:
                raise ArgumentError(f"argument 'x': expected images of shape (N, {want[0]}, "
                                    f"{want[1]}, {want[2]}) on the 0-255 scale, got shape "
                                    f"{tuple(x.shape)}")
            if x.dtype.kind == "f" and x.size and float(x.min()) >= 0.0 and float(x.max()) <= 1.0:
                # The common slip: images scaled to [0, 1]. On the 0-255 scale they would all
                # be near-black and the net would answer confidently and wrongly.
                raise ArgumentError("argument 'x': expected pixels on the 0-255 scale (uint8, "
                                    "or floats up to 255), got floats all within [0, 1]; "
                                    "multiply them by 255")
            return self.ops.asarray(normalize(x, pre["mean"], pre["std"]).astype(self.dtype))
        if isinstance(x, tuple) and len(x) == 2:
            cat, num = x
            return (self.ops.asarray(np.asarray(cat)),
                    self.ops.asarray(np.asarray(num).astype(self.dtype)))
        if isinstance(x, list):
            if pre.get("reader") != "adult":
                raise ArgumentError("argument 'x': raw rows are accepted for Adult-style data "
                                    "only; pass the encoded (cat, num) pair")
            if self._pre is None:
                from minirocket.data import TabularPreprocessor
                self._pre = TabularPreprocessor.from_state(pre["preprocessor"])
            split = self._pre.transform(x)
            return (self.ops.asarray(split.cat), self.ops.asarray(split.num.astype(self.dtype)))
        raise ArgumentTypeError(f"argument 'x': expected a (cat, num) pair or a list of raw "
                                f"rows, got {type(x).__name__}")

    # ------------------------------------------------------------------ inference
    def logits_prepared(self, x):
        """Logits of input already in the net's format (host NumPy array)."""
        model = self.net if self._served is None else self._served
        return self.ops.to_numpy(model.predict(x))

    def logits(self, x, batch_size=1000):
        """Logits of raw input: (N, C) for classes, (N,) for click data (host NumPy)."""
        n = len(x[0]) if isinstance(x, tuple) else len(x)
        out = []
        for s in range(0, max(n, 1), batch_size):
            part = tuple(a[s:s + batch_size] for a in x) if isinstance(x, tuple) \
                else x[s:s + batch_size]
            out.append(self.logits_prepared(self.prepare(part)))
        z = np.concatenate(out, axis=0) if out else np.zeros((0,))
        return z[:, 0] if z.ndim == 2 and z.shape[1] == 1 else z

    def predict_proba(self, x):
        """Class probabilities (N, C), or the click probability (N,)."""
        z = self.logits(x).astype(np.float64)
        if z.ndim == 1:
            return 1.0 / (1.0 + np.exp(-z))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x):
        """Predicted classes (N,) int64 (click data: 1 when the probability is above 0.5)."""
        z = self.logits(x)
        if z.ndim == 1:
            return (z > 0).astype(np.int64)
        return z.argmax(axis=1).astype(np.int64)
