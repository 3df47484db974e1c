"""Light-net (WRN-16-1) inference by batch size for every available backend.

Rows: the training-mode net evaluated with ``forward(x, train=False)`` (the reference
path, per backend) and the serving path :func:`minirocket.serve.compile_light` (BN folded,
no context), at batch 1, 32 and 256. Run::

    pytest benchmarks/test_bench_inference.py --benchmark-columns=median,iqr,rounds
"""
import numpy as np
import pytest

from _common import INFER_BATCHES, images, light_wrn
from minirocket import serve
from minirocket.backend import available_backends, get_backend

BACKENDS = [b for b in ("numpy", "numba", "cupy") if b in available_backends()]


def _rounds(n):
    return {1: 200, 32: 20, 256: 5}[n]


@pytest.mark.parametrize("batch", INFER_BATCHES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_predict(benchmark, backend, batch):
    net = light_wrn()
    fast = serve.compile_light(net, backend=backend)
    ops = get_backend(backend)
    x = ops.asarray(images(batch))
    benchmark.group = f"light WRN-16-1 inference, batch {batch}"
    benchmark.extra_info.update(backend=backend, path="serve", batch=batch)
    if backend == "cupy":
        # GPU work is asynchronous: time it with CUDA events (cupyx.profiler.benchmark),
        # reporting the CPU-side and GPU-side medians separately, and keep a synchronised
        # wall-clock row for pytest-benchmark.
        from cupyx.profiler import benchmark as cupy_benchmark
        res = cupy_benchmark(fast.predict, (x,), n_repeat=_rounds(batch), n_warmup=5)
        benchmark.extra_info.update(
            cpu_median_ms=float(np.median(res.cpu_times)) * 1e3,
            gpu_median_ms=float(np.median(res.gpu_times[0])) * 1e3)

        def run():
            fast.predict(x)
            ops.xp.cuda.Device().synchronize()     # time the GPU work, not the launch
        benchmark.pedantic(run, rounds=_rounds(batch), warmup_rounds=2)
    else:
        benchmark.pedantic(fast.predict, args=(x,), rounds=_rounds(batch), warmup_rounds=2)


@pytest.mark.parametrize("batch", INFER_BATCHES)
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "cupy"])
def test_eval_forward(benchmark, backend, batch):
    net = light_wrn().to(backend)
    x = get_backend(backend).asarray(images(batch))
    benchmark.group = f"light WRN-16-1 inference, batch {batch}"
    benchmark.extra_info.update(backend=backend, path="forward(train=False)", batch=batch)
    benchmark.pedantic(net.forward, args=(x,), kwargs={"train": False},
                       rounds=max(2, _rounds(batch) // 4), warmup_rounds=1)


@pytest.mark.parametrize("batch", INFER_BATCHES)
@pytest.mark.skipif("cupy" not in BACKENDS, reason="no usable GPU: the host-to-device "
                                                   "transfer row needs CuPy and a GPU")
def test_host_to_device_transfer(benchmark, batch):
    # A separate line: at small batches the copy to the GPU dominates the inference.
    ops = get_backend("cupy")
    x = images(batch)

    def run():
        ops.asarray(x)
        ops.xp.cuda.Device().synchronize()
    benchmark.group = f"light WRN-16-1 inference, batch {batch}"
    benchmark.extra_info.update(backend="cupy", path="host->device copy", batch=batch)
    benchmark.pedantic(run, rounds=_rounds(batch), warmup_rounds=2)
