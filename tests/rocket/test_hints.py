"""Hint losses: values, gradients against finite differences, conventions."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.rocket import hints
from minirocket.testing import check_gradients


def _lz(shape=(5, 4), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * 2, rng.standard_normal(shape) * 2


def _check(fn, l, z, **kw):
    _, gl, gz = fn(l, z, **kw)
    rep = check_gradients(lambda: float(fn(l, z, **kw)[0]), {"l": l, "z": z},
                          {"l": gl, "z": gz}, mode="full")
    assert rep.ok, rep.table()


def test_logits_mse_value_is_the_authors_batch_sum_over_nominal_batch():
    l, z = _lz()
    v, gl, gz = hints.logits_mse(l, z, lam=0.03, nominal_batch=128)
    assert np.isclose(float(v), 0.03 * ((z - l) ** 2).sum() / 128, rtol=1e-14)
    assert np.allclose(gl, 2 * 0.03 / 128 * (l - z), rtol=1e-14) and np.array_equal(gz, -gl)
    v_default, _, _ = hints.logits_mse(l, z, lam=0.03)
    assert np.isclose(float(v_default), 0.03 * ((z - l) ** 2).sum() / 5)


@pytest.mark.parametrize("fn", [hints.logits_mse, hints.probs_mse])
@pytest.mark.parametrize("shape", [(5, 4), (6, 1), (6,)])
def test_hint_gradients_full_finite_differences(fn, shape):
    l, z = _lz(shape, seed=len(shape))
    _check(fn, l, z, lam=0.7, nominal_batch=8)


@pytest.mark.parametrize("reduction", ["batchmean", "elementmean"])
@pytest.mark.parametrize("shape", [(5, 4), (6, 1)])
def test_kd_gradients_full_finite_differences(reduction, shape):
    l, z = _lz(shape, seed=3)
    _check(hints.kd, l, z, temperature=2.5, lam=0.9, reduction=reduction)


def test_probs_mse_gradient_is_eq2():
    l, z = _lz()
    p = np.exp(l) / np.exp(l).sum(1, keepdims=True)
    q = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    _, gl, _ = hints.probs_mse(l, z, lam=1.0, nominal_batch=1)
    eq2 = 2 * p * (p - q + (p * (q - p)).sum(1, keepdims=True))
    assert np.allclose(gl, eq2, rtol=1e-12, atol=1e-15)


def test_kd_value_matches_the_authors_kl_div_convention():
    l, t = _lz((4, 10), seed=5)
    T, alpha = 4.0, 0.9
    s = np.exp(l / T) / np.exp(l / T).sum(1, keepdims=True)
    r = np.exp(t / T) / np.exp(t / T).sum(1, keepdims=True)
    kl_elem = (r * (np.log(r) - np.log(s))).mean()          # old F.kl_div: mean over B*C
    v, gl, _ = hints.kd(l, t, T, lam=2 * alpha, reduction="elementmean")
    assert np.isclose(float(v), kl_elem * T * T * 2 * alpha, rtol=1e-12)
    assert np.allclose(gl, 2 * alpha * T / 40 * (s - r), rtol=1e-12)
    vb, _, _ = hints.kd(l, t, T, lam=1.0)
    assert np.isclose(float(vb), T * T * (r * (np.log(r) - np.log(s))).sum() / 4)


def test_binary_probs_mse_uses_two_class_distribution():
    l, z = _lz((6, 1), seed=9)
    sl, sz = 1 / (1 + np.exp(-l)), 1 / (1 + np.exp(-z))
    v, _, _ = hints.probs_mse(l, z, lam=1.0, nominal_batch=1)
    assert np.isclose(float(v), (2 * (sl - sz) ** 2).sum())


def test_convert_lambda():
    assert hints.convert_lambda(0.03, "example_sum", "element_mean", 10) == pytest.approx(0.3)
    assert hints.convert_lambda(0.03, "example_sum", "half_example_sum", 10) == pytest.approx(0.06)
    for a in hints.CONVENTIONS:
        for b in hints.CONVENTIONS:
            back = hints.convert_lambda(hints.convert_lambda(0.017, a, b, 7), b, a, 7)
            assert back == pytest.approx(0.017, rel=1e-14)


@pytest.mark.parametrize("conv", hints.CONVENTIONS)
def test_converted_lambda_gives_the_same_loss(conv):
    l, z = _lz((5, 7), seed=4)
    ref = hints.logits_mse(l, z, lam=0.03)
    lam = hints.convert_lambda(0.03, "example_sum", conv, 7)
    got = hints.logits_mse(l, z, lam=lam, convention=conv)
    assert np.isclose(float(got[0]), float(ref[0]), rtol=1e-13)
    assert np.allclose(got[1], ref[1], rtol=1e-13)


def test_hint_argument_errors():
    l, z = _lz()
    with pytest.raises(ArgumentError, match="argument 'z'"):
        hints.logits_mse(l, z[:, :3])
    with pytest.raises(ArgumentError, match="argument 'lam'"):
        hints.logits_mse(l, z, lam=-1)
    with pytest.raises(ArgumentError, match="argument 'temperature'"):
        hints.kd(l, z, temperature=0)
    with pytest.raises(ArgumentError, match="argument 'nominal_batch'"):
        hints.logits_mse(l, z, nominal_batch=0)
    with pytest.raises(ArgumentError, match="from_convention"):
        hints.convert_lambda(0.1, "sum", "element_mean", 10)
