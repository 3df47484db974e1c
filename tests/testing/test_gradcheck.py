"""The gradient checker itself: it must pass correct gradients and catch wrong ones."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.layers import BatchNorm, Conv2d, Linear, ReLU, Sequential
from minirocket.testing import (GradcheckError, check_gradients, check_module, numerical_grad,
                                rel_error)
from minirocket.testing.gradcheck import ROUNDING_ULPS, rounding_floor


class LinearNoBiasGrad(Linear):
    """Deliberately wrong: forgets to accumulate the bias gradient."""

    def backward(self, ctx, gy):
        self.W.accumulate(ctx.x.T @ gy)
        return gy @ self.W.data.T


class LinearTransposedGrad(Linear):
    """Deliberately wrong: accumulates (x^T gy)^T, the classic transposition slip."""

    def backward(self, ctx, gy):
        self.W.accumulate((ctx.x.T @ gy).T)
        self.b.accumulate(gy.sum(axis=0))
        return gy @ self.W.data.T


class ReLUForgetsGy(ReLU):
    """Deliberately wrong: returns the local derivative [y > 0] and forgets to multiply by gy.

    Right whenever gy is all ones, which is why the checker never uses one.
    """

    def backward(self, ctx, gy):
        return (ctx.y > 0).astype(gy.dtype)


def _biased_linear(cls, D_in=3, D_out=3):
    layer = cls(D_in, D_out, rng=0)
    layer.b.data[...] = [0.1, -0.2, 0.3][:D_out]
    return layer


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_missing_bias_gradient_is_caught_and_named(rng, mode):
    x = rng.standard_normal((4, 3))
    with pytest.raises(GradcheckError) as info:
        check_module(_biased_linear(LinearNoBiasGrad), x, mode=mode)
    msg = str(info.value)
    assert "b (3,)" in msg and f"[{mode}]" in msg
    assert "analytic 0 vs numeric" in msg
    assert "eps=1e-06" in msg and "rtol=1e-06" in msg and "atol=" in msg
    assert "\n  W " not in msg and "\n  x " not in msg      # the correct tensors pass


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_transposed_weight_gradient_is_caught(rng, mode):
    x = rng.standard_normal((4, 3))
    report = check_module(_biased_linear(LinearTransposedGrad), x, mode=mode,
                          raise_on_fail=False)
    bad = {c.name for c in report.failures()}
    assert bad == {"W"}
    c = report.failures()[0]
    # One random projection can land close to the truth by chance (here ~1e-2), still
    # four orders of magnitude above the tolerance.
    assert c.rel_err > 1e-4 and c.analytic != pytest.approx(c.numeric)
    if mode == "full":
        assert c.worst is not None and len(c.worst) == 2
    with pytest.raises(GradcheckError,
                       match=r"W \(3, 3\) \[" + mode + r"\]: analytic .* vs numeric .*rel err"):
        report.raise_if_failed()


def test_random_upstream_gradient_catches_what_all_ones_hides(rng):
    a = rng.standard_normal((4, 3))
    x = np.sign(a) * (np.abs(a) + 1.0)                  # |x| > 1: far from the kink
    ones = check_module(ReLUForgetsGy(), x, gy=np.ones((4, 3)), mode="full",
                        raise_on_fail=False)
    random = check_module(ReLUForgetsGy(), x, mode="full", raise_on_fail=False)
    assert ones.ok                                    # fooled by the all-ones gradient ...
    assert not random.ok                              # ... but not by a random one
    assert random.checks[0].rel_err > 0.1


def test_kink_is_detected_and_reported(rng):
    x = np.array([[0.0, 1.5, -2.0], [0.7, -0.3, 0.0]])
    report = check_module(ReLU(), x, mode="full", raise_on_fail=False)
    c = report.checks[0]
    assert not c.ok and c.kinks == 2
    with pytest.raises(GradcheckError,
                       match=r"2 perturbation\(s\) crossed a non-differentiable point"):
        report.raise_if_failed()
    directional = check_module(ReLU(), x, mode="directional", raise_on_fail=False)
    assert directional.checks[0].kinks == 1


def test_smooth_layer_reports_no_kinks(rng):
    layer = Conv2d(2, 2, 3, padding=1, bias=True, rng=0, dtype=np.float64)
    report = check_module(layer, rng.standard_normal((2, 2, 4, 3)), mode="full")
    assert report.ok and all(c.kinks == 0 for c in report.checks)


def test_directional_and_full_agree_on_a_correct_layer(rng):
    layer = _biased_linear(Linear, 4, 3)
    x = rng.standard_normal((3, 4))
    full = check_module(layer, x, mode="full")
    directional = check_module(layer, x, mode="directional")
    assert full.ok and directional.ok
    assert [c.name for c in full.checks] == [c.name for c in directional.checks]
    for c in full.checks:
        assert c.mode == "full" and c.rel_err < 1e-8
    for c in directional.checks:
        assert c.mode == "directional" and c.rel_err < 1e-8
        assert c.analytic == pytest.approx(c.numeric, rel=1e-8)


def test_auto_mode_switches_on_size(rng):
    layer = Linear(10, 8, rng=0, dtype=np.float64)     # W has 80 elements, b has 8
    report = check_module(layer, rng.standard_normal((2, 10)), mode="auto")
    modes = {c.name: c.mode for c in report.checks}
    assert modes == {"x": "full", "W": "directional", "b": "full"}


def test_caller_module_and_input_are_left_untouched(rng):
    layer = Linear(3, 2, rng=0)                 # float32: the check runs on a float64 copy
    x = rng.standard_normal((4, 3))
    W0, x0 = layer.W.data.copy(), x.copy()
    check_module(layer, x)
    assert layer.W.data.dtype == np.float32 and layer.W.grad is None
    np.testing.assert_array_equal(layer.W.data, W0)
    np.testing.assert_array_equal(x, x0)        # perturbed in place, restored exactly


def test_rejects_float32_tensors_and_bad_arguments():
    t = np.zeros(3, np.float32)
    with pytest.raises(ArgumentError,
                       match=r"argument 'tensors\['t'\]': expected float64 .* got float32"):
        check_gradients(lambda: 0.0, {"t": t}, {"t": np.zeros(3)})
    t64 = np.zeros(3)
    with pytest.raises(ArgumentError,
                       match=r"argument 'analytic\['t'\]': expected shape \(3,\), got \(4,\)"):
        check_gradients(lambda: 0.0, {"t": t64}, {"t": np.zeros(4)})
    with pytest.raises(ArgumentError,
                       match=r"argument 'mode': expected one of 'auto', 'full', 'directional', got "
                             r"'fast'"):
        check_gradients(lambda: 0.0, {"t": t64}, {"t": np.zeros(3)}, mode="fast")


def test_numerical_grad_of_a_known_function():
    t = np.array([0.3, -1.2, 2.0])
    g, kinks = numerical_grad(lambda: float(np.sum(np.sin(t) * t)), t)
    # Rounding bound ~ macheps * |f| / eps ~ 4e-10 per element (|f| ~ 2).
    np.testing.assert_allclose(g, np.cos(t) * t + np.sin(t), rtol=0, atol=1e-9)
    assert rel_error(g, np.cos(t) * t + np.sin(t)) < 1e-9
    assert not kinks.any()
    np.testing.assert_array_equal(t, [0.3, -1.2, 2.0])


def test_eps_tradeoff_truncation_versus_rounding():
    # f = sum(exp(t)): truncation error of the central difference ~ eps^2 / 6 * f''',
    # rounding error ~ macheps * |f| / eps. eps = 1e-6 sits near the optimum for float64.
    t = np.linspace(-1.0, 1.0, 5)
    exact = np.exp(t)

    def err(eps):
        g, _ = numerical_grad(lambda: float(np.exp(t).sum()), t, eps)
        return rel_error(g, exact)

    big, good, tiny = err(1e-2), err(1e-6), err(1e-13)
    assert 1e-6 < big < 1e-4              # ~ eps^2 / 6 = 1.7e-5: truncation dominates
    assert good < 1e-8
    assert tiny > 1e-5                    # ~ 2e-16 * 6 / 1e-13: rounding dominates
    assert good < big and good < tiny


def test_rel_error():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error([1.0, 0.0], [1.0, 1e-3]) == pytest.approx(1e-3, rel=1e-6)
    assert rel_error([1.0], [-1.0]) == pytest.approx(2.0)


def test_report_table_lists_every_tensor(rng):
    report = check_module(_biased_linear(Linear), rng.standard_normal((2, 3)))
    table = report.table()
    for name in ("x", "W", "b"):
        assert any(line.startswith(name + " ") for line in table.splitlines())
    assert "eps=1e-06" in table and "yes" in table and "NO" not in table


def test_exactly_zero_gradient_is_judged_against_the_rounding_floor(rng):
    # A bias followed by batch norm has gradient exactly 0 (BN removes every constant
    # shift), so the numeric estimate is pure rounding noise and rel_err is 1.
    net = Sequential(Linear(4, 3, rng=0, dtype=np.float64), BatchNorm(3, dtype=np.float64))
    x = rng.standard_normal((5, 4))
    report = check_module(net, x, mode="full")
    bias = next(c for c in report.checks if c.name == "0.b")
    assert bias.rel_err == pytest.approx(1.0) and 0 < bias.abs_err < report.atol
    assert report.atol_auto and "rounding floor" in report.table()
    strict = check_module(net, x, mode="full", atol=0.0, raise_on_fail=False)
    assert [c.name for c in strict.failures()] == ["0.b"]
    assert strict.atol == 0.0 and not strict.atol_auto


def test_rounding_floor_formula():
    assert rounding_floor(2.0, 1e-6) == pytest.approx(ROUNDING_ULPS * 2.0 ** -52 * 2.0 / 1e-6)
    assert rounding_floor(0.0, 1e-6) == 0.0
    assert rounding_floor(-3.0, 1e-3) == rounding_floor(3.0, 1e-3)


def test_floor_does_not_hide_a_real_error(rng):
    # The floor is ~1e-8 for |f| ~ 1; a missing bias gradient is O(|gy|) ~ 1.
    x = rng.standard_normal((4, 3))
    report = check_module(_biased_linear(LinearNoBiasGrad), x, mode="full", raise_on_fail=False)
    bad = report.failures()
    assert [c.name for c in bad] == ["b"] and bad[0].abs_err > 1e4 * report.atol


def test_step_is_the_one_actually_taken_for_large_values():
    # 1e6 + 1e-6 is not representable: the float64 step differs from 2e-6 by ~1e-4 relative.
    # f is exact here (t - 1e6 is computed without rounding), so only the step matters.
    t = np.array([1e6 + 0.3, -1e6 - 0.7])
    g, _ = numerical_grad(lambda: float(3.0 * (t[0] - 1e6) - 2.0 * (t[1] + 1e6)), t)
    np.testing.assert_allclose(g, [3.0, -2.0], rtol=1e-12)


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_tensors_restored_even_when_f_raises(mode):
    t = np.array([1.0, 2.0, 3.0])
    calls = []

    def f():
        calls.append(1)
        if len(calls) == 3:            # fails in the middle of a perturbation
            raise FloatingPointError("boom")
        return float(t.sum())

    with pytest.raises(FloatingPointError):
        check_gradients(f, {"t": t}, {"t": np.ones(3)}, mode=mode)
    np.testing.assert_array_equal(t, [1.0, 2.0, 3.0])
