"""minirocket against PyTorch CPU and ONNX Runtime, in one run, as a ratio table.

Install the comparison environment apart from the package's own (torch is never a
dependency of minirocket or its tests)::

    python3 -m venv .venv-compare
    .venv-compare/bin/pip install -e . -r benchmarks/requirements-compare.txt
    .venv-compare/bin/python benchmarks/compare.py --json docs/benchmarks.json

Without torch the script still times minirocket's backends and says what it skipped.
Every timing is a median over repeats after warm-up (numba's first-call compilation is
excluded); ratios are minirocket / PyTorch from the same run, since this machine's speed
drifts by +-20% between runs. Before timing, the PyTorch twins are loaded with the same
weights and their logits are checked against minirocket's.

minirocket's rows are timed in a child process that never imports torch (PyTorch's
OpenMP threads otherwise keep spinning on the cores minirocket's threads need); PyTorch
and ONNX Runtime follow in this process. That pair is one round; ``--rounds`` rounds
(default 3) alternate, each gives a ratio per row, and the table reports the median time
of each framework and the median of the per-round ratios, with the ratios of every round
beside it: the spread is part of the result on a machine that drifts.

Peak memory of the rocket step is measured in a fresh child process per framework: the
peak resident set (VmHWM) is reset once the model, optimizer and batch exist, and read
after three steps (so it includes optimizer state and any buffer kept between steps). A
step on a 2-image batch runs first, so that loading numba's compiled kernels (and
PyTorch's lazy initialisation) is not counted as the step's memory.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (CTR_DIM, CTR_FIELDS, CTR_NUMERIC, conv_flops, ctr_batch,  # noqa: E402
                     ctr_pair, environment, images, labels, light_wrn, make_rocket_trainer,
                     median_ms, rocket_wrn_pair, sgemm_gflops)

torch = ort = None
HAVE_TORCH = HAVE_ORT = False


def _import_frameworks():
    """Import PyTorch and ONNX Runtime, if installed, into this module's globals.

    Only the parent process and the PyTorch memory child do this: with torch loaded, its
    own OpenMP runtime (which read the spin settings before minirocket could set them)
    kept worker threads spinning on the 2 cores and slowed minirocket's step by 15-30%
    (measured: 1.6-1.8 s without torch imported, 2.0-2.3 s with), so minirocket is timed
    in a child process that never imports torch.
    """
    global torch, ort, HAVE_TORCH, HAVE_ORT
    try:
        import torch
        HAVE_TORCH = True
    except ImportError:
        return
    try:
        import onnxruntime as ort
        HAVE_ORT = True
    except ImportError:
        pass

TARGETS = {
    "wrn_b1": "<= 1.0x, aim for ONNX Runtime",
    "wrn_b32": "(no target)",
    "wrn_b256": "<= 1.0x, aim <= 0.5x",
    "rocket_step": "<= 1.5x, aim 1.0x",
    "ctr_b1": "<= 0.5x (beat ONNX Runtime)",
    "ctr_step": "<= 1.2x",
    "peak_mem": "<= 1.5x",
}


def _ort_session(model, args, names, path):
    torch.onnx.export(model, args, path, input_names=names, output_names=["logits"],
                      dynamic_axes={n: {0: "batch"} for n in names} | {"logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _peak_child(which):
    """Run in a child process: peak RSS growth (MiB) over two rocket steps after warm-up."""
    def vm(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024.0
        return float("nan")
    if which == "torch":
        _import_frameworks()
        import torch as th
        from _torch_models import rocket_wrn_pair as twin_pair, rocket_wrn_step
        th.set_num_threads(int(os.environ.get("COMPARE_THREADS", "2")))
        tb, tl = twin_pair()                              # warm-up on a tiny batch
        rocket_wrn_step(tb, tl)(th.from_numpy(images(2)), th.from_numpy(labels(2)))
        b, l = twin_pair()
        x, y = th.from_numpy(images(128)), th.from_numpy(labels(128))
        step = rocket_wrn_step(b, l)
        run = lambda: step(x, y)  # noqa: E731
    else:
        # Warm-up on a tiny batch: loads the compiled kernels (numba's code and its LLVM
        # machinery are not the step's memory) without allocating batch-sized arrays.
        make_rocket_trainer(rocket_wrn_pair().to(which), images(2), labels(2))()
        pair = rocket_wrn_pair().to(which)
        run = make_rocket_trainer(pair, images(128), labels(128))
    # Baseline: model, optimizer and data built, nothing run yet. The peak then includes
    # everything a step allocates, also buffers kept between steps (minirocket's numba
    # scratch, optimizer momenta, PyTorch's allocator caches).
    before = vm("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:   # reset VmHWM to the current RSS
        f.write("5")
    for _ in range(3):
        run()
    print(json.dumps({"peak_growth_mib": vm("VmHWM:") - before, "rss_before_mib": before}))


def _child_json(*flags):
    """Run this script with ``flags`` in a fresh process; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *flags],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_memory(which):
    return _child_json("--peak-child", which)


def _ours_child(backend, quick, threads):
    """Time every minirocket row in this (torch-free) process; print them as JSON."""
    from minirocket import serve
    from minirocket.backend import get_backend
    r = 3 if quick else 1
    ops = get_backend(backend)
    out = {"sgemm_2048_gflops": sgemm_gflops()}
    net = light_wrn()
    fast = serve.compile_light(net, backend=backend)
    ref_serve = serve.compile_light(net, backend="numpy")
    for n, rep in ((1, 200), (32, 20), (256, 7)):
        x = images(n)
        xs = ops.asarray(x)
        out[f"wrn_b{n}"] = median_ms(lambda: fast.predict(xs), repeat=rep // r,
                                     min_time=0.5 / r)[0]
        out[f"wrn_b{n}_numpy"] = median_ms(lambda: ref_serve.predict(x),
                                           repeat=max(3, rep // (4 * r)))[0]
    step = make_rocket_trainer(rocket_wrn_pair().to(backend), ops.asarray(images(128)),
                               labels(128))
    out["rocket_step"] = median_ms(step, repeat=max(3, 7 // r))[0]
    cp = ctr_pair()
    cfast = serve.compile_light(cp, backend=backend)
    cref = serve.compile_light(cp, backend="numpy")
    cat, num, _ = ctr_batch(1)
    out["ctr_b1"] = median_ms(lambda: cfast.predict((cat, num)), repeat=2000 // r,
                              min_time=1.0 / r)[0]
    out["ctr_b1_numpy"] = median_ms(lambda: cref.predict((cat, num)), repeat=500 // r)[0]
    cat, num, yc = ctr_batch(1024)
    # An MLP has no convolutions to spread over worker threads: its GEMMs want OpenBLAS's
    # own threads (as many as PyTorch gets; the trainer's default for MLP pairs). One
    # thread is timed too.
    for key, bt in (("ctr_step", threads), ("ctr_step_1thread", 1)):
        cstep = make_rocket_trainer(ctr_pair().to(backend), (cat, num), yc, lr=0.05,
                                    blas_threads=bt)
        out[key] = median_ms(cstep, repeat=max(5, 15 // r))[0]
    out["env"] = environment()
    print(json.dumps(out))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch / ORT intra-op threads")
    ap.add_argument("--backend", default="numba", help="minirocket backend to compare")
    ap.add_argument("--json", help="write all figures to this JSON file")
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternations of minirocket and PyTorch timings; medians reported")
    ap.add_argument("--peak-child", help=argparse.SUPPRESS)
    ap.add_argument("--ours-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peak_child:
        _peak_child(args.peak_child)
        return 0
    if args.ours_child:
        _ours_child(args.backend, args.quick, args.threads)
        return 0

    _import_frameworks()
    r = 3 if args.quick else 1
    rows, extra = {}, {}
    if HAVE_TORCH:
        torch.set_num_threads(args.threads)
        os.environ["COMPARE_THREADS"] = str(args.threads)
    env = {}
    env["torch"] = torch.__version__ if HAVE_TORCH else "(not installed)"
    env["onnxruntime"] = ort.__version__ if HAVE_ORT else "(not installed)"
    env["torch_threads"] = str(torch.get_num_threads()) if HAVE_TORCH else "-"
    env["rounds"] = str(args.rounds)

    # The PyTorch and ONNX Runtime twins: built once, their logits checked against
    # minirocket's, then timed once per round. key -> (callable, repeat, min_time).
    torch_fns, ort_fns = {}, {}
    net = light_wrn()
    cp = ctr_pair()
    if HAVE_TORCH:
        from _torch_models import (CTRLightInfer, CTRMLP, WRN as TWRN, ctr_pair as tctr_pair,
                                   ctr_step, load_ctr_light, load_wrn,
                                   rocket_wrn_pair as twin_pair, rocket_wrn_step)
        twin = load_wrn(TWRN(16, 1), net).eval()
        xc = images(4)
        with torch.inference_mode():
            extra["wrn_logit_maxdiff_vs_torch"] = float(np.abs(
                twin(torch.from_numpy(xc)).numpy() - net.forward(xc, train=False)[0]).max())
        sess = None
        if HAVE_ORT:
            sess = _ort_session(twin, (torch.from_numpy(xc),), ["x"],
                                os.path.join(tempfile.mkdtemp(), "w.onnx"))
        for n, rep in ((1, 200), (32, 20), (256, 7)):
            x = images(n)
            xt = torch.from_numpy(x)
            torch_fns[f"wrn_b{n}"] = (lambda xt=xt: twin(xt), rep // r, 0.5 / r)
            if sess is not None:
                ort_fns[f"wrn_b{n}"] = (lambda x=x: sess.run(None, {"x": x}), rep // r, 0.5 / r)
        tb, tl = twin_pair()
        tstep = rocket_wrn_step(tb, tl)
        xt, yt = torch.from_numpy(images(128)), torch.from_numpy(labels(128))
        torch_fns["rocket_step"] = (lambda: tstep(xt, yt), max(3, 7 // r), 0.0)
        cat, num, _ = ctr_batch(1)
        tlight = load_ctr_light(CTRMLP(CTR_FIELDS, CTR_NUMERIC, CTR_DIM, (200, 80), False),
                                cp.light).eval()
        tinf = CTRLightInfer(tlight, CTR_FIELDS).eval()
        ct, nt = torch.from_numpy(cat), torch.from_numpy(num)
        with torch.inference_mode():
            extra["ctr_logit_maxdiff_vs_torch"] = float(np.abs(
                tinf(ct, nt).numpy() - cp.light.forward((cat, num), train=False)[0]).max())
        torch_fns["ctr_b1"] = (lambda: tinf(ct, nt), 2000 // r, 1.0 / r)
        if HAVE_ORT:
            s2 = _ort_session(tinf, (ct, nt), ["cat", "num"],
                              os.path.join(tempfile.mkdtemp(), "c.onnx"))
            ort_fns["ctr_b1"] = (lambda: s2.run(None, {"cat": cat, "num": num}), 2000 // r,
                                 1.0 / r)
        cat2, num2, yc2 = ctr_batch(1024)
        ts = ctr_step(*tctr_pair(CTR_FIELDS, CTR_NUMERIC, CTR_DIM))
        c2, n2, y2 = (torch.from_numpy(cat2), torch.from_numpy(num2),
                      torch.from_numpy(yc2.astype(np.float32)))
        torch_fns["ctr_step"] = (lambda: ts(c2, n2, y2), max(5, 15 // r), 0.0)

    def time_all(fns):
        out = {}
        for key, (fn, rep, min_time) in fns.items():        # empty without torch
            with torch.inference_mode(key not in ("rocket_step", "ctr_step")):
                out[key] = median_ms(fn, repeat=rep, min_time=min_time)[0]
        return out

    # Rounds: minirocket in a child without torch, then PyTorch and ONNX Runtime here.
    # Each round gives a ratio per row; the table reports medians over the rounds.
    flags = ["--ours-child", "--backend", args.backend, "--threads", str(args.threads)]
    rounds = []
    for _ in range(args.rounds):
        ours = _child_json(*flags, *(["--quick"] if args.quick else []))
        rounds.append((ours, time_all(torch_fns), time_all(ort_fns)))

    def med(values):
        values = [v for v in values if v is not None]
        return float(np.median(values)) if values else None

    ours = {k: med([o[k] for o, _, _ in rounds]) for k in rounds[0][0] if k != "env"}
    roof = ours["sgemm_2048_gflops"]
    env["sgemm_2048_gflops"] = f"{roof:.0f}"

    def rec(key, label, numpy_ref=None, note=""):
        per_round = [o[key] / t[key] for o, t, _ in rounds if t.get(key)]
        rows[key] = {"work": label, "ours_ms": ours[key], "numpy_ms": numpy_ref,
                     "torch_ms": med([t.get(key) for _, t, _ in rounds]),
                     "ort_ms": med([o.get(key) for _, _, o in rounds]),
                     "target": TARGETS[key], "ratio": med(per_round),
                     "ratio_per_round": per_round, "note": note}

    scaling = {}
    for n in (1, 32, 256):
        gf = conv_flops(net, n) / (ours[f"wrn_b{n}"] * 1e-3) / 1e9
        rec(f"wrn_b{n}", f"WRN-16-1 light-net inference, batch {n}", ours[f"wrn_b{n}_numpy"],
            f"{gf:.0f} GFLOP/s = {100 * gf / roof:.0f}% of sgemm roof")
        scaling[f"batch{n}"] = ours[f"wrn_b{n}"]
    rec("rocket_step", "rocket step WRN-40-1 + WRN-16-1 interval, batch 128 (fwd+bwd+SGD)",
        note="convolutions on numba's worker threads, OpenBLAS held to 1 thread (the "
             "trainer's default for WRN pairs)")
    rec("ctr_b1", "CTR light MLP inference, batch 1", ours["ctr_b1_numpy"])
    rec("ctr_step", "CTR rocket step, batch 1024, sparse embedding update",
        note=f"OpenBLAS {args.threads} threads (the trainer's default for MLP pairs); "
             f"{ours['ctr_step_1thread']:.0f} ms with 1 thread (`train --blas-threads 1`)")

    # ---------------------------------------------------------------- peak memory
    mem_ours = peak_memory(args.backend)["peak_growth_mib"]
    mem_t = peak_memory("torch")["peak_growth_mib"] if HAVE_TORCH else None
    rows["peak_mem"] = {"work": "peak memory growth of the rocket step (MiB)",
                        "ours_ms": mem_ours, "numpy_ms": None, "torch_ms": mem_t,
                        "ort_ms": None, "target": TARGETS["peak_mem"],
                        "ratio": (mem_ours / mem_t) if mem_t else None,
                        "ratio_per_round": [], "note": "MiB, not ms (one child per framework)"}

    # ---------------------------------------------------------------- report
    env = {**rounds[-1][0]["env"], **env}   # the last child's, after its runs
    print("environment:")
    for k, v in env.items():
        print(f"  {k}: {v}")
    for k, v in extra.items():
        print(f"  {k}: {v:.2e}")
    if not HAVE_TORCH:
        print("  torch is not installed: PyTorch and ONNX Runtime columns are skipped "
              "(pip install -r benchmarks/requirements-compare.txt)")

    def f(v):
        return "-" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.1f}")
    print()
    print(f"| work | minirocket {args.backend} (ms) | NumPy reference (ms) | PyTorch (ms) | "
          f"ONNX Runtime (ms) | ratio to PyTorch | per round | target | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows.values():
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        each = " / ".join(f"{v:.2f}" for v in row["ratio_per_round"]) or "-"
        print(f"| {row['work']} | {f(row['ours_ms'])} | {f(row['numpy_ms'])} | "
              f"{f(row['torch_ms'])} | {f(row['ort_ms'])} | {ratio} | {each} | "
              f"{row['target']} | {row['note']} |")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"env": env, "extra": extra, "rows": rows, "scaling": scaling}, fh,
                      indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
