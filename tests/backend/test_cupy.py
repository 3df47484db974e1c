"""The CuPy backend: kernels, layers and whole nets against the NumPy reference.

Op-by-op parity runs in ``test_parity.py`` (its ``cupy`` parameter); these tests cover
what only a GPU run can show: every kernel compiles, whole nets train and serve on the
device, and data never leaves it silently. On a machine without a usable GPU every test
marked ``gpu`` is skipped with the reason reported by ``minirocket.backend._compat``.

Tolerances (float32): ``rtol 1e-4, atol 1e-4 * max|ref|`` on whole-net logits and
gradients (cuBLAS blocks its sums differently from OpenBLAS, and the order of additions
in a GEMM differs with the GPU's tile sizes); the embedding scatter-add uses atomics, so
its sums are compared with ``rtol 1e-6``.
"""
import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

import minirocket.backend
from minirocket.backend import _compat, _cupy_kernels


def test_every_kernel_source_is_declared():
    # Runs everywhere: the sources are plain strings, built lazily on a GPU.
    names = set(_cupy_kernels._SOURCES)
    assert {"im2col", "col2im", "affine", "bn_train", "bn_backward", "relu",
            "relu_backward", "avgpool", "avgpool_backward", "scatter_add"} <= names
    for name, (inp, out, body) in _cupy_kernels._SOURCES.items():
        assert inp and out and body.strip(), name


def test_cupy_ops_override_every_hot_primitive():
    # Runs everywhere: read the source (importing it needs CuPy), so that a primitive
    # added to Ops without a GPU version is noticed on a CPU-only machine too.
    path = os.path.join(os.path.dirname(minirocket.backend.__file__), "cupy_ops.py")
    with open(path, encoding="utf-8") as f:
        src = f.read()
    # ``_affine`` is where both evaluation-mode BN methods (plain and with ReLU) go.
    for name in ("im2col", "col2im", "conv2d", "conv2d_backward", "batchnorm_train",
                 "batchnorm_backward", "_affine", "relu",
                 "relu_backward", "avgpool2d", "avgpool2d_backward", "scatter_add_rows",
                 "unique_rows_sum"):
        assert f"def {name}(" in src, name


@pytest.mark.gpu
def test_every_kernel_compiles_and_runs():
    cp = _compat.cupy
    x = cp.arange(2 * 3 * 4 * 4, dtype=cp.float32).reshape(2, 3, 4, 4)
    from minirocket.backend import get_backend
    ops = get_backend("cupy")
    cols = ops.im2col(x, 3, 3, 1, 1)
    assert cols.shape == (2, 27, 16) and cols.dtype == cp.float32
    assert ops.col2im(cols, x.shape, 3, 3, 1, 1).shape == x.shape
    for name in _cupy_kernels._SOURCES:
        assert _cupy_kernels.kernel(name) is _cupy_kernels.kernel(name)   # built once


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wrn_step_matches_numpy(dtype):
    from minirocket import models
    from minirocket.backend import to_numpy
    from minirocket.losses import softmax_cross_entropy
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 8, 8)).astype(dtype)
    y = rng.integers(0, 5, 4)
    res = {}
    for backend in ("numpy", "cupy"):
        net = models.wrn(10, 2, 5, dtype=dtype, rng=1).to(backend)
        xp = net.ops.xp
        logits, ctx = net.forward(net.ops.asarray(x), train=True)
        _, g = softmax_cross_entropy(logits, xp.asarray(y))
        net.backward(ctx, g)
        assert logits.dtype == dtype
        res[backend] = (to_numpy(logits), {n: to_numpy(p.dense_grad())
                                           for n, p in net.named_parameters()})
    tol = dict(rtol=1e-4) if dtype == np.float32 else dict(rtol=1e-10)
    ref_l, ref_g = res["numpy"]
    got_l, got_g = res["cupy"]
    np.testing.assert_allclose(got_l, ref_l, atol=tol["rtol"] * np.abs(ref_l).max(), **tol)
    for n in ref_g:
        np.testing.assert_allclose(got_g[n], ref_g[n], atol=tol["rtol"] * np.abs(ref_g[n]).max(),
                                   **tol, err_msg=n)


@pytest.mark.gpu
def test_serving_on_gpu_matches_eval_net():
    from minirocket import models, serve
    from minirocket.backend import get_backend, to_numpy
    rng = np.random.default_rng(0)
    net = models.wrn(10, 1, 5)
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    ref = net.forward(x, train=False)[0]
    fast = serve.compile_light(net, backend="cupy")
    got = fast.predict(get_backend("cupy").asarray(x))
    assert isinstance(got, _compat.cupy.ndarray)
    np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.gpu
def test_host_array_on_gpu_net_is_an_error():
    from minirocket import models
    from minirocket.errors import ArgumentError
    net = models.wrn(10, 1, 5).to("cupy")
    with pytest.raises(ArgumentError, match="device"):
        net.forward(np.zeros((1, 3, 8, 8), np.float32), train=False)


# ------------------------------------------------------------------------ CPU emulation
# Without a GPU the kernel bodies are still checked: each ElementwiseKernel body is
# compiled as C++ inside a serial loop over i (a non-raw parameter becomes a reference to
# element i, a raw one a pointer, atomicAdd a plain +=) and compared with the reference.
# This checks the index arithmetic and the order of additions, not CUDA itself.
_CXX = shutil.which("g++")
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _emulated(name, dtype, scalars=()):
    in_p, out_p, body = _cupy_kernels._SOURCES[name]
    params = []
    for part in (in_p + "," + out_p).split(","):
        toks = part.split()
        raw = toks[0] == "raw"
        params.append((raw, toks[-2], toks[-1]))
    T = _CTYPE[np.dtype(dtype)]
    args, refs = [], []
    for raw, ty, nm in params:
        cty = {"T": T, "I": "long long", "int64": "long long", "bool": "bool"}[ty]
        if ty in ("int64", "bool") or nm in scalars:
            args.append(f"{cty} {nm}")
        elif raw:
            args.append(f"{cty}* {nm}")
        else:
            args.append(f"{cty}* {nm}_a")
            refs.append(f"{cty}& {nm} = {nm}_a[i];")
    src = (f"typedef {T} T;\n#include <cmath>\n#define atomicAdd(p, v) (*(p) += (v))\n"
           f"extern \"C\" void run({', '.join(args)}, long long n) {{\n"
           f"for (long long i = 0; i < n; ++i) {{ {' '.join(refs)}\n{body}\n}} }}\n")
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "k.cpp"), "w") as f:
        f.write(src)
    subprocess.run([_CXX, "-O1", "-shared", "-fPIC", os.path.join(d, "k.cpp"), "-o",
                    os.path.join(d, "k.so")], check=True, capture_output=True)
    fn = ctypes.CDLL(os.path.join(d, "k.so")).run

    def call(n, **values):
        argv, keep = [], []
        for raw, ty, nm in params:
            v = values[nm]
            if ty == "int64":
                argv.append(ctypes.c_longlong(int(v)))
            elif ty == "bool":
                argv.append(ctypes.c_bool(bool(v)))
            elif nm in scalars:
                argv.append((ctypes.c_float if T == "float" else ctypes.c_double)(float(v)))
            else:
                keep.append(v)
                argv.append(v.ctypes.data_as(ctypes.c_void_p))
        fn(*argv, ctypes.c_longlong(n))
    return call


needs_cxx = pytest.mark.skipif(_CXX is None, reason="g++ is not installed: the CPU emulation "
                                                    "of the CUDA kernel bodies needs it")


@needs_cxx
@pytest.mark.parametrize("case", [(2, 3, 9, 7, 3, 1, 1), (3, 4, 8, 8, 3, 2, 1),
                                  (2, 4, 8, 8, 1, 2, 0), (2, 3, 6, 6, 2, 3, 2)])
def test_emulated_im2col_col2im_are_exact(case):
    from minirocket.backend import get_backend
    ref = get_backend("numpy")
    N, C, H, W, k, s, p = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    want = ref.im2col(x, k, k, s, p)
    cols = np.empty_like(want)
    _emulated("im2col", np.float32)(cols.size, x=x, C=C, H=H, W=W, kh=k, kw=k, s=s, p=p,
                                    Ho=Ho, Wo=Wo, cols=cols)
    np.testing.assert_array_equal(cols, want)
    g = rng.standard_normal(want.shape).astype(np.float32)
    gx = np.empty_like(x)
    _emulated("col2im", np.float32)(gx.size, cols=g, C=C, H=H, W=W, kh=k, kw=k, s=s, p=p,
                                    Ho=Ho, Wo=Wo, gx=gx)
    np.testing.assert_array_equal(gx, ref.col2im(g, x.shape, k, k, s, p))


@needs_cxx
def test_emulated_elementwise_pool_and_scatter_kernels():
    from minirocket.backend import get_backend
    ref = get_backend("numpy")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    sc, sh = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    y = np.empty_like(x)
    _emulated("affine", np.float32)(x.size, x=x, scale=sc, shift=sh, C=3, P=72, relu=True, y=y)
    np.testing.assert_allclose(y, ref.batchnorm_relu_eval(x, sc, sh), rtol=1e-6)
    r = np.empty_like(x)
    _emulated("relu", np.float32)(x.size, x=x, y=r)
    np.testing.assert_array_equal(r, ref.relu(x))
    gy = rng.standard_normal(x.shape).astype(np.float32)
    gx = np.empty_like(x)
    _emulated("relu_backward", np.float32)(x.size, y=r, gy=gy, gx=gx)
    np.testing.assert_array_equal(gx, ref.relu_backward(r, gy))
    for k, s in [(2, 2), (3, 2), (2, 1)]:
        want = ref.avgpool2d(x, k, s)
        got = np.empty_like(want)
        inv = np.float32(1.0 / (k * k))
        _emulated("avgpool", np.float32, scalars=("inv",))(
            got.size, x=x, H=8, W=9, Ho=want.shape[2], Wo=want.shape[3], k=k, s=s, inv=inv, y=got)
        np.testing.assert_array_equal(got, want)
        g2 = rng.standard_normal(want.shape).astype(np.float32)
        back = np.empty_like(x)
        _emulated("avgpool_backward", np.float32, scalars=("inv",))(
            back.size, gy=g2, H=8, W=9, Ho=want.shape[2], Wo=want.shape[3], k=k, s=s, inv=inv,
            gx=back)
        np.testing.assert_array_equal(back, ref.avgpool2d_backward(g2, x.shape, k, s))
    idx = np.array([3, 7, 3, 0, 10, 3, 7, 5], np.int64)
    rows = rng.standard_normal((8, 4)).astype(np.float32)
    out = np.zeros((11, 4), np.float32)
    _emulated("scatter_add", np.float32)(rows.size, rows=rows, idx=idx, D=4, out=out)
    np.testing.assert_allclose(out, ref.scatter_add_rows((11, 4), idx, rows), rtol=1e-6)
