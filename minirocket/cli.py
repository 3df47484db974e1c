"""The ``minirocket`` command line (also ``python -m minirocket``).

Subcommands::

    minirocket train      [--preset NAME] [--config FILE.toml] [flags]   train a pair
    minirocket train      --resume RUN_DIR                                continue a run
    minirocket eval       RUN_DIR|ARTIFACT [--split test]                 metrics on a split
    minirocket audit      [--preset NAME] [--config FILE] [--synthetic]   gradient routing
    minirocket export     RUN_DIR [--out DIR]                              light net artifact
    minirocket gradcheck                                                   gradient checks
    minirocket presets                                                     list presets

Exit status: 0 success; 1 a check failed (gradcheck) or the system refused a file
operation; 2 a usage or input error (one line on stderr, ``minirocket: error: ...``, no
traceback unless ``--debug``); 3 training stopped on a non-finite loss or gradient; 130
interrupted (Ctrl-C; training saves a checkpoint first).
"""
import argparse
import os
import sys

from minirocket.errors import MinirocketError, NumericalError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NUMERICAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# Flag -> (section, key, argparse kwargs). Order is the order of --help.
_ONOFF = {"choices": ("on", "off"), "metavar": "on|off"}
CONFIG_FLAGS = [
    ("--dataset", "data", "dataset", {"metavar": "NAME"}),
    ("--limit-train", "data", "limit_train", {"type": int, "metavar": "N"}),
    ("--limit-test", "data", "limit_test", {"type": int, "metavar": "N"}),
    ("--augment", "data", "augment", _ONOFF),
    ("--data-dir", "data", "data_dir", {"metavar": "DIR"}),
    ("--cache-dir", "data", "cache_dir", {"metavar": "DIR"}),
    ("--criteo-path", "data", "criteo_path", {"metavar": "FILE"}),
    ("--on-bad-line", "data", "on_bad_line", {"metavar": "stop|skip"}),
    ("--hash-buckets", "data", "hash_buckets", {"type": int, "metavar": "N"}),
    ("--group-field", "data", "group_field", {"metavar": "FIELD"}),
    ("--arch", "model", "arch", {"metavar": "wrn|mlp"}),
    ("--booster-depth", "model", "booster_depth", {"type": int, "metavar": "D"}),
    ("--booster-width", "model", "booster_width", {"type": int, "metavar": "K"}),
    ("--light-depth", "model", "light_depth", {"type": int, "metavar": "D"}),
    ("--light-width", "model", "light_width", {"type": int, "metavar": "K"}),
    ("--share", "model", "share", {"metavar": "interval|bottom|none"}),
    ("--embed-dim", "model", "embed_dim", {"type": int, "metavar": "D"}),
    ("--method", "method", "name", {"metavar": "NAME"}),
    ("--lam", "method", "lam", {"type": float, "metavar": "X"}),
    ("--grad-block", "method", "grad_block", _ONOFF),
    ("--hint", "method", "hint", {"metavar": "logits_mse|probs_mse|kd"}),
    ("--temperature", "method", "temperature", {"type": float, "metavar": "T"}),
    ("--alpha", "method", "alpha", {"type": float, "metavar": "X"}),
    ("--beta", "method", "beta", {"type": float, "metavar": "X"}),
    ("--teacher-epochs", "method", "teacher_epochs", {"type": int, "metavar": "N"}),
    ("--optimizer", "optim", "optimizer", {"metavar": "sgd|adam"}),
    ("--lr", "optim", "lr", {"type": float, "metavar": "X"}),
    ("--momentum", "optim", "momentum", {"type": float, "metavar": "X"}),
    ("--weight-decay", "optim", "weight_decay", {"type": float, "metavar": "X"}),
    ("--milestones", "optim", "milestones", {"metavar": "E1,E2,..."}),
    ("--lr-decay", "optim", "lr_decay", {"type": float, "metavar": "X"}),
    ("--batch-size", "optim", "batch_size", {"type": int, "metavar": "N"}),
    ("--epochs", "optim", "epochs", {"type": int, "metavar": "N"}),
    ("--seed", "run", "seed", {"type": int, "metavar": "N"}),
    ("--backend", "run", "backend", {"metavar": "auto|numpy|numba|cupy"}),
    ("--dtype", "run", "dtype", {"metavar": "float32|float64"}),
    ("--checkpoint-every", "run", "checkpoint_every", {"type": int, "metavar": "STEPS"}),
    ("--on-nonfinite", "run", "on_nonfinite", {"metavar": "stop|skip"}),
    ("--blas-threads", "run", "blas_threads", {"type": int, "metavar": "N"}),
]
FLAG_NAMES = {f"{sec}.{key}": flag for flag, sec, key, _ in CONFIG_FLAGS}
#: Flags that only say where files are: allowed with --resume.
LOCATION_FLAGS = ("--data-dir", "--cache-dir")


def _dest(flag):
    return "cfg_" + flag.lstrip("-").replace("-", "_")


def _common(p):
    # SUPPRESS: the same flag may be given before or after the subcommand.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="print tracebacks instead of one-line errors")
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bars or per-epoch lines (errors still go to stderr)")


def _config_flags(p, help_title="configuration (override preset and --config)"):
    g = p.add_argument_group(help_title)
    g.add_argument("--preset", metavar="NAME", help="start from a named configuration "
                   "(`minirocket presets` lists them)")
    g.add_argument("--config", metavar="FILE.toml", help="TOML file; its values override the "
                   "preset, flags override it")
    from minirocket.train.config import SCHEMA
    for flag, sec, key, kw in CONFIG_FLAGS:
        f = SCHEMA[sec][key]
        g.add_argument(flag, dest=_dest(flag), default=None,
                       help=f"{f.help} [{sec}.{key}]".replace("%", "%%"), **kw)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (like every other error), then exit 2."""

    def error(self, message):
        sys.stderr.write(f"minirocket: error: {self.prog}: {message} (see `{self.prog} "
                         f"--help`)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser():
    """The argparse parser of the whole command line."""
    from minirocket import __version__
    parser = _Parser(
        prog="minirocket",
        description="Rocket Launching (Zhou et al., AAAI 2018): train a booster and a light "
                    "net together, audit the gradient routing, export the light net.",
        epilog="Exit status: 0 ok, 1 check failed, 2 usage/input error, 3 non-finite loss, "
               "130 interrupted.")
    parser.add_argument("--version", action="version", version=f"minirocket {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a booster/light pair (the main job with no "
                       "arguments)", description="Train a rocket pair. With no arguments: the "
                       "main job (real data, a few minutes on a CPU).")
    _common(p)
    _config_flags(p)
    r = p.add_argument_group("run control")
    r.add_argument("--out", metavar="RUN_DIR", help="run folder to create (default "
                   "runs/<preset>-<time>)")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its "
                   "latest checkpoint")
    r.add_argument("--stop-after-steps", type=int, metavar="N", default=None,
                   help="save a checkpoint and stop once N optimiser steps are done in total "
                        "(resume later with --resume)")
    r.add_argument("--print-config", action="store_true",
                   help="print the effective configuration as JSON and exit")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="metrics of a run or an artifact on a dataset split")
    _common(p)
    p.add_argument("target", metavar="RUN_DIR|ARTIFACT", help="a run folder, or an exported "
                   "light net (light.json or its folder)")
    p.add_argument("--split", default="test", choices=("test", "train"))
    p.add_argument("--checkpoint", default="best", choices=("best", "latest"),
                   help="which checkpoint of a run folder to evaluate (default best)")
    p.add_argument("--limit", type=int, metavar="N", default=None,
                   help="evaluate a fixed random sample of N examples of the split")
    p.add_argument("--data-dir", metavar="DIR", default=None)
    p.add_argument("--cache-dir", metavar="DIR", default=None)
    p.add_argument("--group-field", metavar="FIELD", default=None,
                   help="click data: report group AUC (GAUC) grouped by this field")
    p.add_argument("--backend", default="auto", metavar="auto|numpy|numba|cupy",
                   help="compute backend (auto: numba if importable, else numpy)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("audit", help="gradient routing matrix of a preset/config's pair")
    _common(p)
    _config_flags(p)
    p.add_argument("--synthetic", action="store_true",
                   help="use a random batch instead of the configured dataset")
    p.add_argument("--audit-batch", type=int, default=16, metavar="N",
                   help="batch size of the audited step (default 16)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_audit)

    p = sub.add_parser("export", help="write the light net alone as an artifact")
    _common(p)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for light.npz + light.json (default RUN_DIR/light)")
    p.add_argument("--checkpoint", default="best", choices=("best", "latest"))
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("gradcheck", help="finite-difference checks of every layer and of "
                       "the rocket objective")
    _common(p)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_gradcheck)

    p = sub.add_parser("presets", help="list the named configurations")
    _common(p)
    p.add_argument("name", nargs="?", help="print this preset's full configuration")
    p.add_argument("--keys", action="store_true", help="list every configuration key")
    p.set_defaults(handler=cmd_presets)
    return parser


# ---------------------------------------------------------------------------- helpers
def _say(args, text, err=False):
    if err or not getattr(args, "quiet", False):
        print(text, file=sys.stderr if err else sys.stdout, flush=True)


def _overrides(args):
    """``({section: {key: value}}, [flags given])`` from the parsed config flags."""
    out, given = {}, []
    for flag, sec, key, _ in CONFIG_FLAGS:
        v = getattr(args, _dest(flag), None)
        if v is None:
            continue
        given.append(flag)
        if flag in ("--augment", "--grad-block"):
            v = v == "on"
        elif flag == "--milestones":
            v = _int_list(flag, v)
        out.setdefault(sec, {})[key] = v
    return out, given


def _int_list(flag, text):
    from minirocket.errors import ArgumentError
    text = text.strip()
    if text in ("", "none"):
        return []
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise ArgumentError(f"argument '{flag}': expected comma-separated integers like "
                            f"60,120,160, got {text!r}") from None


def _config_from_args(args):
    from minirocket.train.config import build_config
    overrides, _ = _overrides(args)
    return build_config(preset=args.preset, file=args.config, overrides=overrides,
                        flag_names=FLAG_NAMES)


# ---------------------------------------------------------------------------- commands
def cmd_train(args):
    from minirocket.train import trainer
    from minirocket.train.config import canonical_json, effective_config
    if args.stop_after_steps is not None and args.stop_after_steps < 1:
        from minirocket.errors import arg_error
        raise arg_error("--stop-after-steps", "an integer >= 1", args.stop_after_steps)
    overrides, given = _overrides(args)
    quiet = getattr(args, "quiet", False)
    if args.resume:
        from minirocket.errors import ArgumentError
        bad = [f for f in given if f not in LOCATION_FLAGS] + \
              [f for f, v in (("--preset", args.preset), ("--config", args.config),
                              ("--out", args.out)) if v]
        if bad:
            raise ArgumentError(f"argument '{bad[0]}': cannot be combined with --resume (a "
                                f"run's configuration is fixed; start a new run with --out "
                                f"to change it)")
        return trainer.resume(args.resume, quiet=quiet,
                              data_dir=overrides.get("data", {}).get("data_dir"),
                              cache_dir=overrides.get("data", {}).get("cache_dir"),
                              stop_after_steps=args.stop_after_steps)
    cfg, notes = trainer.main_job_config(args.preset, args.config, overrides, FLAG_NAMES)
    if args.print_config:
        eff, _ = effective_config(cfg)
        print(canonical_json(eff) if quiet else __import__("json").dumps(eff, indent=2))
        return EXIT_OK
    return trainer.train(cfg, out=args.out, quiet=quiet,
                         stop_after_steps=args.stop_after_steps, notes=notes)


def cmd_eval(args):
    from minirocket.train import evaluate
    from minirocket.train.config import SCHEMA, check_value, resolve_backend
    from minirocket.train.threads import set_blas_threads
    set_blas_threads(1)   # predictable on a busy machine (see minirocket.train.threads)
    backend, _ = resolve_backend(check_value("--backend", SCHEMA["run"]["backend"],
                                             args.backend))
    res = evaluate.evaluate_target(args.target, split=args.split, which=args.checkpoint,
                                   limit=args.limit, data_dir=args.data_dir,
                                   cache_dir=args.cache_dir, group_field=args.group_field,
                                   backend=backend, quiet=getattr(args, "quiet", False))
    if args.json:
        import json
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print(evaluate.format_result(res))
    return EXIT_OK


def cmd_audit(args):
    from minirocket.train import trainer
    from minirocket.train.threads import set_blas_threads
    set_blas_threads(1)
    overrides, _ = _overrides(args)
    report = trainer.audit_config(args.preset, args.config, overrides, FLAG_NAMES,
                                  synthetic=args.synthetic, batch=args.audit_batch,
                                  quiet=getattr(args, "quiet", False) or args.json)
    print(report.to_json() if args.json else report.table())
    return EXIT_OK


def cmd_export(args):
    from minirocket.train import artifact
    path = artifact.export_run(args.run_dir, out=args.out, which=args.checkpoint)
    _say(args, f"exported the light net to {path} (+ {path.with_suffix('.npz').name})")
    return EXIT_OK


def cmd_gradcheck(args):
    from minirocket.train import gradchecks
    ok, text = gradchecks.run_all(seed=args.seed)
    print(text)
    return EXIT_OK if ok else EXIT_FAIL


def cmd_presets(args):
    import json
    from minirocket.train.config import default_config, describe_schema, merge
    from minirocket.train.presets import PRESETS, get_preset, preset_names
    if args.keys:
        print(describe_schema())
        return EXIT_OK
    if args.name:
        cfg = merge(default_config(), get_preset(args.name), f"preset '{args.name}'")
        print(json.dumps(cfg, indent=2))
        return EXIT_OK
    for name in preset_names():
        p = PRESETS[name]
        d, m, o = p.get("data", {}), p.get("model", {}), p.get("optim", {})
        if m.get("arch", "wrn") == "wrn":
            net = (f"WRN-{m.get('light_depth')}-{m.get('light_width')} light / "
                   f"WRN-{m.get('booster_depth')}-{m.get('booster_width')} booster, "
                   f"{m.get('share')}")
        else:
            net = f"MLP {m.get('light_hidden')} light / {m.get('booster_hidden')} booster"
        lim = f", {d['limit_train']} train" if d.get("limit_train") else ""
        print(f"{name:<40} {d.get('dataset')}{lim}; {net}; {o.get('epochs')} epochs")
    return EXIT_OK


# ---------------------------------------------------------------------------- entry point
def main(argv=None):
    """Run the command line; return the exit status (the console script exits with it)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # argparse: usage error (2) or --help/--version (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    debug = getattr(args, "debug", False) or os.environ.get("MINIROCKET_DEBUG", "") not in ("", "0")
    try:
        return args.handler(args)
    except NumericalError as exc:
        if debug:
            raise
        print(f"minirocket: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_NUMERICAL
    except MinirocketError as exc:
        if debug:
            raise
        print(f"minirocket: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if debug:
            raise
        print("minirocket: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if debug:
            raise
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"minirocket: error: {exc.strerror or exc}{where}", file=sys.stderr, flush=True)
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
