"""CTR pair: light MLP inference at batch 1 and the rocket step at batch 1024.

The embedding tables (26 x 10,000 x 8) take row-sparse gradients; SGD with momentum
updates only the touched rows. Run::

    pytest benchmarks/test_bench_ctr.py --benchmark-columns=median,iqr,rounds
"""
import pytest

from _common import ctr_batch, ctr_pair, make_rocket_trainer
from minirocket import serve
from minirocket.backend import available_backends, get_backend

BACKENDS = [b for b in ("numpy", "numba", "cupy") if b in available_backends()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctr_light_predict_batch1(benchmark, backend):
    pair = ctr_pair()
    fast = serve.compile_light(pair, backend=backend)
    ops = get_backend(backend)
    cat, num, _ = ctr_batch(1)
    x = (ops.asarray(cat), ops.asarray(num))
    benchmark.group = "CTR light MLP inference, batch 1"
    benchmark.extra_info.update(backend=backend, path="serve")
    benchmark.pedantic(fast.predict, args=(x,), rounds=2000, warmup_rounds=10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctr_rocket_step_batch1024(benchmark, backend):
    pair = ctr_pair().to(backend)
    ops = get_backend(backend)
    cat, num, y = ctr_batch(1024)
    step = make_rocket_trainer(pair, (ops.asarray(cat), ops.asarray(num)), ops.asarray(y))
    benchmark.group = "CTR rocket step, batch 1024"
    benchmark.extra_info.update(backend=backend)
    benchmark.pedantic(step, rounds=10, warmup_rounds=1)
