"""Metrics against brute-force definitions."""
import numpy as np
import pytest

from minirocket.errors import ArgumentError
from minirocket.metrics import (accuracy, error_rate, group_auc, log_loss,
                                log_loss_from_logits, rank_average, roc_auc)


def _pairwise_auc(y, s):
    """O(P Q) definition: fraction of (positive, negative) pairs ordered right, ties 1/2."""
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_pair_count_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.integers(0, 6, n).astype(np.float64)  # few distinct values: heavy ties
    assert roc_auc(y, s) == pytest.approx(_pairwise_auc(y, s), abs=1e-12)


def test_auc_known_values():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert roc_auc([0, 1], [0.9, 0.2]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5] * 4) == 0.5  # all tied
    assert roc_auc(np.array([False, True, True]), np.array([1, 3, 2])) == 1.0


def test_auc_is_rank_based_and_invariant_to_monotone_maps():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200)
    assert roc_auc(y, s) == pytest.approx(roc_auc(y, np.exp(3 * s)))


def test_rank_average_ties():
    np.testing.assert_array_equal(rank_average([10, 20, 10, 30, 20, 20]),
                                  [1.5, 4.0, 1.5, 6.0, 4.0, 4.0])


def test_auc_single_class_is_an_error_not_nan():
    with pytest.raises(ArgumentError, match=r"argument 'labels'.*both classes.*only class 1"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ArgumentError, match="only class 0"):
        roc_auc(np.zeros(4), np.arange(4))


@pytest.mark.parametrize("labels,scores,match", [
    ([0, 1, 2], [0.1, 0.2, 0.3], "argument 'labels'.*0, 1"),
    ([0, 1], [0.1, 0.2, 0.3], r"argument 'scores'.*\(2,\)"),
    ([[0, 1]], [[0.1, 0.2]], "argument 'labels'.*1-d"),
    ([0, 1], [0.1, np.nan], "argument 'scores'.*finite"),
    ([], [], "labels"),
])
def test_auc_input_validation(labels, scores, match):
    with pytest.raises(ArgumentError, match=match):
        roc_auc(labels, scores)


def test_log_loss_matches_definition_and_is_finite_at_0_and_1():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.6, 0.4])
    want = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert log_loss(y, p) == pytest.approx(want, rel=1e-12)
    worst = log_loss([1, 0], [0.0, 1.0])
    assert np.isfinite(worst) and worst == pytest.approx(-np.log(1e-7), rel=1e-9)
    assert log_loss([1, 0], [1.0, 0.0]) == pytest.approx(-np.log(1 - 1e-7), rel=1e-6)
    assert log_loss([1], [0.0], eps=1e-3) == pytest.approx(-np.log(1e-3))


def test_log_loss_rejects_non_probabilities():
    with pytest.raises(ArgumentError, match="argument 'probs'.*\\[0, 1\\]"):
        log_loss([0, 1], [0.5, 1.2])
    with pytest.raises(ArgumentError, match="eps"):
        log_loss([0, 1], [0.5, 0.5], eps=0.0)


def test_log_loss_from_logits_agrees_and_is_stable():
    rng = np.random.default_rng(1)
    z = rng.normal(size=50) * 3
    y = rng.integers(0, 2, 50)
    p = 1 / (1 + np.exp(-z))
    assert log_loss_from_logits(y, z) == pytest.approx(log_loss(y, p, eps=1e-300), rel=1e-9)
    big = log_loss_from_logits([1, 0], [-800.0, 800.0])
    assert big == pytest.approx(800.0)


def _gauc_reference(y, s, g):
    num = den = 0.0
    for key in np.unique(g):
        m = g == key
        if 0 < y[m].sum() < m.sum():
            num += m.sum() * _pairwise_auc(y[m], s[m])
            den += m.sum()
    return num / den


def test_group_auc_matches_per_group_loop():
    rng = np.random.default_rng(3)
    n = 400
    g = rng.integers(0, 30, n)
    y = rng.integers(0, 2, n)
    s = np.round(rng.normal(size=n), 1)  # ties inside groups
    assert group_auc(y, s, g) == pytest.approx(_gauc_reference(y, s, g), abs=1e-12)
    # String group keys give the same result.
    assert group_auc(y, s, np.array([f"user{k}" for k in g])) == pytest.approx(
        group_auc(y, s, g), abs=1e-15)


def test_group_auc_weights_by_impressions_and_skips_single_class_groups():
    y = np.array([0, 1, 1, 1, 0, 1, 0, 0, 1])
    s = np.array([0.1, 0.9, 0.5, 0.6, 0.7, 0.2, 0.3, 0.4, 0.8])
    g = np.array([0, 0, 1, 1, 1, 1, 2, 2, 3])
    # Group 0: AUC 1 (2 impressions); group 1: pos 0.5, 0.6, 0.2 vs neg 0.7 -> 0 (4
    # impressions); groups 2 (all negative) and 3 (one positive) are skipped.
    assert group_auc(y, s, g) == pytest.approx((2 * 1.0 + 4 * 0.0) / 6)


def test_group_auc_without_any_usable_group():
    with pytest.raises(ArgumentError, match="argument 'groups'.*both classes"):
        group_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4])
    with pytest.raises(ArgumentError, match="argument 'groups'.*shape"):
        group_auc([0, 1], [0.1, 0.2], [1, 2, 3])


def test_accuracy_and_error_rate():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 5.0], [4.0, 0.0, 4.0]])
    labels = np.array([0, 1, 0, 2])
    # Row 3 ties classes 0 and 2: argmax picks the first, so it counts as wrong.
    assert accuracy(labels, logits) == 0.5
    assert error_rate(labels, logits) == 0.5
    assert accuracy([1, 0, 1], np.array([0.3, -0.2, -1.0])) == pytest.approx(2 / 3)


def test_accuracy_validation():
    logits = np.zeros((3, 4))
    with pytest.raises(ArgumentError, match=r"argument 'labels'.*0..3"):
        accuracy([0, 1, 4], logits)
    with pytest.raises(ArgumentError, match="argument 'logits'"):
        accuracy([0, 1], logits)
    with pytest.raises(ArgumentError, match="argument 'labels'.*integer"):
        accuracy(np.array([0.0, 1.0, 1.0]), logits)
    with pytest.raises(ArgumentError, match="argument 'logits'.*finite"):
        accuracy([0, 1, 2], np.full((3, 4), np.nan))
