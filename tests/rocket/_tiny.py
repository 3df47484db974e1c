"""Tiny float64 models and batches shared by the rocket tests (fast on two CPU cores).

Booster WRN-16-1 (n = 2) and light WRN-10-1 (n = 1), 8x8 inputs, batch 4; a CTR pair with
three fields and two numeric features.
"""
import numpy as np

from minirocket import models

N, HW, C = 4, 8, 10


def wrn_pair(share="interval", share_stem=True, layout=None, seed=0, gamma_init="uniform"):
    p = models.rocket_wrn(10, 16, 1, C, share=share, share_stem=share_stem, layout=layout,
                          gamma_init=gamma_init, rng=seed, dtype=np.float64)
    return p


def image_batch(seed=1, n=N):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, HW, HW))
    y = rng.integers(0, C, n)
    return x, y


def teacher_wrn(seed=7):
    return models.wrn(16, 1, C, rng=seed, dtype=np.float64)


def mlp_pair(output="sigmoid", seed=0):
    return models.rocket_mlp([7, 5, 9], 2, embed_dim=3, booster_hidden=(12, 8),
                             light_hidden=(6,), output=output, rng=seed, dtype=np.float64)


def ctr_batch(seed=2, n=6):
    rng = np.random.default_rng(seed)
    cat = np.stack([rng.integers(0, v, n) for v in (7, 5, 9)], axis=1)
    cat[1] = cat[0]          # a repeated id in every field: sparse gradients must add up
    num = rng.standard_normal((n, 2))
    y = rng.integers(0, 2, n)
    return (cat, num), y
