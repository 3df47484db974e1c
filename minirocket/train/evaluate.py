"""``minirocket eval``: metrics of a run folder or an exported light net on a dataset split.

Classes: accuracy and error (and the mean cross-entropy). Click data: ROC AUC (tied scores
share their average rank), log loss computed from logits (so no probability is ever 0 or
1), accuracy, and with ``group_field`` the group AUC (impression-weighted mean of per-group
AUCs over groups holding both classes).
"""
from pathlib import Path

import numpy as np

from minirocket.errors import ArgumentError, CheckpointError
from minirocket.train import checkpoint as ckpt
from minirocket.train.datasets import _limit, load_bundle, model_input


def _groups(bundle, group_field):
    if group_field is None:
        return None
    if bundle.kind != "tabular":
        raise ArgumentError(f"argument '--group-field': expected click data (group AUC needs "
                            f"a grouping field), got the image dataset "
                            f"'{bundle.preprocessing.get('dataset')}'")
    names = list(bundle.field_names)
    if group_field not in names:
        raise ArgumentError(f"argument '--group-field': expected one of {', '.join(names)}, "
                            f"got {group_field!r}")
    return names.index(group_field)


def _whole(data_cfg):
    # Evaluation takes the whole split (then --limit), not the training run's subset.
    return dict(data_cfg, limit_train=None, limit_test=None)


def _split_arrays(bundle, split, limit):
    n = bundle.n(split)
    if limit is not None:
        if limit < 1:
            raise ArgumentError(f"argument '--limit': expected an integer >= 1, got {limit}")
        n = min(n, limit)
    return n


def _logits(net, bundle, split, n, cfg, ops, bs=500, desc=None, quiet=True):
    dtype = np.dtype(cfg["run"]["dtype"])
    out = []
    starts = range(0, n, bs)
    if not quiet:
        import sys

        from tqdm import tqdm
        starts = tqdm(starts, desc=desc, leave=False, unit="batch", file=sys.stderr)
    for s in starts:
        idx = np.arange(s, min(n, s + bs))
        x = model_input(bundle, bundle.x(split), idx, bundle.preprocessing, ops, dtype)
        out.append(ops.to_numpy(net.predict(x)).astype(np.float64))
    z = np.concatenate(out, axis=0)
    return z[:, 0] if z.ndim == 2 and z.shape[1] == 1 else z


def evaluate_target(target, split="test", which="best", limit=None, data_dir=None,
                    cache_dir=None, group_field=None, backend="numpy", quiet=False):
    """Evaluate a run folder (light and booster) or an artifact (light) on a split.

    Returns
    -------
    dict
        ``{"target", "kind", "split", "n", "dataset", "metric", "nets": {name: scores}}``.
    """
    from minirocket.train.trainer import TEACHER_METHODS, score
    p = Path(target)
    if not p.exists():
        raise ArgumentError(f"argument 'RUN_DIR|ARTIFACT': {p} does not exist")
    is_run = p.is_dir() and (p / "config.json").is_file()
    if is_run:
        from minirocket.train.artifact import _pair_from_tree
        from minirocket.train.config import load_config_json
        from minirocket.backend import get_backend
        cfg = load_config_json(p / "config.json")
        path = p / "checkpoints" / f"{which}.npz"
        if not path.exists() and which == "best":
            path = p / "checkpoints" / "latest.npz"
        if not path.exists():
            raise CheckpointError(f"run folder {p} has no checkpoint yet ({path} is missing)")
        meta, tree = ckpt.read_file(path)
        if meta.get("config_hash") != cfg["config_hash"]:
            raise CheckpointError(f"checkpoint {path} belongs to another configuration")
        bundle = load_bundle(_whole(cfg["data"]), progress=not quiet, data_dir=data_dir,
                             cache_dir=cache_dir, state=tree["preprocessing"])
        pair = _pair_from_tree(cfg, tree).to(backend)
        method = cfg["method"]["name"]
        nets = {}
        from minirocket.train.artifact import light_from_checkpoint
        if method != "booster_only":
            nets["light"] = light_from_checkpoint(cfg, tree).to(backend)
        if method in ("rocket", "rocket_kd", "booster_only"):
            nets["booster"] = pair.booster
        elif method in TEACHER_METHODS and tree.get("teacher") is not None:
            from minirocket.models import build
            t = build(pair.arch["booster"], dtype=np.dtype(cfg["run"]["dtype"]))
            t.load_state_dict(tree["teacher"])
            nets["booster"] = t.to(backend)
        ops = get_backend(backend)
        source = f"{path} (step {tree['step']}, epoch {tree['epoch']})"
    else:
        from minirocket.train.artifact import load_artifact
        pred = load_artifact(p, backend=backend)
        cfg = pred.manifest["config"]
        if not isinstance(cfg, dict) or "data" not in cfg:
            raise CheckpointError(f"artifact {p} does not record its training configuration, "
                                  f"so its dataset is unknown")
        bundle = load_bundle(_whole(cfg["data"]), progress=not quiet, data_dir=data_dir,
                             cache_dir=cache_dir, state=pred.preprocessing)
        nets = {"light": pred.net}
        ops = pred.ops
        source = f"artifact {p}"
    # The split is taken whole, then --limit keeps the same fixed random subset a training
    # run's --limit-test would (files may be sorted by class); the run's own limit is not
    # applied.
    n = _split_arrays(bundle, split, limit)
    if limit is not None:
        bundle = _limit(bundle, limit if split == "train" else None,
                        limit if split == "test" else None)
    bundle_full = bundle
    y = bundle_full.y(split)[:n]
    gcol = _groups(bundle_full, group_field)
    groups = bundle_full.x(split)[0][:n, gcol] if gcol is not None else None
    if bundle.task == "binary" and n and len(np.unique(y)) < 2:
        raise ArgumentError(f"argument '--split': AUC needs both classes, but the first {n} "
                            f"{split} examples hold only class {int(y[0])}; use more examples")
    res = {"target": str(p), "kind": "run" if is_run else "artifact", "source": source,
           "split": split, "n": int(n), "dataset": cfg["data"]["dataset"],
           "metric": bundle.metric, "nets": {}}
    for name, net in nets.items():
        z = _logits(net, bundle_full, split, n, cfg, ops, desc=f"{name} net", quiet=quiet)
        res["nets"][name] = score(bundle_full, z, y, groups)
    if group_field:
        res["group_field"] = group_field
    return res


def format_result(res):
    """Human-readable lines for :func:`evaluate_target` output."""
    lines = [f"{res['dataset']} {res['split']} split, {res['n']} examples; {res['source']}"]
    for name, s in res["nets"].items():
        if "auc" in s:
            extra = f", GAUC {s['gauc']:.4f} (by {res.get('group_field')})" if "gauc" in s else ""
            lines.append(f"  {name:<8} net: AUC {s['auc']:.4f}, logloss {s['loss']:.4f}, "
                         f"accuracy {100 * s['accuracy']:.2f}%{extra}")
        else:
            lines.append(f"  {name:<8} net: accuracy {100 * s['accuracy']:.2f}%, error "
                         f"{100 * s['error']:.2f}%, cross-entropy {s['loss']:.4f}")
    return "\n".join(lines)
