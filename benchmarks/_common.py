"""Shared set-up of the benchmarks: the workloads, timing and the environment record.

Workloads (float32, CIFAR-sized images, the paper's CTR widths):

* light-net inference: WRN-16-1 (light net of the rocket pair), batch 1 / 32 / 256;
* rocket training step: WRN-40-1 booster + WRN-16-1 light, interval sharing, batch 128,
  forward + backward + SGD with momentum;
* CTR pair: 26 categorical fields of 10,000 ids (embedding width 8) + 13 numeric
  features, booster 720-360-240-180-90 with BN, light 200-80; light inference at batch 1,
  rocket step at batch 1024 with row-sparse embedding updates.

Timing on the CPU is ``time.perf_counter`` around the call after warm-up (numba compiles
on its first call, which is excluded); medians are reported with the spread (IQR).
"""
import os
import platform
import time

import numpy as np

CTR_FIELDS = [10_000] * 26
CTR_NUMERIC = 13
CTR_DIM = 8
INFER_BATCHES = (1, 32, 256)


def median_ms(fn, repeat=7, warmup=1, min_time=0.0):
    """Median and inter-quartile range (ms) of ``repeat`` timed calls after ``warmup``.

    With ``min_time`` > 0, calls are repeated until that many seconds are spent (at least
    ``repeat`` calls), which steadies sub-millisecond timings.
    """
    for _ in range(warmup):
        fn()
    ts = []
    t_end = time.perf_counter() + min_time
    while len(ts) < repeat or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts = np.asarray(ts) * 1e3
    q1, q3 = np.percentile(ts, [25, 75])
    return float(np.median(ts)), float(q3 - q1), len(ts)


def light_wrn(width=1, depth=16, rng=0):
    """The served light net: WRN-depth-width with non-trivial BN running statistics."""
    from minirocket import models
    net = models.wrn(depth, width, 10, rng=rng)
    randomize_bn(net, rng)
    return net


def randomize_bn(net, rng=0):
    """Running statistics as after training (the initial 0 / 1 would hide folding errors)."""
    from minirocket.layers import BatchNorm
    g = np.random.default_rng(rng)
    for _, m in net.named_modules():
        if isinstance(m, BatchNorm):
            C = m.num_features
            m.running_mean.data = (g.standard_normal(C) * 0.2).astype(m.running_mean.data.dtype)
            m.running_var.data = g.uniform(0.5, 2.0, C).astype(m.running_var.data.dtype)
            m.beta.data[...] = (g.standard_normal(C) * 0.1).astype(m.beta.data.dtype)
    return net


def images(n, rng=0):
    return np.random.default_rng(rng).standard_normal((n, 3, 32, 32)).astype(np.float32)


def labels(n, k=10, rng=0):
    return np.random.default_rng(rng + 1).integers(0, k, n)


def rocket_wrn_pair(rng=0):
    from minirocket import models
    return models.rocket_wrn(light_depth=16, booster_depth=40, width=1, num_classes=10,
                             share="interval", rng=rng)


def ctr_pair(rng=0):
    from minirocket import models
    return models.rocket_mlp(CTR_FIELDS, CTR_NUMERIC, embed_dim=CTR_DIM, rng=rng)


def ctr_batch(n, rng=0):
    g = np.random.default_rng(rng)
    cat = np.stack([g.integers(0, v, n) for v in CTR_FIELDS], axis=1).astype(np.int64)
    num = g.standard_normal((n, CTR_NUMERIC)).astype(np.float32)
    return cat, num, g.integers(0, 2, n)


def make_rocket_trainer(pair, x, y, lr=0.1, blas_threads=1):
    """A closure running one full rocket step: zero_grad, forward + backward, SGD step.

    OpenBLAS runs on ``blas_threads`` threads during the step, as in ``minirocket train``
    (``run.blas_threads``, default 1); None leaves the process's setting.
    """
    import contextlib

    from minirocket.backend.blas import blas_threads as blas_scope
    from minirocket.optim import SGD
    from minirocket.rocket import RocketObjective, rocket_step
    objective = RocketObjective(hint="logits_mse", lam=0.03, grad_block=True)
    opt = SGD(pair, lr=lr, momentum=0.9, weight_decay=5e-4)

    def step():
        with blas_scope(blas_threads) if blas_threads else contextlib.nullcontext():
            opt.zero_grad()
            rocket_step(pair, x, y, objective, check_grads=False)
            opt.step()
    return step


def conv_flops(net, n, hw=32):
    """Multiply-adds x 2 of every conv and the fc of a WRN forward at batch ``n``."""
    from minirocket.layers import Conv2d
    total = 0
    sizes = {}
    # Output size of each conv: groups g >= 1 halve the resolution in their first block.
    for name, m in net.named_modules():
        if isinstance(m, Conv2d):
            g = 0
            if name.startswith("group"):
                g = int(name[5])
            sizes[name] = hw >> g
            O, C, kh, kw = m.W.data.shape
            total += 2 * n * O * C * kh * kw * sizes[name] ** 2
    fc = net.fc.W.data
    return total + 2 * n * fc.shape[0] * fc.shape[1]


def environment():
    """Library versions, threads, BLAS and CPU, as a dict of strings."""
    import numba
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "machine": platform.machine(),
            "cpu_count": str(os.cpu_count()),
            "NUMBA_NUM_THREADS": str(numba.config.NUMBA_NUM_THREADS),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "(unset)"),
            # Other processes on a 2-core machine skew every figure: record the load.
            "loadavg_1_5_15min": " ".join(f"{v:.2f}" for v in os.getloadavg())}
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:
        info["numba_threading_layer"] = "(not initialised yet)"
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                info["blas"] = (f"{pool.get('internal_api')} {pool.get('version')} "
                                f"{pool.get('architecture')} threads={pool.get('num_threads')}")
                break
    except ImportError:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{cfg.get('name')} {cfg.get('version')} (threadpoolctl not installed)"
    return info


def sgemm_gflops(n=2048, repeat=5):
    """NumPy float32 GEMM rate (GFLOP/s) at n x n x n: the machine's practical roof."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    ms, _, _ = median_ms(lambda: a @ a, repeat=repeat)
    return 2 * n ** 3 / (ms * 1e-3) / 1e9
