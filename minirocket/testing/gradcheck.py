"""Finite-difference gradient checks in float64.

Two modes:

``full``
    Every element of every tensor is perturbed: ``(f(t + eps e_i) - f(t - eps e_i)) / 2eps``
    is compared with the analytic gradient element ``i``. For small tensors.
``directional``
    One random unit direction ``d`` per tensor: the directional derivative
    ``(f(t + eps d) - f(t - eps d)) / 2eps`` is compared with ``<g, d>``. Two function
    evaluations per tensor whatever its size, so it scales to whole nets.

The scalar being differentiated is ``f = sum(gy * y)`` for a random upstream gradient
``gy`` (never all ones: an all-ones gy hides transposed or mis-summed gradients that happen
to cancel).

Non-differentiable points (a ReLU input at exactly 0, a max with ties) are detected by
comparing the one-sided differences ``(f(t+eps) - f(t)) / eps`` and ``(f(t) - f(t-eps)) /
eps``: on a smooth point they agree to O(eps), across a kink they differ by the jump. A
failing element that sits on a detected kink is reported as such, so the user knows to move
the input, not to suspect backward.

Tolerances: a tensor passes when ``rel_err <= rtol`` or ``abs_err <= atol``. By default
(``atol=None``) ``atol`` is the *rounding floor* of the central difference,
``64 * macheps * |f| / eps``: each evaluation of ``f`` is exact only to a few ulps of
``|f|``, and dividing a difference of two evaluations by ``2 eps`` magnifies that error.
Below the floor the numeric estimate is noise, so an analytic gradient that is exactly zero
(a bias followed by batch norm, an unused output head) is judged against the floor instead of
failing on a meaningless relative error of 1.
"""
import copy
from dataclasses import dataclass, field

import numpy as np

from minirocket.errors import ArgumentError


#: Rounding allowance of one evaluation of ``f``, in ulps of ``|f|`` (a sum of many products
#: is typically a few ulps off; 64 leaves room for long reductions).
ROUNDING_ULPS = 64


def rounding_floor(f0, eps):
    """Absolute error of a central difference caused by rounding alone.

    Each of ``f(t + eps)`` and ``f(t - eps)`` carries an error of about
    ``ROUNDING_ULPS * macheps * |f|``; their difference divided by ``2 eps`` carries about
    ``ROUNDING_ULPS * macheps * |f| / eps``. (The truncation error, ``eps**2 / 6`` times the
    third derivative, is far smaller at the default eps = 1e-6.)
    """
    return ROUNDING_ULPS * np.finfo(np.float64).eps * abs(f0) / eps


class GradcheckError(AssertionError):
    """A gradient did not match its finite-difference estimate (message has the details)."""


def rel_error(a, b, floor=1e-300):
    """Relative error ``||a - b|| / max(||a||, ||b||)`` (0 when both are exactly zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = max(np.linalg.norm(a), np.linalg.norm(b), floor)
    diff = np.linalg.norm(a - b)
    return 0.0 if diff == 0.0 else float(diff / denom)


@dataclass
class TensorCheck:
    """Result for one tensor.

    Attributes
    ----------
    name : str
    shape : tuple
    mode : str
    rel_err : float
        ``||analytic - numeric|| / max(||analytic||, ||numeric||)``.
    abs_err : float
        ``max |analytic - numeric|``.
    ok : bool
    kinks : int
        Perturbations that crossed a non-differentiable point.
    worst : tuple or None
        Index of the worst element (full mode).
    analytic, numeric : float
        Values at the worst element (full) or the directional derivatives.
    """
    name: str
    shape: tuple
    mode: str
    rel_err: float
    abs_err: float
    ok: bool
    kinks: int = 0
    worst: tuple = None
    analytic: float = 0.0
    numeric: float = 0.0


@dataclass
class GradcheckReport:
    """All tensors checked in one call, with the settings used.

    ``atol`` is the absolute tolerance actually applied; ``atol_auto`` is True when it is the
    rounding floor chosen by :func:`check_gradients` (``atol=None``).
    """
    checks: list = field(default_factory=list)
    eps: float = 1e-6
    rtol: float = 1e-6
    atol: float = 1e-10
    atol_auto: bool = False

    @property
    def ok(self):
        return all(c.ok for c in self.checks)

    def failures(self):
        return [c for c in self.checks if not c.ok]

    def table(self):
        """Human-readable table: one row per tensor."""
        rows = [f"{'tensor':<40} {'shape':<18} {'mode':<11} {'rel err':>10} {'abs err':>10} "
                f"{'kinks':>5}  ok"]
        for c in self.checks:
            rows.append(f"{c.name:<40} {str(c.shape):<18} {c.mode:<11} {c.rel_err:>10.2e} "
                        f"{c.abs_err:>10.2e} {c.kinks:>5}  {'yes' if c.ok else 'NO'}")
        rows.append(f"(eps={self.eps:g}, rtol={self.rtol:g}, atol={self.atol:.3g}"
                    f"{' = rounding floor' if self.atol_auto else ''})")
        return "\n".join(rows)

    def __str__(self):
        return self.table()

    def raise_if_failed(self):
        bad = self.failures()
        if not bad:
            return self
        lines = ["gradient check failed:"]
        for c in bad:
            where = f" at index {c.worst}" if c.worst is not None else ""
            kink = (f"; {c.kinks} perturbation(s) crossed a non-differentiable point, move the "
                    f"input away from it" if c.kinks else "")
            lines.append(f"  {c.name} {c.shape} [{c.mode}]: analytic {c.analytic:.10g} vs "
                         f"numeric {c.numeric:.10g}{where}; rel err {c.rel_err:.3e}, abs err "
                         f"{c.abs_err:.3e} (eps={self.eps:g}, rtol={self.rtol:g}, "
                         f"atol={self.atol:.3g}){kink}")
        raise GradcheckError("\n".join(lines))


def _is_kink(f0, fp, fm, eps, floor):
    fwd = (fp - f0) / eps
    bwd = (f0 - fm) / eps
    # Smooth: |fwd - bwd| = |fp - 2 f0 + fm| / eps ~ eps * |f''| + 4 * rounding floor.
    # A kink leaves a jump of the size of the gradient itself, whatever eps.
    return abs(fwd - bwd) > 1e-3 * max(abs(fwd), abs(bwd)) + 4 * floor


def numerical_grad(f, t, eps=1e-6):
    """Full central-difference gradient of the scalar ``f()`` with respect to array ``t``.

    ``t`` is perturbed in place, one element at a time, and restored.

    Returns
    -------
    g : float64 array, shape of t
    kinks : bool array, shape of t
    """
    g = np.zeros(t.shape, dtype=np.float64)
    kinks = np.zeros(t.shape, dtype=bool)
    f0 = float(f())
    floor = rounding_floor(f0, eps)
    for i in np.ndindex(t.shape):
        old = t[i].item()
        # Divide by the step actually taken: old + eps is rounded to float64, which for
        # |old| >> 1 changes the step by up to ulp(old) / 2.
        up, down = old + eps, old - eps
        try:
            t[i] = up
            fp = float(f())
            t[i] = down
            fm = float(f())
        finally:
            t[i] = old          # restored even when f raises: t may be the caller's array
        g[i] = (fp - fm) / (up - down)
        kinks[i] = _is_kink(f0, fp, fm, eps, floor)
    return g, kinks


def check_gradients(f, tensors, analytic, *, mode="auto", eps=1e-6, rtol=1e-6, atol=None,
                    seed=0, full_max_size=64):
    """Compare analytic gradients with central differences of the scalar ``f()``.

    Parameters
    ----------
    f : callable
        ``f()`` evaluates the scalar from the *current contents* of ``tensors``.
    tensors : dict of str -> float64 array
        Arrays perturbed in place (restored afterwards).
    analytic : dict of str -> array
        Analytic gradient of ``f`` with respect to each tensor (same keys and shapes).
    mode : {"auto", "full", "directional"}
        ``auto`` uses ``full`` for tensors of at most ``full_max_size`` elements.
    eps, rtol : float
        Step of the central difference; relative tolerance.
    atol : float or None
        Absolute tolerance. None (default) uses :func:`rounding_floor` of ``f`` at the
        unperturbed point, the smallest error finite differences can resolve. A tensor
        passes if ``rel_err <= rtol`` or ``abs_err <= atol``.
    seed : int
        Seed of the random directions.

    Returns
    -------
    GradcheckReport
    """
    if mode not in ("auto", "full", "directional"):
        raise ArgumentError(f"argument 'mode': expected one of 'auto', 'full', 'directional', "
                            f"got {mode!r}")
    rng = np.random.default_rng(seed)
    floor = rounding_floor(float(f()), eps)
    atol_auto = atol is None
    atol = floor if atol_auto else float(atol)
    report = GradcheckReport(eps=eps, rtol=rtol, atol=atol, atol_auto=atol_auto)
    for name, t in tensors.items():
        if t.dtype != np.float64:
            raise ArgumentError(f"argument 'tensors[{name!r}]': expected float64 (finite "
                                f"differences in float32 are meaningless), got {t.dtype}")
        g = analytic.get(name)
        g = np.zeros(t.shape) if g is None else np.asarray(g, dtype=np.float64)
        if g.shape != t.shape:
            raise ArgumentError(f"argument 'analytic[{name!r}]': expected shape {t.shape}, "
                                f"got {g.shape}")
        m = mode if mode != "auto" else ("full" if t.size <= full_max_size else "directional")
        if m == "full":
            num, kinks = numerical_grad(f, t, eps)
            diff = np.abs(g - num)
            worst = np.unravel_index(int(np.argmax(diff)), t.shape) if t.size else None
            abs_err = float(diff.max()) if t.size else 0.0
            rel = rel_error(g, num)
            check = TensorCheck(name, tuple(t.shape), m, rel, abs_err,
                                rel <= rtol or abs_err <= atol, int(kinks.sum()),
                                tuple(int(i) for i in worst) if worst is not None else None,
                                float(g[worst]) if worst is not None else 0.0,
                                float(num[worst]) if worst is not None else 0.0)
        else:
            d = rng.standard_normal(t.shape)
            d /= max(np.linalg.norm(d), 1e-300)
            base = t.copy()
            try:
                f0 = float(f())
                t[...] = base + eps * d
                fp = float(f())
                t[...] = base - eps * d
                fm = float(f())
            finally:
                t[...] = base
            num = (fp - fm) / (2 * eps)
            ana = float((g * d).sum())
            abs_err = abs(ana - num)
            denom = max(abs(ana), abs(num), 1e-300)
            rel = 0.0 if abs_err == 0 else abs_err / denom
            kinks = int(_is_kink(f0, fp, fm, eps, floor))
            check = TensorCheck(name, tuple(t.shape), m, rel, abs_err,
                                rel <= rtol or abs_err <= atol, kinks, None, ana, num)
        report.checks.append(check)
    return report


def check_module(module, x, *, gy=None, mode="auto", eps=1e-6, rtol=1e-6, atol=None, seed=0,
                 check_input=True, forward_kwargs=None, before_forward=None, raise_on_fail=True):
    """Gradient check of a module's input and every parameter, in float64.

    A float64 copy of the module is checked (the caller's module is left untouched). The
    scalar is ``sum(gy * module.forward(x)[0])`` with a random ``gy``.

    Parameters
    ----------
    module : Module
    x : array
        Input; integer inputs (embedding ids) are passed through and not checked.
    gy : array, optional
        Upstream gradient; standard normal of the output's shape if omitted.
    mode, eps, rtol, atol, seed :
        As in :func:`check_gradients`.
    check_input : bool
        Also check ``gx`` (False for integer inputs).
    forward_kwargs : dict, optional
        Extra keyword arguments of ``forward`` (a fixed dropout mask, say).
    before_forward : callable, optional
        Called with the float64 module before every forward (to reseed a random layer).
    raise_on_fail : bool
        Raise :class:`GradcheckError` with the details when a tensor fails.

    Returns
    -------
    GradcheckReport
    """
    m = copy.deepcopy(module).astype(np.float64)
    kw = dict(forward_kwargs or {})
    is_float = x.dtype.kind == "f"
    x64 = x.astype(np.float64) if is_float and x.dtype != np.float64 else x
    rng = np.random.default_rng(seed + 1)

    def run():
        if before_forward is not None:
            before_forward(m)
        return m.forward(x64, True, **kw)

    y, ctx = run()
    if gy is None:
        gy = rng.standard_normal(y.shape)
    gy = np.asarray(gy, dtype=np.float64)
    m.zero_grad()
    gx = m.backward(ctx, gy.copy())

    def f():
        out, _ = run()
        return float((gy * out).sum())

    tensors, analytic = {}, {}
    if check_input and is_float:
        tensors["x"], analytic["x"] = x64, gx
    for name, p in m.named_parameters():
        tensors[name] = p.data
        analytic[name] = p.dense_grad()
    report = check_gradients(f, tensors, analytic, mode=mode, eps=eps, rtol=rtol, atol=atol,
                             seed=seed)
    if raise_on_fail:
        report.raise_if_failed()
    return report
