"""Rocket Launching training: hint losses, the objective, hand-written steps, the audit.

- :mod:`minirocket.rocket.hints`: ``logits_mse``, ``probs_mse``, ``kd`` -> (value, gl, gz);
  ``convert_lambda`` between reduction conventions.
- :mod:`minirocket.rocket.objective`: :class:`RocketObjective` (Eq. 1 switches).
- :mod:`minirocket.rocket.step`: :func:`rocket_step` and the baseline steps.
- :mod:`minirocket.rocket.methods`: :data:`METHODS`, :func:`make_step` (one name per method).
- :mod:`minirocket.rocket.audit`: :func:`audit`, per-term gradient routing report.
"""
from minirocket.rocket.hints import CONVENTIONS, HINTS, convert_lambda, kd, logits_mse, probs_mse
from minirocket.rocket.objective import TERMS, RocketObjective
from minirocket.rocket.step import (StepResult, at_loss, at_step, attention_map, ce_loss, ce_step,
                                    check_finite_grads, check_labels, init_light_from_booster,
                                    kd_step, rocket_step, two_stage_step)
from minirocket.rocket.methods import METHODS, MethodSpec, make_step
from minirocket.rocket.audit import AuditReport, audit

__all__ = ["AuditReport", "CONVENTIONS", "HINTS", "METHODS", "MethodSpec", "RocketObjective",
           "StepResult", "TERMS", "at_loss", "at_step", "attention_map", "audit", "ce_loss",
           "ce_step", "check_finite_grads", "check_labels", "convert_lambda",
           "init_light_from_booster", "kd", "kd_step", "logits_mse", "make_step", "probs_mse",
           "rocket_step", "two_stage_step"]
