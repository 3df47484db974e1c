"""Write numba's ``parallel_diagnostics`` for every parallel kernel to a text file.

The report says which loops were parallelised, fused and hoisted; keep it next to any
claimed speed-up. Usage::

    python benchmarks/numba_diagnostics.py docs/numba_parallel_diagnostics.txt
"""
import contextlib
import io
import os
import sys
import tempfile

# The report exists only for functions compiled in this process (kernels loaded from the
# on-disk cache carry no diagnostics): point the cache at an empty folder first.
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-diag-")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(path):
    from minirocket.backend import _numba_kernels as nk
    from minirocket.backend import get_backend
    ops = get_backend("numba")
    rng = np.random.default_rng(0)
    # Compile every kernel's parallel build once on float32 data of realistic size.
    nk_saved = nk.SERIAL_BELOW
    nk.SERIAL_BELOW = 0
    try:
        x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
        W = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
        y = ops.conv2d(x, W, 1, 1)
        ops.conv2d_backward(x, W, y, 1, 1)
        g = np.ones(16, np.float32)
        out = ops.batchnorm_train(x, g, g, 1e-5, (0, 2, 3))
        ops.batchnorm_backward(out[1], out[4], g, x, (0, 2, 3))
        ops.batchnorm_relu_eval(x, g, g)
        ops.relu_backward(ops.relu(x), x)
        ops.avgpool2d_backward(ops.avgpool2d(x, 2, 2), x.shape, 2, 2)
        ops.scatter_add_rows((100, 8), rng.integers(0, 100, 4096),
                             rng.standard_normal((4096, 8)).astype(np.float32))
    finally:
        nk.SERIAL_BELOW = nk_saved
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for name in sorted(vars(nk)):
            k = getattr(nk, name)
            if isinstance(k, nk._Kernel) and k.parallel.signatures:
                print(f"===== {name} =====")
                k.parallel.parallel_diagnostics(level=2)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    print(f"wrote {path} ({len(buf.getvalue().splitlines())} lines)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "numba_parallel_diagnostics.txt")
