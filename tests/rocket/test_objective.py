"""RocketObjective: every switch validated and real."""
import pytest

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.rocket import RocketObjective


def test_defaults_are_the_authors():
    o = RocketObjective()
    assert (o.hint, o.lam, o.grad_block, o.kd_alpha, o.kd_temperature) == \
        ("logits_mse", 0.03, True, 0.9, 4.0)
    assert str(o) == "CE(y, l) + CE(y, z) + 0.03 * sum((l - sg(z))^2) / B_nom"
    assert "sum((l - z)^2)" in str(RocketObjective(grad_block=False))


def test_string_false_is_not_a_bool():
    # The authors' argparse turned "--grad_block False" into True (A6); here it is an error.
    with pytest.raises(ArgumentTypeError, match="argument 'grad_block': expected a bool"):
        RocketObjective(grad_block="False")


@pytest.mark.parametrize("kw,name", [({"lam": -0.1}, "lam"), ({"temperature": 0}, "temperature"),
                                     ({"kd_temperature": -1}, "kd_temperature"),
                                     ({"kd_alpha": 1.5}, "kd_alpha"),
                                     ({"nominal_batch": 0}, "nominal_batch"),
                                     ({"hint": "l1"}, "hint"), ({"lam": float("nan")}, "lam")])
def test_bad_values(kw, name):
    with pytest.raises(ArgumentError, match=f"argument '{name}'"):
        RocketObjective(**kw)


def test_round_trip_dict():
    o = RocketObjective(hint="kd", lam=0.5, grad_block=False, nominal_batch=128)
    assert RocketObjective.from_dict(o.to_dict()) == o
    with pytest.raises(ArgumentError, match="unknown"):
        RocketObjective.from_dict({"gamma": 0.03})


def test_kd_term_uses_the_actual_batch_and_the_hint_the_nominal_one():
    import numpy as np
    rng = np.random.default_rng(0)
    l, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a = RocketObjective(nominal_batch=128)
    b = RocketObjective()
    assert float(a.kd_loss(l, t)[0]) == float(b.kd_loss(l, t)[0])
    assert float(a.hint_loss(l, t)[0]) * 128 == pytest.approx(
        float(b.hint_loss(l, t)[0]) * 3, rel=1e-14)
