"""Helpers shared by the layer tests: input layouts, oracle comparison, gradient checks.

Every layer test follows the same pattern (in the spirit of a per-function test template):

1. ``make_input`` draws a seeded input and returns it in one of three memory layouts
   (``LAYOUTS``): C-contiguous, a transposed view and a strided view. The two views hold
   the same values as the contiguous array but are not C-contiguous, because hand-written
   kernels often assume C order.
2. ``assert_forward_matches`` compares the layer's forward with a NumPy oracle written
   differently from the implementation (nested loops, one-hot products, ...), and checks
   that a non-contiguous view gives the same output as its contiguous copy.
3. ``gradcheck`` runs :func:`minirocket.testing.check_module` in float64 and additionally
   asserts that the input and *every* parameter were actually checked and that no
   perturbation crossed a kink.
"""
import numpy as np

from minirocket.testing import check_module

LAYOUTS = ("contiguous", "transposed", "strided")

#: Forward tolerances per dtype (oracle computed in float64 from the same values).
FWD_TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def as_layout(x, layout):
    """Return an array equal to ``x`` (same shape, same values) in the requested layout.

    ``"transposed"``: the array is stored with its axes reversed and viewed back through
    ``np.transpose`` (an F-ordered view). ``"strided"``: every other element of a buffer
    twice as long on the last axis (``buf[..., ::2]``).
    """
    if layout == "contiguous":
        return np.ascontiguousarray(x)
    if layout == "transposed":
        stored = np.ascontiguousarray(np.transpose(x))
        view = np.transpose(stored)
    elif layout == "strided":
        # NaN in the skipped slots (floats): a kernel that reads them poisons its output.
        fill = np.nan if x.dtype.kind == "f" else 0
        buf = np.full(x.shape[:-1] + (2 * x.shape[-1],), fill, dtype=x.dtype)
        buf[..., ::2] = x
        view = buf[..., ::2]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    assert np.array_equal(view, x)
    return view


def make_input(rng, shape, dtype=np.float64, layout="contiguous", away_from=None, margin=0.1):
    """Standard-normal input of ``shape`` in ``layout``.

    ``away_from`` (a number, e.g. 0 for ReLU) pushes every value at least ``margin`` away
    from that point, so finite differences never cross a kink.
    """
    x = rng.standard_normal(shape)
    if away_from is not None:
        d = x - away_from
        x = away_from + np.sign(d) * (np.abs(d) + margin)
        x[d == 0] = away_from + margin
    return as_layout(x.astype(dtype), layout)


def assert_forward_matches(layer, x, expected, train=True, **kwargs):
    """Forward of ``layer`` equals the oracle output ``expected``; views equal copies.

    Returns the layer output.
    """
    y, _ = layer.forward(x, train, **kwargs)
    assert y.shape == expected.shape, (y.shape, expected.shape)
    assert y.dtype == x.dtype
    tol = FWD_TOL[x.dtype.type]
    np.testing.assert_allclose(y, expected, **tol)
    if not x.flags["C_CONTIGUOUS"]:
        y_copy, _ = layer.forward(np.ascontiguousarray(x), train, **kwargs)
        # Same values in, same arithmetic: the layout must not change the result beyond
        # summation-order rounding.
        np.testing.assert_allclose(y, y_copy, **tol)
    return y


def gradcheck(layer, x, *, check_input=True, **kwargs):
    """:func:`check_module` plus a check that the input and every parameter were checked.

    Raises :class:`~minirocket.testing.GradcheckError` (with the numeric and analytic
    values) on a mismatch. Returns the report.
    """
    report = check_module(layer, x, check_input=check_input, **kwargs)
    checked = {c.name for c in report.checks}
    wanted = {name for name, _ in layer.named_parameters()}
    if check_input:
        wanted.add("x")
    assert wanted == checked, f"checked {sorted(checked)}, expected {sorted(wanted)}"
    assert report.ok, report.table()
    # Every test keeps its inputs off non-differentiable points, so a reported kink would
    # mean either a broken layer or a broken detector.
    assert all(c.kinks == 0 for c in report.checks), report.table()
    return report
