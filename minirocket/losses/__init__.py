"""Losses return ``(loss, gradient with respect to their inputs)``."""
from minirocket.losses.sigmoid_bce import sigmoid, sigmoid_binary_cross_entropy
from minirocket.losses.softmax_ce import log_softmax, softmax_cross_entropy

__all__ = ["log_softmax", "sigmoid", "sigmoid_binary_cross_entropy", "softmax_cross_entropy"]
