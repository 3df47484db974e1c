"""One entry point per training method, so a trainer picks by name.

Every step returned by :func:`make_step` has the signature
``step(model, x, y, teacher=None, terms=None, step=None) -> StepResult`` and accumulates
gradients (zero them before, step the optimizer after).

===============  ==========================  ==========  ======================================
method           model                       teacher     loss
===============  ==========================  ==========  ======================================
rocket           RocketPair                  no          CE(l) + CE(z) + hint(l, sg(z))
rocket_kd        RocketPair                  required    rocket + 2 alpha T^2 KL(t || l)
light_only       net (or pair: its light)    no          CE(l)
booster_only     net (or pair: its booster)  no          CE(z)
kd               net (or pair: its light)    required    2 alpha T^2 KL + (1 - alpha) CE
two_stage        stand-alone light net       required    CE(l) + hint(l, t), t fixed
at               WRN (or pair: its light)    required    CE(l) + beta sum_g AT loss
===============  ==========================  ==========  ======================================
"""
from dataclasses import dataclass

from minirocket.errors import ArgumentError, ArgumentTypeError
from minirocket.models.rocket_pair import RocketPair
from minirocket.rocket import step as steps
from minirocket.rocket.objective import RocketObjective
from minirocket.validate import check_choice, check_float


@dataclass(frozen=True)
class MethodSpec:
    """What a method needs: ``model`` ("pair" or "net"), whether a teacher is required,
    and which net of a pair it trains ("both", "light" or "booster")."""
    name: str
    model: str
    needs_teacher: bool
    trains: str
    description: str


METHODS = {
    "rocket": MethodSpec("rocket", "pair", False, "both",
                         "booster and light trained together (Eq. 1)"),
    "rocket_kd": MethodSpec("rocket_kd", "pair", True, "both",
                            "rocket plus KD from a pre-trained teacher (gradient block on)"),
    "light_only": MethodSpec("light_only", "net", False, "light", "light net alone, CE"),
    "booster_only": MethodSpec("booster_only", "net", False, "booster",
                               "booster net alone, CE"),
    "kd": MethodSpec("kd", "net", True, "light", "KD from a pre-trained teacher"),
    "two_stage": MethodSpec("two_stage", "net", True, "light",
                            "light trained after the booster, hint toward fixed logits"),
    "at": MethodSpec("at", "net", True, "light", "attention transfer from a teacher"),
}


def _net_of(model, spec):
    if isinstance(model, RocketPair):
        if spec.name == "two_stage":
            raise ArgumentTypeError("argument 'model': expected a stand-alone light net for "
                                    "two_stage (in a pair the shared layers would move the "
                                    "'fixed' booster), got RocketPair")
        return model.booster if spec.trains == "booster" else model.light
    return model


def make_step(method, objective=None, beta=1e3):
    """The step function of ``method`` (one of :data:`METHODS`).

    Parameters
    ----------
    method : str
    objective : RocketObjective, optional
        Hint / KD settings (default ``RocketObjective()``); used by rocket, rocket_kd, kd,
        two_stage.
    beta : float
        AT weight (authors: 1e3).
    """
    check_choice("method", method, tuple(METHODS))
    objective = RocketObjective() if objective is None else objective
    if not isinstance(objective, RocketObjective):
        raise ArgumentTypeError(f"argument 'objective': expected a RocketObjective, got "
                                f"{type(objective).__name__}")
    beta = check_float("beta", beta, min_value=0.0)
    spec = METHODS[method]

    def need_teacher(teacher):
        if spec.needs_teacher and teacher is None:
            raise ArgumentError(f"argument 'teacher': expected a pre-trained net for method "
                                f"{method!r}, got None")
        if not spec.needs_teacher and teacher is not None:
            raise ArgumentError(f"argument 'teacher': expected None for method {method!r} "
                                f"(it uses no teacher), got {type(teacher).__name__}")

    def run(model, x, y, teacher=None, terms=None, step=None):
        need_teacher(teacher)
        if spec.model == "pair" and not isinstance(model, RocketPair):
            raise ArgumentTypeError(f"argument 'model': expected a RocketPair for method "
                                    f"{method!r}, got {type(model).__name__}")
        if terms is not None and spec.model != "pair":
            raise ArgumentError(f"argument 'terms': expected None for method {method!r} "
                                f"(only rocket steps back-propagate single terms), got {terms!r}")
        if method in ("rocket", "rocket_kd"):
            return steps.rocket_step(model, x, y, objective, teacher=teacher, terms=terms,
                                     step=step)
        net = _net_of(model, spec)
        if method in ("light_only", "booster_only"):
            return steps.ce_step(net, x, y, step=step, role=spec.trains)
        if method == "kd":
            return steps.kd_step(net, x, y, teacher, objective, step=step)
        if method == "two_stage":
            return steps.two_stage_step(net, x, y, teacher, objective, step=step)
        return steps.at_step(net, x, y, teacher, beta, step=step)

    run.__name__ = f"{method}_step"
    run.__doc__ = f"{spec.description} (see minirocket.rocket.methods)."
    run.method = spec
    return run
