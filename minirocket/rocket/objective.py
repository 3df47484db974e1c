"""The Rocket Launching objective (paper Eq. 1) and its switches.

Notation
--------
y labels, l light logits, z booster logits, t logits of a pre-trained teacher,
p = softmax(l), q = softmax(z), sg(.) stop-gradient, lam hint weight, T temperatures,
alpha KD weight, B_nom nominal batch size.

.. math::
    \\mathcal{L} = H(y, p) + H(y, q) + \\mathrm{hint}(l, \\mathrm{sg}_{GB}(z))
                   [+ \\mathrm{KD}(l, t)]

with ``hint = lam * sum_{n,k} (l - z)^2 / B_nom`` by default (the authors' code) and
``sg_GB(z) = sg(z)`` when the gradient block is on (the authors' code behaviour), ``z``
otherwise. The KD term (rocket + KD, pre-trained teacher) is the authors'
``rocket_distillation``: ``2 alpha T^2 * mean_{n,k} r (log r - log s)`` (a mean over all
B*C elements, s = softmax(l/T), r = softmax(t/T)).
"""
from minirocket.errors import ArgumentError
from minirocket.rocket import hints
from minirocket.validate import check_bool, check_choice, check_float, check_int

TERMS = ("ce_light", "ce_booster", "hint", "kd")


class RocketObjective:
    """Switches and weights of Eq. (1); every argument is validated.

    Parameters
    ----------
    hint : {"logits_mse", "probs_mse", "kd"}
        L_mimic (default, the paper's choice), L_MSE (Eq. 2) or L_KD.
    lam : float >= 0
        Hint weight in the "example_sum" convention (see :mod:`minirocket.rocket.hints`);
        0.03 is the authors' ``--gamma``.
    grad_block : bool
        Stop-gradient on the booster logits inside the hint. Must be a real bool: the
        string "False" is an error (the authors' argparse turned it into True, A6).
    temperature : float > 0
        T of the "kd" hint.
    nominal_batch : int >= 1, optional
        Divisor of the hint (the authors' fixed ``batchSize``); None: the actual batch.
    kd_alpha : float in [0, 1]
        Weight alpha of the KD term toward a pre-trained teacher (rocket + KD, KD baseline).
    kd_temperature : float > 0
        T of that KD term (authors: 4).
    """

    __slots__ = ("hint", "lam", "grad_block", "temperature", "nominal_batch", "kd_alpha",
                 "kd_temperature")

    def __init__(self, hint="logits_mse", lam=0.03, grad_block=True, temperature=4.0,
                 nominal_batch=None, kd_alpha=0.9, kd_temperature=4.0):
        self.hint = check_choice("hint", hint, hints.HINTS)
        self.lam = check_float("lam", lam, min_value=0.0)
        self.grad_block = check_bool("grad_block", grad_block)
        self.temperature = check_float("temperature", temperature, min_value=0.0,
                                       min_exclusive=True)
        self.nominal_batch = (None if nominal_batch is None
                              else check_int("nominal_batch", nominal_batch, min_value=1))
        self.kd_alpha = check_float("kd_alpha", kd_alpha, min_value=0.0, max_value=1.0)
        self.kd_temperature = check_float("kd_temperature", kd_temperature, min_value=0.0,
                                          min_exclusive=True)

    def hint_loss(self, l, z):
        """``(value, gl, gz)`` of the configured hint (both gradients; routing is the step's)."""
        return hints.hint_loss(self.hint, l, z, self.lam, self.nominal_batch, self.temperature)

    def kd_loss(self, l, t):
        """``(value, gl)`` of the authors' KD term ``2 alpha T^2 KL`` (element mean).

        The mean runs over the ACTUAL ``B * C`` elements (``F.kl_div``), not the nominal
        batch: only the authors' hint divides by the fixed ``batchSize``.
        """
        value, gl, _ = hints.kd(l, t, self.kd_temperature, 2.0 * self.kd_alpha, None,
                                reduction="elementmean")
        return value, gl

    def to_dict(self):
        """Plain dict of the settings (for configs and logs)."""
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        unknown = set(d) - set(cls.__slots__)
        if unknown:
            raise ArgumentError(f"argument 'objective': expected keys among "
                                f"{list(cls.__slots__)}, got unknown {sorted(unknown)}")
        return cls(**d)

    def __eq__(self, other):
        return isinstance(other, RocketObjective) and self.to_dict() == other.to_dict()

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"RocketObjective({args})"

    def __str__(self):
        z = "sg(z)" if self.grad_block else "z"
        h = {"logits_mse": f"{self.lam:g} * sum((l - {z})^2) / B_nom",
             "probs_mse": f"{self.lam:g} * sum((softmax(l) - softmax({z}))^2) / B_nom",
             "kd": f"{self.lam:g} * T^2 * KL(softmax({z}/T) || softmax(l/T)), "
                   f"T={self.temperature:g}"}[self.hint]
        return f"CE(y, l) + CE(y, z) + {h}"
