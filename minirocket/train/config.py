"""Training configuration: a typed, range-checked schema, TOML files, presets and flags.

A configuration is a nested dict with five sections::

    data    what to train on (dataset, subset sizes, augmentation, data folder)
    model   the booster/light pair (WRN depths and widths, sharing layout, MLP shapes)
    method  the objective (rocket, kd, ...; lambda, gradient block, hint loss)
    optim   optimiser and schedule (lr, momentum, weight decay, milestones, batch, epochs)
    run     seed, backend, dtype, checkpoint cadence, what to do on a non-finite loss

Values are resolved in this order, later winning: the schema defaults, a preset, a TOML
file, command-line flags. Every value is type- and range-checked wherever it came from, and
an error names where the bad value came from (``--lr``, ``optim.lr in my.toml``).

The *effective* configuration (everything filled in, ``backend = "auto"`` resolved) is
saved in each run folder with ``config_hash``, the sha256 of its canonical JSON (sorted
keys, no spaces). Paths that only say where files live (``data.data_dir``,
``data.cache_dir``) are left out of the hash: moving the data does not change the run.
"""
import copy
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

from minirocket.errors import ArgumentError, ArgumentTypeError, DataError, arg_error
from minirocket.validate import check_bool, check_choice, check_float, check_int

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Objectives known to the trainer (the rocket package implements them).
METHODS = ("rocket", "light_only", "booster_only", "kd", "rocket_kd", "two_stage", "at")
#: Datasets the trainer can load.
DATASETS = ("cifar10", "fashion-mnist", "adult", "criteo")
IMAGE_DATASETS = ("cifar10", "fashion-mnist")
CTR_DATASETS = ("adult", "criteo")

#: Keys excluded from the hash: they say where files are, not what is computed.
UNHASHED = (("data", "data_dir"), ("data", "cache_dir"))


@dataclasses.dataclass(frozen=True)
class Field:
    """One configuration key.

    Attributes
    ----------
    kind : str
        ``int``, ``float``, ``bool``, ``str``, ``choice``, ``int_list``, ``opt_int``,
        ``opt_str``.
    default : object
    help : str
    lo, hi : float or None
        Bounds (inclusive unless the matching ``*_excl`` is True).
    choices : tuple
        For ``choice``.
    """
    kind: str
    default: object
    help: str
    lo: float = None
    hi: float = None
    lo_excl: bool = False
    hi_excl: bool = False
    choices: tuple = ()


F = Field
SCHEMA = {
    "data": {
        "dataset": F("choice", "fashion-mnist", "dataset to train on", choices=DATASETS),
        "limit_train": F("opt_int", None, "use a fixed random sample of N training examples", lo=2),
        "limit_test": F("opt_int", None, "use a fixed random sample of N test examples", lo=2),
        "augment": F("bool", False, "random flip + pad-4 crop on images (CIFAR-10 recipe)"),
        "data_dir": F("opt_str", None, "data folder (else $MINIROCKET_DATA_DIR, else shared/datasets)"),
        "cache_dir": F("opt_str", None, "where decoded datasets are cached"),
        "criteo_path": F("opt_str", None, "Criteo-format file (label, 13 ints, 26 hashed cats)"),
        "hash_buckets": F("int", 1 << 16, "ids per hashed Criteo field (besides 0 = missing)",
                          lo=1),
        "on_bad_line": F("choice", "stop", "Criteo line with the wrong column count",
                         choices=("stop", "skip")),
        "group_field": F("opt_str", None, "field whose values group rows for GAUC (click data)"),
    },
    "model": {
        "arch": F("choice", "wrn", "network family", choices=("wrn", "mlp")),
        "booster_depth": F("int", 16, "booster WRN depth (6n+4)", lo=10),
        "booster_width": F("int", 1, "booster WRN width multiplier", lo=1),
        "light_depth": F("int", 10, "light WRN depth (6n+4)", lo=10),
        "light_width": F("int", 1, "light WRN width multiplier", lo=1),
        "share": F("choice", "interval", "what the light net shares with the booster",
                   choices=("interval", "bottom", "none")),
        "bn_gamma_init": F("choice", "uniform", "BN gamma init (the authors: U[0,1))",
                           choices=("uniform", "ones")),
        "embed_dim": F("int", 8, "embedding size per categorical field (MLP pair)", lo=1),
        "booster_hidden": F("int_list", [720, 360, 240, 180, 90], "booster MLP hidden widths"),
        "light_hidden": F("int_list", [200, 80], "light MLP hidden widths"),
    },
    "method": {
        "name": F("choice", "rocket", "training objective", choices=METHODS),
        "lam": F("float", 0.03, "hint weight lambda (per-example sum of squares)", lo=0.0),
        "grad_block": F("bool", True, "stop the hint gradient at the booster logits"),
        "hint": F("choice", "logits_mse", "hint loss: L_mimic (logits_mse, the paper's), "
                  "L_MSE on softmax (probs_mse) or L_KD (kd)",
                  choices=("logits_mse", "probs_mse", "kd")),
        "nominal_batch": F("opt_int", None, "divide the hint by this fixed batch size (the "
                           "authors: 128) instead of the actual one", lo=1),
        "temperature": F("float", 4.0, "KD temperature T", lo=0.0, lo_excl=True),
        "alpha": F("float", 0.9, "KD weight alpha", lo=0.0, hi=1.0),
        "beta": F("float", 1000.0, "attention-transfer weight beta", lo=0.0),
        "teacher_epochs": F("int", 1, "epochs of teacher pre-training (kd, rocket_kd, two_stage, at)",
                            lo=0),
    },
    "optim": {
        "optimizer": F("choice", "sgd", "optimiser", choices=("sgd", "adam")),
        "lr": F("float", 0.1, "learning rate", lo=0.0, lo_excl=True),
        "momentum": F("float", 0.9, "SGD momentum", lo=0.0, hi=1.0, hi_excl=True),
        "nesterov": F("bool", False, "Nesterov momentum"),
        "weight_decay": F("float", 5e-4, "L2 weight decay on every parameter", lo=0.0),
        "milestones": F("int_list", [60, 120, 160], "epochs at which lr is multiplied by lr_decay"),
        "lr_decay": F("float", 0.2, "lr multiplier at each milestone", lo=0.0, hi=1.0,
                      lo_excl=True),
        "reset_momentum": F("bool", True, "clear momentum buffers at each milestone (the "
                                          "authors re-create the optimiser)"),
        "batch_size": F("int", 128, "mini-batch size", lo=2),
        "epochs": F("int", 200, "training epochs", lo=1),
    },
    "run": {
        "seed": F("int", 0, "seed of every random stream", lo=0, hi=2**63 - 1),
        "backend": F("choice", "auto", "compute backend (auto: numba if importable, else numpy)",
                     choices=("auto", "numpy", "numba", "cupy")),
        "dtype": F("choice", "float32", "parameter and activation dtype",
                   choices=("float32", "float64")),
        "checkpoint_every": F("int", 0, "also checkpoint every N steps (0: once per epoch)",
                              lo=0),
        "on_nonfinite": F("choice", "stop", "a NaN/Inf loss or gradient: stop, or skip the step",
                          choices=("stop", "skip")),
        "eval_batch_size": F("int", 500, "batch size of evaluation passes", lo=1),
        "blas_threads": F("opt_int", None, "OpenBLAS threads for the GEMMs (0: OpenBLAS's "
                          "choice; unset: 1 for WRN pairs, whose convolutions bring their own "
                          "worker threads, OpenBLAS's choice for MLP pairs)", lo=0),
    },
}
del F


def default_config():
    """A fresh nested dict holding every schema default."""
    return {sec: {k: copy.deepcopy(f.default) for k, f in keys.items()}
            for sec, keys in SCHEMA.items()}


def valid_keys():
    """``["data.dataset", ...]``: every dotted key, in schema order."""
    return [f"{sec}.{k}" for sec, keys in SCHEMA.items() for k in keys]


def check_value(name, field, value):
    """Type- and range-check ``value`` for ``field``; return it normalised.

    Parameters
    ----------
    name : str
        How the user wrote it (``--lr`` or ``optim.lr in run.toml``); used in the error.
    field : Field
    value : object

    Raises
    ------
    ArgumentError, ArgumentTypeError
    """
    kind = field.kind
    if kind == "bool":
        return check_bool(name, value)
    if kind in ("opt_int", "opt_str") and value is None:
        return None
    if kind in ("int", "opt_int"):
        return check_int(name, value, min_value=field.lo, max_value=field.hi)
    if kind == "float":
        return check_float(name, value, min_value=field.lo, max_value=field.hi,
                           min_exclusive=field.lo_excl, max_exclusive=field.hi_excl)
    if kind == "choice":
        if not isinstance(value, str):
            raise arg_error(name, "a string", value, ArgumentTypeError)
        return check_choice(name, value, field.choices)
    if kind in ("str", "opt_str"):
        if not isinstance(value, str) or not value:
            raise arg_error(name, "a non-empty string", value, ArgumentTypeError)
        return value
    if kind == "int_list":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise arg_error(name, "a list of integers", value, ArgumentTypeError)
        return [check_int(f"{name}[{i}]", v, min_value=0) for i, v in enumerate(value)]
    raise AssertionError(f"unknown field kind {kind}")  # a schema bug, not a user error


def merge(base, overrides, source):
    """Return ``base`` updated with ``overrides`` (a nested dict), checking every value.

    Parameters
    ----------
    base : dict
        A complete configuration (not modified).
    overrides : dict
        ``{section: {key: value}}``; may be partial.
    source : str
        Where ``overrides`` came from, for messages (``"run.toml"``, ``"preset 'x'"``).

    Raises
    ------
    ArgumentError
        An unknown section or key (the message lists the valid ones) or a bad value.
    """
    out = copy.deepcopy(base)
    if not isinstance(overrides, dict):
        raise arg_error(source, "a table of sections", overrides, ArgumentTypeError)
    for sec, keys in overrides.items():
        if sec not in SCHEMA:
            raise ArgumentError(
                f"unknown config section '{sec}' in {source}; valid sections: "
                f"{', '.join(SCHEMA)}")
        if not isinstance(keys, dict):
            raise arg_error(f"{sec} in {source}", "a table of keys", keys, ArgumentTypeError)
        for key, value in keys.items():
            if key not in SCHEMA[sec]:
                raise ArgumentError(
                    f"unknown config key '{sec}.{key}' in {source}; valid keys in [{sec}]: "
                    f"{', '.join(SCHEMA[sec])}")
            out[sec][key] = check_value(f"{sec}.{key} in {source}", SCHEMA[sec][key], value)
    return out


def load_toml(path):
    """Read a TOML configuration file into a nested dict (not yet merged or checked).

    A top-level ``preset = "name"`` key is returned under the pseudo-section ``"preset"``.

    Raises
    ------
    DataError
        The file is missing or is not valid TOML (the message has the parser's line).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise DataError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"config file {path} is a folder, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"config file {path} is not UTF-8 text: {exc}") from None
    return data


def check_cross(cfg, name_of=None):
    """Checks that involve several keys; raise on the first violation.

    Parameters
    ----------
    cfg : dict
        A merged configuration.
    name_of : callable, optional
        ``name_of("optim.lr") -> "--lr"``: how to name a key in messages.
    """
    name_of = name_of or (lambda k: k)
    m, d, me = cfg["model"], cfg["data"], cfg["method"]
    for which in ("booster", "light"):
        depth = m[f"{which}_depth"]
        if (depth - 4) % 6 != 0:
            raise arg_error(name_of(f"model.{which}_depth"),
                            "a WRN depth of the form 6n+4 (10, 16, 22, 28, 34, 40, ...)", depth)
    if m["arch"] == "wrn" and m["share"] != "none":
        if m["light_depth"] > m["booster_depth"]:
            raise ArgumentError(
                f"argument '{name_of('model.light_depth')}': expected a light net no deeper "
                f"than the booster when layers are shared (share = '{m['share']}'), got "
                f"light depth {m['light_depth']} > booster depth {m['booster_depth']}")
        if m["light_width"] != m["booster_width"]:
            raise ArgumentError(
                f"argument '{name_of('model.light_width')}': expected the booster's width "
                f"{m['booster_width']} when layers are shared (share = '{m['share']}'), got "
                f"{m['light_width']}")
    if me["name"] == "rocket_kd" and not me["grad_block"]:
        # Checked here, before any teacher is trained: rocket + KD always blocks the hint
        # (the authors force it on in that mode), and a flag that is silently ignored is
        # exactly the bug of their release (paper notes A6).
        raise ArgumentError(f"argument '{name_of('method.grad_block')}': expected on with "
                            f"method 'rocket_kd' (rocket + KD always blocks the hint), got off")
    if d["dataset"] == "criteo" and not d["criteo_path"]:
        raise ArgumentError(f"argument '{name_of('data.criteo_path')}': expected the path of a "
                            f"Criteo-format file for dataset 'criteo', got None")
    if d["dataset"] in IMAGE_DATASETS and m["arch"] != "wrn":
        raise ArgumentError(f"argument '{name_of('model.arch')}': expected 'wrn' for the image "
                            f"dataset '{d['dataset']}', got '{m['arch']}' (start from an image preset such "
                            f"as quick-{d['dataset']})")
    if d["dataset"] in CTR_DATASETS and m["arch"] != "mlp":
        raise ArgumentError(f"argument '{name_of('model.arch')}': expected 'mlp' for the click "
                            f"dataset '{d['dataset']}', got '{m['arch']}' (start from a click "
                            f"preset such as quick-adult or paper-ctr-table5)")
    if m["arch"] == "mlp":
        for which in ("booster_hidden", "light_hidden"):
            if not m[which] or min(m[which]) < 1:
                raise arg_error(name_of(f"model.{which}"), "a non-empty list of widths >= 1",
                                m[which])
    ms = cfg["optim"]["milestones"]
    if list(ms) != sorted(set(ms)):
        raise arg_error(name_of("optim.milestones"), "strictly increasing epochs", ms)
    if me["name"] == "at" and m["arch"] != "wrn":
        raise ArgumentError(f"argument '{name_of('method.name')}': expected a WRN pair for "
                            f"attention transfer (it matches group outputs), got arch "
                            f"'{m['arch']}'")


def resolve_backend(name):
    """Resolve ``"auto"`` to the fastest CPU backend that imports; check the others.

    Returns
    -------
    (str, str or None)
        The backend name and, when ``auto`` fell back to numpy, a one-line note saying why.
    """
    from minirocket.backend import available_backends, backend_unavailable_reason, get_backend
    if name == "auto":
        if "numba" in available_backends():
            return "numba", None
        return "numpy", ("backend: numba is not available "
                         f"({backend_unavailable_reason('numba')}); using numpy")
    get_backend(name)  # raises BackendUnavailableError with the reason
    return name, None


def canonical_json(obj):
    """The canonical JSON text of ``obj`` (sorted keys, no spaces) that hashes are taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(cfg):
    """sha256 (hex) of the canonical JSON of ``cfg`` without the location-only keys."""
    c = copy.deepcopy(cfg)
    c.pop("config_hash", None)
    for sec, key in UNHASHED:
        c.get(sec, {}).pop(key, None)
    return hashlib.sha256(canonical_json(c).encode("ascii")).hexdigest()


def build_config(preset=None, file=None, overrides=None, flag_names=None):
    """Resolve defaults <- preset <- TOML file <- overrides, and check it all.

    Parameters
    ----------
    preset : str, optional
        A preset name (:func:`minirocket.train.presets.preset_names`). When None, the file's
        top-level ``preset`` key is used, else the default preset.
    file : str or os.PathLike, optional
        A TOML file.
    overrides : dict, optional
        ``{section: {key: value}}`` from flags; wins over everything else.
    flag_names : dict, optional
        ``{"optim.lr": "--lr"}`` so that errors name the flag the user typed.

    Returns
    -------
    dict
        The merged, checked configuration (``run.backend`` may still be ``"auto"``), with
        ``preset`` set to the preset's name.
    """
    from minirocket.train.presets import DEFAULT_PRESET, get_preset
    flag_names = flag_names or {}
    file_data = {}
    if file is not None:
        file_data = load_toml(file)
        file_preset = file_data.pop("preset", None)
        if file_preset is not None and preset is None:
            if not isinstance(file_preset, str):
                raise arg_error(f"preset in {file}", "a preset name (string)", file_preset,
                                ArgumentTypeError)
            preset = file_preset
    name = preset or DEFAULT_PRESET
    cfg = merge(default_config(), get_preset(name), f"preset '{name}'")
    if file_data:
        cfg = merge(cfg, file_data, str(file))
    if overrides:
        for sec, keys in overrides.items():
            for key, value in keys.items():
                label = flag_names.get(f"{sec}.{key}", f"{sec}.{key}")
                if sec not in SCHEMA or key not in SCHEMA[sec]:
                    raise ArgumentError(f"unknown config key '{sec}.{key}'; valid keys: "
                                        f"{', '.join(valid_keys())}")
                cfg[sec][key] = check_value(label, SCHEMA[sec][key], value)

    def name_of(dotted):
        if dotted in flag_names and _in(overrides, dotted):
            return flag_names[dotted]
        if file is not None and _in(file_data, dotted):
            return f"{dotted} in {file}"
        return dotted

    check_cross(cfg, name_of)
    cfg["preset"] = name
    return cfg


def _in(nested, dotted):
    if not nested:
        return False
    sec, key = dotted.split(".", 1)
    return key in nested.get(sec, {})


def effective_config(cfg):
    """Resolve ``auto`` backends, attach ``config_hash``; return ``(config, notes)``.

    ``notes`` are one-line messages for the user (a backend fallback, say).
    """
    out = copy.deepcopy(cfg)
    backend, note = resolve_backend(out["run"]["backend"])
    out["run"]["backend"] = backend
    out["config_hash"] = config_hash(out)
    return out, [note] if note else []


def load_config_json(path):
    """Read a saved effective configuration (``config.json`` of a run) and verify its hash.

    Raises
    ------
    CheckpointError
        Missing, unreadable, or its hash does not match its content (edited by hand).
    """
    from minirocket.errors import CheckpointError
    path = Path(path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found: not a run folder (no config.json)") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is unreadable or not JSON: {exc}") from None
    if not isinstance(cfg, dict) or "config_hash" not in cfg:
        raise CheckpointError(f"{path} has no config_hash: not a minirocket run config")
    for sec in SCHEMA:
        if sec not in cfg:
            raise CheckpointError(f"{path} lacks the [{sec}] section: not a minirocket run config")
        unknown = set(cfg[sec]) - set(SCHEMA[sec])
        if unknown:
            raise CheckpointError(f"{path} has keys this version does not know: "
                                  f"{', '.join(sorted(f'{sec}.{k}' for k in unknown))} "
                                  f"(written by a newer minirocket?)")
    if config_hash(cfg) != cfg["config_hash"]:
        raise CheckpointError(f"{path}: config_hash does not match the content (the file was "
                              f"edited); restore it or start a new run")
    # Keys added to the schema after the run was written take their defaults.
    full = default_config()
    for sec in SCHEMA:
        full[sec].update(cfg[sec])
    full["preset"] = cfg.get("preset")
    full["config_hash"] = cfg["config_hash"]
    return full


def describe_schema():
    """Text listing every key with its type, default and help (for ``--help`` and docs)."""
    lines = []
    for sec, keys in SCHEMA.items():
        lines.append(f"[{sec}]")
        for k, f in keys.items():
            typ = f.kind if f.kind != "choice" else "|".join(f.choices)
            lines.append(f"  {k:<18} {typ:<28} default {json.dumps(f.default):<24} {f.help}")
    return "\n".join(lines)


def env_flag(name):
    """True if environment variable ``name`` is set to a non-empty value other than ``0``."""
    return os.environ.get(name, "") not in ("", "0")
