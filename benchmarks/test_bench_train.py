"""Rocket training step: WRN-40-1 booster + WRN-16-1 light, interval sharing, batch 128.

One round = zero_grad + forward of both nets + losses + backward + SGD (momentum 0.9,
weight decay 5e-4). Run::

    pytest benchmarks/test_bench_train.py --benchmark-columns=median,iqr,rounds
"""
import pytest

from _common import images, labels, make_rocket_trainer, rocket_wrn_pair
from minirocket.backend import available_backends, get_backend

BACKENDS = [b for b in ("numpy", "numba", "cupy") if b in available_backends()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rocket_step_wrn(benchmark, backend):
    pair = rocket_wrn_pair().to(backend)
    ops = get_backend(backend)
    step = make_rocket_trainer(pair, ops.asarray(images(128)), ops.asarray(labels(128)))
    benchmark.group = "rocket step WRN-40-1 + WRN-16-1, batch 128"
    benchmark.extra_info.update(backend=backend)
    rounds = 2 if backend == "numpy" else 5
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=1)
