"""The training loop behind ``minirocket train``: exact resume, crash safety, numerical guards.

Notation
--------
step   one optimiser update (counted over the whole run, from 1)
epoch  one pass over the training set (counted per phase, from 1)
phase  ``teacher`` (pre-training a booster, for methods that need a fixed teacher) then
       ``main`` (the configured method)

What a checkpoint holds, so that N steps straight and N/2 + resume + N/2 give bit-identical
weights (NumPy backend, float32 or float64): every parameter and BN running statistic, the
optimiser state (momentum buffers, Adam moments, step count), the schedule position, the
batch sampler's cursor (epoch and batch index), the augmentation generator's state, the
state of every dropout layer's generator, the running sums of the epoch in progress, the
metric history and the best score so far.

Faults:

- a non-finite loss term or gradient raises :class:`~minirocket.errors.NumericalError`
  naming the step, the net and the term; no checkpoint is written after it, so the last good
  one stays as it was. With ``run.on_nonfinite = "skip"`` the step is undone instead (BN
  statistics restored, no update) and counted.
- Ctrl-C (SIGINT) finishes the current step, saves a checkpoint and exits with status 130.
- SIGKILL at any moment leaves the previous checkpoint loadable (atomic writes).
"""
import signal
import sys
import time

import numpy as np

from minirocket.errors import ArgumentError, CheckpointError, NumericalError
from minirocket.train import checkpoint as ckpt
from minirocket.train import config as config_mod
from minirocket.train.datasets import load_bundle, model_input
from minirocket.train.faults import fault_point
from minirocket.train.rundir import new_run_dir, open_run_dir

TEACHER_METHODS = ("kd", "rocket_kd", "two_stage", "at")
MAX_CONSECUTIVE_SKIPS = 20


# ---------------------------------------------------------------------------- configuration
def main_job_config(preset, file, overrides, flag_names):
    """The configuration of ``minirocket train``, with the no-data fallback.

    When no preset, no file and no dataset flag is given and no data folder exists at all
    (a fresh install), the fallback preset trains on the Adult copy embedded in the package.

    Returns
    -------
    (dict, list of str)
        The configuration and one-line notes to print.
    """
    from minirocket.data.locate import candidate_dirs
    from minirocket.train.presets import FALLBACK_PRESET
    notes = []
    data_dir = (overrides or {}).get("data", {}).get("data_dir")
    wants_default = preset is None and file is None and \
        "dataset" not in (overrides or {}).get("data", {})
    if wants_default and data_dir is None and not any(c.path.is_dir() for c in candidate_dirs()):
        looked = "; ".join(str(c.path) for c in candidate_dirs()) or \
            "no --data-dir, $MINIROCKET_DATA_DIR unset, not run from a checkout"
        notes.append(f"no data folder found ({looked}): using the click-data pair on the "
                     f"UCI Adult copy embedded in the package instead (CC BY 4.0)")
        preset = FALLBACK_PRESET
    cfg = config_mod.build_config(preset, file, overrides, flag_names)
    return cfg, notes


def derive_seeds(seed):
    """Independent seeds of the run's random streams, from the one configured seed."""
    s = np.random.SeedSequence(seed).generate_state(5, dtype=np.uint32)
    return {"init": int(s[0]), "sampler": int(s[1]), "augment": int(s[2]),
            "teacher_init": int(s[3]), "teacher_sampler": int(s[4])}


# ---------------------------------------------------------------------------- model building
def build_pair(cfg, bundle=None, *, preprocessing=None, num_classes=None):
    """The booster/light pair of a configuration, on its backend and dtype.

    The input shape comes from ``bundle`` or, without data, from a saved ``preprocessing``
    dict (image channels, click-data field sizes) and ``num_classes``.
    """
    from minirocket.models import rocket_mlp, rocket_wrn
    m, run = cfg["model"], cfg["run"]
    dtype = np.dtype(run["dtype"])
    seeds = derive_seeds(run["seed"])
    pre = bundle.preprocessing if bundle is not None else preprocessing
    kind = pre["kind"]
    if num_classes is None:
        num_classes = bundle.num_classes if bundle is not None else \
            (len(pre.get("classes", range(10))) if kind == "image" else 2)
    if m["arch"] == "wrn":
        if kind != "image":
            raise ArgumentError("argument 'model.arch': expected 'mlp' for click data, got 'wrn'")
        pair = rocket_wrn(m["light_depth"], m["booster_depth"], m["booster_width"], num_classes,
                          share=m["share"], gamma_init=m["bn_gamma_init"], rng=seeds["init"],
                          in_channels=pre["channels"], dtype=dtype)
    else:
        if kind != "tabular":
            raise ArgumentError("argument 'model.arch': expected 'wrn' for images, got 'mlp'")
        pair = rocket_mlp(pre["field_sizes"], len(pre["num_names"]), m["embed_dim"],
                          m["booster_hidden"], m["light_hidden"], output="sigmoid",
                          rng=seeds["init"], dtype=dtype)
    return pair.to(run["backend"])


def describe_arch(cfg):
    """One line naming the architecture (used in checkpoint-mismatch messages)."""
    m = cfg["model"]
    if m["arch"] == "wrn":
        return (f"WRN-{m['light_depth']}-{m['light_width']} light / WRN-{m['booster_depth']}-"
                f"{m['booster_width']} booster, share {m['share']}, {cfg['data']['dataset']}")
    return (f"MLP {m['light_hidden']} light / {m['booster_hidden']} booster, embed "
            f"{m['embed_dim']}, {cfg['data']['dataset']}")


def make_objective(cfg):
    from minirocket.rocket import RocketObjective
    me = cfg["method"]
    return RocketObjective(hint=me["hint"], lam=me["lam"], grad_block=me["grad_block"],
                           temperature=me["temperature"], nominal_batch=me["nominal_batch"],
                           kd_alpha=me["alpha"], kd_temperature=me["temperature"])


def make_optimizer(cfg, named_params):
    from minirocket.optim import SGD, Adam, MultiStepLR
    o = cfg["optim"]
    if o["optimizer"] == "sgd":
        opt = SGD(named_params, o["lr"], momentum=o["momentum"], nesterov=o["nesterov"],
                  weight_decay=o["weight_decay"])
    else:
        opt = Adam(named_params, o["lr"], weight_decay=o["weight_decay"])
    sched = MultiStepLR(opt, o["milestones"], factor=o["lr_decay"],
                        reset_momentum=o["reset_momentum"] and o["optimizer"] == "sgd")
    return opt, sched


def _dropout_layers(*modules):
    from minirocket.layers import Dropout
    out = {}
    for tag, mod in modules:
        if mod is None:
            continue
        for path, m in mod.named_modules():
            if isinstance(m, Dropout):
                out[f"{tag}.{path}"] = m
    return out


def _finite_params(module):
    xp = module.ops.xp
    for name, p in module.named_parameters():
        if not bool(xp.isfinite(p.data).all()):
            return name
    return None


# ---------------------------------------------------------------------------- evaluation
def predict_logits(net, bundle, split, cfg, ops, limit=None, progress=None):
    """Eval-mode logits of ``net`` on a split, as a host float64 array (N, C) or (N,)."""
    n = bundle.n(split) if limit is None else min(limit, bundle.n(split))
    bs = cfg["run"]["eval_batch_size"]
    dtype = np.dtype(cfg["run"]["dtype"])
    out = []
    for start in range(0, n, bs):
        idx = np.arange(start, min(n, start + bs))
        x = model_input(bundle, bundle.x(split), idx, bundle.preprocessing, ops, dtype)
        out.append(ops.to_numpy(net.predict(x)).astype(np.float64))
        if progress is not None:
            progress.update(len(idx))
    z = np.concatenate(out, axis=0)
    return z[:, 0] if z.ndim == 2 and z.shape[1] == 1 else z


def score(bundle, logits, y, groups=None):
    """``{"loss": ..., metric: ...}`` for logits of one net on labels ``y``.

    Multiclass: softmax cross-entropy and accuracy (plus error). Binary: logloss (from
    logits, so probabilities are never 0 or 1), ROC AUC with ties averaged, and GAUC when
    ``groups`` is given.
    """
    from minirocket import metrics
    if bundle.task == "multiclass":
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-logp[np.arange(len(y)), y].mean())
        acc = metrics.accuracy(y, logits)
        return {"loss": loss, "accuracy": acc, "error": 1.0 - acc}
    out = {"loss": metrics.log_loss_from_logits(y, logits),
           "auc": metrics.roc_auc(y, logits),
           "accuracy": metrics.accuracy(y, logits)}
    if groups is not None:
        out["gauc"] = metrics.group_auc(y, logits, groups)
    return out


# ---------------------------------------------------------------------------- the trainer
class Trainer:
    """Owns one run: data, model(s), optimiser, schedule, sampler, RNGs and the run folder.

    Parameters
    ----------
    cfg : dict
        The effective configuration (``run.backend`` resolved, ``config_hash`` set).
    run_dir : RunDir
    quiet : bool
        No progress bars and no per-epoch lines.
    bundle : DataBundle, optional
        Pre-loaded data (tests); loaded from ``cfg`` otherwise.
    """

    def __init__(self, cfg, run_dir, quiet=False, bundle=None, data_dir=None, cache_dir=None,
                 data_state=None):
        from minirocket.backend import get_backend
        from minirocket.data import BatchSampler
        from minirocket.rocket import METHODS, make_step
        from minirocket.train.threads import blas_threads_for, set_blas_threads
        self.cfg = cfg
        self.rd = run_dir
        self.quiet = quiet
        set_blas_threads(blas_threads_for(cfg))
        self.ops = get_backend(cfg["run"]["backend"])
        self.dtype = np.dtype(cfg["run"]["dtype"])
        self.method = cfg["method"]["name"]
        self.spec = METHODS[self.method]
        t0 = time.perf_counter()
        self.bundle = bundle if bundle is not None else load_bundle(
            cfg["data"], progress=not quiet, data_dir=data_dir, cache_dir=cache_dir,
            state=data_state)
        self.load_seconds = time.perf_counter() - t0
        self.seeds = derive_seeds(cfg["run"]["seed"])
        self.pair = build_pair(cfg, self.bundle)
        self.objective = make_objective(cfg)
        self.step_fn = make_step(self.method, self.objective, beta=cfg["method"]["beta"])
        self.teacher = None
        self.light_model = None     # stand-alone light net (two_stage)
        if self.method in TEACHER_METHODS:
            from minirocket.models import build
            self.teacher = build(self.pair.arch["booster"], rng=self.seeds["teacher_init"],
                                 dtype=self.dtype).to(cfg["run"]["backend"])
        if self.method == "two_stage":
            from minirocket.models import build_light
            self.light_model = build_light(self.pair.arch, rng=self.seeds["init"],
                                           dtype=self.dtype).to(cfg["run"]["backend"])
        n = self.bundle.n("train")
        bs = cfg["optim"]["batch_size"]
        # A last batch of one example cannot be batch-normalised in training: drop it then.
        drop_last = n % bs == 1
        if bs > n:
            raise ArgumentError(f"argument 'optim.batch_size': expected at most the number of "
                                f"training examples ({n}), got {bs}")
        self.phases = (["teacher"] if self.teacher is not None and
                       cfg["method"]["teacher_epochs"] > 0 else []) + ["main"]
        self.samplers = {
            "teacher": BatchSampler(n, bs, self.seeds["teacher_sampler"], True, drop_last),
            "main": BatchSampler(n, bs, self.seeds["sampler"], True, drop_last)}
        self.aug_rng = np.random.default_rng(self.seeds["augment"])
        self.phase = self.phases[0]
        self._setup_phase(self.phase)
        self.step = 0
        self.epoch = 0                  # completed epochs of the current phase
        self.acc = self._fresh_acc()    # running sums of the epoch in progress
        self.history = []
        self.best = None                # {"value", "epoch", "step"}
        self.skipped = 0
        self.consecutive_skips = 0
        self.started = time.time()
        self.elapsed_before = 0.0       # training seconds of earlier sessions (resume)
        self._interrupt = False
        self.stop_after_steps = None
        self.status = "running"

    # ------------------------------------------------------------------ phases
    def _setup_phase(self, phase):
        if phase == "teacher":
            self.train_model = self.teacher
            named = self.teacher.named_parameters()
        elif self.method == "two_stage":
            self.train_model = self.light_model
            named = self.light_model.named_parameters()
        elif self.spec.trains == "both":
            self.train_model = self.pair
            named = self.pair.named_parameters()
        else:
            self.train_model = self.pair
            net = self.pair.light if self.spec.trains == "light" else self.pair.booster
            named = net.named_parameters()
        self.opt, self.sched = make_optimizer(self.cfg, named)
        self.sampler = self.samplers[phase]

    def _enter_main_phase(self):
        self.phase = "main"
        self.epoch = 0
        if self.method == "two_stage":
            from minirocket.rocket import init_light_from_booster
            init_light_from_booster(self.light_model, self.teacher)
        self._setup_phase("main")

    def phase_epochs(self, phase=None):
        phase = phase or self.phase
        if phase == "teacher":
            return self.cfg["method"]["teacher_epochs"]
        return self.cfg["optim"]["epochs"]

    # ------------------------------------------------------------------ which nets to show
    def nets(self):
        """``{"light": net or None, "booster": net or None}`` as trained/shown now."""
        if self.phase == "teacher":
            return {"light": None, "booster": self.teacher}
        if self.method == "two_stage":
            return {"light": self.light_model, "booster": self.teacher}
        if self.method in ("rocket", "rocket_kd"):
            return {"light": self.pair.light, "booster": self.pair.booster}
        if self.method == "booster_only":
            return {"light": None, "booster": self.pair.booster}
        if self.method == "light_only":
            return {"light": self.pair.light, "booster": None}
        return {"light": self.pair.light, "booster": self.teacher}

    def served_light(self):
        """The light net that is exported (the booster for ``booster_only``)."""
        if self.method == "two_stage":
            return self.light_model
        if self.method == "booster_only":
            return self.pair.booster
        return self.pair.light

    # ------------------------------------------------------------------ state
    @staticmethod
    def _fresh_acc():
        return {"n": 0, "steps": 0, "light_loss": 0.0, "booster_loss": 0.0, "light_correct": 0.0,
                "booster_correct": 0.0, "hint": 0.0, "terms": {}}

    def arch_fingerprint(self):
        sd = self.pair.state_dict()
        if self.teacher is not None:
            sd.update({f"teacher.{k}": v for k, v in self.teacher.state_dict().items()})
        if self.light_model is not None:
            sd.update({f"standalone.{k}": v for k, v in self.light_model.state_dict().items()})
        return ckpt.arch_fingerprint(sd)

    def state_tree(self):
        """Everything needed to continue bit-identically (see the module docstring)."""
        tree = {
            "phase": self.phase, "epoch": self.epoch, "step": self.step,
            "model": self.pair.state_dict(),
            "teacher": self.teacher.state_dict() if self.teacher is not None else None,
            "light_model": (self.light_model.state_dict() if self.light_model is not None
                            else None),
            "optimizer": self.opt.state_dict(), "schedule": self.sched.state_dict(),
            "samplers": {k: s.state_dict() for k, s in self.samplers.items()},
            "augment_rng": self.aug_rng.bit_generator.state,
            "dropout_rngs": {k: m.rng.bit_generator.state for k, m in _dropout_layers(
                ("pair", self.pair), ("teacher", self.teacher),
                ("light_model", self.light_model)).items()},
            "acc": self.acc, "history": self.history, "best": self.best,
            "skipped": self.skipped,
            "elapsed": self.elapsed_before + (time.time() - self.started),
            "preprocessing": self.bundle.preprocessing,
        }
        return tree

    def load_state_tree(self, tree):
        """Restore from :meth:`state_tree` output (checkpoint already verified)."""
        try:
            self.phase = tree["phase"]
            if self.phase not in self.phases:
                raise CheckpointError(f"checkpoint phase {self.phase!r} is not part of method "
                                      f"{self.method!r}")
            self.pair.load_state_dict(tree["model"])
            if self.teacher is not None:
                self.teacher.load_state_dict(tree["teacher"])
            if self.light_model is not None:
                self.light_model.load_state_dict(tree["light_model"])
            self._setup_phase(self.phase)
            self.opt.load_state_dict(tree["optimizer"])
            self.sched.load_state_dict(tree["schedule"])
            for k, s in self.samplers.items():
                s.load_state_dict(tree["samplers"][k])
            self.aug_rng.bit_generator.state = tree["augment_rng"]
            layers = _dropout_layers(("pair", self.pair), ("teacher", self.teacher),
                                     ("light_model", self.light_model))
            for k, st in tree["dropout_rngs"].items():
                layers[k].rng.bit_generator.state = st
            self.epoch = int(tree["epoch"])
            self.step = int(tree["step"])
            self.acc = tree["acc"]
            self.history = list(tree["history"])
            self.best = tree["best"]
            self.skipped = int(tree["skipped"])
            self.elapsed_before = float(tree["elapsed"])
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint is missing or has a malformed entry ({exc}): "
                                  f"written by an incompatible minirocket?") from None
        self.started = time.time()

    def save(self, best=False):
        """Write ``latest`` (and ``best``) atomically; refuse to save non-finite weights."""
        for _, net in (("pair", self.pair), ("teacher", self.teacher),
                       ("light", self.light_model)):
            if net is None:
                continue
            bad = _finite_params(net)
            if bad is not None:
                raise NumericalError(f"step {self.step}: parameter '{bad}' is not finite after "
                                     f"the update; last good checkpoint kept at "
                                     f"{self._latest_text()}")
        blob = ckpt.save_checkpoint(self.rd.latest, self.state_tree(),
                                    arch=describe_arch(self.cfg),
                                    fingerprint=self.arch_fingerprint(),
                                    config_hash=self.cfg["config_hash"])
        if best:
            ckpt.write_bytes_atomic(self.rd.best, blob, fault_prefix="best")

    def _latest_text(self):
        return str(self.rd.latest) if self.rd.latest.exists() else \
            "(none: no checkpoint was written yet)"

    # ------------------------------------------------------------------ one step
    def _batch(self, idx, train=True):
        return (model_input(self.bundle, self.bundle.train_x, idx, self.bundle.preprocessing,
                            self.ops, self.dtype, self.aug_rng,
                            augment=train and self.cfg["data"]["augment"]
                            and self.bundle.kind == "image"),
                self.ops.asarray(self.bundle.train_y[idx]))

    def _snapshot_buffers(self):
        return [(b, b.data.copy()) for _, b in self.train_model.named_buffers()] + \
            ([(b, b.data.copy()) for _, b in self.teacher.named_buffers()]
             if self.teacher is not None and self.train_model is not self.teacher else [])

    def train_step(self, idx):
        """One optimiser step on batch ``idx``; returns the StepResult or None if skipped."""
        x, y = self._batch(idx)
        snap = self._snapshot_buffers() if self.cfg["run"]["on_nonfinite"] == "skip" else None
        self.train_model.zero_grad()
        step_no = self.step + 1
        try:
            if self.phase == "teacher":
                from minirocket.rocket import ce_step
                res = ce_step(self.teacher, x, y, step=step_no, role="booster")
            else:
                res = self.step_fn(self.train_model, x, y, teacher=self.teacher, step=step_no)
        except NumericalError as exc:
            if snap is None:
                # The step's own message names the step, the net and the term.
                raise NumericalError(f"{exc}; last good checkpoint kept at "
                                     f"{self._latest_text()}") from None
            for b, data in snap:
                b.data = data
            self.train_model.zero_grad()
            self.skipped += 1
            self.consecutive_skips += 1
            if self.consecutive_skips >= MAX_CONSECUTIVE_SKIPS:
                raise NumericalError(f"step {step_no}: {self.consecutive_skips} consecutive "
                                     f"non-finite steps skipped (last: {exc}); giving up, last "
                                     f"good checkpoint kept at {self._latest_text()}") from None
            self._log(f"step {step_no}: skipped ({exc})")
            self.step += 1
            return None
        self.opt.step()
        self.train_model.zero_grad()
        self.step += 1
        self.consecutive_skips = 0
        fault_point("step:after-update")
        self._accumulate(res, y, len(idx))
        return res

    def _accumulate(self, res, y, n):
        a = self.acc
        a["n"] += n
        a["steps"] += 1
        y_host = self.ops.to_numpy(y)
        for net in ("light", "booster"):
            logits = res.light_logits if net == "light" else res.booster_logits
            if logits is None:
                continue
            key = "ce_light" if net == "light" else "ce_booster"
            loss = res.losses.get(key, res.losses.get("ce"))
            a[f"{net}_loss"] += float(loss) * n
            z = self.ops.to_numpy(logits)
            if self.bundle.task == "multiclass":
                a[f"{net}_correct"] += float((z.argmax(axis=1) == y_host).sum())
            else:
                a[f"{net}_correct"] += float(((z.reshape(-1) > 0) == (y_host == 1)).sum())
        for k, v in res.losses.items():
            a["terms"][k] = a["terms"].get(k, 0.0) + float(v) * n

    # ------------------------------------------------------------------ epochs
    def _log(self, text):
        if not self.quiet:
            try:
                from tqdm import tqdm
                tqdm.write(text)
            except ImportError:  # pragma: no cover
                print(text, flush=True)

    def _evaluate_epoch(self):
        """Records (one per shown net) for the epoch that just ended."""
        a = self.acc
        nets = self.nets()
        recs = []
        metric = self.bundle.metric
        elapsed = self.elapsed_before + (time.time() - self.started)
        pbar = self._pbar(sum(1 for n in nets.values() if n is not None) * self.bundle.n("test"),
                          "evaluating", unit="ex")
        for name in ("light", "booster"):
            net = nets[name]
            if net is None:
                continue
            z = predict_logits(net, self.bundle, "test", self.cfg, self.ops, progress=pbar)
            test = score(self.bundle, z, self.bundle.test_y)
            rec = {"epoch": self.epoch, "phase": self.phase, "net": name, "step": self.step,
                   "lr": self.opt.lr, "elapsed_s": round(elapsed, 3),
                   "test_loss": test["loss"], f"test_{metric}": test[metric]}
            if a["n"]:
                rec["train_loss"] = a[f"{name}_loss"] / a["n"]
                # Training accuracy from the training-mode logits of each step (as the
                # authors log it); for click data the train column is accuracy, not AUC.
                rec["train_accuracy"] = a[f"{name}_correct"] / a["n"]
            if name == "light" and a["n"]:
                for k, v in a["terms"].items():
                    rec[f"train_{k}"] = v / a["n"]
            if self.skipped:
                rec["skipped_steps"] = self.skipped
            recs.append(rec)
        if pbar is not None:
            pbar.close()
        return recs

    def _pbar(self, total, desc, unit="batch"):
        if self.quiet:
            return None
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, leave=False, unit=unit, file=sys.stderr,
                    dynamic_ncols=True)

    def _epoch_line(self, recs):
        metric = self.bundle.metric
        total = self.phase_epochs()
        by = {r["net"]: r for r in recs}

        def cell(r):
            if r is None:
                return f"{'-':^24}"
            tr = r.get("train_loss", float("nan"))
            m = r[f"test_{metric}"]
            mtxt = f"{100 * m:.2f}%" if metric == "accuracy" else f"{m:.4f}"
            return f"{tr:>7.4f} {r['test_loss']:>7.4f} {mtxt:>8}"
        tag = "T" if self.phase == "teacher" else " "
        r0 = recs[0]
        hint = r0.get("train_hint")
        htxt = f"{hint:>7.4f}" if hint is not None else f"{'-':>7}"
        ep = f"{tag}{self.epoch}/{total}"
        return (f"{ep:>7} | {cell(by.get('light'))} | {cell(by.get('booster'))} | {htxt} | "
                f"{r0['lr']:>7.3g} | {r0['elapsed_s']:>6.1f}s")

    def _header(self):
        m = "test acc" if self.bundle.metric == "accuracy" else "test AUC"
        sub = f"{'train':>7} {'test':>7} {m:>8}"
        lines = [f"{'epoch':>7} | {'light net (served)':^24} | {'booster net':^24} | "
                 f"{'hint':>7} | {'lr':>7} | elapsed",
                 f"{'':>7} | {sub} | {sub} | {'loss':>7} | {'':>7} |"]
        if "teacher" in self.phases:
            lines.append("(T: pre-training the teacher booster)")
        return "\n".join(lines)

    def run(self):
        """Train to the end (or to ``stop_after_steps``); return "done"/"stopped"."""
        if not self.quiet:
            self._log(self._header())
        old = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread: Ctrl-C handling stays Python's default
            old = None
        try:
            # Overflow/NaN is detected explicitly (loss terms, gradients, weights) and
            # reported in one line; NumPy's own warnings would only add noise.
            with np.errstate(all="ignore"):
                return self._run()
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def _on_sigint(self, signum, frame):
        if self._interrupt:
            raise KeyboardInterrupt
        self._interrupt = True
        if not self.quiet:
            print("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to abort "
                  "without saving)", file=sys.stderr, flush=True)

    def _run(self):
        every = self.cfg["run"]["checkpoint_every"]
        if self.stop_after_steps is not None and self.step >= self.stop_after_steps:
            self.status = "stopped"    # already there (a resume with a small --stop-after-steps)
            return "stopped"
        while True:
            total = self.phase_epochs()
            while self.epoch < total:
                e = self.epoch + 1
                self.sched.start_epoch(e)
                s = self.sampler
                remaining = len(s) - s.cursor if s.epoch == self.epoch else len(s)
                # An epoch's first step starts a fresh accumulator; a resumed one keeps it.
                pbar = self._pbar(remaining, f"{'teacher ' if self.phase == 'teacher' else ''}"
                                             f"epoch {e}/{total}")
                for _ in range(max(0, remaining)):
                    idx = s.next_batch()
                    self.train_step(idx)
                    if pbar is not None:
                        pbar.update(1)
                    if every and self.step % every == 0:
                        self.save()
                    if self._interrupt:
                        self.save()
                        if pbar is not None:
                            pbar.close()
                        self.status = "interrupted"
                        return "interrupted"
                    if self.stop_after_steps is not None and self.step >= self.stop_after_steps:
                        self.save()
                        if pbar is not None:
                            pbar.close()
                        self.status = "stopped"
                        return "stopped"
                if pbar is not None:
                    pbar.close()
                self.epoch = e
                recs = self._evaluate_epoch()
                self.history.extend(recs)
                self.acc = self._fresh_acc()
                improved = False
                light = next((r for r in recs if r["net"] == "light"), None)
                if self.phase == "main" and light is not None:
                    v = light[f"test_{self.bundle.metric}"]
                    if self.best is None or v > self.best["value"]:
                        self.best = {"value": v, "epoch": e, "step": self.step}
                        improved = True
                self.save(best=improved)
                self.rd.write_metrics(self.history)
                self._plots()
                self._log(self._epoch_line(recs))
                if self._interrupt:
                    self.status = "interrupted"
                    return "interrupted"
            if self.phase == self.phases[-1]:
                break
            self._enter_main_phase()
            self.save()
        if self.best is None:   # no light net shown (booster_only): keep the last as best
            self.save(best=True)
        self.status = "done"
        return "done"

    def _plots(self):
        from minirocket.train.plots import write_learning_curves
        try:
            write_learning_curves(self.rd.path, [r for r in self.history
                                                 if r.get("phase", "main") == "main"],
                                  self.bundle.metric)
        except OSError as exc:  # a plot must never cost the run
            self._log(f"warning: could not write the plots ({exc})")


# ---------------------------------------------------------------------------- entry points
def _start_message(tr, cfg, fallback=False):
    b = tr.bundle
    nets = f"light {tr.pair.light.num_parameters():,} / booster " \
           f"{tr.pair.booster.num_parameters():,} parameters"
    # After the no-data fallback note, the loader's own "using the embedded copy" line
    # would say the same thing twice.
    return ([] if fallback and b.embedded else [b.message]) + [
            f"{cfg['data']['dataset']}: {b.n('train')} train / {b.n('test')} test examples "
            f"(loaded in {tr.load_seconds:.1f}s)",
            f"model: {describe_arch(cfg)} ({nets}); method {cfg['method']['name']}, "
            f"lambda {cfg['method']['lam']}, gradient block "
            f"{'on' if cfg['method']['grad_block'] else 'off'}",
            f"backend {cfg['run']['backend']}, {cfg['run']['dtype']}, seed {cfg['run']['seed']}"
            f", {cfg['optim']['epochs']} epochs of batch {cfg['optim']['batch_size']}; "
            f"run folder {tr.rd.path}"]


def train(cfg, out=None, quiet=False, stop_after_steps=None, bundle=None, notes=()):
    """Train a configuration into a new run folder; return the exit status.

    Parameters
    ----------
    cfg : dict
        A checked configuration (``run.backend`` may be ``auto``).
    out : str, optional
        The run folder (default ``runs/<preset>-<time>``).
    quiet : bool
    stop_after_steps : int, optional
        Save and stop once this many steps are done (continue with :func:`resume`).
    bundle : DataBundle, optional
        Pre-loaded data (tests).
    notes : sequence of str
        One-line notes to print first (the no-data fallback of the main job).
    """
    eff, backend_notes = config_mod.effective_config(cfg)
    rd = new_run_dir(out, eff.get("preset") or "run")
    fresh = not any(rd.path.iterdir())
    rd.write_config(eff)
    try:
        tr = Trainer(eff, rd, quiet=quiet, bundle=bundle)
    except BaseException:
        # Data or model setup failed before anything was trained: take back the folder we
        # made, so the same --out can simply be given again (a folder holding only a
        # config could be neither resumed nor reused).
        if fresh:
            rd.config.unlink(missing_ok=True)
            if not any(rd.path.iterdir()):
                rd.path.rmdir()
        raise
    if quiet:
        # A switch to another dataset is never silent, even for scripts.
        for line in notes:
            print(line, file=sys.stderr, flush=True)
    else:
        for line in list(notes) + backend_notes + _start_message(tr, eff, bool(notes)):
            print(line, flush=True)
    tr.stop_after_steps = stop_after_steps
    return _finish(tr, tr.run())


def resume(path, quiet=False, data_dir=None, cache_dir=None, stop_after_steps=None,
           bundle=None):
    """Continue the run in folder ``path`` from its latest checkpoint; return the exit status."""
    rd = open_run_dir(path)
    cfg = rd.read_config()
    if not rd.latest.exists():
        # Killed before its first checkpoint (within the first epoch): nothing of it was
        # kept but its configuration, so the run starts again from step 0 in its folder.
        # (The folder cannot be given to --out again: it holds a run.)
        _remove_stale_temporaries(rd)
        tr = Trainer(cfg, rd, quiet=quiet, bundle=bundle, data_dir=data_dir,
                     cache_dir=cache_dir)
        tr.stop_after_steps = stop_after_steps
        if not quiet:
            print(f"{rd.path} has no checkpoint yet (stopped before its first one): "
                  f"starting the run again from step 0", flush=True)
        return _finish(tr, tr.run())
    meta, tree = ckpt.read_file(rd.latest)
    if meta.get("config_hash") != cfg["config_hash"]:
        raise CheckpointError(f"checkpoint {rd.latest} belongs to another configuration "
                              f"(hash {str(meta.get('config_hash'))[:12]}, the run's config.json "
                              f"has {cfg['config_hash'][:12]})")
    _remove_stale_temporaries(rd)
    tr = Trainer(cfg, rd, quiet=quiet, bundle=bundle, data_dir=data_dir, cache_dir=cache_dir,
                 data_state=tree.get("preprocessing"))
    if meta.get("arch_fingerprint") != tr.arch_fingerprint():
        raise CheckpointError(f"checkpoint {rd.latest} is for arch '{meta.get('arch')}', the "
                              f"config wants '{describe_arch(cfg)}'")
    tr.load_state_tree(tree)
    if tr.best is not None and tr.best.get("step") == tr.step and not rd.best.exists():
        # Killed while copying the new best checkpoint: latest IS that state.
        ckpt.write_bytes_atomic(rd.best, rd.latest.read_bytes(), fault_prefix="best")
    tr.stop_after_steps = stop_after_steps
    if not quiet:
        print(f"resuming {rd.path} at step {tr.step} ({tr.phase} phase, epoch {tr.epoch} of "
              f"{tr.phase_epochs()} done, batch {tr.sampler.cursor} of the next)", flush=True)
    return _finish(tr, tr.run())


def _remove_stale_temporaries(rd):
    # A process killed while writing leaves its temporary file (".latest.npz.XXXX.tmp")
    # beside the intact previous checkpoint; nothing reads it, so it is only clutter.
    for folder in (rd.path, rd.checkpoints, rd.light_dir):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass


def _finish(tr, status):
    from minirocket.train.artifact import export_trainer
    rd = tr.rd
    if status == "interrupted":
        print(f"interrupted at step {tr.step}: checkpoint saved to {rd.latest}; continue with "
              f"`minirocket train --resume {rd.path}`", file=sys.stderr, flush=True)
        return 130
    if status == "stopped":
        if not tr.quiet:
            print(f"stopped after step {tr.step} as asked: checkpoint saved to {rd.latest}; "
                  f"continue with `minirocket train --resume {rd.path}`", flush=True)
        return 0
    # Export the best light net and summarise.
    art = export_trainer(tr, which="best")
    lines, data = summary(tr, art)
    rd.write_summary(lines, data)
    if not tr.quiet:
        for line in lines:
            print(line, flush=True)
    return 0


def summary(tr, artifact_path):
    """Summary lines and JSON for the end of a run."""
    metric = tr.bundle.metric
    last = {r["net"]: r for r in tr.history if r.get("phase", "main") == "main"}
    elapsed = tr.elapsed_before + (time.time() - tr.started)

    def fmt(v):
        return f"{100 * v:.2f}%" if metric == "accuracy" else f"{v:.4f}"
    lines = [f"done: {tr.step} steps in {elapsed:.1f}s training time"
             + (f" ({tr.skipped} non-finite steps skipped)" if tr.skipped else "")]
    for net in ("light", "booster"):
        if net in last:
            lines.append(f"  {net:<8} net: test {metric} {fmt(last[net][f'test_{metric}'])}, "
                         f"test loss {last[net]['test_loss']:.4f} (last epoch)")
    if tr.best is not None:
        lines.append(f"  best light net: test {metric} {fmt(tr.best['value'])} at epoch "
                     f"{tr.best['epoch']} -> {artifact_path}")
    lines.append(f"  run folder: {tr.rd.path} (config.json, metrics.jsonl, checkpoints/, "
                 f"light/, curves_*.png)")
    data = {"steps": tr.step, "training_seconds": elapsed, "skipped_steps": tr.skipped,
            "metric": metric, "last": last, "best": tr.best,
            "artifact": str(artifact_path), "config_hash": tr.cfg["config_hash"]}
    return lines, data


def audit_config(preset, file, overrides, flag_names, synthetic=False, batch=16, quiet=False):
    """Build a configuration's pair, run the routing audit on one batch, return the report."""
    from minirocket.rocket import audit
    cfg, notes = main_job_config(preset, file, overrides, flag_names)
    for line in notes:
        print(line, file=sys.stderr if quiet else sys.stdout, flush=True)
    eff, _ = config_mod.effective_config(cfg)
    if synthetic:
        bundle = _synthetic_bundle(eff, batch)
    else:
        # A fixed random subset of `batch` examples (files may be sorted by class).
        bundle = load_bundle(dict(eff["data"], limit_train=max(batch, 2), limit_test=2),
                             progress=not quiet)
        if not quiet:
            print(bundle.message, flush=True)
    pair = build_pair(eff, bundle)
    ops = pair.ops
    idx = np.arange(min(batch, bundle.n("train")))
    x = model_input(bundle, bundle.train_x, idx, bundle.preprocessing, ops,
                    np.dtype(eff["run"]["dtype"]))
    y = ops.asarray(bundle.train_y[idx])
    return audit(pair, x, y, make_objective(eff))


def _synthetic_bundle(cfg, n):
    from minirocket.train.datasets import DataBundle
    rng = np.random.default_rng(cfg["run"]["seed"])
    n = max(n, 4)
    if cfg["model"]["arch"] == "wrn":
        c = 1 if cfg["data"]["dataset"] == "fashion-mnist" else 3
        hw = 28 if c == 1 else 32
        imgs = rng.integers(0, 256, size=(n, hw, hw, c), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.int64)
        pre = {"kind": "image", "height": hw, "width": hw, "channels": c,
               "mean": [127.5] * c, "std": [64.0] * c}
        return DataBundle("image", "multiclass", 10, imgs, y, imgs, y, pre, "synthetic batch")
    sizes = [5, 7, 3, 4]
    cat = np.stack([rng.integers(0, s, n) for s in sizes], axis=1).astype(np.int64)
    num = rng.standard_normal((n, 3)).astype(np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    pre = {"kind": "tabular", "field_sizes": sizes, "num_names": ["a", "b", "c"],
           "field_names": ["f0", "f1", "f2", "f3"]}
    return DataBundle("tabular", "binary", 2, (cat, num), y, (cat, num), y, pre,
                      "synthetic batch")
